#!/usr/bin/env bash
# Partner Edge's one entry point. The README's two commands call it:
#
#   bash scripts/edge.sh run     install what is missing, build, serve on 127.0.0.1:8787
#   bash scripts/edge.sh test    install what is missing, build, run every test
#
# Other subcommands: setup [--check], build, bench [route], bench-webhooks,
# bench-latency, bench-portal, bench-versus, bench-profile, build-if-needed (wrangler's [build] hook). Every install step checks the installed version first, so a
# second run installs nothing. Nothing is downloaded from GitHub: tools that
# would fetch binaries are pointed at the ones installed here.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# Pinned versions, known to work together on Debian with the npm packages in
# package-lock.json; bump them together and rerun the test command.
WASM_BINDGEN_VERSION=0.2.130
WORKER_BUILD_VERSION=0.8.7
TRUNK_VERSION=0.21.14
NODE_MAJOR_MIN=20

export PATH="$HOME/.cargo/bin:$ROOT/node_modules/.bin:$PATH"
export WASM_BINDGEN_BIN="$HOME/.cargo/bin/wasm-bindgen"
export WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$ROOT/node_modules/.bin/esbuild"
export CLOUDFLARE_CF_FETCH_ENABLED=false
export WRANGLER_SEND_METRICS=false
# Trunk keeps its tool cache here, away from any half-downloaded ~/.cache/trunk.
export XDG_CACHE_HOME="$ROOT/.tools/cache"
STAMPS="$ROOT/.tools/stamps"
mkdir -p "$STAMPS" "$XDG_CACHE_HOME"

# With CHECK_ONLY=1 (`setup --check`), setup installs nothing: it reports what
# it would install and fails if anything is missing.
CHECK_ONLY=0
MISSING=0
# would_install WHAT: in check mode, record and report; otherwise say we install.
would_install() {
  if [ "$CHECK_ONLY" = 1 ]; then
    log "would install $*"
    MISSING=1
    return 0
  fi
  log "installing $*"
  return 1
}

log() { printf '\033[1m[edge]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[edge] error:\033[0m %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- setup ----

ensure_node() {
  command -v node >/dev/null || die "node is missing; install Node.js ${NODE_MAJOR_MIN}+ (preinstalled on the project's machines)"
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge "$NODE_MAJOR_MIN" ] || die "node $major is too old; wrangler 4.86 needs ${NODE_MAJOR_MIN}+"
}

ensure_wasm_target() {
  rustup target list --installed | grep -qx wasm32-unknown-unknown && return
  would_install "the wasm32-unknown-unknown target" && return
  rustup target add wasm32-unknown-unknown
}

# ensure_cargo_tool BINARY VERSION -- INSTALL ARGS...
ensure_cargo_tool() {
  local bin=$1 version=$2
  shift 3
  # `wasm-bindgen 0.2.130`, `trunk 0.21.14`, but worker-build prints a bare `0.8.7`.
  if "$bin" --version 2>/dev/null | grep -qE "(^| )${version//./\\.}( |\$)"; then return; fi
  would_install "$bin $version with cargo (several minutes, once per machine)" && return
  cargo install "$@"
}

ensure_npm_packages() {
  local want have=""
  want=$(sha256sum package-lock.json | cut -d' ' -f1)
  [ -f node_modules/.pe-lock-hash ] && have=$(cat node_modules/.pe-lock-hash)
  if [ "$want" = "$have" ] && [ -x node_modules/.bin/wrangler ]; then return; fi
  would_install "npm packages from package-lock.json" && return
  npm ci --no-audit --no-fund
  echo "$want" > node_modules/.pe-lock-hash
}

# The contract test's Python tools (schemathesis, a strict OpenAPI validator),
# pinned in tests/contract/requirements.txt, in a venv of the project's own.
ensure_python_tools() {
  local want have=""
  want=$(sha256sum tests/contract/requirements.txt | cut -d' ' -f1)
  [ -f .tools/venv/.pe-requirements-hash ] && have=$(cat .tools/venv/.pe-requirements-hash)
  if [ "$want" = "$have" ] && [ -x .tools/venv/bin/python ]; then return; fi
  would_install "the contract test's Python tools (tests/contract/requirements.txt)" && return
  command -v python3 >/dev/null || die "python3 is missing; install Python 3.9+ (preinstalled on the project's machines)"
  if ! python3 -m venv .tools/venv 2>/dev/null; then
    # Debian's own python3 keeps venv in a package of its own.
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv .tools/venv
  fi
  .tools/venv/bin/pip install --quiet --disable-pip-version-check -r tests/contract/requirements.txt
  echo "$want" > .tools/venv/.pe-requirements-hash
}

ensure_chromium() {
  if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then return; fi
  would_install "chromium and chromium-driver from Debian" && return
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium chromium-driver >/dev/null
}

setup() {
  ensure_node
  ensure_wasm_target
  ensure_npm_packages
  ensure_cargo_tool wasm-bindgen "$WASM_BINDGEN_VERSION" -- \
    wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"   # no --locked: its lockfile wants a yanked crate
  ensure_cargo_tool worker-build "$WORKER_BUILD_VERSION" -- \
    worker-build --version "$WORKER_BUILD_VERSION" --locked
  ensure_cargo_tool trunk "$TRUNK_VERSION" -- \
    trunk --version "$TRUNK_VERSION" --locked
}

# ---------------------------------------------------------------- build ----

# A hash of everything that feeds an artefact; a build is skipped when the
# hash matches the one recorded after the last successful build.
fingerprint() {
  { find "$@" -type f -not -path '*/dist/*' -not -path '*/build/*' -print0 | sort -z | xargs -0 sha256sum
    sha256sum Cargo.lock Cargo.toml .cargo/config.toml
    echo "wasm names: ${PE_WASM_NAMES:-0}"; } | sha256sum | cut -d' ' -f1
}

# build_step NAME OUTPUT COMMAND... -- INPUTS...
build_step() {
  local name=$1 output=$2
  shift 2
  local cmd=() inputs=()
  while [ "$1" != "--" ]; do cmd+=("$1"); shift; done
  shift
  inputs=("$@")
  local sum
  sum=$(fingerprint "${inputs[@]}")
  if [ -e "$output" ] && [ "$(cat "$STAMPS/$name" 2>/dev/null)" = "$sum" ]; then
    log "$name is up to date"
    return
  fi
  log "building $name"
  "${cmd[@]}"
  echo "$sum" > "$STAMPS/$name"
}

build_portal() {
  build_step portal portal/dist/index.html \
    trunk build --release --offline --config Trunk.toml -- \
    portal shared static Trunk.toml
}

# The worker's wasm ships without its name section (80 kB of the gzip
# upload); PE_WASM_NAMES=1 keeps it, for bench-profile's named frames.
build_worker() {
  build_step worker worker/build/index.js \
    bash -c 'cd worker && worker-build --release && { [ "${PE_WASM_NAMES:-0}" = 1 ] ||
      "$WASM_OPT_BIN" --strip-debug --strip-producers build/index_bg.wasm -o build/index_bg.wasm; }' -- \
    worker/src worker/build.rs worker/Cargo.toml worker/entry.mjs shared scripts/edge.sh
}

build() {
  build_portal
  build_worker
}

# wrangler's [build] hook: `wrangler deploy` builds everything; our own
# commands have built already and set PE_SKIP_BUILD=1.
build_if_needed() {
  [ "${PE_SKIP_BUILD:-0}" = 1 ] && return
  setup
  build
}

# ------------------------------------------------------------------ run ----

run() {
  setup
  build
  if [ ! -f .dev.vars ]; then
    cp .dev.vars.example .dev.vars
    log "created .dev.vars from .dev.vars.example (local-only values)"
  else
    # A .dev.vars made by an older checkout lacks settings added since; say which.
    local name
    for name in $(grep -oE '^[A-Z_]+=' .dev.vars.example | tr -d '='); do
      grep -qE "^$name=" .dev.vars || log "note: .dev.vars has no $name; see .dev.vars.example"
    done
  fi
  local port=${PORT:-8787} inspector=${INSPECTOR_PORT:-9229}
  log "starting wrangler dev; state persists in .state/"
  log "  portal:  http://127.0.0.1:$port/"
  log "  health:  http://127.0.0.1:$port/api/public/health"
  log "  openapi: http://127.0.0.1:$port/openapi.json"
  PE_SKIP_BUILD=1 exec wrangler dev --local --ip 127.0.0.1 --port "$port" \
    --inspector-port "$inspector" --persist-to .state --test-scheduled \
    --show-interactive-dev-session=false
}

# ----------------------------------------------------------------- test ----

test_all() {
  setup
  ensure_chromium
  ensure_python_tools
  build
  log "cargo fmt --check"
  cargo fmt --all --check
  # Users who clone the repo have nothing beside it; the pattern is split so
  # this line does not match itself.
  if git rev-parse --git-dir >/dev/null 2>&1 && git grep -nE '\.\./shar''ed/'; then
    die "the lines above point at a folder beside the repository, which a clone does not have"
  fi
  log "clippy, native"
  cargo clippy --workspace --all-targets --locked -- -D warnings
  log "clippy, wasm32"
  cargo clippy -p partner-edge-worker -p partner-edge-portal --target wasm32-unknown-unknown --locked -- -D warnings
  log "unit tests (shared) and the signing CLI"
  cargo test -p partner-edge-shared -p partner-edge-cli --locked
  log "integration tests against wrangler dev (and the OpenAPI contract test)"
  cargo test -p partner-edge-tests --locked
  log "browser tests in headless Chromium"
  node --test --test-concurrency=1 tests/browser/
}

# ---------------------------------------------------------------- bench ----

bench() {
  setup
  build
  node bench/run.mjs "$@"
  # With no routes named: the edge against the JavaScript baseline as well.
  if [ $# -eq 0 ]; then node bench/versus.mjs; fi
}

case "${1:-}" in
  setup)
    [ "${2:-}" = --check ] && CHECK_ONLY=1
    setup
    ensure_chromium
    ensure_python_tools
    [ "$MISSING" = 0 ] || die "some tools are missing (see above); run without --check to install them"
    ;;
  build) setup; build ;;
  build-if-needed) build_if_needed ;;
  run) run ;;
  test) test_all ;;
  bench) shift; bench "$@" ;;
  bench-webhooks) shift; setup; build; node bench/webhooks.mjs "$@" ;;
  bench-latency) shift; setup; build; node bench/latency.mjs "$@" ;;
  bench-portal) shift; setup; build; node bench/portal.mjs "$@" ;;
  bench-versus) shift; setup; build; node bench/versus.mjs "$@" ;;
  bench-profile) shift; setup; PE_WASM_NAMES=1 build; node bench/profile.mjs "$@" ;;
  *) die "usage: bash scripts/edge.sh {run|test|bench [route]|bench-webhooks|bench-latency|bench-portal|bench-versus|bench-profile|setup|build}" ;;
esac
