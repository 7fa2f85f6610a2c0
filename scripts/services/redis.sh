#!/usr/bin/env bash
# Start Redis on 127.0.0.1:${REDIS_PORT:-6379} (no persistence), unless something already
# answers there. Idempotent; log in /tmp/rr-services/.
set -euo pipefail
source "$(dirname "$0")/../env.sh"
PORT="${REDIS_PORT:-6379}"
DIR=/tmp/rr-services
mkdir -p "$DIR"
# one start at a time (parallel test workers may both find the port closed); the
# broker itself must not inherit the lock (9>&-)
exec 9>"$DIR/redis-$PORT.lock"
flock 9
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
if answers; then echo "redis: 127.0.0.1:$PORT already answers"; exit 0; fi
apt_need redis-server redis-server
if answers; then echo "redis: 127.0.0.1:$PORT answers (the Debian service)"; exit 0; fi
redis-server --daemonize yes --pidfile "$DIR/redis-$PORT.pid" --bind 127.0.0.1 --port "$PORT" --save "" --appendonly no \
  --dir "$DIR" --logfile "$DIR/redis-$PORT.log" 9>&-
for _ in $(seq 1 100); do
  if answers; then echo "redis: started on 127.0.0.1:$PORT"; exit 0; fi
  sleep 0.1
done
echo "redis: did not start, see $DIR/redis-$PORT.log" >&2
exit 1
