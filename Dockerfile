# debut as a container image: `docker build -t debut .`, then
#   docker run --rm debut --version
#   docker run --rm -e DEBUT_BROKERS=broker:9092 -p 9898:9898 debut run
# The binary carries its default model, plugins and samples; nothing else is copied.

# ---- build ----
FROM rust:1.95-slim-bookworm AS build
# perl, make and cmake build librdkafka with its vendored OpenSSL and libcurl (TLS, OIDC);
# zlib for its gzip codec.
RUN apt-get update \
 && apt-get install -y --no-install-recommends perl make cmake g++ pkg-config zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p debut --bin debut \
 && cp target/release/debut /usr/local/bin/debut

# ---- run ----
FROM debian:bookworm-slim
# libvulkan1: the GPU path's loader (wgpu opens it at run time; the CPU path needs nothing).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libvulkan1 \
 && rm -rf /var/lib/apt/lists/*
# GPU: with the NVIDIA container toolkit (`docker run --gpus all`, or the device plugin on
# Kubernetes) the driver's Vulkan ICD is mounted only when the "graphics" capability is
# asked for; `debut --backend auto` then finds the GPU, and falls back to the CPU without it.
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,graphics,utility
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/debut debut
COPY --from=build /usr/local/bin/debut /usr/local/bin/debut
USER 10001
# The bundle (model, plugins) is written to the data directory here, at build time, so the
# container runs with a read-only root file system.
# XDG_RUNTIME_DIR: Mesa's Vulkan WSI complains on stderr when it is unset.
ENV DEBUT_DATA_DIR=/var/lib/debut \
    DEBUT_SERVICE__METRICS_ADDR=0.0.0.0:9898 \
    DEBUT_BACKEND=auto \
    XDG_RUNTIME_DIR=/tmp
RUN debut --version && debut model check
EXPOSE 9898
ENTRYPOINT ["debut"]
CMD ["run"]
