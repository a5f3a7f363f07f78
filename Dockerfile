# Multi-stage build of the botgate release binary.
#   docker build -t botgate .
#   docker run -p 9000:9000 -v "$PWD/config.yaml:/etc/botgate/config.yaml:ro" botgate
# The config is read from /etc/botgate/config.yaml; listeners inside a container must bind
# 0.0.0.0 (set server.host and any listener host accordingly).
FROM rust:1-slim-bookworm AS build
# make: tikv-jemalloc-sys builds jemalloc (the global allocator) with it.
RUN apt-get update && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY actors actors
COPY src src
RUN cargo build --release --locked --bin botgate

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin botgate \
    && mkdir -p /etc/botgate
COPY --from=build /src/target/release/botgate /usr/local/bin/botgate
COPY config.yaml /etc/botgate/config.yaml
USER botgate
EXPOSE 9000
HEALTHCHECK --interval=10s --timeout=5s CMD ["/usr/local/bin/botgate", "--healthcheck", "--config", "/etc/botgate/config.yaml"]
ENTRYPOINT ["/usr/local/bin/botgate"]
CMD ["--config", "/etc/botgate/config.yaml"]
