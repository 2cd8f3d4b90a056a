# ise-intune: the command, for `watch` (and `fleet doctor` as a job).
# Build: docker build -t ise-intune .
# Run:   docker run --rm -p 9464:9464 -v $PWD/fleet:/etc/ise-intune:ro \
#          -e EAST_ISE_PASSWORD -e EAST_CLIENT_SECRET ise-intune \
#          watch --inventory /etc/ise-intune/fleet.toml --listen 0.0.0.0:9464

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# Without the simulator (--no-default-features), as the README's production install.
RUN cargo build --release --locked -p ise-intune-cli --no-default-features \
 && strip target/release/ise-intune

FROM debian:bookworm-slim
# The system roots (the Microsoft endpoints' TLS), nothing else.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin ise-intune
COPY --from=build /src/target/release/ise-intune /usr/local/bin/ise-intune
USER 10001:10001
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/ise-intune"]
CMD ["watch", "--listen", "0.0.0.0:9464"]
