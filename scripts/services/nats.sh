#!/usr/bin/env bash
# Make sure a NATS server with JetStream answers on 127.0.0.1:${NATS_PORT:-4222}: a
# pre-started one is used as it is; otherwise nats-server (Debian package nats-server) is
# started with JetStream and max_payload 8 MiB, so 1 MiB jobs fit (the server default is
# 1 MiB for the whole message). Idempotent; log and store in /tmp/rr-services/.
set -euo pipefail
source "$(dirname "$0")/../env.sh"
PORT="${NATS_PORT:-4222}"
DIR=/tmp/rr-services
mkdir -p "$DIR"
exec 9>"$DIR/nats-$PORT.lock"
flock 9
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
if answers; then echo "nats: 127.0.0.1:$PORT already answers"; exit 0; fi
apt_need nats-server nats-server
cat > "$DIR/nats-$PORT.conf" <<CONF
host: 127.0.0.1
port: $PORT
max_payload: 8MB
jetstream { store_dir: "$DIR/nats-$PORT" }
CONF
nohup nats-server -c "$DIR/nats-$PORT.conf" -l "$DIR/nats-$PORT.log" \
  -P "$DIR/nats-$PORT.pid" >/dev/null 2>&1 9>&- &
for _ in $(seq 1 100); do
  if answers; then echo "nats: started on 127.0.0.1:$PORT"; exit 0; fi
  sleep 0.1
done
echo "nats: did not start, see $DIR/nats-$PORT.log" >&2
exit 1
