#!/usr/bin/env bash
# run.sh: runs every test program under a timeout and prints one closing
# line "N passed, N failed, N skipped". Thin glue: the tests are C programs.
# Tests that need KVM run here when /dev/kvm works; otherwise, when
# LIGHTVM_NESTED is not 0 and the nested harness is available, inside a
# nested VM (scripts/nested/run-in-vm.sh) that has real Linux KVM.
set -u
cd "$(dirname "$0")/.."
B=${BUILD:-build}
A=$B/asan
T=$A/tests
pass=0 fail=0 skip=0
failed=()

run() { # name timeout cmd...
    local name=$1 to=$2 rc; shift 2
    echo "=== $name"
    timeout --kill-after=5 "$to" "$@"
    rc=$?
    case $rc in
        0) pass=$((pass + 1)) ;;
        77) skip=$((skip + 1)); echo "--- $name skipped" ;;
        *) fail=$((fail + 1)); failed+=("$name"); echo "--- $name FAILED (status $rc)" ;;
    esac
}

run test_elf 60 "$T/test_elf"
run test_boot 60 "$T/test_boot"
run test_cli 120 "$T/test_cli" "$A/bin/lightvm" "$B/guest"
mkdir -p "$B/fuzz/corpus_elf" && cp "$B"/guest/*.elf "$B/fuzz/corpus_elf/" 2>/dev/null
run fuzz_elf 120 "$B/fuzz/fuzz_elf" -max_total_time=${LIGHTVM_FUZZ_SECONDS:-20} \
    -rss_limit_mb=1024 -print_final_stats=1 "$B/fuzz/corpus_elf"
run test_vm 300 "$T/test_vm" "$B/guest"
run test_run 600 "$T/test_run" "$A/bin/lightvm" "$B/guest"
run test_valgrind 600 "$T/test_valgrind" "$B/bin/lightvm" "$B/guest"

echo
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
