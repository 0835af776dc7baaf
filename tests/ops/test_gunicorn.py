"""Real gunicorn, two workers, PROMETHEUS_MULTIPROC_DIR: every scrape adds up the counts
of both workers, whichever of them answers it."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from tests.ops.conftest import TOKEN, value

ROOT = Path(__file__).resolve().parents[2]
LATENCY_COUNT = "agenda_http_request_duration_seconds_count"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[str]:
    return [c for task in Path(f"/proc/{pid}/task").iterdir()
            for c in (task / "children").read_text().split()]


def _pids(folder: Path) -> set[str]:
    return {m.group(1) for f in folder.glob("*.db")
            if (m := re.search(r"_(\d+)\.db$", f.name))}


def test_two_gunicorn_workers_add_up(database_url, make_doctor, api_client, tmp_path):
    make_doctor("44036")
    _client, headers, _user = api_client("secretary")
    folder = tmp_path / "prom"
    folder.mkdir()
    (folder / "counter_999999.db").write_bytes(b"stale")  # left by a previous run
    port = _free_port()
    env = {**os.environ, "AGENDA_DATABASE_URL": database_url, "AGENDA_SECRET_KEY": "t",
           "AGENDA_INSTANCE_PATH": str(tmp_path / "instance"), "AGENDA_METRICS_TOKEN": TOKEN,
           "PROMETHEUS_MULTIPROC_DIR": str(folder), "WEB_CONCURRENCY": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:agenda.ops.gunicorn",
                             "-b", f"127.0.0.1:{port}", "wsgi:app"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                if requests.get(base + "/healthz?scope=node", timeout=10).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)
        assert not (folder / "counter_999999.db").exists()  # emptied on start
        assert len(_children(proc.pid)) == 2  # the configuration's workers: WEB_CONCURRENCY
        # Requests on fresh connections, from four threads, until both workers served some.
        sent = {"health": 0, "search": 0}

        def one(i: int) -> str:
            if i % 2:
                r = requests.get(base + "/api/v1/slots?commune=44036", headers=headers,
                                 timeout=10)
                assert r.status_code == 200, r.text
                return "search"
            assert requests.get(base + "/health", timeout=10).status_code == 200
            return "health"

        with ThreadPoolExecutor(max_workers=4) as pool:
            for _round in range(20):
                for kind in pool.map(one, range(20)):
                    sent[kind] += 1
                if len(_pids(folder)) >= 2:
                    break
        served_by = _pids(folder)
        assert len(served_by) == 2, f"one worker served everything: {served_by}"
        # Several scrapes: whichever worker answers, the totals are the same.
        for _ in range(6):
            resp = requests.get(base + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"},
                                timeout=10)
            assert resp.status_code == 200
            text = resp.text
            assert value(text, LATENCY_COUNT, endpoint="health", method="GET",
                         status="200") == sent["health"]
            assert value(text, LATENCY_COUNT, endpoint="api.search_slots", method="GET",
                         status="200") == sent["search"]
            assert value(text, "agenda_searches_total", origin="api") == sent["search"]
            assert value(text, "agenda_database_up") == 1
        assert requests.get(base + "/metrics", timeout=10).status_code == 403
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert "Traceback" not in output, output


def test_one_worker_per_core_plus_one_by_default():
    """The deployment's configuration: CPU-bound workers, one per core plus one (a booking
    is CPU work; more only share the cores — ``agenda/ops/gunicorn.py``)."""
    from agenda.ops.gunicorn import default_workers

    assert default_workers({}) == len(os.sched_getaffinity(0)) + 1
    assert default_workers({"WEB_CONCURRENCY": "7"}) == 7
