#!/usr/bin/env bash
# Builds the test ExApp image without the internet and puts it in the local registry.
#
#   scripts/build-test-image.sh [HARP_BINARY]     (default target/debug/harp)
#
# Needs `scripts/engine.sh start` first (reads HARP_TEST_DOCKER_HOST / HARP_TEST_REGISTRY from
# the environment, else from the engine's state). Prints the image reference
# `$HARP_TEST_REGISTRY/harp-test-exapp:1`.
#
# The image: busybox-static as /bin/sh and friends, /etc/os-release saying Debian, a working
# /usr/sbin/update-ca-certificates stand-in, harp at /usr/local/bin/harp (stripped copy, with its
# shared libraries and loader), and /start.sh as the command, shaped like the ExApp templates'
# start.sh:
#   - with HP_SHARED_KEY: writes /frpc.toml (serverAddr=$HP_FRP_ADDRESS, serverPort=$HP_FRP_PORT,
#     loginFailExit=false, TLS with /certs/frp/* and serverName harp.nc when /certs/frp exists,
#     metadatas.token, one tcp proxy name=$APP_ID remotePort=$APP_PORT), starts
#     `harp tunnel -c /frpc.toml &`, then serves with busybox httpd on
#     127.0.0.1:${APP_INTERNAL_PORT:-8080}. Deviation from the templates: the proxy uses
#     localIP/localPort (that port) instead of the unix_domain_socket plugin on /tmp/exapp.sock,
#     because busybox httpd only listens on TCP. With host networking, tests must give each
#     container a free APP_INTERNAL_PORT.
#   - without HP_SHARED_KEY: busybox httpd on ${APP_HOST:-127.0.0.1}:$APP_PORT.
# Served: GET /heartbeat -> {"status":"ok"}, GET /public -> "Public page!",
# GET /cgi-bin/headers -> the request's headers as CGI sees them (HTTP_*), one per line.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"
BIN="${1:-target/debug/harp}"
NAME=harp-test-exapp
TAG=1

[ -x "$BIN" ] || { echo "build-test-image.sh: $BIN not found (cargo build -p harp)" >&2; exit 1; }
if [ -z "${HARP_TEST_DOCKER_HOST:-}" ] || [ -z "${HARP_TEST_REGISTRY:-}" ]; then
  eval "$(bash scripts/engine.sh env)"
fi
[ -x /bin/busybox ] || { echo "build-test-image.sh: /bin/busybox missing (apt-get install busybox-static)" >&2; exit 1; }
case "$(file -L /bin/busybox 2>/dev/null || true)" in
  *dynamically*) echo "build-test-image.sh: /bin/busybox is not static (apt-get install busybox-static)" >&2; exit 1 ;;
esac

pod() { podman --remote --url "$HARP_TEST_DOCKER_HOST" "$@"; }

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
ROOT="$WORK/root"
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,tmp,www/cgi-bin,root,proc,sys,dev,run}
chmod 1777 "$ROOT/tmp"

# busybox and its applets as symlinks at their usual places.
cp /bin/busybox "$ROOT/bin/busybox"
/bin/busybox --list-full | while read -r applet; do
  [ -e "$ROOT/$applet" ] || [ -L "$ROOT/$applet" ] || ln -s /bin/busybox "$ROOT/$applet"
done

cat >"$ROOT/etc/os-release" <<'EOF'
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
EOF
echo 'root:x:0:0:root:/root:/bin/sh' >"$ROOT/etc/passwd"
echo 'root:x:0:' >"$ROOT/etc/group"

# A small but real update-ca-certificates: bundles what install_certificates put in place.
cat >"$ROOT/usr/sbin/update-ca-certificates" <<'EOF'
#!/bin/sh
mkdir -p /etc/ssl/certs
cat /usr/local/share/ca-certificates/*.crt > /etc/ssl/certs/ca-certificates.crt 2>/dev/null || true
n=$(ls /usr/local/share/ca-certificates/*.crt 2>/dev/null | wc -l)
echo "Updating certificates in /etc/ssl/certs..."
echo "$n added, 0 removed; done."
EOF
chmod 755 "$ROOT/usr/sbin/update-ca-certificates"

# harp, stripped when strip is available (the debug binary is ~140 MB), plus what ld.so needs.
if command -v strip >/dev/null; then
  strip -o "$ROOT/usr/local/bin/harp" "$BIN"
else
  cp "$BIN" "$ROOT/usr/local/bin/harp"
fi
chmod 755 "$ROOT/usr/local/bin/harp"
ldd "$BIN" | grep -o '/[^ ]*' | sort -u | while read -r lib; do
  mkdir -p "$ROOT$(dirname "$lib")"
  cp -L "$lib" "$ROOT$lib"
done

printf '{"status":"ok"}' >"$ROOT/www/heartbeat"
printf 'Public page!' >"$ROOT/www/public"
cat >"$ROOT/www/cgi-bin/headers" <<'EOF'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
env | grep '^HTTP_' | sort
EOF
chmod 755 "$ROOT/www/cgi-bin/headers"

cat >"$ROOT/start.sh" <<'EOF'
#!/bin/sh
# The test ExApp's entrypoint (see scripts/build-test-image.sh in the harp repository).
set -e
if [ -n "$HP_SHARED_KEY" ]; then
    echo "HP_SHARED_KEY is set, creating /frpc.toml configuration file..."
    if [ -d /certs/frp ]; then
        echo "Found /certs/frp directory. Creating configuration with TLS certificates."
        TLS='transport.tls.enable = true
transport.tls.certFile = "/certs/frp/client.crt"
transport.tls.keyFile = "/certs/frp/client.key"
transport.tls.trustedCaFile = "/certs/frp/ca.crt"
transport.tls.serverName = "harp.nc"'
    else
        echo "Directory /certs/frp not found. Creating configuration without TLS certificates."
        TLS='transport.tls.enable = false'
    fi
    cat > /frpc.toml <<EOT
serverAddr = "$HP_FRP_ADDRESS"
serverPort = $HP_FRP_PORT
loginFailExit = false

$TLS

metadatas.token = "$HP_SHARED_KEY"

[[proxies]]
remotePort = $APP_PORT
type = "tcp"
name = "$APP_ID"
localIP = "127.0.0.1"
localPort = ${APP_INTERNAL_PORT:-8080}
EOT
    echo "Starting harp tunnel in the background..."
    harp tunnel -c /frpc.toml &
    LISTEN="127.0.0.1:${APP_INTERNAL_PORT:-8080}"
else
    echo "HP_SHARED_KEY is not set. Skipping FRP configuration."
    LISTEN="${APP_HOST:-127.0.0.1}:${APP_PORT:?APP_PORT is not set}"
fi
echo "Starting main application on $LISTEN..."
# Not exec'd: as PID 1 httpd would ignore SIGTERM and every stop would wait for the kill timeout.
httpd -f -v -p "$LISTEN" -h /www &
APP=$!
trap 'kill $APP $(jobs -p) 2>/dev/null; exit 0' TERM INT
wait $APP
EOF
chmod 755 "$ROOT/start.sh"

tar --numeric-owner --owner=0 --group=0 -C "$ROOT" -cf "$WORK/image.tar" .

LOCAL="localhost/$NAME:$TAG"
REMOTE="$HARP_TEST_REGISTRY/$NAME:$TAG"
pod import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/start.sh"]' \
  --message "harp test ExApp" \
  "$WORK/image.tar" "$LOCAL" >/dev/null
pod push --quiet --tls-verify=false "$LOCAL" "$REMOTE" >/dev/null
# Drop the local copies so that a pull through the Docker API really pulls from the registry.
pod rmi "$LOCAL" >/dev/null
pod rmi "$REMOTE" >/dev/null 2>&1 || true
echo "$REMOTE"
