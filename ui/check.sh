#!/usr/bin/env bash
# Proves the console's webview is what its source says: ui/src type-checks under the TypeScript
# pinned in package.json, and the committed ui/public/js (which the app embeds, so that building it
# needs no Node) is exactly what that compiler makes of ui/src, with no file more or less. Then runs
# the Node tests of that JS (ui/tests): its logic, and its screens and router drawn in a small fake
# DOM (ui/tests/fake_dom.js) with a fake of the Rust side (ui/tests/fake_console.js).
# Run by scripts/test.sh; installs the pinned compiler first when node_modules is missing or stale.
set -euo pipefail
cd "$(dirname "$0")"

for tool in node npm; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "ui/check.sh: $tool is missing (Debian: apt-get install nodejs npm)" >&2
    exit 1
  }
done

# node_modules is fresh when it was installed from this very lockfile and holds the pinned compiler.
stamp=node_modules/.installed-from-package-lock.json
pinned=$(node -p 'require("./package.json").devDependencies.typescript')
[[ $pinned =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || {
  echo "ui/check.sh: pin TypeScript to one exact version in ui/package.json, not \"$pinned\"" >&2
  exit 1
}
installed=$(node -p 'try { require("./node_modules/typescript/package.json").version } catch { "none" }')
if ! cmp -s package-lock.json "$stamp" || [ "$installed" != "$pinned" ]; then
  echo "ui/check.sh: installing TypeScript $pinned (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# One compile both type-checks (strict tsconfig.json) and, only if that passes, emits the JS.
if ! node_modules/.bin/tsc -p . --noEmitOnError --outDir "$out"; then
  echo "ui/check.sh: ui/src does not type-check (TypeScript $pinned, ui/tsconfig.json)" >&2
  exit 1
fi

if ! diff -rq "$out" public/js >/dev/null; then
  diff -ru "$out" public/js | head -n 60 || true
  echo "ui/check.sh: ui/public/js is stale: run \`npm --prefix ui run build\` and commit the result" >&2
  exit 1
fi
echo "ui/check.sh: ui/src type-checks under TypeScript $pinned and ui/public/js matches it"

# Files, not the directory: Node 21 and later take a directory argument for a module to run.
node --test tests/*.test.js
