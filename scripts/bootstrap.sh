#!/usr/bin/env bash
# Prepare this machine for `make demo` and `make test` (also called by .ci/run):
#   1. make sure `uv` exists (scripts/ensure-uv.sh) and sync the workspace from uv.lock;
#   2. start PostgreSQL, RabbitMQ and Redis when they are installed but not running,
#      and wait until they answer; enable the RabbitMQ plugins Lectern uses
#      (rabbitmq_consistent_hash_exchange, plus LECTERN_RABBITMQ_PLUGINS).
# A service that is not installed is reported, not fatal: the tests that need it fail
# with a clear connection error instead. Idempotent: running it twice changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

UV="$(scripts/ensure-uv.sh)"
"$UV" --version
"$UV" sync --frozen --all-packages

wait_for() {  # wait_for NAME SECONDS CMD...
  local name=$1 seconds=$2; shift 2
  for _ in $(seq "$seconds"); do
    if "$@" >/dev/null 2>&1; then echo "$name is up"; return 0; fi
    sleep 1
  done
  echo "$name did not come up in ${seconds}s" >&2
  return 1
}

if command -v pg_isready >/dev/null 2>&1; then
  if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  wait_for PostgreSQL 60 pg_isready -h 127.0.0.1 -p 5432 -q
else
  echo "PostgreSQL client tools not found: start PostgreSQL on 127.0.0.1:5432 yourself" >&2
fi

if command -v rabbitmqctl >/dev/null 2>&1; then
  if ! rabbitmqctl -q status >/dev/null 2>&1 && command -v rabbitmq-server >/dev/null 2>&1; then
    rabbitmq-server -detached || true
  fi
  wait_for RabbitMQ 120 rabbitmqctl -q await_startup
  # The indexer's shard queues sit behind a consistent-hash exchange (shipped with
  # RabbitMQ, off by default).
  for plugin in rabbitmq_consistent_hash_exchange ${LECTERN_RABBITMQ_PLUGINS:-}; do
    rabbitmq-plugins enable --quiet "$plugin" >/dev/null
  done
else
  echo "RabbitMQ tools not found: start RabbitMQ on 127.0.0.1:5672 yourself" >&2
fi

# Redis: the gateway's shared rate-limit counters (tests use their own key prefixes).
if ! command -v redis-server >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
    && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && apt-get install -y -qq redis-server >/dev/null) || true
fi
if command -v redis-server >/dev/null 2>&1; then
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
  fi
  wait_for Redis 30 redis-cli -h 127.0.0.1 -p 6379 ping
fi
