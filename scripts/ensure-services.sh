#!/usr/bin/env bash
# Makes sure PostgreSQL, Redis and RabbitMQ answer on this machine, starting
# any that does not (the commands of the node-svc machine). Idempotent.
set -uo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && exec 3>&- 3<&-; }

wait_port() { # name port seconds
  for _ in $(seq 1 "$3"); do port_open "$2" && return 0; sleep 1; done
  echo "ensure-services: $1 did not come up on port $2" >&2; return 1
}

if ! port_open 5432; then
  echo "ensure-services: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  wait_port PostgreSQL 5432 60 || exit 1
fi
if ! port_open 6379; then
  echo "ensure-services: starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  wait_port Redis 6379 30 || exit 1
fi
if ! port_open 5672; then
  echo "ensure-services: starting RabbitMQ"
  rabbitmq-server -detached || true
  wait_port RabbitMQ 5672 120 || exit 1
fi
# A port that answers is not yet a server that serves: wait for real replies.
for _ in $(seq 1 60); do
  psql -h 127.0.0.1 -U postgres -Atc 'select 1' >/dev/null 2>&1 && break; sleep 1
done
for _ in $(seq 1 60); do
  [ "$(redis-cli -h 127.0.0.1 ping 2>/dev/null)" = "PONG" ] && break; sleep 1
done
exit 0
