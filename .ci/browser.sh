#!/usr/bin/env bash
# Installs what the browser tests need, idempotently: Debian's chromium (apt) and playwright-core
# (npm, into .ci/node_modules; it never downloads a browser of its own).
#   bash .ci/browser.sh
set -euo pipefail
PLAYWRIGHT_VERSION="1.65.1"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
start=$(date +%s)

if ! command -v chromium >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
if [[ ! -f "$HERE/node_modules/playwright-core/package.json" ]] ||
   ! grep -q "\"version\": \"$PLAYWRIGHT_VERSION\"" "$HERE/node_modules/playwright-core/package.json"; then
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$HERE" --no-save --no-audit --no-fund \
        --loglevel=error "playwright-core@$PLAYWRIGHT_VERSION"
fi
echo "chromium: $(chromium --version 2>/dev/null); playwright-core $PLAYWRIGHT_VERSION in $HERE/node_modules ($(( $(date +%s) - start )) s)"
