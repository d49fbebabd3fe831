#!/usr/bin/env bash
# Browser test of the latent-space explorer (vae-core/src/explorer) in headless chromium.
#
#   scripts/test_explorer.sh [SCREENSHOT.png]
#
# 1. installs Debian's chromium if it is missing (apt; needs root or sudo) and the pinned
#    playwright-core from tests/browser/package-lock.json (`npm ci`; never downloads a browser);
# 2. writes explorer pages for known random decoders plus the Rust reference decoder's
#    expected images (`cargo run --example explorer_fixture`);
# 3. drives the pages in chromium: pointer -> decoded image, two clicks -> interpolation
#    frames, sliders, class selector, two explorers in iframes, decode timing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
shot="${1:-/tmp/explorer.png}"
chromium_bin="${CHROMIUM:-/usr/bin/chromium}"

if [ ! -x "$chromium_bin" ]; then
  echo "installing chromium (Debian package)"
  sudo_cmd=""
  if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium
fi

cd "$root/tests/browser"
if [ ! -d node_modules/playwright-core ] || ! cmp -s package-lock.json node_modules/.package-lock.json 2>/dev/null; then
  # playwright-core downloads no browser on install; the test uses $chromium_bin.
  npm ci --no-audit --no-fund
fi

fixtures="$(mktemp -d -t explorer-fixture-XXXXXX)"
trap 'rm -rf "$fixtures"' EXIT
cd "$root"
cargo run --quiet -p vae-core --example explorer_fixture -- "$fixtures"
# Optional: the notebook export path (evcxr output -> nbconvert HTML), when jupyter is installed.
if command -v jupyter >/dev/null 2>&1 && jupyter nbconvert --version >/dev/null 2>&1; then
  jupyter nbconvert --log-level=WARN --to html --output notebook "$fixtures/notebook.ipynb"
fi
CHROMIUM="$chromium_bin" node tests/browser/explorer.test.js "$fixtures" "$shot"
