#!/usr/bin/env bash
# Make sure the system programs LR Arena needs are installed.
#   scripts/ensure-system-deps.sh redis chromium postgresql
# Installs missing ones with apt-get when running as root; otherwise says how.
set -euo pipefail

declare -A BINARY=([redis]=redis-server [chromium]=chromium [postgresql]=initdb)
declare -A PACKAGES=([redis]="redis-server" [chromium]="chromium fonts-liberation" [postgresql]="postgresql")

have() {  # Debian keeps PostgreSQL's server programs off the PATH, in /usr/lib/postgresql/<version>/bin
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/bin/$1" ] || compgen -G "/usr/lib/postgresql/*/bin/$1" >/dev/null
}

missing=()
for dep in "$@"; do
  bin=${BINARY[$dep]:?"unknown dependency: $dep"}
  if ! have "$bin"; then
    missing+=("${PACKAGES[$dep]}")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

packages="${missing[*]}"
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo ">> installing system packages: $packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $packages >/dev/null
else
  echo "LR Arena needs these system packages: $packages" >&2
  echo "Install them with:  sudo apt-get install $packages" >&2
  echo "(or point REDIS_URL at a running Redis server instead of installing redis-server)" >&2
  exit 1
fi
