#!/bin/sh
# Installs the claudemesh CLI.
#
#   sh scripts/install.sh [--dry-run]          (from a claudemesh checkout)
#   curl -fsSL <url>/install.sh | sh           (elsewhere: the single binary)
#
# Run from a checkout with Node 20.19 or newer on PATH, it builds the checkout if needed and puts a
# `claudemesh` launcher for it into ~/.local/bin (`claudemesh install --path-only`). Elsewhere it
# downloads the single binary for this OS and CPU (apps/cli/build-sea.mjs builds it), checks it
# against the .sha256 published next to it, and puts it in ~/.local/bin as `claudemesh`. The npm
# package @claudemesh/cli is not published yet: CLAUDEMESH_INSTALL_METHOD=npm needs
# CLAUDEMESH_NPM_PACKAGE pointing at a tarball (npm pack -w apps/cli makes one).
#
# Environment:
#   CLAUDEMESH_INSTALL_METHOD  auto (default) | checkout | npm | binary
#   CLAUDEMESH_DOWNLOAD_BASE   where claudemesh-<os>-<arch> and its .sha256 are (default: the latest release)
#   CLAUDEMESH_INSTALL_DIR     where the binary goes (default: ~/.local/bin)
#   CLAUDEMESH_NPM_PACKAGE     what npm installs globally: a tarball path or URL (no default while unpublished)
set -eu

BASE=${CLAUDEMESH_DOWNLOAD_BASE:-https://github.com/claudemesh/claudemesh/releases/latest/download}
METHOD=${CLAUDEMESH_INSTALL_METHOD:-auto}
PACKAGE=${CLAUDEMESH_NPM_PACKAGE:-}
DRY_RUN=0
# The checkout this script belongs to, if it is in one.
CHECKOUT=$(cd "$(dirname "$0")/.." 2>/dev/null && pwd) || CHECKOUT=
[ -n "$CHECKOUT" ] && [ -f "$CHECKOUT/apps/cli/package.json" ] && [ -f "$CHECKOUT/apps/cli/bin/claudemesh.js" ] || CHECKOUT=

say() { printf 'claudemesh install: %s\n' "$*"; }
fail() {
  printf 'claudemesh install: %s\n' "$1" >&2
  if [ -n "${2:-}" ]; then printf 'next: %s\n' "$2" >&2; fi
  exit 1
}

for arg in "$@"; do
  case $arg in
    --dry-run) DRY_RUN=1 ;;
    -h | --help)
      cat <<'EOF'
usage: sh install.sh [--dry-run]
From a checkout with Node 20.19+ on PATH: builds it if needed and puts a claudemesh launcher into ~/.local/bin.
Elsewhere: the single binary into ~/.local/bin (or npm with CLAUDEMESH_NPM_PACKAGE=<tarball>).
  CLAUDEMESH_INSTALL_METHOD=auto|checkout|npm|binary   CLAUDEMESH_DOWNLOAD_BASE=<url>   CLAUDEMESH_INSTALL_DIR=<dir>
EOF
      exit 0
      ;;
    *) fail "unknown argument: $arg" "sh install.sh [--dry-run]" ;;
  esac
done

# Node >= 20.19 (what the package's "engines" asks), with npm next to it.
node_suits() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || return 1
  version=$(node -p 'process.versions.node' 2>/dev/null) || return 1
  major=${version%%.*}
  rest=${version#*.}
  minor=${rest%%.*}
  case $major$minor in *[!0-9]* | '') return 1 ;; esac
  [ "$major" -gt 20 ] || { [ "$major" -eq 20 ] && [ "$minor" -ge 19 ]; }
}

install_checkout() {
  say "Node $(node -p 'process.versions.node') found; installing from the checkout $CHECKOUT"
  if [ ! -d "$CHECKOUT/node_modules" ]; then
    say "npm install (in $CHECKOUT)"
    if [ "$DRY_RUN" = 0 ]; then (cd "$CHECKOUT" && npm install) || fail "npm install failed in $CHECKOUT" "run it yourself there, then sh scripts/install.sh again"; fi
  fi
  if [ ! -f "$CHECKOUT/apps/cli/dist/main.js" ]; then
    say "npm run build (in $CHECKOUT)"
    if [ "$DRY_RUN" = 0 ]; then (cd "$CHECKOUT" && npm run build) || fail "the build failed in $CHECKOUT" "run npm run build there and read its errors"; fi
  fi
  set -- node "$CHECKOUT/apps/cli/bin/claudemesh.js" install --path-only
  say "$*"
  if [ "$DRY_RUN" = 1 ]; then return 0; fi
  "$@" || fail "claudemesh install --path-only failed" "run it yourself: $*"
}

install_npm() {
  [ -n "$PACKAGE" ] || fail "the npm package @claudemesh/cli is not published yet, so there is nothing to fetch by name" \
    "run this script from a claudemesh checkout (git clone, then sh scripts/install.sh), or set CLAUDEMESH_NPM_PACKAGE to a tarball made with npm pack -w apps/cli, or CLAUDEMESH_INSTALL_METHOD=binary"
  set -- npm install -g "$PACKAGE" --allow-scripts=better-sqlite3
  say "Node $(node -p 'process.versions.node') found: $*"
  if [ "$DRY_RUN" = 1 ]; then return 0; fi
  "$@" || fail "npm install failed" "run it yourself: $*, or CLAUDEMESH_INSTALL_METHOD=binary sh install.sh"
  say "done: $(claudemesh --version 2>/dev/null || echo 'claudemesh installed'); try: claudemesh --help"
}

asset_name() {
  case $(uname -s) in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    MINGW* | MSYS* | CYGWIN*) os=win ;;
    *) fail "no claudemesh binary for $(uname -s)" "install Node 20.19+, clone claudemesh and run its scripts/install.sh" ;;
  esac
  case $(uname -m) in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) fail "no claudemesh binary for $(uname -m) CPUs" "install Node 20.19+, clone claudemesh and run its scripts/install.sh" ;;
  esac
  if [ "$os" = win ]; then echo "claudemesh-$os-$arch.exe"; else echo "claudemesh-$os-$arch"; fi
}

download() { # <url> <file>
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 2 -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$2" "$1"
  else
    fail "neither curl nor wget is installed" "install one of them, or Node 20.19+ (then run scripts/install.sh from a claudemesh checkout)"
  fi
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d' ' -f1
  elif command -v openssl >/dev/null 2>&1; then
    openssl dgst -sha256 "$1" | sed 's/^.*= *//'
  else
    fail "no sha256sum, shasum or openssl to check the download with"
  fi
}

install_binary() {
  name=$(asset_name)
  dir=${CLAUDEMESH_INSTALL_DIR:-${HOME:?HOME is not set}/.local/bin}
  target="$dir/claudemesh"
  case $name in *.exe) target="$target.exe" ;; esac
  if node_suits; then why="not run from a claudemesh checkout, no CLAUDEMESH_NPM_PACKAGE"; else why="no Node 20.19+ on PATH"; fi
  say "$why: installing the single binary $BASE/$name into $dir"
  if [ "$DRY_RUN" = 1 ]; then return 0; fi

  mkdir -p "$dir" || fail "cannot create $dir" "set CLAUDEMESH_INSTALL_DIR to a directory you can write"
  # Downloaded beside the target, then renamed over it: a failed or refused download leaves nothing behind.
  tmp="$dir/.claudemesh-download.$$"
  trap 'rm -f "$tmp" "$tmp.sha256"' EXIT
  trap 'exit 1' HUP INT TERM
  download "$BASE/$name" "$tmp" || fail "could not download $BASE/$name" "check the URL (CLAUDEMESH_DOWNLOAD_BASE) and your network"
  download "$BASE/$name.sha256" "$tmp.sha256" || fail "could not download $BASE/$name.sha256" "the checksum is published next to the binary; check CLAUDEMESH_DOWNLOAD_BASE"
  expected=$(cut -d' ' -f1 <"$tmp.sha256" | tr 'A-F' 'a-f')
  actual=$(sha256_of "$tmp")
  case $expected in
    *[!0-9a-f]* | '') fail "$BASE/$name.sha256 holds no sha256" ;;
  esac
  [ ${#expected} -eq 64 ] || fail "$BASE/$name.sha256 holds no sha256"
  if [ "$expected" != "$actual" ]; then
    fail "checksum mismatch for $name: expected $expected, got $actual; nothing was installed" "download again; if it persists, report it"
  fi
  chmod 755 "$tmp"
  version=$("$tmp" --version 2>&1) || fail "the downloaded binary does not run here: $version"
  mv -f "$tmp" "$target" || fail "cannot write $target"
  say "installed claudemesh $version at $target"

  case ":${PATH:-}:" in
    *":$dir:"*) say "try: claudemesh --help" ;;
    *)
      say "$dir is not on your PATH; add it, e.g.:"
      printf '  echo '\''export PATH="%s:$PATH"'\'' >> ~/.profile && . ~/.profile\n' "$dir"
      ;;
  esac
}

case $METHOD in
  auto)
    if [ -n "$CHECKOUT" ] && node_suits; then install_checkout
    elif [ -n "$PACKAGE" ] && node_suits; then install_npm
    else install_binary; fi
    ;;
  checkout)
    [ -n "$CHECKOUT" ] || fail "CLAUDEMESH_INSTALL_METHOD=checkout: this script is not inside a claudemesh checkout" "git clone the repository and run its scripts/install.sh"
    node_suits || fail "CLAUDEMESH_INSTALL_METHOD=checkout needs Node 20.19+ and npm on PATH" "install Node, or use CLAUDEMESH_INSTALL_METHOD=binary"
    install_checkout
    ;;
  npm) node_suits || fail "CLAUDEMESH_INSTALL_METHOD=npm needs Node 20.19+ and npm on PATH" "install Node, or use CLAUDEMESH_INSTALL_METHOD=binary"; install_npm ;;
  binary) install_binary ;;
  *) fail "CLAUDEMESH_INSTALL_METHOD=$METHOD: expected auto, checkout, npm or binary" ;;
esac
