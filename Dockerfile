# debut as a container image: `docker build -t debut .`, then
#   docker run --rm debut --version
#   docker run --rm -e DEBUT_BROKERS=broker:9092 -p 9898:9898 debut run
# The binary carries its default model, plugins and samples; nothing else is copied.
# Without a registry (podman, bases made from debootstrap): deploy/build-image.sh.
#
# GPU is opt-in: the image asks for none. With the NVIDIA container toolkit, the driver's
# Vulkan ICD is mounted only when the "graphics" capability is asked for:
#   docker run --gpus all -e NVIDIA_DRIVER_CAPABILITIES=compute,graphics,utility debut run
# On Kubernetes: resources.limits `nvidia.com/gpu: 1` (device plugin) and the same
# NVIDIA_DRIVER_CAPABILITIES in the container's env. `--backend auto` (the default here) then
# finds the GPU, and uses the CPU without one.

ARG BUILD_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---- build ----
FROM ${BUILD_IMAGE} AS build
# perl + make + cc build librdkafka (its own configure, no cmake) with vendored OpenSSL and
# a static libcurl; libz-sys builds zlib itself when the system has none.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends perl make g++ pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# `dist`: release + fat LTO + one codegen unit (root Cargo.toml), stripped for the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    CARGO_PROFILE_DIST_STRIP=true cargo build --profile dist --locked -p debut --bin debut \
 && cp target/dist/debut /usr/local/bin/debut

# ---- run ----
FROM ${RUNTIME_IMAGE}
# libvulkan1: the GPU path's loader (wgpu opens it at run time; the CPU path needs nothing).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libvulkan1 \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 debut \
 && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /var/lib/debut debut \
 && install -d -o 10001 -g 10001 /var/cache/debut
COPY --from=build /usr/local/bin/debut /usr/local/bin/debut
# The bundled plugins again at a stable path for `[plugins]` routes (the bundle's own
# directory is named by its content); the same bytes, so the same sha256 pins.
COPY plugin/dist/bio-semantic.wasm plugin/dist/bio-text.wasm /usr/local/lib/debut/plugins/
USER 10001:10001
# The bundle (model, plugins) is written to the data directory here, at build time, so the
# container runs with a read-only root file system.
# XDG_CACHE_HOME: wasmtime's compiled-plugin cache ($XDG_CACHE_HOME/wasmtime; plugin load
# 541 ms -> 55 ms); mount it writable (Kubernetes: an emptyDir) under a read-only root.
# XDG_RUNTIME_DIR: Mesa's Vulkan WSI complains on stderr when it is unset.
ENV DEBUT_DATA_DIR=/var/lib/debut \
    DEBUT_SERVICE__METRICS_ADDR=0.0.0.0:9898 \
    DEBUT_BACKEND=auto \
    XDG_CACHE_HOME=/var/cache/debut \
    XDG_RUNTIME_DIR=/tmp
RUN debut --version && debut model check
EXPOSE 9898
ENTRYPOINT ["debut"]
CMD ["run"]
