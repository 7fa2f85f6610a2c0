#!/usr/bin/env bash
# Start moto_server (SQS-compatible) on 127.0.0.1:${MOTO_PORT:-5000}, unless something
# already answers there. Idempotent; pid + log in /tmp/rr-services/.
set -euo pipefail
source "$(dirname "$0")/../env.sh"
PORT="${MOTO_PORT:-5000}"
DIR=/tmp/rr-services
mkdir -p "$DIR"
# one start at a time (parallel test workers may both find the port closed); the
# broker itself must not inherit the lock (9>&-)
exec 9>"$DIR/moto-$PORT.lock"
flock 9
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
if answers; then echo "moto: 127.0.0.1:$PORT already answers"; exit 0; fi
need_python
nohup "$PY" -m moto.server -H 127.0.0.1 -p "$PORT" >"$DIR/moto-$PORT.log" 2>&1 9>&- &
echo $! >"$DIR/moto-$PORT.pid"
for _ in $(seq 1 200); do
  if answers; then echo "moto: started on 127.0.0.1:$PORT (pid $(cat "$DIR/moto-$PORT.pid"))"; exit 0; fi
  sleep 0.1
done
echo "moto: did not start, see $DIR/moto-$PORT.log" >&2
exit 1
