#!/usr/bin/env bash
# Install Autobahn|Testsuite (wstest, Python 2.7) into a private cache.
#
#   ${SOCKETEER_CACHE:-$HOME/.cache/socketeer}/autobahn/
#       venv3/   Python 3 venv that only provides `virtualenv` (<20.22 still makes 2.7 venvs)
#       venv27/  Python 2.7 venv with wstest
#
# Idempotent: does nothing when venv27 already runs wstest with the pinned set.
# Env: SOCKETEER_CACHE, SOCKETEER_PY27 (default /root/.pyenv/versions/2.7.18/bin/python2.7),
#      PYTHON3 (default python3).
set -euo pipefail

ROOT="${SOCKETEER_CACHE:-$HOME/.cache/socketeer}/autobahn"
PY27="${SOCKETEER_PY27:-/root/.pyenv/versions/2.7.18/bin/python2.7}"
PY3="${PYTHON3:-python3}"
V3="$ROOT/venv3"
V27="$ROOT/venv27"
LOG="$ROOT/setup.log"

PKGS=(
  autobahntestsuite==25.10.1 "autobahn[twisted]==0.10.9" Twisted==19.10.0 txaio==2.1.0
  incremental==16.10.1 zope.interface==4.6.0 pyOpenSSL==19.1.0 cryptography==3.3.2
  service_identity==18.1.0 klein==17.10.0 Werkzeug==1.0.1 jinja2==2.11.3 markupsafe==1.1.1
  unittest2==1.1.0 six==1.16.0 wsaccel==0.6.2
)
STAMP="$V27/.socketeer-autobahn-ok"
WANT="${PKGS[*]}"

die() { echo "autobahn setup: error: $*" >&2; exit 1; }

# Already complete?
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]] \
   && "$V27/bin/python" -c 'import autobahntestsuite.wstest' >/dev/null 2>&1 \
   && "$V27/bin/wstest" --help >/dev/null 2>&1; then
  echo "autobahn: $V27/bin/wstest (already installed)"
  exit 0
fi

[[ -x "$PY27" ]] || die "Python 2.7 interpreter not found at $PY27 (wstest needs CPython 2.7; set SOCKETEER_PY27=/path/to/python2.7)"
command -v "$PY3" >/dev/null 2>&1 || die "python3 not found (set PYTHON3)"

mkdir -p "$ROOT"
: >"$LOG"
step() {  # step DESCRIPTION CMD...
  local what="$1"; shift
  echo "+ $*" >>"$LOG"
  if ! "$@" >>"$LOG" 2>&1; then
    echo "autobahn setup: error: $what failed; last lines of $LOG:" >&2
    tail -n 25 "$LOG" >&2
    exit 1
  fi
}

rm -rf "$V27"
if ! "$V3/bin/python" -c 'import virtualenv' >/dev/null 2>&1; then
  rm -rf "$V3"
  step "creating Python 3 venv" "$PY3" -m venv "$V3"
  step "installing virtualenv" "$V3/bin/python" -m pip install --disable-pip-version-check -q "virtualenv<20.22"
fi
step "creating Python 2.7 virtualenv" "$V3/bin/python" -m virtualenv -q -p "$PY27" "$V27"
step "installing autobahntestsuite" "$V27/bin/python" -m pip install --disable-pip-version-check -q "${PKGS[@]}"
step "checking wstest" "$V27/bin/wstest" --help
printf '%s' "$WANT" >"$STAMP"
echo "autobahn: $V27/bin/wstest"
