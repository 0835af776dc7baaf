"""numpy and scipy (~40 MB of memory per process) load only where coverage is computed
(issue 17): neither a web worker (``wsgi:app``) nor the sync worker imports them at
start-up. A web worker also does without Alembic and Flask-Migrate (~10 MB: migrations run
from ``flask db``), requests (~8 MB: the SMS gateway and the SAS client, both sent by the
outbox worker) and cryptography (~6 MB: the calendar password pages). Checked in a fresh
interpreter, as gunicorn and ``flask … sync worker`` start."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
heavy = lambda: sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'scipy'})
lean = {'alembic', 'flask_migrate', 'requests', 'cryptography'}
out = {}
import wsgi                                   # the web worker's app (gunicorn wsgi:app)
out['web'] = heavy()
out['web_lean'] = sorted({m.split('.')[0] for m in sys.modules} & lean)
wsgi.app.test_client().get('/login')         # a first request: still without them
out['web_lean_after_request'] = sorted({m.split('.')[0] for m in sys.modules} & lean)
from agenda import outbox
from agenda.sync import worker                # the sync worker and every outbox handler
outbox.load_handlers()
with wsgi.app.app_context():
    wsgi.app.test_cli_runner().invoke(args=['sync', '--help'])
out['sync'] = heavy()
from agenda.coverage import geo              # where the computation runs: loaded there
geo.nearest_km([47.7], [-1.4], [47.6], [-1.3])
out['computed'] = heavy()
print(json.dumps(out))
"""


def test_web_and_sync_workers_start_without_numpy_or_scipy(tmp_path):
    env = {"AGENDA_INSTANCE_PATH": str(tmp_path),
           "AGENDA_DATABASE_URL": f"sqlite:///{tmp_path / 'probe.sqlite3'}",
           "AGENDA_SECRET_KEY": "probe", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["web"] == []
    assert out["web_lean"] == [] and out["web_lean_after_request"] == []
    assert out["sync"] == []
    assert out["computed"] == ["numpy", "scipy"]
