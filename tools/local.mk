# programs: each tool's rules are in tools/<tool>.mk
