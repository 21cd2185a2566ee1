#!/usr/bin/env bash
# demo.sh: the README's main job, after `make` has built everything:
# boots the hello unikernel with --trace, then times 100 boots beside
# fork+exec of a static binary. Thin glue over `lightvm` and bench/.
# Without a usable /dev/kvm it runs itself inside the nested-KVM VM
# (scripts/nested/run-in-vm.sh), unless LIGHTVM_NESTED=0.
set -eu
cd "$(dirname "$0")/.."
B=${BUILD:-build}
N=${LIGHTVM_DEMO_RUNS:-100}
if ! { [ -c /dev/kvm ] && (exec 3<>/dev/kvm) 2>/dev/null; }; then
    if [ "${LIGHTVM_NESTED:-1}" = 0 ] || [ -n "${LIGHTVM_IN_NESTED:-}" ]; then
        echo "demo: /dev/kvm is not usable here, so no VM can start." >&2
        exit 1
    fi
    cat <<'MSG'
demo: no usable /dev/kvm on this machine. Running the demo inside a nested VM
demo: (Debian kernel under QEMU TCG with an emulated AMD SVM CPU, Linux kvm_amd).
demo: Every instruction there is emulated in software: the times below show the
demo: shape of a boot (phases, exits, VM vs process), not this toolstack's speed.
MSG
    exec scripts/nested/run-in-vm.sh --cpus 1 --timeout 1200 -- \
        env BUILD="$B" LIGHTVM_IN_NESTED=1 LIGHTVM_DEMO_RUNS="$N" scripts/demo.sh
fi
echo "== lightvm run $B/guest/hello.elf --trace"
"$B/bin/lightvm" run "$B/guest/hello.elf" --trace
echo
echo "== $N boots, each timed from the command's start, beside fork+exec (microseconds)"
"$B/bench/bench_boot" "$B/bin/lightvm" "$B/guest/hello.elf" "$B/bench/hello_static" "$N"
