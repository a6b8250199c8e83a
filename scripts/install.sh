#!/usr/bin/env bash
# Installs the dependencies exactly as package-lock.json pins them (CONTRACT 5.1:
# `npm ci`, no fallback). The lock file is resolved afresh with every platform's
# optional packages (@swc/core-*, msgpackr-extract-*), so `npm ci` accepts it.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund --loglevel=error
