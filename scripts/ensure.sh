#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine with Node 20 (run as root for apt):
# pnpm (pinned, from npm), the workspace's dependencies, and with
#   --browser  Debian's Chromium
#   --system   every other Debian component a suite drives: coturn (STUN/TURN in the NAT lab),
#              nftables + iptables + iproute2 (the NAT lab's routers), ffmpeg (packager, test
#              streams), nginx + libnginx-mod-rtmp (caching edge, RTMP recipe)
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

missing=()
need() { # command, Debian package: queue the package when the command is absent
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || missing+=("$2")
}
for arg in "$@"; do
  case "$arg" in
    --browser)
      [ -n "${CHROMIUM_PATH:-}" ] || need chromium chromium
      ;;
    --system)
      need turnserver coturn
      need nft nftables
      need iptables iptables
      need ip iproute2
      need ffmpeg ffmpeg
      need nginx nginx
      [ -f /usr/lib/nginx/modules/ngx_rtmp_module.so ] || missing+=(libnginx-mod-rtmp)
      ;;
  esac
done
if [ ${#missing[@]} -gt 0 ]; then
  apt_install "${missing[@]}"
  # Debian starts the services it installs; the suites start their own on free ports.
  for svc in nginx coturn; do
    if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
  done
fi
