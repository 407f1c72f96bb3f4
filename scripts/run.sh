#!/usr/bin/env bash
# Runs the product on this machine in dev mode: the auth server on the embedded store, plus the
# desktop console pointed at it. Installs what is missing first. Ctrl-C stops both.
#
#   MEETEASY_LISTEN=0.0.0.0:8080 MEETEASY_PUBLIC_URL=http://<this machine's LAN IP>:8080 scripts/run.sh
# lets a phone on the same network open the QR's link (the dev phone simulator page).
set -euo pipefail
cd "$(dirname "$0")/.."
SETUP_FOR=run source scripts/setup.sh

export MEETEASY_LISTEN="${MEETEASY_LISTEN:-127.0.0.1:8080}"
export MEETEASY_DATA_DIR="${MEETEASY_DATA_DIR:-$PWD/.run/data}"
port="${MEETEASY_LISTEN##*:}"
server_url="${MEETEASY_PUBLIC_URL:-http://127.0.0.1:$port}"

# Debug builds (dependencies optimised, see Cargo.toml): minutes sooner than the release profiles,
# and fast enough to try the flows. The console embeds ui/public as the release bundle does.
echo "run: building the server and the console"
cargo build --locked -p meeteasy-auth-cli -p meeteasy-console
bin="$CARGO_TARGET_DIR/debug"

# Owner-only from the start (the server would tighten it, and say so).
(umask 077 && mkdir -p "$MEETEASY_DATA_DIR")
# Another server on the port (a second run.sh, say) would answer the readiness probe below for ours.
if curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; then
  echo "run: something already answers on port $port: stop it, or set MEETEASY_LISTEN" >&2
  exit 1
fi
# The embedded store whatever MEETEASY_STORE says in this shell: this is the no-server try-out.
"$bin/meeteasy-auth" serve --dev --store embedded &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true' EXIT

ready=false
for _ in $(seq 300); do
  kill -0 "$server_pid" 2>/dev/null || { echo "run: the server did not start (its log is above)" >&2; exit 1; }
  if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
    ready=true
    break
  fi
  sleep 0.1
done
$ready || { echo "run: the server did not answer http://127.0.0.1:$port/readyz within 30 s" >&2; exit 1; }

cat <<MSG

  Auth server (dev mode): $server_url   (H5 demo: $server_url/h5/demo)
  Log the console in: scan its QR with a phone on the same network (it opens the phone
  simulator page), or from this machine:
      $bin/meeteasy-auth phone scan --server $server_url --scene <scene> --as alice
  (the scene is the last part of the link under the QR). Names starting with "guest" are not organizers.
  A password user: echo secret | $bin/meeteasy-auth users add --data-dir $MEETEASY_DATA_DIR \\
      --login ann@example.org --name Ann --role organizer --password-stdin   (through the running server's admin socket)

MSG

if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  echo "run: no display here, so only the server runs (Ctrl-C stops it)."
  wait "$server_pid"
else
  MEETEASY_SERVER="$server_url" "$bin/meeteasy-console"
fi
