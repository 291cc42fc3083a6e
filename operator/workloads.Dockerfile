# The workloads image (the `baedal` binary and the sample dataset) that a
# DeliveryPipeline's spec.image names. Build from the repository root:
#   docker build -f operator/workloads.Dockerfile -t baedal:dev .
# Without Docker, scripts/images.sh builds the same image from the same list,
# images/baedal.list, which scripts/image-rootfs.sh turns into the root file
# system in both builds. USER, ENV, ENTRYPOINT and CMD below repeat the list's;
# scripts/images.sh checks that they agree.
FROM rust:1.89-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake zlib1g-dev libssl-dev pkg-config
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p baedal-workloads --bin baedal
RUN mkdir /debs && scripts/image-rootfs.sh images/baedal.list /rootfs target/release /debs

# Debian's runtime libraries, CA certificates and time zones, the stripped
# binary and the sample: no shell, no package manager.
FROM scratch
COPY --from=build /rootfs /
USER 10001:10001
WORKDIR /
ENV PATH=/usr/local/bin:/usr/bin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# The operator sets command and args; a plain `docker run` shows the help.
ENTRYPOINT ["/usr/local/bin/baedal"]
CMD ["--help"]
