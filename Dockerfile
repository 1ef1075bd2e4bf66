# syntax=docker/dockerfile:1
# The server as a container: the embedded default on 0.0.0.0:8080 with its data in /data, run
# as a non-root user from a distroless image that holds the binary and nothing else.
#
#   docker build -t livechat-sessions .
#   docker run -p 8080:8080 -v lcs-data:/data livechat-sessions
#
# Every setting is a LIVECHAT_* variable (`docker run -e LIVECHAT_STORE=firestore …`); see
# README.md, "Running in production".

# Dependencies are built in a layer of their own (cargo-chef), so that a change to the sources
# rebuilds only the server.
FROM rust:1.95-bookworm AS chef
RUN cargo install cargo-chef --version 0.1.78 --locked
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json --package livechat-sessions
COPY . .
RUN cargo build --release --locked --package livechat-sessions --bin livechat-sessions \
    && mkdir /data

# glibc, libgcc, CA certificates (for Google's keys and Firestore) and tzdata; no shell.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /src/target/release/livechat-sessions /usr/local/bin/livechat-sessions
# The volume's mount point, owned by the user the server runs as (distroless's "nonroot").
COPY --from=builder --chown=65532:65532 /data /data
ENV LIVECHAT_ADDR=0.0.0.0:8080 \
    LIVECHAT_DATA_DIR=/data \
    LIVECHAT_LOG_FORMAT=json
USER 65532:65532
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/livechat-sessions", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/livechat-sessions"]
CMD ["serve"]
