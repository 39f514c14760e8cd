# harp: one process instead of HaRP's HAProxy + Python agent + frps + frpc.
# Same ports, /certs volume and HP_* variables as ghcr.io/nextcloud/nextcloud-appapi-harp:
# swap the image name and nothing else.
#
#   docker build -t harp .
#   docker run -e HP_SHARED_KEY=... -e NC_INSTANCE_URL=https://cloud.example.com \
#     -v harp-certs:/certs -v /var/run/docker.sock:/var/run/docker.sock \
#     -p 8780:8780 -p 8782:8782 harp
#
# Base images are fully qualified so podman (no short-name aliases) builds it too. SIGTERM
# drains in-flight requests for up to 10 s: give `docker stop` more (--stop-timeout 15).

FROM docker.io/library/rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p harp && strip target/release/harp

FROM docker.io/library/debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /certs
COPY --from=build /src/target/release/harp /usr/local/bin/harp
# HTTP and HTTPS for /exapps/ (reverse proxy, AppAPI), the FRP tunnel listener.
EXPOSE 8780 8781 8782
VOLUME ["/certs"]
# Root by default, like HaRP's image: the mounted Docker socket usually needs it. harp needs no
# other privilege; run it as another user (--user) when the socket's group allows.
HEALTHCHECK --interval=10s --timeout=10s --retries=9 CMD ["harp", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["harp"]
