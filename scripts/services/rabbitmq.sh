#!/usr/bin/env bash
# Start RabbitMQ on 127.0.0.1:${RABBITMQ_PORT:-5672} (guest/guest), unless something already
# answers there. Idempotent; pid + log in /tmp/rr-services/. Needs the Debian package
# rabbitmq-server (no delayed-message plugin is required: rr delays with TTL + DLX).
set -euo pipefail
source "$(dirname "$0")/../env.sh"
PORT="${RABBITMQ_PORT:-5672}"
DIR=/tmp/rr-services
mkdir -p "$DIR"
# one start at a time (parallel test workers may both find the port closed); the
# broker itself must not inherit the lock (9>&-)
exec 9>"$DIR/rabbitmq-$PORT.lock"
flock 9
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
if answers; then echo "rabbitmq: 127.0.0.1:$PORT already answers"; exit 0; fi
apt_need rabbitmq-server rabbitmq-server
# the Debian package starts its own service where systemd runs
if answers; then echo "rabbitmq: 127.0.0.1:$PORT answers (the Debian service)"; exit 0; fi
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$PORT"
nohup rabbitmq-server >"$DIR/rabbitmq-$PORT.log" 2>&1 9>&- &
echo $! >"$DIR/rabbitmq-$PORT.pid"
for _ in $(seq 1 600); do
  if answers; then
    # the port opens a moment before the broker accepts logins; wait for the app itself
    rabbitmqctl await_startup >/dev/null 2>&1 || true
    echo "rabbitmq: started on 127.0.0.1:$PORT (pid $(cat "$DIR/rabbitmq-$PORT.pid"))"; exit 0
  fi
  sleep 0.1
done
echo "rabbitmq: did not start, see $DIR/rabbitmq-$PORT.log" >&2
exit 1
