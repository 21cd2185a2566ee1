#!/usr/bin/env bash
# demo.sh: the README's main job, after `make` has built everything:
# boots the hello unikernel, shows one run's --trace, then times 20 boots
# beside fork+exec of a static binary. Thin glue over `lightvm` and bench/.
set -eu
cd "$(dirname "$0")/.."
B=${BUILD:-build}
if ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
    echo "demo: /dev/kvm is not usable on this machine, so no VM can start here." >&2
    echo "demo: (tests can still run KVM inside a nested VM: see README, 'No /dev/kvm')" >&2
    exit 1
fi
echo "== lightvm run $B/guest/hello.elf --trace"
"$B/bin/lightvm" run "$B/guest/hello.elf" --trace
echo
echo "== 20 boots, each timed from the command's start (median and p99, microseconds)"
make --no-print-directory bench-build >/dev/null
"$B/bench/bench_boot" "$B/bin/lightvm" "$B/guest/hello.elf" "$B/bench/hello_static" 20
