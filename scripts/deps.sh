#!/usr/bin/env bash
# deps.sh: installs from Debian what lightvm's build and tests need, and
# only what is missing (so `make` can call it every time). Needs root.
set -eu
pkgs=(gcc make binutils libc6-dev clang libclang-rt-14-dev valgrind strace
      coreutils procps python3 libmnl-dev libnftnl-dev libjansson-dev dpkg-dev
      netcat-openbsd curl iproute2 # the network tests: nc, curl, ip
      apache2-utils # test_load, bench_load: ab
      gnuplot-nox crun busybox-static) # bench_pool: the plot, the container peer
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing packages (${missing[*]}); run as root: scripts/deps.sh" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
