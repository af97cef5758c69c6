#!/bin/bash
# tests/rxe/rxe-vm.sh - dtpipe's Soft-RoCE harness: run a command in a throwaway
# QEMU (TCG) VM booting Debian's own kernel with rdma_rxe, rxe0 on the guest's
# eth0 (10.0.2.15, no outside network), and return the command's exit status.
#
# usage: tests/rxe/rxe-vm.sh [-t SEC] [-m MB] [-b 'host programs'] DIR 'COMMAND'
#   DIR      copied to /job in the guest (cwd, first in PATH); the shared
#            libraries of every ELF file in it are packed (host ldd)
#   COMMAND  run by bash in the guest, output streamed here; the guest has
#            RXE_DEV=rxe0 RXE_IP=10.0.2.15 RXE_GID_INDEX=<IPv4 RoCE v2 GID index>
# exit: COMMAND's status; 124 timeout; 125 the VM or rxe did not come up (the
#       console tail is printed).
# env:  RXE_VM_CACHE (default /var/tmp/dtpipe-rxe-cache): the kernel package and
#       the modules kept from it; cache it in CI to pin the kernel.
#       RXE_VM_KERNEL_PKG: kernel package (default: what linux-image-amd64 needs)
# Missing host packages (qemu, busybox, rdma-core, perftest...) are installed
# with apt-get (root needed); nothing is skipped. Facts: ../shared/rxe-vm/README.md.
set -euo pipefail

TIMEOUT=300 MEM=1024 EXTRA=''
while getopts "t:m:b:h" o; do
  case $o in t) TIMEOUT=$OPTARG ;; m) MEM=$OPTARG ;; b) EXTRA=$OPTARG ;;
    *) sed -n '2,19p' "$0"; exit 2 ;; esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || { sed -n '2,19p' "$0" >&2; exit 2; }
JOB=$(cd "$1" && pwd) CMD=$2
CACHE=${RXE_VM_CACHE:-/var/tmp/dtpipe-rxe-cache}
say() { printf 'rxe-vm: %s\n' "$*" >&2; }
die() { say "FAILED: $*"; exit 125; }

# ---- host packages: install what is missing (never skip)
need="qemu-system-x86 busybox-static rdma-core ibverbs-providers ibverbs-utils rdmacm-utils perftest iproute2 cpio kmod xz-utils"
miss=
for p in $need; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || miss="$miss $p"
done
if [ -n "$miss" ]; then
  say "installing:$miss"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -q --no-install-recommends $miss ||
    { apt-get update -q && apt-get install -y -q --no-install-recommends $miss; }; } >&2 ||
    die "apt-get install$miss (run as root with a package mirror)"
fi

# ---- the kernel and the modules we need, cached
MODS="virtio_pci virtio_net crc32_generic rdma_rxe ib_uverbs rdma_ucm"
mkdir -p "$CACHE"
exec 8>"$CACHE/.lock"
flock 8
KPKG=${RXE_VM_KERNEL_PKG:-$(cat "$CACHE/kpkg" 2>/dev/null || true)}
if [ -z "$KPKG" ]; then
  KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  [ -n "$KPKG" ] || { apt-get update -q >&2 || true
    KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'); }
  [ -n "$KPKG" ] || die "cannot find the kernel package linux-image-amd64 depends on"
fi
K=$CACHE/$KPKG
if [ "$(cat "$K/ok" 2>/dev/null)" != "$MODS" ]; then
  if ! ls "$CACHE/$KPKG"_*.deb >/dev/null 2>&1; then
    say "downloading $KPKG (once; cached in $CACHE)"
    (cd "$CACHE" && apt-get download -q "$KPKG" 2>&1 | grep -v unsandboxed >&2) || true
    ls "$CACHE/$KPKG"_*.deb >/dev/null 2>&1 ||
      { apt-get update -q >&2 || true; (cd "$CACHE" && apt-get download -q "$KPKG" >&2) ||
        die "apt-get download $KPKG"; }
  fi
  X=$(mktemp -d "$CACHE/unpack.XXXXXX")
  dpkg -x "$CACHE/$KPKG"_*.deb "$X"
  KV=$(ls "$X/lib/modules")
  depmod -b "$X" "$KV"
  rm -rf "$K.new"; mkdir -p "$K.new/boot" "$K.new/lib/modules/$KV"
  cp "$X/boot/vmlinuz-$KV" "$K.new/boot/"
  cp "$X/lib/modules/$KV"/modules.builtin* "$X/lib/modules/$KV"/modules.order "$K.new/lib/modules/$KV/"
  for m in $MODS; do modprobe -d "$X" -S "$KV" --show-depends "$m"; done |
    awk '$1 == "insmod" {print $2}' | sort -u | while read -r f; do
      r=${f#"$X"/}; mkdir -p "$K.new/$(dirname "$r")"; cp "$f" "$K.new/$r"; done
  depmod -b "$K.new" "$KV"
  # qemu boots an ELF vmlinux through PVH, skipping the (slow under TCG) decompressor
  off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$X/boot/vmlinuz-$KV" | head -n1 | cut -d: -f1 || true)
  if [ -n "$off" ]; then
    tail -c +$((off + 1)) "$X/boot/vmlinuz-$KV" | xz -dc >"$K.new/boot/vmlinux" 2>/dev/null || true
    [ "$(head -c4 "$K.new/boot/vmlinux" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] || rm -f "$K.new/boot/vmlinux"
  fi
  rm -rf "$X" "$K"; mv "$K.new" "$K"; echo "$MODS" >"$K/ok"; echo "$KPKG" >"$CACHE/kpkg"
fi
flock -u 8
KV=$(ls "$K/lib/modules")
KIMG=$K/boot/vmlinux; [ -e "$KIMG" ] || KIMG=$K/boot/vmlinuz-$KV

# ---- initramfs: busybox, bash, rdma tools, the rxe provider, the job
W=$(mktemp -d /tmp/dtpipe-rxe.XXXXXX)
QPID=
cleanup() { [ -n "$QPID" ] && kill "$QPID" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
R=$W/root
mkdir -p "$R"/usr/{bin,sbin,lib/x86_64-linux-gnu/libibverbs,lib64} "$R"/{etc/libibverbs.d,proc,sys,dev,tmp,run,job}
for d in bin sbin lib lib64; do ln -s usr/$d "$R/$d"; done
cp -a "$K/lib/modules" "$R/usr/lib/"
cp "$(command -v busybox)" "$R/usr/bin/busybox"
for a in $(busybox --list); do
  case $a in busybox|linuxrc) ;; *) ln -s busybox "$R/usr/bin/$a" ;; esac
done
declare -A HAVE
libs_of() {
  local l
  for l in $(ldd "$1" 2>/dev/null | awk '/=> \//{print $3} /^\t\/[^ ]+ \(/{print $1}'); do
    [ -n "${HAVE[$l]:-}" ] && continue; HAVE[$l]=1
    mkdir -p "$R$(dirname "$l")"; cp -L "$l" "$R$l"
  done
}
for b in bash rdma ip ibv_devices ibv_devinfo ib_write_bw ib_write_lat ib_send_bw taskset timeout $EXTRA; do
  p=$(command -v "$b") || die "host program $b not found"
  rm -f "$R/usr/bin/$b"; cp -L "$p" "$R/usr/bin/$b"; libs_of "$p"
done
cp /etc/libibverbs.d/rxe.driver "$R/etc/libibverbs.d/"
for f in /usr/lib/x86_64-linux-gnu/libibverbs/librxe-rdmav*.so; do
  cp -L "$f" "$R/usr/lib/x86_64-linux-gnu/libibverbs/"; libs_of "$f"
done
cp -L /usr/lib/x86_64-linux-gnu/libgcc_s.so.1 "$R/usr/lib/x86_64-linux-gnu/"   # dlopen()ed by pthread_exit
printf 'root:x:0:0::/root:/bin/sh\n' >"$R/etc/passwd"
printf '127.0.0.1 localhost\n10.0.2.15 rxevm\n' >"$R/etc/hosts"
cp -a "$JOB/." "$R/job/"
while IFS= read -r -d '' f; do
  [ "$(head -c4 "$f" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] && libs_of "$f"
done < <(find "$JOB" -type f -print0)
printf '%s\n' "$CMD" >"$R/cmd"
cat >"$R/init" <<'INIT'
#!/bin/sh
export PATH=/job:/usr/sbin:/usr/bin HOME=/root
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /dev/shm; mount -t tmpfs tmpfs /dev/shm; mount -t tmpfs tmpfs /tmp
echo /usr/bin/modprobe >/proc/sys/kernel/modprobe
ulimit -l unlimited
fail() { echo "rxe-vm: SETUP FAILED: $*"; poweroff -f; }
for m in virtio_pci virtio_net crc32_generic rdma_rxe ib_uverbs rdma_ucm; do modprobe $m || fail "modprobe $m"; done
ip link set lo up
i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 || fail "eth0"
rdma link add rxe0 type rxe netdev eth0 || fail "rdma link add rxe0"
G=; i=0
while [ -z "$G" ] && [ $i -lt 100 ]; do     # the IPv4-mapped RoCE v2 GID (read, not cat: 1024 entries)
  for n in 0 1 2 3 4 5 6 7; do
    v=; read -r v </sys/class/infiniband/rxe0/ports/1/gids/$n 2>/dev/null
    [ "$v" = 0000:0000:0000:0000:0000:ffff:0a00:020f ] && { G=$n; break; }
  done
  [ -n "$G" ] || { sleep 0.1; i=$((i+1)); }
done
[ -n "$G" ] || fail "no IPv4 GID on rxe0"
export RXE_DEV=rxe0 RXE_NETDEV=eth0 RXE_IP=10.0.2.15 RXE_GID_INDEX=$G
echo "rxe-vm: rxe0 ready at $(cut -d' ' -f1 /proc/uptime)s (gid index $G)"
stty -F /dev/ttyS1 raw -echo 2>/dev/null
cd /job
bash /cmd </dev/null >/dev/ttyS1 2>&1
echo "@@RXE_VM_STATUS=$?@@" >/dev/ttyS1
poweroff -f
INIT
chmod +x "$R/init"
(cd "$R" && find . | cpio -o -H newc --quiet) >"$W/initrd"

# ---- boot; ttyS0 = console (file), ttyS1 = the command's output (stdout)
T0=$(date +%s.%N)
set +e
timeout -k 5 "$TIMEOUT" qemu-system-x86_64 -accel tcg,thread=multi -cpu max -nodefaults -no-reboot \
  -display none -monitor none -m "$MEM" -smp 2 -kernel "$KIMG" -initrd "$W/initrd" \
  -append "console=ttyS0 rdinit=/init quiet loglevel=4 panic=-1 mitigations=off tsc=reliable" \
  -serial "file:$W/console" -serial stdio \
  -netdev user,id=n0,restrict=on -device virtio-net-pci,netdev=n0 </dev/null 2>"$W/qemu.err" |
  awk -v f="$W/status" '{ sub(/\r$/, "")
    if (match($0, /@@RXE_VM_STATUS=[0-9]+@@/)) {
      if (RSTART > 1) print substr($0, 1, RSTART - 1)
      print substr($0, RSTART + 16, RLENGTH - 18) > f; close(f); next }
    print; fflush() }'
QST=${PIPESTATUS[0]}
set -e
say "$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "VM ran %.1fs", b-a}') ($KPKG, TCG)"
[ -s "$W/status" ] && exit "$(cat "$W/status")"
if [ "$QST" = 124 ] || [ "$QST" = 137 ]; then say "TIMEOUT after ${TIMEOUT}s"; st=124; else st=125; fi
say "FAILED: no exit status from the guest (qemu exit $QST); qemu stderr:"
sed 's/^/  /' "$W/qemu.err" >&2
say "console tail:"
tail -n 40 "$W/console" | sed 's/^/  /' >&2
exit $st
