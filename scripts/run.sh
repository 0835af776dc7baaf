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

# (CalDAV demo server and sync worker are added here by agenda.sync.)

if [ -f "${AGENDA_INSTANCE_PATH:-instance}/demo-logins.txt" ]; then
  echo "Comptes de démonstration :"
  cat "${AGENDA_INSTANCE_PATH:-instance}/demo-logins.txt"
fi
echo "Agenda SNP : http://$HOST:$PORT"
$BIN/flask --app agenda run --host "$HOST" --port "$PORT" &
pids+=($!)
wait -n "${pids[@]}"
