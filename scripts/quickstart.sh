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
# The bundled simulators stand in for CASA and use next to nothing, but the
# definitions ask for CASA's real sizes (std_calibration: 4 cpus, 16G): the
# demo worker offers that much whatever this host has. A real CASA host says
# what it has (docs/operations.md).
export WFS_WORKER_CPUS="${WFS_WORKER_CPUS:-16}"
export WFS_WORKER_MEMORY="${WFS_WORKER_MEMORY:-64G}"

# Stops the API and the worker and waits until both processes have ended (a
# worker drains its jobs on SIGTERM; after 30 s it is killed), so "stopped"
# means the port is free and nothing writes under var/ any more.
stop() {
  local pids=() names=()
  for role in api worker; do
    if [ -f "var/$role.pid" ]; then
      pid="$(cat "var/$role.pid")"
      if kill "$pid" 2>/dev/null; then pids+=("$pid"); names+=("$role (pid $pid)"); fi
      rm -f "var/$role.pid"
    fi
  done
  [ "${#pids[@]}" -eq 0 ] && return 1
  for _ in $(seq 1 300); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then echo "pid $pid did not stop within 30 s: killed"; kill -9 "$pid" 2>/dev/null || true; fi
  done
  echo "stopped ${names[*]}"
}
if [ "${1:-}" = "stop" ]; then stop || echo "not running (no var/api.pid or var/worker.pid)"; exit 0; fi

echo "== services (PostgreSQL, Redis, RabbitMQ)"
bash scripts/ensure-services.sh
echo "== install (npm ci, as package-lock.json pins it) and build"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then bash scripts/install.sh; fi
npm run build --silent
echo "== database"
npm run db:migrate --silent
echo "== start API (:$PORT) and one worker (logs in var/log/)"
stop >/dev/null || true
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
WFS_URL="http://127.0.0.1:$PORT" WFS_TOKEN=dev-da-token npm run demo --silent
cat <<TXT

wfs is running:  API http://127.0.0.1:$PORT  (dashboard: /, OpenAPI: /api/docs, health: /health)
tokens:          admin=dev-admin-token  da=dev-da-token  viewer=dev-viewer-token
logs:            var/log/api.log var/log/worker.log
again:           npm run demo   (WFS_URL and WFS_TOKEN as above; defaults http://127.0.0.1:3000, dev-da-token)
stop it with:    bash scripts/quickstart.sh stop
TXT
