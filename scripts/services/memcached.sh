#!/usr/bin/env bash
# Start two memcached instances on 127.0.0.1:${MEMCACHED_PORT:-11211} and the port after
# it (the kv tests check the crc32 % n key distribution across servers), each unless
# something already answers there. Idempotent; logs in /tmp/rr-services/.
set -euo pipefail
source "$(dirname "$0")/../env.sh"
FIRST="${MEMCACHED_PORT:-11211}"
DIR=/tmp/rr-services
mkdir -p "$DIR"
exec 9>"$DIR/memcached-$FIRST.lock"
flock 9
apt_need memcached memcached
for PORT in "$FIRST" "$((FIRST + 1))"; do
  answers() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
  if answers; then echo "memcached: 127.0.0.1:$PORT already answers"; continue; fi
  as_root=(); [ "$(id -u)" = 0 ] && as_root=(-u nobody)
  memcached -d "${as_root[@]}" -l 127.0.0.1 -p "$PORT" -U 0 -m 64 -P "$DIR/memcached-$PORT.pid" \
    >"$DIR/memcached-$PORT.log" 2>&1 9>&-
  for _ in $(seq 1 100); do answers && break; sleep 0.1; done
  if ! answers; then echo "memcached: did not start on $PORT" >&2; exit 1; fi
  echo "memcached: started on 127.0.0.1:$PORT"
done
