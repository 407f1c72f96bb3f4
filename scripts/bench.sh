#!/usr/bin/env bash
# The MeetEasy benchmark: installs what is missing (redis-server, redis-tools), builds the release
# binaries, and runs meeteasy-bench with the server side pinned to CPU 0 and the load on CPU 1, then
# the embedded store's Criterion benchmark in process (`cargo bench -p meeteasy-bench --bench store`).
# meeteasy-bench prints a Markdown table for README.md. Extra arguments go to meeteasy-bench (try
# --help); STORE_BENCH_ARGS goes to Criterion (e.g. "--warm-up-time 1 --measurement-time 2").
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/meeteasy/target}"
SERVER_CPU=0
CLIENT_CPU=1

say() { echo "bench.sh: $*" >&2; }

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-benchmark >/dev/null || missing+=(redis-tools)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v taskset >/dev/null || missing+=(util-linux)
if ((${#missing[@]})); then
    packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
    if [[ $(id -u) -ne 0 ]]; then
        say "missing: $packages- install them with: sudo apt-get install -y $packages"
        exit 1
    fi
    say "installing $packages"
    apt-get update -qq
    # shellcheck disable=SC2086 # one word per package
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages >/dev/null
fi
if ! command -v cargo >/dev/null; then
    say "cargo is missing: install Rust from https://rustup.rs"
    exit 1
fi
if (($(nproc --all) < 2)); then
    say "this benchmark pins the server to one CPU and the load to another: it needs 2 CPUs"
    exit 1
fi

say "building the release binaries (into $CARGO_TARGET_DIR)"
cargo build --release --quiet -p meeteasy-auth-cli -p meeteasy-bench --bin meeteasy-auth --bin meeteasy-bench --bin bench-ceiling
cargo bench --no-run --quiet -p meeteasy-bench --bench store

# 10,000 waiting consoles hold 10,000 sockets on each side; the servers inherit this limit.
want_files=65536
ulimit -n "$want_files" 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# The benchmark stops every server it started when it ends, fails, or gets SIGINT/SIGTERM.
taskset -c "$CLIENT_CPU" "$CARGO_TARGET_DIR/release/meeteasy-bench" \
    --server-cpu "$SERVER_CPU" --client-cpu "$CLIENT_CPU" "$@" &
bench=$!
trap 'kill -TERM "$bench" 2>/dev/null || true' INT TERM
status=0
wait "$bench" || status=$?
# A trapped signal ends the first wait early; wait again until the benchmark has cleaned up.
while kill -0 "$bench" 2>/dev/null; do
    wait "$bench" || status=$?
done
((status == 0)) || exit "$status"

say "the embedded store on its own (Criterion: cargo bench -p meeteasy-bench --bench store)"
# shellcheck disable=SC2086 # one word per Criterion argument
exec cargo bench --quiet -p meeteasy-bench --bench store -- ${STORE_BENCH_ARGS:-}
