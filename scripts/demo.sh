#!/usr/bin/env bash
# demo.sh: the README's main job, after `make` has built everything:
#   1. boots the hello unikernel with --trace, then times boots beside
#      fork+exec of a static binary (bench/bench_boot);
#   2. in a private network namespace, boots the daytime unikernel on a
#      bridge and asks it the time with nc;
#   3. times daytime boots to network up (bench/bench_net, short run);
#   4. times creates through lightvmd's pool (bench/bench_api, short run).
# Thin glue over `lightvm` and bench/. Needs root (namespaces, taps).
# Without a usable /dev/kvm it runs itself inside the nested-KVM VM
# (scripts/nested/run-in-vm.sh), unless LIGHTVM_NESTED=0; LIGHTVM_NESTED=1
# runs it there even where /dev/kvm works.
set -eu
cd "$(dirname "$0")/.."
B=${BUILD:-build}
N=${LIGHTVM_DEMO_RUNS:-100}

# Part 2, run as PID 1 of a new PID and network namespace (see below):
# when this shell ends, however it ends, the kernel kills whatever is
# left in the PID namespace, and the network namespace (bridge, taps)
# goes with its last process.
daytime_in_netns() {
    local br=lvdemo0 up= reply= st=0
    vm= err=$(mktemp /tmp/lightvm-demo-XXXXXX) # globals: the EXIT trap uses them
    trap '[ -z "$vm" ] || kill -TERM "$vm" 2>/dev/null || :; wait; rm -f "$err"' EXIT
    trap 'exit 130' INT TERM
    ip link set lo up
    ip link add "$br" type bridge
    ip addr add 10.0.99.1/24 dev "$br"
    ip link set "$br" up
    echo "\$ lightvm run $B/guest/daytime.elf --net $br,ip=10.0.99.2/24,gw=10.0.99.1 --wait-net 10.0.99.1 &"
    "$B/bin/lightvm" run "$B/guest/daytime.elf" --net "$br,ip=10.0.99.2/24,gw=10.0.99.1" \
        --wait-net 10.0.99.1 >/dev/null 2>"$err" &
    vm=$!
    for _ in $(seq 100); do # up to 10 s
        up=$(grep -m1 '^lightvm: network up' "$err" || :)
        [ -z "$up" ] && kill -0 "$vm" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$up" ]; then
        echo "demo: the daytime VM did not report network up within 10 s:" >&2
        cat "$err" >&2
        exit 1
    fi
    echo "$up"
    echo "\$ nc -w 3 10.0.99.2 13"
    reply=$(nc -w 3 10.0.99.2 13) || :
    if [ -z "$reply" ]; then
        echo "demo: no reply from the daytime VM on 10.0.99.2:13" >&2
        exit 1
    fi
    echo "$reply"
    kill -TERM "$vm"
    wait "$vm" || st=$?
    vm=
    echo "(SIGTERM to the VM: lightvm run exited $st, 128 + 15 is a clean stop)"
}
if [ "${1:-}" = --daytime-in-netns ]; then
    daytime_in_netns
    exit
fi

# LIGHTVM_NESTED: 1 = in the nested VM even where /dev/kvm works, 0 = never,
# unset = when /dev/kvm is not usable here.
kvm_here() { [ -c /dev/kvm ] && (exec 3<>/dev/kvm) 2>/dev/null; }
nested=
if [ -z "${LIGHTVM_IN_NESTED:-}" ]; then
    case ${LIGHTVM_NESTED-} in 1) nested=forced ;; 0) ;; *) kvm_here || nested=auto ;; esac
fi
if [ -z "$nested" ] && ! kvm_here; then
    echo "demo: /dev/kvm is not usable here, so no VM can start." >&2
    exit 1
fi
if [ -n "$nested" ]; then
    if [ "$nested" = forced ]; then
        echo "demo: LIGHTVM_NESTED=1: running the demo inside a nested VM"
    else
        echo "demo: no usable /dev/kvm on this machine. Running the demo inside a nested VM"
    fi
    cat <<'MSG'
demo: (Debian kernel under QEMU TCG with an emulated AMD SVM CPU, Linux kvm_amd).
demo: Every instruction there is emulated in software: the times below show the
demo: shape of a boot (phases, exits, VM vs process), not this toolstack's speed.
MSG
    exec scripts/nested/run-in-vm.sh --timeout 1200 -- \
        env BUILD="$B" LIGHTVM_IN_NESTED=1 LIGHTVM_DEMO_RUNS="$N" scripts/demo.sh
fi
echo "== lightvm run $B/guest/hello.elf --trace"
"$B/bin/lightvm" run "$B/guest/hello.elf" --trace
echo
echo "== $N boots, each timed from the command's start, beside fork+exec (microseconds)"
"$B/bench/bench_boot" "$B/bin/lightvm" "$B/guest/hello.elf" "$B/bench/hello_static" "$N"
echo
echo "== daytime (RFC 867) unikernel on a bridge, in a private network namespace"
BUILD="$B" unshare --net --pid --fork --kill-child scripts/demo.sh --daytime-in-netns
echo
echo "== 20 daytime boots to network up, beside fork+exec of a UDP sender (microseconds)"
# bench_net makes its own network namespace; the PID namespace makes sure
# no VM outlives it.
unshare --pid --fork --kill-child --mount-proc \
    "$B/bench/bench_net" "$B/bin/lightvm" "$B/guest/daytime.elf" "$B/bench/udp_probe" 20 --vms 5
echo
echo "== 20 creates through lightvmd's pool of VM shells, request to network up (microseconds)"
unshare --pid --fork --kill-child --mount-proc \
    "$B/bench/bench_api" "$B/bin/lightvmd" "$B/guest/daytime.elf" "$B/bench/udp_probe" 20
