#!/usr/bin/env bash
# Starts every broker the tests talk to (each script is idempotent).
set -euo pipefail
here="$(dirname "$0")"
bash "$here/redis.sh"
bash "$here/nats.sh"
bash "$here/beanstalkd.sh"
bash "$here/memcached.sh"
bash "$here/rabbitmq.sh"
bash "$here/tansu.sh"
bash "$here/moto.sh"
bash "$here/temporal.sh"
