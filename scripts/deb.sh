#!/usr/bin/env bash
# Build the Debian package: the binary, the man pages and shell completions
# it generates from its own clap definitions, then cargo deb --no-build.
#
#   scripts/deb.sh                 release build -> target/debian/csirtd_*.deb
#   scripts/deb.sh --dbgsym        profiling build (release with debug info),
#                                  stripped in the .deb, the debug info split
#                                  off into csirtd-dbgsym_*.ddeb
#   scripts/deb.sh --profile P --no-build [cargo-deb options]
#                                  package an existing build of profile P
#                                  (the test suite packages the debug build)
#
# Other options (--output DIR, --fast, --deb-version V) go to cargo deb.
# Needs cargo-deb: scripts/prereqs.sh --test installs it.

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

profile=release
build=1
declare -a deb_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) profile="$2"; shift 2 ;;
        --profile=*) profile="${1#--profile=}"; shift ;;
        --no-build) build=0; shift ;;
        --dbgsym) profile=profiling; deb_args+=(--dbgsym); shift ;;
        -h|--help) sed -n '2,15s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) deb_args+=("$1"); shift ;;
    esac
done

if ! cargo deb --version >/dev/null 2>&1; then
    echo "deb.sh: cargo-deb is not installed; run scripts/prereqs.sh --test" >&2
    exit 1
fi

case "$profile" in
    dev|debug) profile=dev; profile_dir=debug ;;
    *) profile_dir="$profile" ;;
esac
target_dir="${CARGO_TARGET_DIR:-target}"
out="$target_dir/$profile_dir"

if [ "$build" -eq 1 ]; then
    cargo build --locked --profile "$profile" --bin csirtd
fi
bin="$out/csirtd"
if [ ! -x "$bin" ]; then
    echo "deb.sh: $bin not found; build it first (cargo build --profile $profile)" >&2
    exit 1
fi

# Where the assets under target/release/generated/ in Cargo.toml's
# [package.metadata.deb] are looked for (cargo-deb maps target/release to
# the profile's directory).
rm -rf "$out/generated"
"$bin" generate man "$out/generated/man" >/dev/null
# Debian policy wants man pages gzipped; cargo-deb only compresses the
# assets it does not take for build products.
gzip -9n "$out"/generated/man/*.1
for shell in bash zsh fish; do
    "$bin" generate completions "$shell" "$out/generated/completions" >/dev/null
done

cargo deb --no-build --profile "$profile" "${deb_args[@]}"
