#!/usr/bin/env bash
# debut's test command: installs what the tests need on a fresh Debian machine (only the
# Rust toolchain assumed), then runs every test. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

# A software Vulkan device (lavapipe) so the WGSL kernels run without a GPU; Python for the
# tests' independent Kafka client; perl and make to build OpenSSL for librdkafka's TLS.
missing=()
for pkg in mesa-vulkan-drivers libvulkan1 python3 python3-pip perl make; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The service tests: a Kafka-compatible broker (Tansu, from crates.io; about 10 minutes to
# build the first time) and an independent client (kafka-python).
if ! command -v tansu >/dev/null 2>&1; then
  echo "installing tansu (cargo install tansu --locked --features dynostore,libsql)"
  cargo install tansu --locked --features dynostore,libsql
fi
if ! python3 -c "import kafka" >/dev/null 2>&1; then
  python3 -m pip install --quiet kafka-python || python3 -m pip install --quiet --break-system-packages kafka-python
fi

# Mesa's WSI probes a Wayland socket under XDG_RUNTIME_DIR and complains when it is unset.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR="$(mktemp -d)"
fi

# Plugins: the wasm target, the bundled plugins checked against their sources (rebuilt from
# a copy at another path: the committed bytes must be reproducible), and the hostile corpus.
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2
fi
bash plugin/build.sh --check
bash fixtures/plugins/build.sh

# The CLI tests run the `debut` binary, which `cargo test` alone does not build.
cargo build --workspace --bins --locked
cargo test --workspace --locked "$@"
