#!/usr/bin/env bash
# Stops the brokers that scripts/services/*.sh started (scripts/test.sh starts them and
# leaves them running, so that the next test run starts at once):
#   bash scripts/services/stop.sh          Tansu, moto, Temporal, beanstalkd, memcached and
#                                          NATS (the ones nothing else uses)
#   bash scripts/services/stop.sh --all    also RabbitMQ and Redis
# Only a process whose pid file those scripts wrote, and which is still the program they
# started, is signalled: a broker that was already running (a system service, another
# user's) is left alone. Ports come from the same variables (TANSU_PORT, MOTO_PORT, ...).
set -euo pipefail
DIR=/tmp/rr-services

case "${1:-}" in
  "") all=0 ;;
  --all) all=1 ;;
  -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "stop.sh: unknown argument '$1' (expected --all or nothing)" >&2; exit 2 ;;
esac

# stop_one <name> <port> <word its command line contains>
stop_one() {
  local name="$1" port="$2" word="$3" pidfile="$DIR/$1-$2.pid" pid
  if [ ! -f "$pidfile" ]; then echo "$name: not started by these scripts on :$port"; return 0; fi
  pid="$(cat "$pidfile")"
  if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$word"; then
    echo "$name: pid $pid is gone (stale $pidfile removed)"; rm -f "$pidfile"; return 0
  fi
  kill -TERM "$pid"
  for _ in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$pidfile"; echo "$name: stopped (pid $pid, 127.0.0.1:$port)"; return 0
    fi
    sleep 0.1
  done
  echo "$name: pid $pid ignored SIGTERM for 10 s, sending SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

stop_one tansu "${TANSU_PORT:-9092}" tansu
stop_one moto "${MOTO_PORT:-5000}" moto.server
stop_one temporal "${TEMPORAL_PORT:-7233}" temporal
stop_one beanstalkd "${BEANSTALK_PORT:-11300}" beanstalkd
first="${MEMCACHED_PORT:-11211}"
stop_one memcached "$first" memcached
stop_one memcached "$((first + 1))" memcached
for port in "${NATS_PORT:-4222}" 14222; do stop_one nats "$port" nats-server; done
if [ "$all" = 1 ]; then
  stop_one redis "${REDIS_PORT:-6379}" redis-server
  stop_one rabbitmq "${RABBITMQ_PORT:-5672}" rabbit
fi
