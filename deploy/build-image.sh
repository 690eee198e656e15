#!/usr/bin/env bash
# Builds the debut image with podman where no image registry is reachable: the Dockerfile's
# base images are made locally from Debian (debootstrap) and the host's Rust toolchain, then
# passed in as build arguments. With a registry, `docker build -t debut .` needs none of this.
#
#   deploy/build-image.sh                  # base images (once), then the image: debut:latest
#   deploy/build-image.sh --bases-only     # just the base images
#   IMAGE=debut:dev deploy/build-image.sh
#
# Needs root, podman and debootstrap (apt-get install podman debootstrap). RUN steps run with
# `--isolation=chroot` (no nested namespaces here); they use the host's network (crates.io,
# Debian). `podman run` does not work in such a sandbox: inspect an image with
# `podman image mount IMAGE` and chroot into the path it prints.
set -euo pipefail
cd "$(dirname "$0")/.."

image="${IMAGE:-debut:latest}"
work="${IMAGE_WORK_DIR:-/var/tmp/debut-image}"
minbase=localhost/debian:bookworm-minbase
build_base=localhost/debut-build-base:1.95-bookworm
runtime_base=localhost/debut-runtime-base:bookworm
toolchain="${RUST_TOOLCHAIN_DIR:-$HOME/.rustup/toolchains/1.95.0-x86_64-unknown-linux-gnu}"
[ -d "$toolchain" ] || toolchain="$HOME/.rustup/toolchains/stable-x86_64-unknown-linux-gnu"

have() { podman image exists "$1"; }

# The Debian mirror apt already uses here (deb822 or one-line sources).
mirror() {
  local uri
  uri=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n1)
  [ -n "$uri" ] || uri=$(grep -hsE '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v security | head -n1)
  echo "${uri:-http://deb.debian.org/debian}"
}

if ! have "$minbase"; then
  rootfs="$work/minbase"
  rm -rf "$rootfs" && mkdir -p "$work"
  echo "debootstrap bookworm from $(mirror) into $rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$(mirror)"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | podman import --change 'CMD ["bash"]' - "$minbase"
  rm -rf "$rootfs"
fi

# What the runtime stage installs, so its apt-get finds it there already.
if ! have "$runtime_base"; then
  podman build --isolation=chroot --pull=never -t "$runtime_base" -f - "$work" <<EOF
FROM $minbase
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libvulkan1 \\
 && rm -rf /var/lib/apt/lists/*
EOF
fi

# As rust:1.95-slim-bookworm: gcc + libc headers, the toolchain at /usr/local, CARGO_HOME
# /usr/local/cargo. rustup itself cannot be fetched, so the toolchain (bin + lib, no docs) is
# copied from this machine; plus what the build stage installs.
if ! have "$build_base"; then
  echo "build base: Rust $("$toolchain/bin/rustc" --version) from $toolchain"
  podman build --isolation=chroot --pull=never -t "$build_base" -f - "$toolchain" <<EOF
FROM $minbase
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates gcc libc6-dev \\
      perl make g++ pkg-config \\
 && rm -rf /var/lib/apt/lists/*
COPY bin /usr/local/rust/bin
COPY lib /usr/local/rust/lib
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo \\
    PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN mkdir -p /usr/local/cargo/bin && cargo --version && rustc --version
EOF
fi

# A network that intercepts TLS (a proxy with its own CA, as in a sandbox or a corporate
# network) needs that CA inside the build stage too, or cargo cannot reach crates.io: the
# host's local CAs (/usr/local/share/ca-certificates) are layered onto the build base.
build_image_base="$build_base"
if compgen -G "/usr/local/share/ca-certificates/*.crt" > /dev/null; then
  build_image_base=localhost/debut-build-base:1.95-bookworm-local-ca
  podman build --isolation=chroot --pull=never -t "$build_image_base" -f - /usr/local/share/ca-certificates <<EOF
FROM $build_base
COPY *.crt /usr/local/share/ca-certificates/
RUN update-ca-certificates
EOF
fi

[ "${1:-}" = "--bases-only" ] && { podman images; exit 0; }

# The whole build: about 20+ minutes on 2 cores (fat LTO, one codegen unit).
podman build --isolation=chroot --pull=never \
  --build-arg BUILD_IMAGE="$build_image_base" --build-arg RUNTIME_IMAGE="$runtime_base" \
  -t "$image" .
podman image inspect "$image" --format 'built {{.RepoTags}}: {{.Size}} bytes'
