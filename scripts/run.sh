#!/usr/bin/env bash
# Start the demo service: the web server (and, beside it, what the demo needs).
# Every process started here stops with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-5000}"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

# Demo mail: without an SMTP server configured, a local one keeps every message sent in
# instance/mails.log (nothing leaves the machine).
if [ -z "${AGENDA_MAIL_HOST:-}" ]; then
  MAIL_PORT="${AGENDA_DEMO_MAIL_PORT:-8025}"
  MAIL_LOG="${AGENDA_INSTANCE_PATH:-instance}/mails.log"
  $BIN/python -m aiosmtpd -n -c aiosmtpd.handlers.Debugging -l "127.0.0.1:$MAIL_PORT" >>"$MAIL_LOG" 2>&1 &
  pids+=($!)
  export AGENDA_MAIL_HOST=127.0.0.1 AGENDA_MAIL_PORT="$MAIL_PORT"
  echo "Courriels de démonstration : $MAIL_LOG"
fi

# CalDAV demo server (the calendars `flask --app agenda demo` wrote) and the sync worker.
RADICALE_DIR="${AGENDA_INSTANCE_PATH:-instance}/radicale"
if [ -f "$RADICALE_DIR/users" ]; then
  RADICALE_PORT="${AGENDA_DEMO_RADICALE_PORT:-5232}"
  export AGENDA_CALDAV_ALLOWED_HOSTS="${AGENDA_CALDAV_ALLOWED_HOSTS:+$AGENDA_CALDAV_ALLOWED_HOSTS,}127.0.0.1:$RADICALE_PORT"
  echo "Radicale (calendriers SNP de démonstration) : http://127.0.0.1:$RADICALE_PORT"
  $BIN/python -m agenda.sync.demo_server --folder "$RADICALE_DIR" --port "$RADICALE_PORT" &
  pids+=($!)
fi
$BIN/flask --app agenda sync worker --interval "${AGENDA_SYNC_INTERVAL_SECONDS:-20}" &
pids+=($!)

if [ -f "${AGENDA_INSTANCE_PATH:-instance}/demo-logins.txt" ]; then
  echo "Comptes de démonstration :"
  cat "${AGENDA_INSTANCE_PATH:-instance}/demo-logins.txt"
fi
echo "Agenda SNP : http://$HOST:$PORT"
$BIN/flask --app agenda run --host "$HOST" --port "$PORT" &
pids+=($!)
wait -n "${pids[@]}"
