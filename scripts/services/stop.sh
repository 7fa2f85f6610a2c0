#!/usr/bin/env bash
# Stops the brokers that scripts/services/*.sh started (scripts/test.sh starts them and
# leaves them running, so that the next test run starts at once):
#   bash scripts/services/stop.sh          Tansu, moto, Temporal, beanstalkd, memcached and
#                                          NATS (the ones nothing else uses)
#   bash scripts/services/stop.sh --all    also RabbitMQ and Redis
#   bash scripts/services/stop.sh moto ... only the named ones (tansu moto temporal
#                                          beanstalkd memcached nats redis rabbitmq)
# Only a process whose pid file those scripts wrote, and which is still the program they
# started, is signalled: a broker that was already running (a system service, another
# user's) is left alone. Ports come from the same variables (TANSU_PORT, MOTO_PORT, ...).
set -euo pipefail
DIR=/tmp/rr-services

KNOWN="tansu moto temporal beanstalkd memcached nats redis rabbitmq"
wanted="tansu moto temporal beanstalkd memcached nats"
case "${1:-}" in
  "") ;;
  --all) wanted="$KNOWN" ;;
  -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *)
    wanted=""
    for name in "$@"; do
      case " $KNOWN " in
        *" $name "*) wanted="$wanted $name" ;;
        *) echo "stop.sh: unknown argument '$name' (expected --all, nothing, or names from: $KNOWN)" >&2; exit 2 ;;
      esac
    done ;;
esac
want() { case " $wanted " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

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

want tansu && stop_one tansu "${TANSU_PORT:-9092}" tansu
want moto && stop_one moto "${MOTO_PORT:-5000}" moto.server
want temporal && stop_one temporal "${TEMPORAL_PORT:-7233}" temporal
want beanstalkd && stop_one beanstalkd "${BEANSTALK_PORT:-11300}" beanstalkd
if want memcached; then
  first="${MEMCACHED_PORT:-11211}"
  stop_one memcached "$first" memcached
  stop_one memcached "$((first + 1))" memcached
fi
if want nats; then
  for port in "${NATS_PORT:-4222}" 14222; do stop_one nats "$port" nats-server; done
fi
want redis && stop_one redis "${REDIS_PORT:-6379}" redis-server
want rabbitmq && stop_one rabbitmq "${RABBITMQ_PORT:-5672}" rabbit
exit 0
