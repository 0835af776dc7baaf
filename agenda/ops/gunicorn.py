"""gunicorn configuration for the Prometheus multiprocess mode.

    PROMETHEUS_MULTIPROC_DIR=/run/agenda-metrics \\
        gunicorn -c python:agenda.ops.gunicorn -w 4 -b 127.0.0.1:8000 wsgi:app

With ``PROMETHEUS_MULTIPROC_DIR`` set, each worker keeps its counters in files of that
folder and ``/metrics`` adds them up, whichever worker answers the scrape. The folder is
emptied when gunicorn starts (old counts would otherwise survive a restart). Options given
on the command line (``-w``, ``-b``…) still apply. With your own configuration file, import
the two hooks: ``from agenda.ops.gunicorn import on_starting, child_exit``.
"""

from __future__ import annotations

import os
from pathlib import Path


def on_starting(server) -> None:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        return
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()


def child_exit(server, worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
