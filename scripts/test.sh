#!/usr/bin/env bash
# Runs every test of the workspace on this machine, installing what is missing first:
# formatting and lints, the Node tests of the reference mini program, then all Rust tests —
# unit tests and the end-to-end suite (real redis-server, headless Chromium, the console's real
# window under Xvfb with gnome-keyring, in-process auth servers over real HTTP).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

step() { printf '\n== %s\n' "$*"; }

step "format"
cargo fmt --all -- --check

step "lints"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "mini program pages (Node)"
# Its logic, its pages rendered by miniprogram-simulate in both languages, and the zh-CN/English texts
# of the server's own phone and browser pages (tools installed by setup.sh).
# Files, not the directory: Node 21 and later take a directory argument for a module to run.
node --test examples/miniprogram/tests/*.test.js

step "console UI: type-check, compiled JS matches its source, its Node tests"
ui/check.sh

step "binaries and test targets (the console for the end-to-end tests among them)"
# One build of every binary and test target: the console built alone would resolve tokio without the
# test-util feature the tests turn on, and compile tauri and wry a second time for them.
cargo build --locked --workspace --bins --tests

step "Rust tests"
cargo test --locked --workspace
