#!/usr/bin/env bash
# Sets up everything Berth needs on this machine, idempotently: a running Docker engine,
# node_modules, the build, and the sandbox image. Safe to re-run; skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "[setup] $*" >&2; }

bash scripts/ensure-docker.sh

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing node modules (npm ci; better-sqlite3 may compile from source, ~1-2 min)"
  npm ci --no-audit --no-fund >&2
fi

log "building"
npm run --silent build >&2

if [ "${BERTH_REBUILD_IMAGE:-0}" = 1 ] || ! node dist/cli.js image status 2>/dev/null; then
  log "building the sandbox image"
  node dist/cli.js image build
else
  log "sandbox image is up to date"
fi
log "ready"
