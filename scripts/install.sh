#!/usr/bin/env bash
# Installs the dependencies exactly as package-lock.json pins them.
# `npm ci` is the right tool, but npm 11 writes lock files without the other
# platforms' optional packages (@swc/core-*, msgpackr-extract-*) and then its
# own `npm ci` refuses them as "Missing: ... from lock file" (npm/cli #4828 and
# kin). When that happens, `npm install` installs from the same lock file
# without changing it.
set -uo pipefail
cd "$(dirname "$0")/.."
if npm ci --no-audit --no-fund; then exit 0; fi
echo "install: npm ci refused the lock file (npm's platform-optional bug); installing from it with npm install"
npm install --no-audit --no-fund
