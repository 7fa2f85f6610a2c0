#!/usr/bin/env bash
# The one command that runs every test on a fresh machine: installs what is missing,
# starts the brokers (RabbitMQ, Redis, Tansu for Kafka, moto for SQS), then pytest,
# ruff and mypy. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/services/all.sh
status=0
python3 -m pytest -q -p no:cacheprovider "$@" || status=$?
if [ "$#" -eq 0 ]; then
  python3 -m ruff check rr drivers tests bench || status=1
  python3 -m mypy rr drivers || status=1
fi
exit "$status"
