#!/usr/bin/env bash
# Regenerate the initial migration from the models (only while the project is unreleased).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
rm -f agenda/migrations/versions/*.py
AGENDA_INSTANCE_PATH="$tmp" AGENDA_DATABASE_URL="sqlite:///$tmp/m.sqlite3" \
  .venv/bin/flask --app agenda db migrate -m "initial schema" --rev-id 0001 >/dev/null
rm -rf "$tmp"
ls agenda/migrations/versions/
