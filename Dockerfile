# syntax=docker/dockerfile:1
# DittoFS container image: a multi-stage build, a small Debian runtime, non-root.
#
#   docker build -t dittofs .
#   docker run -d -p 12049:12049 -v dittofs-data:/var/lib/dittofs dittofs
#
# The data directory (LMDB metadata, local blocks, the WAL) is the volume
# /var/lib/dittofs; the configuration is /etc/dittofs/config.toml (mount your
# own over it, see deploy/compose.yaml and deploy/k8s/). io_uring must be
# allowed by the container runtime's seccomp profile (Docker >= 25 blocks it
# by default: run with a profile that allows io_uring_setup/enter/register).

# ---- build ----
FROM rust:1.88-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target dir between builds; the binary is
# copied out in the same step because the target dir is not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin dittofs \
    && install -D -m 0755 target/release/dittofs /out/dittofs \
    && strip /out/dittofs

# ---- runtime ----
FROM debian:bookworm-slim
# ca-certificates: TLS to S3 endpoints; curl: the HEALTHCHECK below.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 dittofs \
    && useradd --system --uid 10001 --gid dittofs --home-dir /var/lib/dittofs \
       --shell /usr/sbin/nologin dittofs \
    && install -d -o dittofs -g dittofs -m 0750 /var/lib/dittofs \
    && install -d -m 0755 /etc/dittofs
COPY --from=build /out/dittofs /usr/local/bin/dittofs
COPY deploy/config.toml /etc/dittofs/config.toml
USER 10001:10001
VOLUME ["/var/lib/dittofs"]
# NFS+MOUNT+portmap, SMB, REST API (/health, /ready), Prometheus /metrics.
EXPOSE 12049 12445 8080 9090
HEALTHCHECK --interval=30s --timeout=3s --start-period=60s --retries=3 \
    CMD ["curl", "-fsS", "http://127.0.0.1:8080/health"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/dittofs"]
CMD ["start", "--config", "/etc/dittofs/config.toml"]
