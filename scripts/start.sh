#!/usr/bin/env bash
# `npm start`: the demo on this machine. Installs pnpm and the workspace's dependencies when
# missing, builds the demo page when its sources changed, then runs origins (8081-8083),
# the signaling server (8090) and the page server (8080) in one Node process until Ctrl-C.
# Environment: HOST (default 127.0.0.1), PORT, ORIGIN_PORT, ORIGINS, SIGNALING_PORT.
set -euo pipefail
PNPM_VERSION=10.34.9
cd "$(dirname "$0")/.."

if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  echo "› installing pnpm@$PNPM_VERSION"
  npm install -g "pnpm@$PNPM_VERSION" --no-fund --no-audit >/dev/null
fi

# Install only when needed, so a second start is quick.
stamp=node_modules/.hivecast-install
if [ ! -f "$stamp" ] || [ package.json -nt "$stamp" ] || { [ -f pnpm-lock.yaml ] && [ pnpm-lock.yaml -nt "$stamp" ]; }; then
  echo "› installing dependencies"
  if [ -f pnpm-lock.yaml ]; then
    pnpm install --frozen-lockfile --loglevel=error
  else
    pnpm install --loglevel=error
  fi
  touch "$stamp"
fi

# exec: Ctrl-C and SIGTERM go straight to the Node process, which stops every server.
exec node_modules/.bin/tsx --tsconfig demo/tsconfig.json scripts/serve-demo.ts
