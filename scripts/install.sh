#!/usr/bin/env bash
# Installs everything PhotoAndVideoAnalysis needs on a Debian machine: system packages (only those missing),
# the Python virtualenv with the project in editable mode, and the browser libraries for the web UI.
# Idempotent: a second run checks and does nothing.  Usage: scripts/install.sh [--no-apt] [--no-npm]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${PVA_VENV:-.venv}
PY=${PYTHON:-python3}
APT_PKGS=(ffmpeg tesseract-ocr tesseract-ocr-eng libimage-exiftool-perl nginx espeak-ng libvips-tools
          rabbitmq-server chromium chromium-driver fonts-dejavu-core openssl)
want_apt=1; want_npm=1
for a in "$@"; do case "$a" in --no-apt) want_apt=0;; --no-npm) want_npm=0;; esac; done

log() { printf '\033[1m[install]\033[0m %s\n' "$*"; }

if [ "$want_apt" = 1 ] && command -v dpkg-query >/dev/null; then
  missing=()
  for p in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    log "apt: installing ${missing[*]}"
    $SUDO apt-get update -qq
    # rabbitmq-server's postinst starts a node; we only need the binaries (the stack starts its own if needed)
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtualenv $VENV"
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.pva-install-stamp"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ scripts/install.sh -nt "$stamp" ]; then
  log "pip: installing the project and its dependencies"
  "$VENV/bin/pip" install -q --upgrade pip 'setuptools<82' wheel
  # dlib from a prebuilt wheel (no 20-minute source build); face_recognition without its dlib dependency.
  "$VENV/bin/pip" install -q dlib-bin
  "$VENV/bin/pip" install -q --no-deps face_recognition==1.3.0
  "$VENV/bin/pip" install -q -e '.[dev]'
  touch "$stamp"
fi

if [ "$want_npm" = 1 ] && [ -f web/package.json ] && command -v npm >/dev/null; then
  if [ ! -d web/node_modules ] || [ web/package.json -nt web/node_modules ]; then
    log "npm: installing browser libraries"
    (cd web && npm install --no-audit --no-fund --silent) && touch web/node_modules
  fi
fi
log "done"
