#!/usr/bin/env bash
# Installs everything rr and its tests need on a fresh Debian 12 machine. Idempotent.
#   apt: php-cli (workers), chromium (the dashboard's browser tests; Playwright drives this
#   system build, so no browser download is needed); pip: rr itself with the test extras
#   (moto, the Tansu broker, playwright, ...)
# Set RR_SETUP_BENCH=1 to also install what the benchmarks use (php-fpm, nginx, wrk).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v php >/dev/null || need_apt+=(php-cli)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
if [ "${RR_SETUP_BENCH:-0}" = 1 ]; then
  command -v php-fpm8.2 >/dev/null || need_apt+=(php-fpm)
  command -v nginx >/dev/null || need_apt+=(nginx)
  command -v wrk >/dev/null || need_apt+=(wrk)
fi
if [ "${#need_apt[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 \
  | grep -v -e 'Running pip as the' -e 'dependency conflicts' -e 'requires botocore' \
            -e 'is ignored: it is neither' || true
