#!/usr/bin/env bash
# dtpipe set-up: install the Debian packages the build (and, with --test, the
# test suite) needs, then configure and build in ./build (or --dir DIR).
#   scripts/setup.sh [--test] [--werror] [--sanitizers] [--dir DIR] [-- CONFIGURE-ARGS...]
# Root installs what is missing with apt-get; anyone else gets the exact
# apt-get line to run and a non-zero exit. Run by demo.sh and check.sh.
#
# The build tree is configured again (and rebuilt from clean) whenever what is
# wanted differs from what it was configured with: other configure arguments
# (--werror asked for a tree made without it, --sanitizers, a new option), or
# other libraries visible to configure (CMocka installed after demo.sh made
# build/ without it, a library upgraded, another PKG_CONFIG_PATH). What a tree
# was configured with is kept in DIR/setup.stamp.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
want_test=0
werror=0
sanitizers=0
dir=build
extra=()
while [ $# -gt 0 ]; do
	case "$1" in
	--test) want_test=1 ;;
	--werror) werror=1 ;;
	--sanitizers) sanitizers=1 ;;
	--dir) [ $# -ge 2 ] || { echo "setup.sh: --dir needs a directory" >&2; exit 2; }
	       dir=$2; shift ;;
	--) shift; extra=("$@"); break ;;
	*) echo "setup.sh: unknown option '$1' (use --test, --werror, --sanitizers, --dir DIR, -- CONFIGURE-ARGS)" >&2
	   exit 2 ;;
	esac
	shift
done

# what the build needs (libdnnl-dev: oneDNN, for the bf16 path; Open MPI:
# data-parallel replicas, its headers to build and mpirun to run them)
build_pkgs=(gcc make autoconf automake pkg-config
	    libopenblas-dev liburing-dev libhwloc-dev libinih-dev libjansson-dev zlib1g-dev
	    libibverbs-dev librdmacm-dev rdma-core ibverbs-providers libdnnl-dev
	    libopenmpi-dev openmpi-bin dataset-fashion-mnist)
# what the test suite needs: CMocka; the Soft-RoCE VM for real verbs; a
# private Slurm (tests/slurm) to run dtpipe under srun; clang and libFuzzer for
# the fuzz targets; valgrind (tests/integration/valgrind.sh); hwloc with its
# plugins, as on most HPC nodes, so the suite runs with the PCI plugin loaded;
# numpy and PyTorch for the checkpoint readers in examples/; iproute2 and
# nftables to cut a link between network namespaces (tests/integration/netcut.sh)
test_pkgs=(libcmocka-dev qemu-system-x86 busybox-static ibverbs-utils rdmacm-utils
	   perftest iproute2 nftables cpio kmod xz-utils
	   slurm-wlm munge procps python3 python3-numpy python3-torch
	   clang-14 libfuzzer-14-dev valgrind hwloc libhwloc-plugins)
# the pkg-config modules configure looks for (configure.ac)
pc_modules=(openblas liburing hwloc inih jansson zlib libibverbs librdmacm cmocka ompi-c)

pkgs=("${build_pkgs[@]}")
[ "$want_test" = 1 ] && pkgs+=("${test_pkgs[@]}")

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
# in a git checkout, commits go through the project's commit-msg hook (a
# subject of 72 characters or fewer, then a blank line); a hooks path the
# developer set is kept
if [ -d .git ] || [ -f .git ]; then
	if [ -z "$(git config --get core.hooksPath 2>/dev/null || true)" ]; then
		git config core.hooksPath .githooks 2>/dev/null || true
	fi
fi
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
	echo "==> autoreconf"
	autoreconf -fi 2>&1 | grep -v ': installing ' || true
fi
mkdir -p "$dir"
cd "$dir"

# the configure arguments wanted: -Werror when asked, and kept when the tree
# already has it (demo.sh after check.sh does not drop it)
had_werror=0
if [ -x config.status ] && ./config.status --config 2>/dev/null | grep -q -- "--enable-werror"; then
	had_werror=1
fi
cfg=()
{ [ "$werror" = 1 ] || [ "$had_werror" = 1 ]; } && cfg+=(--enable-werror)
[ "$sanitizers" = 1 ] && cfg+=(--enable-sanitizers)
# the test suite's tree requires MPI and oneDNN, so that their tests fail
# loudly rather than drop out of `make check` when either goes missing (and
# keeps requiring them when demo.sh runs after check.sh)
had_required=0
if [ -x config.status ] && ./config.status --config 2>/dev/null | grep -q -- "--with-mpi"; then
	had_required=1
fi
{ [ "$want_test" = 1 ] || [ "$had_required" = 1 ]; } && cfg+=(--with-mpi --with-onednn)
cfg+=("${extra[@]}")

# what configure will see: the arguments, the environment it reads, the
# versions of the pkg-config modules it checks, the installed packages
fingerprint() {
	printf 'args:'; printf ' %q' "${cfg[@]}"; echo
	printf 'env: CC=%q CFLAGS=%q LDFLAGS=%q PKG_CONFIG_PATH=%q PKG_CONFIG_LIBDIR=%q\n' \
		"${CC-}" "${CFLAGS-}" "${LDFLAGS-}" "${PKG_CONFIG_PATH-}" "${PKG_CONFIG_LIBDIR-}"
	for m in "${pc_modules[@]}"; do
		printf 'pkg-config %s: %s\n' "$m" "$(pkg-config --modversion "$m" 2>/dev/null || echo absent)"
	done
	dpkg-query -W -f='dpkg ${Package}: ${Version} ${Status}\n' \
		"${build_pkgs[@]}" "${test_pkgs[@]}" 2>/dev/null | sort || true
}
want=$(fingerprint)
why=""
if [ ! -f Makefile ] || [ ! -x config.status ]; then
	why="not configured yet"
elif [ "${DTP_RECONFIGURE:-0}" = 1 ]; then
	why="DTP_RECONFIGURE=1"
elif [ ../configure -nt Makefile ]; then
	why="configure is newer than the tree"
elif [ ! -f setup.stamp ]; then
	why="configured by hand or by an older setup.sh (no $dir/setup.stamp)"
elif [ "$(sed -n 's/^config.status: //p' setup.stamp)" != "$(./config.status --config)" ]; then
	why="configured again by hand since setup.sh did"
elif [ "$(grep -v '^config.status: ' setup.stamp)" != "$want" ]; then
	why="what configure sees changed: $( { diff <(grep -v '^config.status: ' setup.stamp) \
		<(echo "$want") || true; } | sed -n 's/^> //p' | head -3 | paste -sd ';' - || true)"
fi
if [ -n "$why" ]; then
	echo "==> configure${cfg[*]:+ ${cfg[*]}} in $dir ($why; log: $dir/configure.log)"
	rm -f setup.stamp
	# flags may have changed (-Werror, sanitizers): build every object again
	[ -f Makefile ] && make clean > /dev/null 2>&1 || true
	if ! ../configure "${cfg[@]}" > configure.log 2>&1; then
		tail -20 configure.log >&2
		echo "setup.sh: configure failed; the whole log is $dir/configure.log" >&2
		exit 1
	fi
	# the summary configure prints at its end
	sed -n '/dtpipe .* configured/,$p' configure.log
	{ echo "config.status: $(./config.status --config)"; echo "$want"; } > setup.stamp
fi
echo "==> make (log: $dir/make.log)"
if ! make -j"$(nproc)" > make.log 2>&1; then
	grep -E 'error|Error' make.log | head -20 >&2
	echo "setup.sh: the build failed; the whole log is $dir/make.log" >&2
	exit 1
fi
