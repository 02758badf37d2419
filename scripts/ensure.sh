#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine with Node 20 (run as root for apt):
# pnpm (pinned, from npm), the workspace's dependencies, and — with --browser — Debian's Chromium.
set -euo pipefail
PNPM_VERSION=10.34.9
cd "$(dirname "$0")/.."

if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  echo "› installing pnpm@$PNPM_VERSION"
  npm install -g "pnpm@$PNPM_VERSION" --no-fund --no-audit >/dev/null
fi

if [ -f pnpm-lock.yaml ]; then
  pnpm install --frozen-lockfile --reporter=silent
else
  pnpm install --reporter=silent
fi

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "✗ $* missing and not root: install it with apt-get install -y $*" >&2
    return 1
  fi
  echo "› apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

for arg in "$@"; do
  case "$arg" in
    --browser)
      if [ -z "${CHROMIUM_PATH:-}" ] && ! command -v chromium >/dev/null 2>&1; then
        apt_install chromium
      fi
      ;;
  esac
done
