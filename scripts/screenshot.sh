#!/usr/bin/env bash
# Render generated HTML pages in real headless chromium and save PNG screenshots.
#
#   scripts/screenshot.sh [PAGE.html ...]     default: the golden disclosures and notices
#
# Needs Debian's chromium (and CJK fonts for the Chinese pages):
#   apt-get update && apt-get install -y chromium fonts-noto-cjk
# Screenshots go to out/screenshots/. `make test` does not depend on this script.
set -euo pipefail
cd "$(dirname "$0")/.."
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "screenshot.sh: chromium not found; apt-get install -y chromium fonts-noto-cjk" >&2
  exit 1
fi
pages=("$@")
if [ ${#pages[@]} -eq 0 ]; then
  pages=(tests/golden/*.html)
fi
mkdir -p out/screenshots
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
for page in "${pages[@]}"; do
  name=$(basename "$page" .html)
  png="out/screenshots/$name.png"
  "$browser" --headless --no-sandbox --disable-gpu --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --hide-scrollbars --window-size=900,2400 \
    --screenshot="$PWD/$png" "file://$PWD/$page" >/dev/null 2>&1
  test -s "$png"
  echo "$png"
done
