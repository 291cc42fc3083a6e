# The workloads image (the `baedal` binary and the sample dataset) that a
# DeliveryPipeline's spec.image names. Build from the repository root:
#   docker build -f operator/workloads.Dockerfile -t baedal:dev .
FROM rust:1.89-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake zlib1g-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p baedal-workloads --bin baedal \
    && cp target/release/baedal /baedal

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates zlib1g \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 baedal && useradd --uid 10001 --gid 10001 --no-create-home baedal
COPY --from=build /baedal /usr/local/bin/baedal
# The 1% sample dataset: the kind quick start's source.uri.
COPY data/sample /usr/share/baedal/sample
USER 10001:10001
# The operator sets command and args; a plain `docker run` shows the help.
ENTRYPOINT ["/usr/local/bin/baedal"]
CMD ["--help"]
