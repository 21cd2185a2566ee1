#!/bin/bash
# Run a command inside a Debian-kernel VM (QEMU TCG, emulated AMD SVM CPU)
# where kvm_amd is loaded, so the command sees a real Linux /dev/kvm.
#
#   scripts/nested/run-in-vm.sh [--mem MB] [--cpus N] [--timeout SEC]
#                               [--env NAME]... -- CMD [ARGS...]
#
# Guest root = host / shared read-only over virtio-9p with a RAM overlay on
# top (so it looks like the host and is writable, writes are thrown away);
# the current directory is shared read-write at the same absolute path;
# fresh /proc /sys /dev /run, /tmp is the host's /tmp seen through the
# overlay (readable, writes stay in the VM).  Env passed in: PATH, HOME,
# TERM, LANG, LC_ALL, CI, CC, CFLAGS, LDFLAGS, every LIGHTVM_* and each
# --env NAME.  The guest console (CMD's stdout+stderr) is on our stdout; our
# exit status is CMD's.  Harness failures print one "nested: ..." line on
# stderr and exit 125 (124 on timeout).  --cpus defaults to 1: QEMU's
# emulated SVM with two vCPUs has been seen to wedge the guest.
# LIGHTVM_NESTED_VERBOSE=1 shows the kernel log, QEMU's warnings and the
# harness steps; LIGHTVM_NESTED_CPU overrides the QEMU -cpu model (default
# EPYC,+svm,+npt; max and qemu64,+svm,+npt work too).  The initramfs
# (busybox + virtio/9p/overlay/kvm/kvm_amd modules, and tun, bridge, veth
# for the network tests: /dev/net/tun exists, network namespaces work;
# nf_tables, and the crc32c its libcrc32c needs, for the VMs' antispoof
# rules) is
# cached in /var/cache/lightvm/nested/<kernel version>/.
# One nested VM at a time on this host: a second invocation waits for the
# first (flock on /var/cache/lightvm/nested/lock; one "nested: waiting for
# another nested VM" line on stderr when it has to).
set -euo pipefail
# The whole script is one { } block so bash parses it before running: editing
# this file cannot break a run in flight.
{
mem=2048 cpus=1 tmo=1200 extra_env=()
usage() { echo "usage: $0 [--mem MB] [--cpus N] [--timeout SEC] [--env NAME]... -- CMD [ARGS...]" >&2; exit 125; }
die() { echo "nested: $*" >&2; exit 125; }
while [ $# -gt 0 ]; do
    case $1 in
        --mem) mem=${2:?}; shift 2 ;;
        --cpus) cpus=${2:?}; shift 2 ;;
        --timeout) tmo=${2:?}; shift 2 ;;
        --env) extra_env+=("${2:?}"); shift 2 ;;
        --) shift; break ;;
        *) usage ;;
    esac
done
[ $# -gt 0 ] || usage

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# One QEMU at a time (TCG takes a whole core and more): the lock is held
# on fd 9 until this script and the QEMU that inherits it are gone.
lockdir=/var/cache/lightvm/nested
mkdir -p "$lockdir" || die "cannot create $lockdir"
exec 9>>"$lockdir/lock" || die "cannot open $lockdir/lock"
if ! flock -n 9; then
    echo "nested: waiting for another nested VM" >&2
    flock 9 || die "flock $lockdir/lock failed"
fi
"$here/deps.sh" || die "dependency install failed"

# Kernel: the one the linux-image-amd64 metapackage points at.
kpkg=$(dpkg-query -W -f='${Depends}' linux-image-amd64 | grep -o 'linux-image-[^ ,]*' | head -n1)
kver=${kpkg#linux-image-}
kernel=/boot/vmlinuz-$kver
moddir=/lib/modules/$kver
[ -r "$kernel" ] && [ -r "$moddir/modules.dep" ] || die "kernel $kver not installed ($kernel, $moddir)"

workdir=$(pwd -P)
[ "$workdir" != / ] || die "refusing to share / read-write; cd into the work tree"

# ---------------------------------------------------------------- initramfs
# /init of the VM (busybox sh).  Reads /nested/config (per run) and runs
# /nested/cmd.sh (per run, bash) chrooted into the host-like root.
read -r -d '' INIT <<'INIT_EOF' || true
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t devtmpfs dev /dev
# ttyS0: the command's console (QEMU stdio); ttyS1: kernel log (file unless
# verbose); ttyS2: status lines for the host script.
exec </dev/ttyS0 >/dev/ttyS0 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
. /nested/config
say() { [ "$VERBOSE" = 1 ] && echo "nested-init: $*"; return 0; }
fail() {
    echo "nested: $*"
    echo "NESTED_FAIL $*" >/dev/ttyS2
    poweroff -f
}
for m in $(cat /modules/order); do
    say "insmod $m"
    if ! out=$(insmod /modules/$m 2>&1); then
        case $m in
            kvm-amd.ko)
                why=$(dmesg | grep -iE 'kvm|svm' | tail -n1)
                fail "kvm_amd did not load: ${why:-$out}" ;;
            *) fail "insmod $m failed: $out $(dmesg | tail -n1)" ;;
        esac
    fi
done
[ -c /dev/kvm ] || fail "kvm_amd loaded but /dev/kvm is missing: $(dmesg | grep -iE 'kvm|svm' | tail -n1)"
[ -c /dev/net/tun ] || fail "tun loaded but /dev/net/tun is missing: $(dmesg | tail -n1)"

o9p=trans=virtio,version=9p2000.L,msize=512000
mkdir -p /host /ovl /newroot
mount -t 9p -o $o9p,ro,cache=loose hostroot /host || fail "mounting host / over 9p failed: $(dmesg | tail -n1)"
mount -t tmpfs -o mode=755 ovl /ovl
mkdir -p /ovl/upper /ovl/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/ovl/upper,workdir=/ovl/work /newroot \
    || fail "overlay root failed: $(dmesg | tail -n1)"
R=/newroot
mount -t proc proc $R/proc
mount -t sysfs sys $R/sys
# cgroup v2 (unified): lightvmd's per-VM memory, task and CPU limits
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup || say "no cgroup2: VM limits fall back to rlimits"
mount -t devtmpfs dev $R/dev
# devtmpfs has no /dev/fd: bash's process substitution needs it
ln -s /proc/self/fd $R/dev/fd
ln -s /proc/self/fd/0 $R/dev/stdin
ln -s /proc/self/fd/1 $R/dev/stdout
ln -s /proc/self/fd/2 $R/dev/stderr
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts
mount -t tmpfs shm $R/dev/shm
mount -t tmpfs -o mode=755 run $R/run
mkdir -p $R/run/netns $R/run/lock
mkdir -p "$R$WORKDIR"
mount -t 9p -o $o9p,cache=mmap work "$R$WORKDIR" || fail "mounting $WORKDIR over 9p failed: $(dmesg | tail -n1)"
mkdir -p $R/run/nested
cp /nested/cmd.sh $R/run/nested/cmd.sh
hostname lightvm-nested
stty -onlcr 2>/dev/null
say "running command"
if [ "$STDIN_TTY" = 1 ]; then
    setsid -c chroot $R /bin/bash /run/nested/cmd.sh
else
    chroot $R /bin/bash /run/nested/cmd.sh </dev/null
fi
rc=$?
stty onlcr 2>/dev/null
sync
umount "$R$WORKDIR" 2>/dev/null
echo "NESTED_RC $rc" >/dev/ttyS2
poweroff -f
INIT_EOF

# Modules (deps first, from modules.dep; each line there lists all
# transitive deps, last one loaded first). tun, bridge (with stp, llc) and
# veth are for the network tests. The list is part of the cache key.
want_mods="virtio_pci 9pnet_virtio 9p overlay kvm-amd tun bridge veth crc32c_generic nf_tables"

build_initramfs() {
    local out=$1 stage m path deps d
    stage=$(mktemp -d /tmp/nested-initramfs.XXXXXX)
    # shellcheck disable=SC2064
    trap "rm -rf '$stage'" RETURN
    mkdir -p "$stage"/{bin,dev,proc,sys,tmp,modules,nested}
    cp /bin/busybox "$stage/bin/busybox"
    printf '%s\n' "$INIT" >"$stage/init"
    chmod 755 "$stage/init"
    local -a order=()
    declare -A seen=()
    for m in $want_mods; do
        path=$(grep -E "(^|/)$m\.ko(\.[a-z]+)?:" "$moddir/modules.dep" | head -n1 | cut -d: -f1)
        if [ -z "$path" ] && grep -qE "(^|/)(${m//[-_]/[-_]})\.ko\$" "$moddir/modules.builtin" 2>/dev/null; then
            continue # built into this kernel
        fi
        [ -n "$path" ] || { echo "nested: module $m not in $moddir/modules.dep" >&2; return 1; }
        deps=$(grep -E "^$path:" "$moddir/modules.dep" | cut -d: -f2)
        for d in $(printf '%s\n' $deps | tac) "$path"; do
            [ -n "${seen[$d]:-}" ] && continue
            seen[$d]=1
            order+=("$d")
        done
    done
    for d in "${order[@]}"; do
        case $d in
            *.ko) cp "$moddir/$d" "$stage/modules/" ;;
            *.ko.xz) xz -dc "$moddir/$d" >"$stage/modules/$(basename "${d%.xz}")" ;;
            *.ko.zst) zstd -qdc "$moddir/$d" >"$stage/modules/$(basename "${d%.zst}")" ;;
            *) echo "nested: unknown module format $d" >&2; return 1 ;;
        esac
        d=$(basename "$d"); echo "${d%.ko*}.ko"
    done >"$stage/modules/order"
    (cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio -o -0 -H newc -R 0:0 --quiet) | gzip -1 >"$out.tmp.$$"
    mv -f "$out.tmp.$$" "$out"
}

key=$(printf '%s\n%s\n' "$INIT" "$want_mods" | cat - /bin/busybox | sha256sum | cut -c1-12)
cache=/var/cache/lightvm/nested/$kver
base=$cache/initramfs-$key.cpio.gz
if [ ! -s "$base" ]; then
    mkdir -p "$cache" || die "cannot create $cache"
    rm -f "$cache"/initramfs-*.cpio.gz
    build_initramfs "$base" || die "building initramfs failed"
fi

# ---------------------------------------------------------------- per run
tmp=$(mktemp -d /tmp/nested-run.XXXXXX)
qpid=
cleanup() {
    [ -n "$qpid" ] && kill "$qpid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$tmp/rd/nested"
verbose=${LIGHTVM_NESTED_VERBOSE:-0}
stdin_tty=0; [ -t 0 ] && stdin_tty=1
printf 'WORKDIR=%q\nVERBOSE=%q\nSTDIN_TTY=%q\n' "$workdir" "$verbose" "$stdin_tty" >"$tmp/rd/nested/config"
{
    echo '#!/bin/bash'
    echo 'export HOME=/root TERM=linux'
    for v in PATH HOME TERM LANG LC_ALL CI CC CFLAGS LDFLAGS "${extra_env[@]}" $(compgen -e | grep '^LIGHTVM_' || true); do
        if [ -n "${!v+x}" ]; then printf 'export %s=%q\n' "$v" "${!v}"; fi
    done
    printf 'cd -- %q || exit 125\n' "$workdir"
    printf 'exec'; printf ' %q' "$@"; printf '\n'
} >"$tmp/rd/nested/cmd.sh"
(cd "$tmp/rd" && find . | cpio -o -H newc -R 0:0 --quiet) >"$tmp/run.cpio"
cat "$tmp/run.cpio" "$base" >"$tmp/initrd"

kcon=ttyS1
[ "$verbose" = 1 ] && kcon=ttyS0
: >"$tmp/status"
qemu=(qemu-system-x86_64
    -accel tcg -machine pc -cpu "${LIGHTVM_NESTED_CPU:-EPYC,+svm,+npt}" -smp "$cpus" -m "$mem"
    -nodefaults -display none -no-reboot -nic none
    -serial stdio -serial "file:$tmp/kernel.log" -serial "file:$tmp/status"
    -kernel "$kernel" -initrd "$tmp/initrd"
    -append "console=$kcon rdinit=/init panic=-1 mitigations=off"
    -fsdev "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap"
    -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot
    -fsdev "local,id=work,path=$workdir,security_model=none,multidevs=remap"
    -device virtio-9p-pci,fsdev=work,mount_tag=work)
[ "$verbose" = 1 ] && echo "nested: ${qemu[*]}" >&2

set +e
timeout -k 10 "$tmo" "${qemu[@]}" 2>"$tmp/qemu.err" &
qpid=$!
wait "$qpid"
qrc=$?
qpid=
set -e
[ "$verbose" = 1 ] && cat "$tmp/qemu.err" >&2

st=$(tr -d '\r' <"$tmp/status")
case $st in
    *"NESTED_RC "*)
        rc=$(printf '%s\n' "$st" | sed -n 's/^NESTED_RC \([0-9]*\).*/\1/p' | tail -n1)
        exit "${rc:-125}" ;;
    *"NESTED_FAIL "*)
        echo "nested: $(printf '%s\n' "$st" | sed -n 's/^NESTED_FAIL //p' | tail -n1)" >&2
        exit 125 ;;
esac
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
    why=$(tr -d '\r' <"$tmp/kernel.log" 2>/dev/null | grep -E 'BUG:|rcu.*stall|soft lockup|blocked for more than|Kernel panic|Oops' | head -n1 || true)
    echo "nested: timed out after ${tmo}s${why:+ (guest kernel: $why)}" >&2
    exit 124
fi
err=$(grep -v -e '^$' "$tmp/qemu.err" | grep -vi 'warning' | tail -n1 || true)
[ -n "$err" ] || err=$(tr -d '\r' <"$tmp/kernel.log" 2>/dev/null | grep -E 'BUG:|Kernel panic|Oops|[Ee]rror|[Ff]ail' | tail -n1 || true)
echo "nested: VM ended without reporting a status (qemu exit $qrc${err:+: $err})" >&2
exit 125
}
