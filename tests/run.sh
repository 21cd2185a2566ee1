#!/usr/bin/env bash
# run.sh [all|host|kvm|fuzz]: runs the tests named in tests/tests.list
# under their timeouts and prints one closing line "N passed, N failed,
# N skipped". Thin glue: the tests are C programs.
#   all   unit tests, fuzz targets (LIGHTVM_FUZZ_SECONDS each, default 10),
#         then the KVM tests, here or in the nested VM (below)
#   host  unit tests and fuzz targets only
#   kvm   the KVM tests, here (the nested VM's inner run)
#   fuzz  the fuzz targets only (make fuzz: LIGHTVM_FUZZ_SECONDS each)
#
# Where the KVM tests run, LIGHTVM_NESTED says:
#   unset  here when /dev/kvm is usable, else in the nested VM
#   1      in the nested VM even when /dev/kvm works here
#   0      here (they skip without /dev/kvm, or fail under
#          LIGHTVM_REQUIRE_KVM=1)
# The nested VM (scripts/nested/run-in-vm.sh) is a Debian kernel under
# QEMU TCG with an emulated AMD SVM CPU, where kvm_amd provides /dev/kvm:
# slow, but real: the same test binaries against the kernel's KVM.
set -u
cd "$(dirname "$0")/.."
mode=${1:-all}
B=${BUILD:-build}
A=$B/asan
T=$A/tests
pass=0 fail=0 skip=0
failed=()

case $mode in all|host|kvm|fuzz) ;; *) echo "usage: $0 [all|host|kvm|fuzz]" >&2; exit 2 ;; esac
case ${LIGHTVM_NESTED-} in ""|0|1) ;;
    *) echo "run.sh: LIGHTVM_NESTED=$LIGHTVM_NESTED: must be 0, 1 or unset" >&2; exit 2 ;; esac

run() { # name timeout cmd...
    local name=$1 to=$2 rc; shift 2
    echo "=== $name"
    timeout --kill-after=5 "$to" "$@"
    rc=$?
    case $rc in
        0) pass=$((pass + 1)) ;;
        77) if [ "${LIGHTVM_REQUIRE_KVM-}" = 1 ]; then # CI: nothing may skip
                fail=$((fail + 1)); failed+=("$name")
                echo "--- $name FAILED (skipped under LIGHTVM_REQUIRE_KVM=1)"
            else
                skip=$((skip + 1)); echo "--- $name skipped"
            fi ;;
        *) fail=$((fail + 1)); failed+=("$name"); echo "--- $name FAILED (status $rc)" ;;
    esac
}

# listed KIND: entries=("NAME TIMEOUT ARGS..." of each KIND line of
# tests.list, with $A and $B replaced). A kind with no test is a failure
# (a list that did not parse must not pass as "0 failed").
listed() {
    local name kind to args
    entries=()
    while read -r name kind to args; do
        case $name in ''|'#'*) continue ;; esac
        [ "$kind" = "$1" ] || continue
        args=${args//'$A'/$A}
        entries+=("$name $to ${args//'$B'/$B}")
    done < tests/tests.list
    if [ ${#entries[@]} = 0 ]; then
        fail=$((fail + 1)); failed+=("(no $1 tests in tests/tests.list)")
        echo "--- no $1 tests in tests/tests.list"
    fi
}

run_listed() { # kind
    local e name to args
    listed "$1"
    for e in "${entries[@]}"; do
        read -r name to args <<< "$e"
        # shellcheck disable=SC2086 # ARGS are words, as written in the list
        run "$name" "$to" "$T/$name" $args
    done
}

# A fuzz target, LIGHTVM_FUZZ_SECONDS, from the seeds in the tree and what
# earlier runs found (build/fuzz/corpus/NAME, the one it adds to); crash
# inputs go to build/fuzz/NAME-crash-*. The closing stats line is kept.
run_fuzz() {
    local e name to args work log
    listed fuzz
    for e in "${entries[@]}"; do
        read -r name to args <<< "$e"
        work=$B/fuzz/corpus/$name
        log=$B/fuzz/$name.log
        mkdir -p "$work"
        # the ELF target also starts from the guest images of this build
        [ "$name" = fuzz_elf ] && cp "$B"/guest/*.elf "$work/" 2>/dev/null
        # shellcheck disable=SC2086
        run "$name" "$to" bash -c '"$@" >"$0" 2>&1; rc=$?
            if [ $rc = 0 ]; then grep -E "^(#[0-9]+[[:space:]]+DONE|stat::)" "$0"; else tail -n 40 "$0"; fi
            exit $rc' \
            "$log" "$B/fuzz/$name" -max_total_time="${LIGHTVM_FUZZ_SECONDS:-10}" \
            -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$B/fuzz/$name-" $args \
            "$work" "tests/fuzz/corpus/$name"
    done
}

kvm_usable() { [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] && \
    (exec 3<>/dev/kvm) 2>/dev/null; }

case $mode in all|host) run_listed unit ;; esac
case $mode in all|host|fuzz) run_fuzz ;; esac

nested=0
if [ "$mode" = all ]; then
    case ${LIGHTVM_NESTED-} in
        1) nested=1 ;;
        0) ;;
        *) kvm_usable || nested=1 ;;
    esac
fi
if [ "$mode" = kvm ] || { [ "$mode" = all ] && [ "$nested" = 0 ]; }; then
    run_listed kvm
elif [ "$mode" = all ]; then
    if kvm_usable; then
        echo "=== LIGHTVM_NESTED=1: running the KVM tests in a nested VM"
    else
        echo "=== no usable /dev/kvm here: running the KVM tests in a nested VM"
    fi
    echo "    (Debian kernel under QEMU TCG, emulated AMD SVM, Linux kvm_amd: slow but real KVM)"
    counts=$B/nested-counts
    t0=$SECONDS
    for attempt in 1 2; do
        rm -f "$counts"
        scripts/nested/run-in-vm.sh --timeout 1800 -- env BUILD="$B" \
            LIGHTVM_COUNTS="$counts" tests/run.sh kvm
        rc=$?
        # 124/125: the harness itself timed out or failed (QEMU's nested
        # SVM emulation has been seen to wedge, rarely): one retry.
        [ -s "$counts" ] || [ "$rc" -lt 124 ] || [ "$rc" -gt 125 ] || [ "$attempt" = 2 ] && break
        echo "=== nested VM failed (status $rc); retrying once"
    done
    echo "=== nested VM: $((SECONDS - t0)) s"
    if [ -s "$counts" ] && read -r np nf ns < "$counts" && [ $((np + nf + ns)) -gt 0 ]; then
        pass=$((pass + np)) fail=$((fail + nf)) skip=$((skip + ns))
        [ "$nf" -gt 0 ] && failed+=("(nested KVM tests)")
    else
        fail=$((fail + 1)); failed+=("nested-vm (harness status $rc, no test counted)")
    fi
fi

echo
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
if [ -n "${LIGHTVM_COUNTS:-}" ]; then # inner run: the outer one prints the closing line
    echo "$pass $fail $skip" > "$LIGHTVM_COUNTS"
    echo "nested: $pass passed, $fail failed, $skip skipped"
else
    echo "$pass passed, $fail failed, $skip skipped"
fi
[ "$fail" -eq 0 ]
