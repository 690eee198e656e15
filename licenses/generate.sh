#!/usr/bin/env bash
# Regenerates THIRD_PARTY_NOTICES.md from Cargo.lock: the licences of every crate in the
# `debut` binary (cargo-about with licenses/about.toml and licenses/about.hbs), the forks in
# vendor/, and the C libraries that -sys crates compile in (licenses/native.py).
#
#   licenses/generate.sh [OUT]     default OUT: THIRD_PARTY_NOTICES.md at the repository root
#
# Offline and deterministic (cargo --frozen; no clearlydefined.io look-ups): the same
# Cargo.lock and cargo-about version give the same bytes. Needs cargo-about $ABOUT_VERSION:
#   cargo install cargo-about --locked --version 0.9.3 --features cli
set -euo pipefail
ABOUT_VERSION=0.9.3
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="$(realpath -m "${1:-$root/THIRD_PARTY_NOTICES.md}")"

have="$(cargo about --version 2>/dev/null | awk '{print $2}' || true)"
if [[ "$have" != "$ABOUT_VERSION" ]]; then
    echo "licenses/generate.sh: needs cargo-about $ABOUT_VERSION (found: ${have:-none});" >&2
    echo "  cargo install cargo-about --locked --version $ABOUT_VERSION --features cli" >&2
    exit 1
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/debut-notices.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
targets=(--target x86_64-unknown-linux-gnu --target aarch64-unknown-linux-gnu)

cargo about generate --frozen --fail -m host/Cargo.toml -c licenses/about.toml \
    -o "$tmp/crates.md" licenses/about.hbs 2> "$tmp/about.log" \
    || { cat "$tmp/about.log" >&2; exit 1; }
cargo metadata --frozen --format-version 1 --manifest-path host/Cargo.toml > "$tmp/metadata.json"
cargo tree --frozen -p debut -e normal,build "${targets[@]}" --prefix none -f '{p}' \
    | sed -E 's/ \(.*//' | sort -u > "$tmp/graph.txt"
# Crates that compile native code: those build-depending on cc or cmake.
for builder in cc cmake; do
    if grep -q "^$builder v" "$tmp/graph.txt"; then
        cargo tree --frozen -p debut -e normal,build "${targets[@]}" -i "$builder" --depth 1 \
            --prefix none -f '{p}' | sed -E 's/ \(.*//' | grep -v -e "^$builder v" -e '^\[' -e '^$' || true
    fi
done | sort -u > "$tmp/native.txt"
python3 licenses/native.py "$tmp/metadata.json" "$tmp/graph.txt" "$tmp/native.txt" > "$tmp/native.md"
# One trailing newline, no trailing blanks: the file is compared byte for byte (tests/licenses.sh).
cat "$tmp/crates.md" "$tmp/native.md" | sed -e 's/[[:space:]]*$//' | cat -s > "$tmp/out.md"
mv "$tmp/out.md" "$out"
echo "wrote $out ($(wc -l < "$out") lines)" >&2
