#!/usr/bin/env bash
# Installs everything rr and its tests need on a Debian 12 machine. Idempotent.
#   apt:    php-cli (workers); chromium and fonts-liberation (the dashboard's browser
#           tests: Playwright drives this system build, no browser is downloaded);
#           python3-venv when `python3 -m venv` cannot make a venv; nodejs + npm (the
#           centrifuge tests run the official JS client: `npm ci` in tests/centrifuge/js)
#   .venv/: a virtual environment in the checkout with rr (editable) and the test
#           extras (pytest, moto, the Tansu broker, ...). Nothing goes into the system
#           Python (Debian's is "externally managed", PEP 668).
# A re-run skips the pip step while pyproject.toml is unchanged (a stamp in .venv/).
# RR_SETUP_BENCH=1 also installs what the benchmarks use (php-fpm, nginx, wrk,
# h2load from nghttp2-client).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$RR_ROOT"

die() { echo "setup: $*" >&2; exit 1; }

BASE_PYTHON="${RR_BASE_PYTHON:-python3}"
STAMP="$RR_VENV/.rr-setup-stamp"

apt_install() {
  [ "$#" -gt 0 ] || return 0
  if [ "$(id -u)" != 0 ]; then
    die "missing Debian packages: $*; run as root, or: sudo apt-get install $*"
  fi
  echo "setup: apt-get install $*"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || die "apt-get install $* failed"
}

need_apt=()
command -v php >/dev/null || need_apt+=(php-cli)
command -v curl >/dev/null || need_apt+=(curl)  # the HTTP/2 tests drive curl --http2
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -d /usr/share/fonts/truetype/liberation ] || need_apt+=(fonts-liberation)
# brokers the driver tests start themselves (scripts/services/*.sh)
command -v beanstalkd >/dev/null || need_apt+=(beanstalkd)
command -v memcached >/dev/null || need_apt+=(memcached)
command -v nats-server >/dev/null || need_apt+=(nats-server)
command -v node >/dev/null || need_apt+=(nodejs npm)
if [ "${RR_SETUP_BENCH:-0}" = 1 ]; then
  command -v php-fpm8.2 >/dev/null || need_apt+=(php-fpm)
  command -v nginx >/dev/null || need_apt+=(nginx)
  command -v wrk >/dev/null || need_apt+=(wrk)
  command -v h2load >/dev/null || need_apt+=(nghttp2-client)
fi
if [ ! -x "$RR_VENV/bin/python" ]; then
  command -v "$BASE_PYTHON" >/dev/null || need_apt+=(python3)
  # Debian ships venv's ensurepip (and the pip wheel it installs) in python3-venv
  "$BASE_PYTHON" -c 'import ensurepip' 2>/dev/null || need_apt+=(python3-venv)
fi
apt_install "${need_apt[@]}"

if [ ! -x "$RR_VENV/bin/python" ]; then
  "$BASE_PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "rr needs Python >= 3.11; $BASE_PYTHON is $("$BASE_PYTHON" -V 2>&1)"
  rm -rf "$RR_VENV"   # a half-made one from an interrupted run
  echo "setup: creating $RR_VENV"
  "$BASE_PYTHON" -m venv "$RR_VENV" || { rm -rf "$RR_VENV"; die "python3 -m venv failed"; }
fi

# the official Centrifugo JS client for the centrifuge tests, exactly as locked; never
# installed at test time
js="$RR_ROOT/tests/centrifuge/js"
if [ -f "$js/package-lock.json" ] && [ ! -d "$js/node_modules/centrifuge" ]; then
  echo "setup: npm ci in tests/centrifuge/js"
  (cd "$js" && npm ci --no-audit --no-fund --ignore-scripts >/dev/null) \
    || die "npm ci in $js failed"
fi

# what the installed environment was made from: the dependencies and where the checkout is
want="$(sha256sum pyproject.toml | cut -d' ' -f1) $RR_ROOT"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi
rm -f "$STAMP"
echo "setup: installing rr and its test dependencies into $RR_VENV (pip, about a minute)"
log="$RR_VENV/pip-install.log"
if ! "$RR_VENV/bin/python" -m pip install --disable-pip-version-check -e '.[test]' \
    >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  die "pip install into $RR_VENV failed; the whole output is in $log"
fi
"$RR_VENV/bin/python" -c 'import rr.cli, rr.drivers' \
  || die "rr does not import from $RR_VENV after the install"
echo "$want" >"$STAMP"
echo "setup: done ($("$RR_VENV/bin/python" -V), rr from $RR_ROOT)"
