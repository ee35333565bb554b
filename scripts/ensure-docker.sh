#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine: install docker.io (and debootstrap, which
# `berth image build` needs where debian:bookworm-slim cannot be pulled) and start dockerd when it
# is not running. Idempotent; safe to run on a machine that already has a working engine.
set -euo pipefail

log() { echo "[ensure-docker] $*" >&2; }

if docker info >/dev/null 2>&1; then
  log "engine already running"
  exit 0
fi

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    log "need root to install ${need[*]}; run: sudo apt-get install -y ${need[*]}"
    exit 1
  fi
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

# A dockerd that was killed leaves its pid file behind and the next start refuses to run.
if [ -f /var/run/docker.pid ] && ! pgrep -x dockerd >/dev/null 2>&1; then
  log "removing stale /var/run/docker.pid"
  rm -f /var/run/docker.pid
fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
  log "starting dockerd (no bridge network: sandboxes get no network)"
  nohup dockerd --bridge=none --iptables=false --ip-masq=false >/var/log/berth-dockerd.log 2>&1 &
fi

for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    log "engine is up"
    exit 0
  fi
  sleep 1
done
log "dockerd did not answer within 60 s; see /var/log/berth-dockerd.log"
tail -n 20 /var/log/berth-dockerd.log >&2 || true
exit 1
