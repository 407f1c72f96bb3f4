#!/usr/bin/env bash
# Builds the console's installable bundles with the Tauri CLI (the size-tuned `console-release`
# cargo profile, `custom-protocol`):
#   - the .deb, always;
#   - the AppImage, when the bundler's AppImage tools are at hand.
# Installs what is missing first: the Debian build packages and tauri-cli 2 (about 7 minutes, once).
#
# Why the AppImage may be skipped: Tauri's AppImage bundler runs linuxdeploy (with its AppImage
# plugin and the AppImage runtime) and an AppRun stub, which it downloads from GitHub releases
# into ~/.cache/tauri. None of them is packaged in Debian 12, on PyPI or on npm (the AppImage
# helpers there download the same tools from GitHub when they run), so a machine that reaches only
# the package registries cannot build an AppImage. This script therefore builds it only if those
# tools are already in the cache, or with --appimage, which lets the bundler download them.
#
# Usage: scripts/bundle.sh [--appimage]
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "bundle.sh: $*" >&2; }

force_appimage=false
case "${1:-}" in
  "") ;;
  --appimage) force_appimage=true ;;
  *) say "usage: scripts/bundle.sh [--appimage]"; exit 2 ;;
esac

# Debian packages the build needs (compiler and WebKitGTK headers), by the command or pkg-config
# module that shows each one is there.
missing=()
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v file >/dev/null 2>&1 || missing+=(file)
for pair in webkit2gtk-4.1:libwebkit2gtk-4.1-dev librsvg-2.0:librsvg2-dev; do
  pkg-config --exists "${pair%%:*}" 2>/dev/null || missing+=("${pair#*:}")
done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! cargo tauri --version 2>/dev/null | grep -q '^tauri-cli 2\.'; then
  say "installing tauri-cli 2 (about 7 minutes on 2 cores, once)"
  cargo install tauri-cli --version '^2' --locked --quiet
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/meeteasy/target}"

arch=$(uname -m)
tools="${XDG_CACHE_HOME:-$HOME/.cache}/tauri"
bundles=deb
if $force_appimage; then
  bundles=deb,appimage
elif [[ -x "$tools/AppRun-$arch" ]] && compgen -G "$tools/linuxdeploy-*-$arch.AppImage" >/dev/null; then
  say "AppImage tools found in $tools"
  bundles=deb,appimage
else
  say "AppImage SKIPPED: linuxdeploy and AppRun are not in $tools, and no package registry has them"
  say "  (they come only from GitHub releases; on a machine that reaches GitHub run: scripts/bundle.sh --appimage)"
fi

# The cargo profile (Cargo.toml) and so the directory the CLI builds and bundles into.
profile=console-release
bundle_dir="$CARGO_TARGET_DIR/$profile/bundle"
say "building the bundles: $bundles (into $bundle_dir)"
# The tauri.conf.json at the workspace root is reached through the src-tauri/tauri.conf.json link.
(cd src-tauri && cargo tauri build --ci --bundles "$bundles" --features custom-protocol -- --profile "$profile")

echo
echo "| bundle | size | path |"
echo "|---|---|---|"
for file in "$bundle_dir"/deb/*.deb "$bundle_dir"/appimage/*.AppImage; do
  [[ -f "$file" ]] || continue
  # shellcheck disable=SC2016 # the backquotes are Markdown, not a command
  printf '| %s | %s | `%s` |\n' "${file##*.}" "$(du -h --apparent-size "$file" | cut -f1)" "$file"
done
if [[ $bundles == deb ]]; then
  echo "| AppImage | skipped | linuxdeploy/AppRun only come from GitHub releases: see the top of scripts/bundle.sh |"
fi
for deb in "$bundle_dir"/deb/*.deb; do
  [[ -f "$deb" ]] || continue
  echo
  echo "$(basename "$deb"): install with \`sudo apt-get install ./<file>.deb\`"
  dpkg-deb --field "$deb" Package Version Depends Recommends Installed-Size
done
