#!/usr/bin/env bash
# The one command that runs every test on a fresh machine: installs what is missing,
# starts the brokers (RabbitMQ, Redis, Tansu for Kafka, moto for SQS), then pytest,
# ruff and mypy, all in the checkout's .venv. Extra arguments go to pytest.
# The brokers keep running afterwards; scripts/services/stop.sh stops Tansu and moto.
set -euo pipefail
source "$(dirname "$0")/env.sh"
bash "$RR_ROOT/scripts/setup.sh"
cd "$RR_ROOT"
export RR_PYTHON="$PY"
bash scripts/services/all.sh
status=0
if [ "$#" -eq 0 ]; then
  # the whole suite: in RR_TEST_WORKERS processes (pytest-xdist), a test file per worker
  # at a time, so a file's module fixtures (servers) stay in one process; 1 = serial
  workers="${RR_TEST_WORKERS:-2}"
  parallel=()
  [ "$workers" -gt 1 ] && parallel=(-n "$workers" --dist loadfile)
  "$PY" -m pytest -q -p no:cacheprovider "${parallel[@]}" || status=$?
else
  # a selection runs as given (add -n 2 to spread it; -s output needs a single process)
  "$PY" -m pytest -q -p no:cacheprovider "$@" || status=$?
fi
if [ "$#" -eq 0 ]; then
  "$PY" -m ruff check rr drivers tests bench || status=1
  "$PY" -m mypy rr drivers || status=1
fi
exit "$status"
