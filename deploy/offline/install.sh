#!/usr/bin/env bash
# Install the keyholder from this offline bundle into a new virtual environment,
# with no package index and no network (docs/operations.md, section 9):
#
#   ./install.sh --pubkey ministry-release.pem /opt/dvr-keyholder
#   ./install.sh --unsigned /opt/dvr-keyholder     # only when the bundle carries no signature
#
# In order, and stopping at the first failure with one line and nothing installed:
# SHA256SUMS.sig must verify with the given key; every file must match SHA256SUMS and
# none may be missing from it; then pip installs only from wheels/, each file
# checked against its hash in requirements.txt (--require-hashes).
# Needs bash, coreutils, python3 with venv, and openssl for the signature.
set -euo pipefail
die() { echo "install.sh: $*" >&2; exit 1; }
usage="usage: install.sh (--pubkey KEY.pem | --unsigned) TARGET"
pubkey="" unsigned=0 target=""
while [ $# -gt 0 ]; do
  case "$1" in
    --pubkey) [ $# -ge 2 ] || die "$usage"; pubkey=$(realpath "$2"); shift 2 ;;
    --unsigned) unsigned=1; shift ;;
    -*) die "unknown option $1; $usage" ;;
    *) [ -z "$target" ] || die "$usage"; target=$1; shift ;;
  esac
done
[ -n "$target" ] || die "$usage"
[ -n "$pubkey" ] || [ "$unsigned" = 1 ] || die "give the ministry's public key (--pubkey KEY.pem), or --unsigned to rely on SHA256SUMS alone"
[ -z "$pubkey" ] || [ "$unsigned" = 0 ] || die "--pubkey and --unsigned exclude each other"
[ ! -e "$target" ] || die "$target already exists; install into a new directory"
python=${PYTHON:-python3}
bundle=$(cd "$(dirname "$0")" && pwd)
cd "$bundle"
[ -f SHA256SUMS ] || die "no SHA256SUMS in $bundle: not a bundle"

if [ -n "$pubkey" ]; then
  [ -f SHA256SUMS.sig ] || die "the bundle carries no SHA256SUMS.sig to verify with $pubkey"
  openssl pkeyutl -verify -pubin -inkey "$pubkey" -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig >/dev/null 2>&1 \
    || die "refused: SHA256SUMS.sig does not verify with $pubkey; nothing installed"
fi
bad=$(sha256sum --strict --quiet -c SHA256SUMS 2>/dev/null | sed 's/: .*//' | tr '\n' ' ' || true)
[ -z "$bad" ] || die "refused: ${bad% } does not match SHA256SUMS; nothing installed"
sha256sum --strict --quiet --status -c SHA256SUMS || die "refused: SHA256SUMS is malformed; nothing installed"
extra=$(comm -23 <(find . -type f ! -name SHA256SUMS ! -name SHA256SUMS.sig -printf '%P\n' | LC_ALL=C sort) \
  <(sed 's/^[0-9a-f]\{64\}  //' SHA256SUMS | LC_ALL=C sort) | tr '\n' ' ')
[ -z "$extra" ] || die "refused: ${extra% } is not listed in SHA256SUMS; nothing installed"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$python" -m venv "$target" || { rm -rf "$target"; die "could not create a virtual environment at $target"; }
# --isolated: no pip configuration or PIP_* variable of this machine can add an index.
if ! "$target/bin/python" -m pip --isolated install --no-index --find-links "$bundle/wheels" \
    --require-hashes --only-binary :all: -r requirements.txt >"$log" 2>&1; then
  rm -rf "$target"
  if grep -q "DO NOT MATCH THE HASHES" "$log"; then
    which=$(sed -n '/DO NOT MATCH THE HASHES/,$p' "$log" | grep -o '[^ /]*\.whl' | head -1)
    die "refused: ${which:-a wheel} does not match its hash in requirements.txt; nothing installed"
  fi
  die "pip could not install the bundle ($(grep -m1 '^ERROR' "$log" || tail -1 "$log")); nothing installed"
fi
echo "installed: the keyholder into $target ($target/bin/keyholder)"
