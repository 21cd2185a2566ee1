#!/usr/bin/env bash
# fetch-lwip.sh DESTDIR: puts Debian's lwIP source tree (source package
# `lwip`, 2.1.x on Debian 12) at DESTDIR, for guest/lwip/lwip.mk.
#
# Idempotent: does nothing when DESTDIR/src/core/tcp.c exists. Otherwise
# it makes sure a deb-src entry exists (adding
# /etc/apt/sources.list.d/lightvm-src.sources, a deb822 copy of the Debian
# deb entries with Types: deb-src, then `apt-get update`) and that
# dpkg-dev is installed, runs `apt-get source lwip` in a temporary
# directory next to DESTDIR and renames the unpacked tree to DESTDIR
# (atomic: a half-unpacked tree is never visible at DESTDIR). Those first
# two steps need root; the fetch itself does not.
#
# Recommended DESTDIR: /var/cache/lightvm/lwip-<version> (outside the
# tree, so clean clones reuse it). Exit 0 on success, else 1 with one
# "lwip: error: ..." line on stderr; temporary files are removed.

# A && B || die: die whenever the chain fails, which is what we want.
# shellcheck disable=SC2015
set -eu

SRC_LIST=/etc/apt/sources.list.d/lightvm-src.sources

die() {
    echo "lwip: error: $*" >&2
    exit 1
}

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: $0 DESTDIR"
dest=${1%/}
[ -f "$dest/src/core/tcp.c" ] && exit 0
[ -e "$dest" ] && ! rmdir "$dest" 2>/dev/null &&
    die "$dest exists but holds no lwIP tree (no src/core/tcp.c); remove it"

is_root() { [ "$(id -u)" -eq 0 ]; }

# Is a deb-src entry configured (one-line or deb822 format, any file)?
have_deb_src() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] && grep -Eq '^[[:space:]]*deb-src[[:space:]]' "$f" && return 0
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && grep -Eqi '^Types:.*[[:space:]]deb-src([[:space:]]|$)' "$f" &&
            ! grep -Eqi '^Enabled:[[:space:]]*no' "$f" && return 0
    done
    return 1
}

# Print deb822 deb-src stanzas mirroring the Debian deb entries: the
# deb822 file /etc/apt/sources.list.d/debian.sources if present, else
# the one-line /etc/apt/sources.list.
deb_src_stanzas() {
    local deb822=/etc/apt/sources.list.d/debian.sources
    if [ -f "$deb822" ]; then
        # Paragraphs are separated by blank lines; keep those whose Types
        # include "deb" and copy URIs/Suites/Components/Signed-By
        # (single-line fields; an inline Signed-By key block is skipped).
        awk 'function flush() {
                if (isdeb && !off && uris != "" && suites != "") {
                    printf "%sTypes: deb-src\nURIs: %s\nSuites: %s\n", sep, uris, suites
                    if (comps != "") printf "Components: %s\n", comps
                    if (sb != "") printf "Signed-By: %s\n", sb
                    sep = "\n"
                }
                isdeb = off = 0; uris = suites = comps = sb = ""
            }
            /^[[:space:]]*$/ { flush(); next }
            /^#/ { next }
            /^Types:/ { for (i = 2; i <= NF; i++) if ($i == "deb") isdeb = 1; next }
            /^Enabled:[[:space:]]*no/ { off = 1; next }
            /^URIs:/ { sub(/^URIs:[[:space:]]*/, ""); uris = $0; next }
            /^Suites:/ { sub(/^Suites:[[:space:]]*/, ""); suites = $0; next }
            /^Components:/ { sub(/^Components:[[:space:]]*/, ""); comps = $0; next }
            /^Signed-By:[[:space:]]*[^[:space:]]/ { sub(/^Signed-By:[[:space:]]*/, ""); sb = $0; next }
            END { flush() }' "$deb822"
    elif [ -f /etc/apt/sources.list ]; then
        # deb [opts] URI SUITE [COMPONENT...]; of the options only
        # signed-by is carried over.
        awk '$1 != "deb" { next }
            {
                sb = ""; i = 2
                if ($2 ~ /^\[/) {
                    for (; i <= NF; i++) {
                        o = $i; gsub(/[][]/, "", o)
                        if (o ~ /^signed-by=/) { sub(/^signed-by=/, "", o); sb = o }
                        if ($i ~ /\]$/) { i++; break }
                    }
                }
                if (i + 1 > NF) next
                printf "%sTypes: deb-src\nURIs: %s\nSuites: %s\n", sep, $i, $(i + 1)
                comps = ""
                for (j = i + 2; j <= NF && $j !~ /^#/; j++) comps = comps (comps == "" ? "" : " ") $j
                if (comps != "") printf "Components: %s\n", comps
                if (sb != "") printf "Signed-By: %s\n", sb
                sep = "\n"
            }' /etc/apt/sources.list
    fi
}

export DEBIAN_FRONTEND=noninteractive

if ! have_deb_src; then
    is_root || die "no deb-src entry in APT's sources; run as root once: $0 $dest"
    stanzas=$(deb_src_stanzas)
    [ -n "$stanzas" ] ||
        die "no Debian deb entry found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
    echo "lwip: adding deb-src entries in $SRC_LIST and running apt-get update..."
    {
        echo "# Added by lightvm scripts/fetch-lwip.sh (apt-get source lwip)."
        printf '%s\n' "$stanzas"
    } >"$SRC_LIST.tmp" && mv "$SRC_LIST.tmp" "$SRC_LIST" || die "cannot write $SRC_LIST"
    apt-get update -qq >/dev/null || die "apt-get update failed after adding $SRC_LIST"
fi

if ! dpkg-query -W -f='${Status}' dpkg-dev 2>/dev/null | grep -q "ok installed"; then
    is_root || die "dpkg-dev is not installed (apt-get source needs it); run as root: $0 $dest"
    echo "lwip: installing dpkg-dev..."
    apt-get install -y -qq --no-install-recommends dpkg-dev >/dev/null ||
        die "apt-get install dpkg-dev failed"
fi

parent=$(dirname "$dest")
mkdir -p "$parent" || die "cannot create $parent"
tmp=$(mktemp -d "$parent/.lwip-fetch.XXXXXX") || die "cannot create a temporary directory in $parent"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP

# As root, apt downloads as the _apt user, which cannot write to $tmp.
apt_opts=(-qq)
is_root && apt_opts+=(-o APT::Sandbox::User=root)

echo "lwip: fetching source package..."
download() { (cd "$tmp" && apt-get "${apt_opts[@]}" source --download-only lwip >"$tmp/.log" 2>&1); }
# A deb-src entry whose index was never fetched (or lists wiped, as in
# many container images) fails here; as root, update once and retry.
if ! download; then
    is_root && apt-get update -qq >/dev/null 2>&1 && download ||
        die "apt-get source --download-only lwip failed: $(tail -n 1 "$tmp/.log")"
fi
(cd "$tmp" && apt-get "${apt_opts[@]}" source lwip >"$tmp/.log" 2>&1) ||
    die "apt-get source lwip (unpack) failed: $(tail -n 1 "$tmp/.log")"

tree=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d -name 'lwip-*' | head -n 1)
[ -n "$tree" ] && [ -f "$tree/src/core/tcp.c" ] ||
    die "apt-get source lwip produced no tree with src/core/tcp.c"
# Upstream version from the tree name: lwip-2.1.3+dfsg1 -> 2.1.3.
ver=${tree##*/lwip-}
ver=${ver%%[+~-]*}

if ! mv -T "$tree" "$dest" 2>/dev/null; then
    # Lost a race with a concurrent fetch: fine if it produced the tree.
    [ -f "$dest/src/core/tcp.c" ] || die "cannot move $tree to $dest"
fi
echo "lwip: unpacked $ver into $dest"
