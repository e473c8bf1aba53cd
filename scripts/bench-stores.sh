#!/usr/bin/env bash
# bench-stores: one replica embedded, one replica over PostgreSQL (2 shards), two
# replicas over the same 2 shards; same load each (unique HMAC-signed records,
# fsync on). Prints requests/s, p50/p99 and the ratio to the embedded figure of
# this same run. Needs `make services` (build/services.env).
# Usage: bench-stores.sh FRACTAL FRACTAL_LOAD REQUESTS [CONNECTIONS]
set -euo pipefail
FRACTAL=$1 LOAD=$2 N=${3:-20000} CONNS=${4:-64}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
set -a; . "$ROOT/build/services.env"; set +a
RUN=$(date +%s)
TMP=$(mktemp -d); trap 'for p in $(cat "$TMP"/*.pid 2>/dev/null); do kill -TERM "$p" 2>/dev/null || true; done; sleep 1; rm -rf "$TMP"' EXIT
KEY=bench-secret
SHARDS="[store]
backend = \"postgres\"
pool_size = 8
[[store.shards]]
name = \"a\"
url = \"$FRACTAL_TEST_PG_A\"
[[store.shards]]
name = \"b\"
url = \"$FRACTAL_TEST_PG_B\""

# start NAME TENANT: a replica over the shards, prints its address.
start() {
  local d=$TMP/$1
  mkdir -p "$d"
  cat >"$d/config.toml" <<EOT
listen = "127.0.0.1:0"
data_dir = "$d/data"
signature_policy = "hmac"
$SHARDS
[[tenants]]
id = "$2"
keys = ["$KEY"]
EOT
  FRACTAL_LOG=warn "$FRACTAL" serve --config "$d/config.toml" >"$d/out" 2>"$d/err" & echo $! >"$TMP/$1.pid"
  for _ in $(seq 100); do grep -q listening "$d/out" 2>/dev/null && break; sleep 0.1; done
  sed -n 's#.*http://##p' "$d/out" | head -n1
}

summary() { # label file -> "rps p50 p99"
  local rps p50 p99
  rps=$(sed -n 's/.*: \([0-9]*\) requests\/s.*/\1/p' "$2")
  p50=$(sed -n 's/.*p50 \([0-9.]*\) ms.*/\1/p' "$2")
  p99=$(sed -n 's/.*p99 \([0-9.]*\) ms  p99.9.*/\1/p' "$2")
  echo "$rps $p50 $p99"
}

echo "bench-stores: $N unique signed records, $CONNS connections, fsync on; run $RUN"
"$LOAD" --spawn "$FRACTAL" --tenant "emb-$RUN" --key "$KEY" --connections "$CONNS" --requests "$N" --label embedded | tee "$TMP/embedded.txt"
A=$(start pg1 "pg1-$RUN")
"$LOAD" --url "$A" --tenant "pg1-$RUN" --key "$KEY" --connections "$CONNS" --requests "$N" --label "1 replica, postgres x2" | tee "$TMP/pg1.txt"
kill -TERM "$(cat "$TMP/pg1.pid")"
B1=$(start pg2a "pg2-$RUN"); B2=$(start pg2b "pg2-$RUN")
"$LOAD" --url "$B1" --url "$B2" --tenant "pg2-$RUN" --key "$KEY" --connections "$CONNS" --requests "$N" --label "2 replicas, postgres x2" | tee "$TMP/pg2.txt"

read -r er e50 e99 <<<"$(summary e "$TMP/embedded.txt")"
echo
echo "| setup | requests/s | p50 ms | p99 ms | vs embedded |"
echo "|---|---:|---:|---:|---:|"
for f in embedded pg1 pg2; do
  read -r r p50 p99 <<<"$(summary x "$TMP/$f.txt")"
  label=$(head -n1 "$TMP/$f.txt" | cut -d: -f1)
  echo "| $label | $r | $p50 | $p99 | $(awk -v a="$r" -v b="$er" 'BEGIN{printf "%.2f×", a/b}') |"
done
