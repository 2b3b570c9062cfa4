# Build: the C libraries (SQLite, libpq, OpenSSL) are compiled from the crates,
# so the build image needs only a C toolchain, perl and make.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p trawler

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/trawler trawler \
 && mkdir -p /var/lib/trawler && chown trawler /var/lib/trawler
COPY --from=build /src/target/release/trawler /usr/local/bin/trawler
USER trawler
WORKDIR /var/lib/trawler
ENV TRAWLER_DATA_DIR=/var/lib/trawler TRAWLER_BIND=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080"]
ENTRYPOINT ["trawler"]
CMD ["serve"]
