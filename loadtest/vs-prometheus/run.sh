#!/usr/bin/env bash
# Sluice through two sidecars vs Prometheus alone on the same data.
# Needs Debian's prometheus package and `cargo build --release`. Everything on 127.0.0.1,
# stopped on exit. Usage: loadtest/vs-prometheus/run.sh [series] [hours]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin="$here/../../target/release/sluice"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
python3 "$here/gen.py" "${1:-2000}" "${2:-6}"
for d in complete a b; do promtool tsdb create-blocks-from openmetrics data.om "tsdb-$d" >/dev/null; done
port=(19190 19191 19192)
i=0
for d in complete a b; do
  ext=""; [ "$d" != complete ] && ext="  external_labels: {replica: $d}"
  printf 'global:\n  scrape_interval: 1h\n%s\n' "$ext" > "$d.yml"
  prometheus --config.file="$d.yml" --storage.tsdb.path="tsdb-$d" --storage.tsdb.retention.time=100y \
    --web.listen-address="127.0.0.1:${port[$i]}" --log.level=warn >"prom-$d.log" 2>&1 & pids+=($!)
  i=$((i+1))
done
sleep 5
"$bin" sidecar --prometheus.url=http://127.0.0.1:19191 --grpc-address=127.0.0.1:19291 --http-address=127.0.0.1:19391 --log.level=warn & pids+=($!)
"$bin" sidecar --prometheus.url=http://127.0.0.1:19192 --grpc-address=127.0.0.1:19292 --http-address=127.0.0.1:19392 --log.level=warn & pids+=($!)
sleep 3
"$bin" query --http-address=127.0.0.1:19490 --grpc-address=127.0.0.1:19491 --query.replica-label=replica \
  --endpoint=127.0.0.1:19291 --endpoint=127.0.0.1:19292 --log.level=warn & pids+=($!)
sleep 8
echo "| query | prometheus (complete, alone): median (min-max) of 11 | sluice query (2 sidecars, dedup): median (min-max) of 11 | speed ratio (prometheus median / sluice median) | same answer |"
echo "|---|---|---|---|---|"
timeout 600 python3 "$here/bench.py"
