#!/usr/bin/env bash
# The README's first command: set everything up, then train the default job, a
# 4-stage pipeline on Fashion-MNIST on this machine, and print the test accuracy.
set -euo pipefail
top=$(cd "$(dirname "$0")" && pwd)
"$top/scripts/setup.sh"
cd "$top"
if [ ! -d data/fashion-mnist/train ] || [ ! -d data/fashion-mnist/test ]; then
	echo "==> converting Fashion-MNIST to record shards in data/fashion-mnist"
	build/tools/dtpipe-shard fashion-mnist --out data/fashion-mnist
fi
echo "==> training (the built-in default plan: dtpipe --print-default-plan shows it)"
exec build/tools/dtpipe "$@"
