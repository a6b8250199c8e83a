#!/usr/bin/env bash
# Quick start: sets everything up on this machine, runs the API and a worker,
# then runs a demo std_calibration run and shows it progressing to the end.
# Embedded defaults: local archive and mail under ./var, local executor, the
# bundled tool simulators. Stop the service with: bash scripts/quickstart.sh stop
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var/log
export WFS_API_TOKENS="${WFS_API_TOKENS:-admin:dev-admin-token,da:dev-da-token,viewer:dev-viewer-token}"
export PORT="${PORT:-3000}"

stop() {
  for role in api worker; do
    if [ -f "var/$role.pid" ]; then kill "$(cat "var/$role.pid")" 2>/dev/null || true; rm -f "var/$role.pid"; fi
  done
}
if [ "${1:-}" = "stop" ]; then stop; echo "stopped"; exit 0; fi

echo "== services (PostgreSQL, Redis, RabbitMQ)"
bash scripts/ensure-services.sh
echo "== install and build"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then bash scripts/install.sh; fi
npm run build
echo "== database"
npm run db:migrate
echo "== start API (:$PORT) and one worker (logs in var/log/)"
stop
nohup node dist/apps/api/src/main.js >var/log/api.log 2>&1 &
echo $! >var/api.pid
nohup node dist/apps/worker/src/main.js >var/log/worker.log 2>&1 &
echo $! >var/worker.pid
for _ in $(seq 1 60); do
  curl -fs "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
  sleep 1
done
curl -fs "http://127.0.0.1:$PORT/health" >/dev/null || { echo "the API did not become healthy; see var/log/api.log"; tail -20 var/log/api.log; exit 1; }
echo "== demo"
WFS_URL="http://127.0.0.1:$PORT" WFS_TOKEN=dev-da-token node scripts/demo.mjs
cat <<TXT

wfs is running:  API http://127.0.0.1:$PORT  (dashboard: /, OpenAPI: /api/docs, health: /health)
tokens:          admin=dev-admin-token  da=dev-da-token  viewer=dev-viewer-token
logs:            var/log/api.log var/log/worker.log
stop it with:    bash scripts/quickstart.sh stop
TXT
