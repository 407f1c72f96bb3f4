#!/usr/bin/env bash
# Installs what building, running and testing MeetEasy needs and this machine lacks (Debian, as root
# or with sudo). Safe to run again: it only installs what is missing. Sourced by run.sh and test.sh;
# with SETUP_FOR=run (run.sh) only what building and running the product needs, without the test tools.
set -euo pipefail
setup_for="${SETUP_FOR:-test}"

# Rust comes from rustup (https://rustup.rs), not from apt: without it nothing here can be built.
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is missing: install Rust with rustup (https://rustup.rs), then run this again" >&2
  exit 1
fi
# A rustup "minimal" profile has neither; the test command formats and lints.
if command -v rustup >/dev/null 2>&1; then
  installed=$(rustup component list --installed 2>/dev/null || true)
  for component in rustfmt clippy; do
    if ! grep -q "^$component" <<<"$installed"; then
      echo "setup: adding the Rust component $component"
      rustup component add "$component" >/dev/null
    fi
  done
fi

# The Debian packages, by the command or file that shows each one is there: what building and running
# the product needs, then what only the tests need.
declare -A NEEDED=(
  [pkg-config]=pkg-config
  [curl]=curl
  [cc]=build-essential
)
if [ "$setup_for" = test ]; then
  NEEDED+=(
    [redis-server]=redis-server
    [redis-benchmark]=redis-tools
    [Xvfb]=xvfb
    [WebKitWebDriver]=webkit2gtk-driver
    [gnome-keyring-daemon]=gnome-keyring
    [dbus-run-session]=dbus
    [secret-tool]=libsecret-tools
    [chromium]=chromium
    [chromedriver]=chromium-driver
    [node]=nodejs
    [npm]=npm
    [openssl]=openssl
    [pgrep]=procps
  )
fi
# Build-time libraries (no command to look for): checked with pkg-config.
declare -A NEEDED_LIBS=(
  [webkit2gtk-4.1]=libwebkit2gtk-4.1-dev
  [librsvg-2.0]=librsvg2-dev
)

missing=()
for command in "${!NEEDED[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${NEEDED[$command]}")
done
for lib in "${!NEEDED_LIBS[@]}"; do
  pkg-config --exists "$lib" 2>/dev/null || missing+=("${NEEDED_LIBS[$lib]}")
done
# The console's zh-CN screens need a font with Chinese glyphs: a desktop has one, a bare machine
# draws empty boxes (checked with fontconfig, which WebKit brings).
# (Read whole, not piped into `grep -q`: under pipefail a long list would fail on SIGPIPE.)
[ -n "$(fc-list :lang=zh 2>/dev/null || true)" ] || missing+=(fonts-wqy-microhei)

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || {
      echo "setup: run this as root, or install sudo: it installs ${missing[*]}" >&2
      exit 1
    }
    sudo_cmd=(sudo)
  fi
  "${sudo_cmd[@]}" apt-get update -qq
  # Through env: sudo would drop a variable set before it.
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$setup_for" = test ] && ! command -v tauri-driver >/dev/null 2>&1; then
  echo "setup: installing tauri-driver (a few minutes, once)"
  cargo install tauri-driver --version '^2' --locked --quiet
fi

# The mini program's test tools (miniprogram-simulate, jsdom), exactly as its committed lockfile says;
# again only when node_modules was not installed from this very lockfile (a few seconds, from the
# npm registry), as ui/check.sh does for the UI's compiler.
miniprogram="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/examples/miniprogram"
installed_from="$miniprogram/node_modules/.installed-from-package-lock.json"
if [ "$setup_for" = test ] && ! cmp -s "$miniprogram/package-lock.json" "$installed_from"; then
  echo "setup: installing the mini program's test tools (npm ci)"
  (cd "$miniprogram" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  cp "$miniprogram/package-lock.json" "$installed_from"
fi

# One build directory for every checkout on this machine, outside the clone.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/meeteasy/target}"
