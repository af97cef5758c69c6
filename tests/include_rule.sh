#!/bin/sh
# The include rule (docs/architecture.md, "Modules and dependencies"): a
# module's internal headers are not included from outside it. Every
# #include "MODULE/NAME.h" in src/, tools/ and tests/ must name one of
# MODULE's public headers below, unless the including file belongs to MODULE
# (src/MODULE/...) or is one of MODULE's tests (tests/MODULE/...).
# Exit 1 listing every offending line.
set -eu
set -f   # the public lists hold a literal *
top="${DTP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}"

# MODULE's public headers; a module not listed has none (all of base is public)
public() {
	case "$1" in
	base)      echo '*' ;;
	model)     echo 'model.h tensors.h' ;;
	io)        echo 'io.h safetensors.h' ;;
	rdma)      echo 'transport.h bootstrap.h heartbeat.h dp.h' ;;
	partition) echo 'plan.h partition.h place.h profile.h topo.h nic_place.h baseline.h cluster.h' ;;
	pipeline)  echo 'pipeline.h' ;;
	*)         echo '' ;;
	esac
}
modules='base model io rdma partition pipeline'

cd "$top"
bad=0
checked=0
for f in $(find src tools tests -name '*.[ch]' | sort); do
	own=$(echo "$f" | sed -n 's,^\(src\|tests\)/\([a-z]*\)/.*,\2,p')
	grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[a-z]*/[A-Za-z0-9_.-]*\.h"' "$f" |
	sed 's/^\([0-9]*\):.*"\([a-z]*\)\/\([^"]*\)".*/\1 \2 \3/' > "${TMPDIR:-/tmp}/dtp-inc.$$" || true
	while read -r line mod hdr; do
		case " $modules " in *" $mod "*) ;; *) continue ;; esac
		checked=$((checked + 1))
		[ "$mod" = "$own" ] && continue
		# the fuzz harnesses (tests/fuzz) drive each module's parsers of
		# untrusted bytes, which are internal to that module
		[ "$own" = fuzz ] && continue
		ok=0
		for p in $(public "$mod"); do
			if [ "$p" = '*' ] || [ "$p" = "$hdr" ]; then ok=1; fi
		done
		if [ $ok = 0 ]; then
			echo "$f:$line: includes $mod/$hdr, internal to src/$mod (public: $(public "$mod")); use the public header, or add what is needed to it" >&2
			bad=$((bad + 1))
		fi
	done < "${TMPDIR:-/tmp}/dtp-inc.$$"
	rm -f "${TMPDIR:-/tmp}/dtp-inc.$$"
done
if [ "$checked" -lt 50 ]; then
	echo "include_rule: only $checked module includes found under $top: wrong tree?" >&2
	exit 1
fi
if [ $bad -gt 0 ]; then
	echo "include_rule: $bad include(s) of another module's internal header" >&2
	exit 1
fi
echo "include_rule: $checked module includes checked, all public or within their module"
