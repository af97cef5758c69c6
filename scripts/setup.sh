#!/usr/bin/env bash
# dtpipe set-up: install the Debian packages the build (and, with --test, the
# test suite) needs, then configure and build in ./build.
#   scripts/setup.sh [--test] [--werror]
# Root installs what is missing with apt-get; anyone else gets the exact
# apt-get line to run and a non-zero exit. Sourced by demo.sh and check.sh.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
want_test=0
werror=0
for a in "$@"; do
	case "$a" in
	--test) want_test=1 ;;
	--werror) werror=1 ;;
	*) echo "setup.sh: unknown option '$a' (use --test, --werror)" >&2; exit 2 ;;
	esac
done

# what the build needs
pkgs=(gcc make autoconf automake pkg-config
      libopenblas-dev liburing-dev libhwloc-dev libinih-dev libjansson-dev zlib1g-dev
      libdnnl-dev
      libibverbs-dev librdmacm-dev rdma-core ibverbs-providers
      dataset-fashion-mnist)
# what the test suite needs: CMocka, the Soft-RoCE VM for real verbs, and a
# private Slurm (tests/slurm) to run dtpipe under srun
if [ "$want_test" = 1 ]; then
	pkgs+=(libcmocka-dev qemu-system-x86 busybox-static ibverbs-utils rdmacm-utils
	       perftest iproute2 cpio kmod xz-utils
	       slurm-wlm munge procps python3)
fi

missing=()
for p in "${pkgs[@]}"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$st" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ]; then
		echo "==> installing Debian packages: ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q
		apt-get install -y -q --no-install-recommends "${missing[@]}"
	else
		echo "dtpipe needs these Debian packages, which are not installed:" >&2
		echo "    sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
		echo "Run that line (or run this script as root), then run it again." >&2
		exit 1
	fi
fi

cd "$top"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
	echo "==> autoreconf"
	autoreconf -fi 2>&1 | grep -v '^configure.ac.*installing' || true
fi
mkdir -p build
cd build
cfg=()
[ "$werror" = 1 ] && cfg+=(--enable-werror)
if [ ! -f Makefile ] || [ ../configure -nt Makefile ] || [ "${DTP_RECONFIGURE:-0}" = 1 ]; then
	echo "==> configure ${cfg[*]} (log: build/configure.log)"
	if ! ../configure "${cfg[@]}" > configure.log 2>&1; then
		tail -20 configure.log >&2
		echo "setup.sh: configure failed; the whole log is build/configure.log" >&2
		exit 1
	fi
	# the summary configure prints at its end
	sed -n '/dtpipe .* configured/,$p' configure.log
fi
echo "==> make (log: build/make.log)"
if ! make -j"$(nproc)" > make.log 2>&1; then
	grep -E 'error|Error' make.log | head -20 >&2
	echo "setup.sh: the build failed; the whole log is build/make.log" >&2
	exit 1
fi
