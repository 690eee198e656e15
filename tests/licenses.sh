#!/usr/bin/env bash
# The licence check (tests/run.sh runs it): every crate in the `debut` binary is under a
# licence deny.toml allows (no GPL, LGPL or AGPL), and THIRD_PARTY_NOTICES.md is what
# licenses/generate.sh makes from the current Cargo.lock. Offline.
# Needs cargo-deny and cargo-about (versions: tests/run.sh, licenses/generate.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo deny --locked --offline --manifest-path host/Cargo.toml check licenses

tmp="$(mktemp "${TMPDIR:-/tmp}/debut-notices.XXXXXX.md")"
trap 'rm -f "$tmp"' EXIT
licenses/generate.sh "$tmp"
if ! diff -u THIRD_PARTY_NOTICES.md "$tmp" > "$tmp.diff"; then
    head -40 "$tmp.diff" >&2
    rm -f "$tmp.diff"
    echo "tests/licenses.sh: THIRD_PARTY_NOTICES.md is out of date: run licenses/generate.sh and commit it" >&2
    exit 1
fi
rm -f "$tmp.diff"
echo "tests/licenses.sh: licences OK, THIRD_PARTY_NOTICES.md up to date"
