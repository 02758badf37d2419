#!/usr/bin/env bash
# The one test command (`npm test`): installs what is missing, then runs every suite —
# static checks, unit/property/integration (vitest), e2e (Playwright, system Chromium) and
# benchmark smokes — and ends with one line "N passed, N failed" over all of them.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure.sh --browser --system || exit 1

mkdir -p .tmp
rm -f .tmp/checks.txt .vitest-results.json .e2e-results.json

check() { # name, command…: a static check counts as one test
  local name=$1; shift
  echo "━━ $name"
  if "$@"; then echo "pass $name" >>.tmp/checks.txt; else echo "fail $name" >>.tmp/checks.txt; fi
}

check "typecheck" pnpm -r --workspace-concurrency=1 run typecheck
check "lint" pnpm exec eslint . --max-warnings=0
check "format" pnpm exec prettier --check . --log-level=warn
check "build" pnpm run build

echo "━━ unit, property and integration tests (vitest)"
pnpm exec vitest run --reporter=default --reporter=json --outputFile.json=.vitest-results.json
echo "━━ end-to-end tests (Playwright, system Chromium)"
pnpm exec playwright test

node scripts/summary.mjs
