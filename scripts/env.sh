# Sourced by the other scripts: where the checkout is and which Python runs rr.
# Everything runs in the checkout's own virtual environment, .venv/ (made by setup.sh),
# never in the system interpreter. RR_PYTHON overrides it (the tests pass their own
# interpreter, so that a test run and the services it starts use one environment).
RR_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RR_VENV="$RR_ROOT/.venv"
PY="${RR_PYTHON:-$RR_VENV/bin/python}"

# need_python: stop with a clear message when the environment is missing.
need_python() {
  if [ ! -x "$PY" ]; then
    echo "$(basename "$0"): $PY not found: run 'bash scripts/setup.sh' first" >&2
    exit 1
  fi
}

# apt_need <command> <package>: install a Debian package when its command is missing
# (as root; otherwise stop with the command to run).
apt_need() {
  command -v "$1" >/dev/null && return 0
  local me; me="$(basename "$0" .sh)"
  if [ "$(id -u)" != 0 ]; then
    echo "$me: $1 is not installed; run as root, or: sudo apt-get install $2" >&2; exit 1
  fi
  echo "$me: apt-get install $2"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$2" >/dev/null; } \
    || { echo "$me: apt-get install $2 failed" >&2; exit 1; }
}
