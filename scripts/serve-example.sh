#!/usr/bin/env bash
# Installs what is missing, then runs `rr serve` on .rr.yaml.example in the foreground
# (Ctrl-C stops it): a PHP worker answering HTTP on 127.0.0.1:8080 and a memory jobs
# pipeline (no broker needed).
set -euo pipefail
source "$(dirname "$0")/env.sh"
bash "$RR_ROOT/scripts/setup.sh"
cd "$RR_ROOT"
exec "$PY" -m rr serve -c .rr.yaml.example "$@"
