#!/usr/bin/env bash
# The console benchmark: builds the release console (`--features custom-protocol`, in the
# size-tuned, stripped `console-release` profile) and bench-console, then measures in a private
# Xvfb + D-Bus + gnome-keyring desktop: binary size, cold start to the QR on screen (through
# tauri-driver, with WebDriver's share split out), and idle memory (PSS) on the login screen and on
# home next to an empty WebKitGTK browser. Installs what is missing first (scripts/setup.sh).
# Prints a Markdown table for README.md. Extra arguments go to bench-console (try --help; e.g.
# --runs 9).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

say() { echo "bench-console.sh: $*" >&2; }

say "building the release console and bench-console (into $CARGO_TARGET_DIR)"
cargo build --profile console-release --locked --quiet -p meeteasy-console --features custom-protocol
cargo build --release --locked --quiet -p meeteasy-bench --bin bench-console

exec "$CARGO_TARGET_DIR/release/bench-console" "$@"
