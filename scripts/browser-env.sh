#!/usr/bin/env bash
# Installs the npm packages of the browser test (tests/browser/package.json,
# pinned by its package-lock.json) into tests/browser/node_modules.
#
# The test drives Debian's chromium through playwright-core, which ships no
# browser, so nothing but the npm package is downloaded. Idempotent and quick
# when done: a stamp file stores a hash of the lock file, and npm runs only
# when the lock file changed or node_modules is missing.
#
# Without node the script does nothing, because the test then skips itself.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir="$repo/tests/browser"
stamp="$dir/node_modules/.advgnn-lock.sha256"

if ! command -v node >/dev/null 2>&1; then
  echo "browser-env.sh: node is not installed; the browser test will be skipped" >&2
  echo "hint: install the Debian package nodejs (sudo bash scripts/setup.sh)" >&2
  exit 0
fi
# Debian's nodejs comes without npm, which is its own package there (but a
# nodejs from another source may bundle npm, and then Debian's npm conflicts).
if ! command -v npm >/dev/null 2>&1; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "browser-env.sh: node is installed but npm is not" >&2
    echo "hint: install the Debian package npm (sudo apt-get install npm)" >&2
    exit 1
  fi
  echo "browser-env.sh: installing npm"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm
fi

want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -f "$dir/node_modules/playwright-core/package.json" ]]; then
  exit 0
fi

# npm ci installs exactly what the lock file lists. No browser download: the
# test sets executablePath to Debian's /usr/bin/chromium.
echo "browser-env.sh: installing $dir/node_modules"
(cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
echo "$want" >"$stamp"
