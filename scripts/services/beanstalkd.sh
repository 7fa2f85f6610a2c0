#!/usr/bin/env bash
# Start beanstalkd on 127.0.0.1:${BEANSTALK_PORT:-11300} (in memory, no binlog) unless
# something already answers there. -z 2097152: jobs up to 2 MiB, so 1 MiB payloads (plus
# the JSON envelope) fit; the default is 64 KiB. Idempotent; log in /tmp/rr-services/.
set -euo pipefail
source "$(dirname "$0")/../env.sh"
PORT="${BEANSTALK_PORT:-11300}"
DIR=/tmp/rr-services
mkdir -p "$DIR"
exec 9>"$DIR/beanstalkd-$PORT.lock"
flock 9
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
if answers; then echo "beanstalkd: 127.0.0.1:$PORT already answers"; exit 0; fi
apt_need beanstalkd beanstalkd
if answers; then echo "beanstalkd: 127.0.0.1:$PORT answers (the Debian service)"; exit 0; fi
nohup beanstalkd -l 127.0.0.1 -p "$PORT" -z 2097152 >"$DIR/beanstalkd-$PORT.log" 2>&1 9>&- &
echo $! > "$DIR/beanstalkd-$PORT.pid"
for _ in $(seq 1 100); do
  if answers; then echo "beanstalkd: started on 127.0.0.1:$PORT"; exit 0; fi
  sleep 0.1
done
echo "beanstalkd: did not start, see $DIR/beanstalkd-$PORT.log" >&2
exit 1
