"""gunicorn configuration: the number of workers, the Prometheus multiprocess mode.

    PROMETHEUS_MULTIPROC_DIR=/run/agenda-metrics \\
        gunicorn -c python:agenda.ops.gunicorn -b 127.0.0.1:8000 wsgi:app

Workers: one per core plus one (``WEB_CONCURRENCY`` or ``-w`` to say otherwise). A request
is CPU work — a booking is 4–6 ms of Python and 1.5–2 ms of PostgreSQL, usually on the same
machine — and waits little: more workers only share the cores. Measured on 2 cores with
``bench/booking.py``'s load, 3 and 5 workers in turns (five comparisons): 3 gave 1.03–1.4×
the bookings per second of 5 (2 × cores + 1, gunicorn's rule of thumb for workers that wait
on I/O), never less, with less CPU per booking in the workers and in PostgreSQL alike.

With ``PROMETHEUS_MULTIPROC_DIR`` set, each worker keeps its counters in files of that
folder and ``/metrics`` adds them up, whichever worker answers the scrape. The folder is
emptied when gunicorn starts (old counts would otherwise survive a restart). Options given
on the command line (``-w``, ``-b``…) still apply. With your own configuration file, import
the two hooks and the workers' count:
``from agenda.ops.gunicorn import on_starting, child_exit, workers``.
"""

from __future__ import annotations

import os
from pathlib import Path


def default_workers(environ=os.environ) -> int:
    """``WEB_CONCURRENCY`` if set, else one worker per core this process may run on, plus
    one (a container pinned to 2 of a host's 32 cores gets 3)."""
    return int(environ.get("WEB_CONCURRENCY") or usable_cores() + 1)


def usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


workers = default_workers()


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
