#!/bin/sh
# Install (only when missing) the Debian packages the nested-KVM harness needs:
# QEMU (TCG with emulated AMD SVM), a Debian kernel + modules for the L1 guest,
# a static busybox for the initramfs, cpio to pack it, kmod for modinfo.
set -eu
pkgs="qemu-system-x86 linux-image-amd64 busybox-static cpio kmod"
missing=""
for p in $pkgs; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = installed ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "nested: missing packages:$missing (run $0 as root)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/nested-deps.XXXXXX)
trap 'rm -f "$log"' EXIT
# An empty/stale package list makes install fail: update once, then retry.
if ! apt-get install -y -q --no-install-recommends $missing >"$log" 2>&1; then
    if ! { apt-get update -q && apt-get install -y -q --no-install-recommends $missing; } >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        echo "nested: apt-get install of$missing failed" >&2
        exit 1
    fi
fi
