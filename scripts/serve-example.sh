#!/usr/bin/env bash
# Installs what is missing, then runs `rr serve` on .rr.yaml.example: a PHP worker
# answering HTTP on 127.0.0.1:8080 and a memory jobs pipeline (no broker needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec python3 -m rr serve -c .rr.yaml.example "$@"
