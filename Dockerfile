# syntax=docker/dockerfile:1
#
# Intone: a multi-stage build. The builder is the official Swift image on Debian bookworm
# (the toolchain's major and minor version); the runtime is debian:bookworm-slim with only
# the shared libraries Intone loads. Build: docker build -t intone .

FROM swift:6.3-bookworm AS builder
RUN apt-get update \
    && apt-get install -y --no-install-recommends pkg-config libhiredis-dev libespeak-ng-dev libsndfile1-dev libsoxr-dev libopus-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
# Dependencies first, in their own layer: it is rebuilt only when Package.swift changes.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
RUN swift build -c release --product intone --static-swift-stdlib \
    && install -D "$(swift build -c release --show-bin-path)/intone" /out/intone

FROM debian:bookworm-slim AS runtime
# hiredis 0.14, espeak-ng with its voice data, libsndfile (with its FLAC and MP3 codecs),
# libopus for Opus, libsoxr for resampling; curl for the health check.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libhiredis0.14 libespeak-ng1 espeak-ng-data libsndfile1 libopus0 libsoxr0 curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin intone
COPY --from=builder /out/intone /usr/local/bin/intone
USER 10001
ENV INTONE_METRICS_PORT=9464
EXPOSE 9464
# SIGTERM: stop reading, finish the jobs in hand within INTONE_SHUTDOWN_GRACE_S, exit 0.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${INTONE_METRICS_PORT}/healthz" || exit 1
ENTRYPOINT ["/usr/local/bin/intone"]
CMD ["work"]

# A TLS tunnel for Redis (hiredis 0.14 has no TLS): see ops/stunnel/ and the README.
FROM debian:bookworm-slim AS stunnel
RUN apt-get update \
    && apt-get install -y --no-install-recommends stunnel4 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10002 --no-create-home --shell /usr/sbin/nologin stunnel
USER 10002
ENTRYPOINT ["/usr/bin/stunnel"]
CMD ["/etc/stunnel/redis-client.conf"]

# The default target is the worker.
FROM runtime
