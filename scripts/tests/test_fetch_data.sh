#!/usr/bin/env bash
# Exercises scripts/fetch_data.sh against the real registries (needs network, ~1 min):
#   1. a fresh fetch into an empty VAE_DATA_DIR installs all eight files, verified;
#   2. a second run does nothing and says so;
#   3. a corrupted file is detected, named, and the data set is re-fetched and verified;
#   4. an interrupted run leaves no scratch folder and no data-set folder behind;
#   5. (as root only) the fetch also works for an unprivileged user.
# Run: make test-data  (not part of `make test`, which only needs the data once).
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
FETCH="$REPO_ROOT/scripts/fetch_data.sh"
T="$(mktemp -d)"
trap 'rm -rf -- "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "== 1. fresh fetch"
VAE_DATA_DIR="$T/d" "$FETCH"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  [[ -f "$T/d/mnist/$f" ]] || fail "missing mnist/$f"
  [[ -f "$T/d/fashion-mnist/$f.gz" ]] || fail "missing fashion-mnist/$f.gz"
done
[[ -z "$(ls -A "$T/d" | grep '^\.fetch' || true)" ]] || fail "scratch folder left behind"

echo "== 2. idempotent"
out="$(VAE_DATA_DIR="$T/d" "$FETCH" 2>&1)"
grep -q "nothing to do" <<<"$out" || fail "second run did not say 'nothing to do': $out"

echo "== 3. corrupted file is detected and replaced"
printf 'X' | dd of="$T/d/mnist/t10k-labels-idx1-ubyte" bs=1 seek=100 conv=notrunc status=none
out="$(VAE_DATA_DIR="$T/d" "$FETCH" 2>&1)"
grep -q "checksum mismatch: $T/d/mnist/t10k-labels-idx1-ubyte" <<<"$out" || fail "mismatch not reported: $out"
grep -q "MNIST verified and installed" <<<"$out" || fail "MNIST not re-fetched: $out"
grep -q "Fashion-MNIST verified" <<<"$out" && fail "Fashion-MNIST was re-fetched although intact: $out"
VAE_DATA_DIR="$T/d" "$FETCH" 2>&1 | grep -q "nothing to do" || fail "not verified after repair"

echo "== 4. interrupted run leaves nothing behind"
VAE_DATA_DIR="$T/i" setsid "$FETCH" >"$T/int.log" 2>&1 &
pid=$!
# Wait until the download has started (the scratch folder exists), then interrupt.
for _ in $(seq 1 100); do
  compgen -G "$T/i/.fetch-*" >/dev/null && break
  sleep 0.1
done
kill -INT -- "-$pid" 2>/dev/null || kill -INT "$pid"
wait "$pid" && fail "interrupted run exited 0" || true
[[ -z "$(ls -A "$T/i" 2>/dev/null)" ]] || fail "interrupted run left: $(ls -A "$T/i")"

if [[ "$(id -u)" == 0 ]] && id nobody >/dev/null 2>&1 && command -v runuser >/dev/null; then
  echo "== 5. unprivileged user"
  mkdir -p "$T/u" && chown nobody "$T/u" && chmod 755 "$T"
  runuser -u nobody -- env HOME="$T/u" npm_config_cache="$T/u/.npm" VAE_DATA_DIR="$T/u/d" "$FETCH"
  runuser -u nobody -- env HOME="$T/u" VAE_DATA_DIR="$T/u/d" "$FETCH" 2>&1 | grep -q "nothing to do" \
    || fail "unprivileged fetch not verified"
fi
echo "PASS: fetch_data.sh"
