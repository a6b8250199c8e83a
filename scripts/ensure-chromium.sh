#!/usr/bin/env bash
# The dashboard's browser test drives Debian's chromium (playwright-core with
# executablePath). Installs it when it is missing and this shell may (root and
# apt-get); otherwise says how, and the test names what is missing.
set -u
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "ensure-chromium: installing chromium (Debian package) for the dashboard test"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q chromium >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; }
fi
[ -x "$CHROMIUM" ] || echo "ensure-chromium: $CHROMIUM is missing; install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH" >&2
exit 0
