#!/usr/bin/env bash
# Idempotent: make sure the services the integration tests use answer on loopback, starting
# each one that is down. RabbitMQ and PostgreSQL are the machine's own; Redis (rate-limit
# counters) is Debian's redis-server, installed when missing; the S3 server is moto's standalone
# server (no MinIO server can be installed here), started from .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

S3_PORT=${IMAGESTUDIO_TEST_S3_PORT:-9310}
mkdir -p .imagestudio

port_open() { (echo > "/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1; }

wait_port() {  # name port seconds
  for _ in $(seq 1 $(( $3 * 2 ))); do port_open "$2" && return 0; sleep 0.5; done
  echo "$1 did not come up on 127.0.0.1:$2" >&2; return 1
}

if ! port_open 5672; then
  echo "starting RabbitMQ"
  rabbitmq-server -detached
  wait_port RabbitMQ 5672 60
fi
if ! port_open 5432; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  wait_port PostgreSQL 5432 60
fi
if ! port_open 6379; then
  if ! command -v redis-server >/dev/null; then
    echo "installing Debian's redis-server package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends redis-server >/dev/null
  fi
  if ! port_open 6379; then  # the package may have started it already
    echo "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --logfile "$PWD/.imagestudio/redis.log"
    wait_port Redis 6379 30
  fi
fi
if ! port_open "$S3_PORT"; then
  echo "starting moto S3 server on 127.0.0.1:$S3_PORT"
  nohup .venv/bin/moto_server -H 127.0.0.1 -p "$S3_PORT" > .imagestudio/moto.log 2>&1 &
  echo $! > .imagestudio/moto.pid
  wait_port "moto S3" "$S3_PORT" 30
fi
echo "services up: RabbitMQ 5672, PostgreSQL 5432, Redis 6379, S3 $S3_PORT"
