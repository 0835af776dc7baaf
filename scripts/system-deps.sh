#!/usr/bin/env bash
# System packages the tests need beyond Python: Debian's chromium for the browser tests.
# Installed when missing and we are root (CI, a fresh machine); otherwise says what to do.
set -euo pipefail
chromium="${AGENDA_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$chromium" ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Debian's chromium for the browser tests…"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "Chromium is missing: run 'sudo apt-get install chromium' (Debian/Ubuntu)," >&2
  echo "or set AGENDA_CHROMIUM to a Chromium binary." >&2
  exit 1
fi
