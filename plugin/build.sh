#!/usr/bin/env bash
# Builds debut's bundled feature plugins, reproducibly, into plugin/dist/:
#   bio-text.wasm, bio-semantic.wasm   WebAssembly components (wasm32-wasip2, release profile)
#   SHA256SUMS                         `sha256sum -c`-able digests of the two
#   BUILD_INFO                         the toolchain that made them
# The dist files are committed: debut's demo and tests use them on machines without a wasm
# toolchain.
#
#   bash plugin/build.sh           rebuild dist/
#   bash plugin/build.sh --check   rebuild from a copy of the sources at another path, in a fresh
#                                  target directory, and fail unless the bytes equal dist/
#
# Reproducible means: the same sources, Cargo.lock (--locked) and toolchain give the same bytes,
# wherever the repository, CARGO_HOME, the rustup sysroot and the target directory are. Every
# absolute path rustc could embed (panic locations, mostly) is remapped to a fixed prefix, and
# any RUSTFLAGS of the caller are replaced. A different rustc version may change the bytes:
# BUILD_INFO records the one used, and --check says so when it differs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# rustup, rustc and cargo below run here, so plugin/rust-toolchain.toml picks the toolchain
# (the one dist/BUILD_INFO records) wherever this script is called from.
cd "$here"
target=wasm32-wasip2
plugins=(bio-text bio-semantic)

die() { echo "plugin/build.sh: $*" >&2; exit 1; }

ensure_target() {
    command -v cargo >/dev/null || die "cargo not found: install Rust (rustup) first"
    if command -v rustup >/dev/null; then
        if ! rustup target list --installed | grep -qx "$target"; then
            echo "installing the $target target (rustup target add $target)" >&2
            rustup target add "$target"
        fi
    elif [[ ! -d "$(rustc --print sysroot)/lib/rustlib/$target" ]]; then
        die "the $target target is missing and rustup is not available to add it"
    fi
}

toolchain() { rustc -V; }

# build SRC_DIR TARGET_DIR OUT_DIR: the plugin workspace at SRC_DIR → OUT_DIR/<plugin>.wasm
build() {
    local src="$1" target_dir="$2" out="$3"
    local cargo_home="${CARGO_HOME:-$HOME/.cargo}"
    local sysroot
    sysroot="$(rustc --print sysroot)"
    mkdir -p "$out"
    # rustc applies the last matching --remap-path-prefix: most specific last. The flags go in
    # CARGO_ENCODED_RUSTFLAGS (0x1f-separated, so paths may hold spaces), which overrides RUSTFLAGS
    # and any build.rustflags / target.*.rustflags from cargo config files.
    local flags=(
        "--remap-path-prefix=$sysroot=/rust-sysroot"
        "--remap-path-prefix=$(realpath -m "$cargo_home")=/cargo"
        "--remap-path-prefix=$cargo_home=/cargo"
        "--remap-path-prefix=$src=/debut/plugin"
        "--remap-path-prefix=$target_dir=/debut/plugin/target"
    )
    local encoded
    encoded="$(printf '%s\x1f' "${flags[@]}")"
    encoded="${encoded%$'\x1f'}"
    (
        cd "$src"
        unset RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS RUSTC_WRAPPER \
            CARGO_BUILD_RUSTC_WRAPPER CARGO_INCREMENTAL
        for var in $(compgen -e | grep '^CARGO_PROFILE_' || true); do unset "$var"; done
        CARGO_ENCODED_RUSTFLAGS="$encoded" cargo build --release --locked --target "$target" \
            --target-dir "$target_dir" $(printf -- '-p %s ' "${plugins[@]}")
    )
    for p in "${plugins[@]}"; do
        cp "$target_dir/$target/release/${p//-/_}.wasm" "$out/$p.wasm"
    done
}

sums() { (cd "$1" && sha256sum "${plugins[@]/%/.wasm}"); }

ensure_target

case "${1:-}" in
"")
    build "$here" "$here/target" "$here/dist"
    sums "$here/dist" > "$here/dist/SHA256SUMS"
    {
        echo "# The toolchain that built these files (plugin/build.sh)."
        echo "rustc: $(toolchain)"
        echo "target: $target"
    } > "$here/dist/BUILD_INFO"
    echo "plugin/dist:"
    (cd "$here/dist" && for p in "${plugins[@]}"; do
        printf '  %-18s %8d bytes  sha256 %s\n' "$p.wasm" "$(stat -c %s "$p.wasm")" "$(sha256sum "$p.wasm" | cut -d' ' -f1)"
    done)
    ;;
--check)
    for p in "${plugins[@]}"; do
        [[ -f "$here/dist/$p.wasm" ]] || die "dist/$p.wasm is missing: run plugin/build.sh first"
    done
    (cd "$here/dist" && sha256sum --quiet -c SHA256SUMS) \
        || die "dist/*.wasm do not match dist/SHA256SUMS: run plugin/build.sh and commit the result"
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/debut-plugin-check.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    # A copy of the sources (no target/, no dist/) at a path unlike the original.
    mkdir -p "$tmp/elsewhere/plugin"
    tar -C "$here" --exclude=./target --exclude=./dist -cf - . | tar -C "$tmp/elsewhere/plugin" -xf -
    echo "rebuilding from $tmp/elsewhere/plugin (target dir $tmp/target)" >&2
    build "$tmp/elsewhere/plugin" "$tmp/target" "$tmp/out"
    if ! diff <(sums "$here/dist") <(sums "$tmp/out") >/dev/null; then
        echo "plugin/build.sh --check: FAILED, the rebuilt plugins differ from plugin/dist/" >&2
        echo "  committed (plugin/dist):" >&2
        sums "$here/dist" | sed 's/^/    /' >&2
        echo "  rebuilt from a copy of the sources:" >&2
        sums "$tmp/out" | sed 's/^/    /' >&2
        built_with="$(sed -n 's/^rustc: //p' "$here/dist/BUILD_INFO" 2>/dev/null || true)"
        if [[ "$built_with" != "$(toolchain)" ]]; then
            echo "  note: dist/ was built with '${built_with:-unknown}', this is '$(toolchain)';" >&2
            echo "  rebuild with that toolchain, or run plugin/build.sh and commit the new files." >&2
        else
            echo "  same toolchain ($(toolchain)): the sources changed since dist/ was built, or the build" >&2
            echo "  is not reproducible. Run plugin/build.sh and commit dist/." >&2
        fi
        exit 1
    fi
    echo "plugin/build.sh --check: OK, a rebuild at another path reproduces plugin/dist/ byte for byte"
    sums "$here/dist" | sed 's/^/  /'
    ;;
*)
    die "usage: bash plugin/build.sh [--check]"
    ;;
esac
