"""/healthz: database, sync worker heartbeat and outbox backlog; 503 when unhealthy."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from agenda import outbox
from agenda.extensions import db
from agenda.ops.health import record_heartbeat
from agenda.ops.models import WorkerHeartbeat

ROOT = Path(__file__).resolve().parents[2]


def _healthz(client, query: str = ""):
    resp = client.get("/healthz" + query)
    return resp.status_code, resp.get_json()


def test_healthy_with_a_live_worker_and_an_empty_outbox(frozen, client):
    record_heartbeat("worker-a")
    frozen.advance(seconds=42)
    status, body = _healthz(client)
    assert status == 200, body
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    worker = body["checks"]["worker"]
    assert worker == {"ok": True, "last_seen_seconds": 42.0, "workers_recent": 1,
                      "max_age_seconds": 300.0, "required": True}
    assert body["checks"]["outbox"]["pending"] == 0
    assert body["checks"]["outbox"]["oldest_pending_seconds"] is None


def test_a_stale_heartbeat_is_unhealthy_but_the_node_check_still_passes(frozen, client):
    record_heartbeat("worker-a")
    frozen.advance(seconds=200)
    record_heartbeat("worker-b")
    frozen.advance(seconds=299)
    status, body = _healthz(client)
    assert status == 200 and body["checks"]["worker"]["workers_recent"] == 1
    frozen.advance(seconds=2)  # the newest heartbeat is now 301 s old
    status, body = _healthz(client)
    assert status == 503
    assert body["status"] == "unhealthy"
    assert body["checks"]["worker"]["error"] == "stale"
    assert body["checks"]["worker"]["workers_recent"] == 0
    # What a load balancer should poll: a dead worker must not take every node out.
    status, body = _healthz(client, "?scope=node")
    assert status == 200 and set(body["checks"]) == {"database"}
    # The worker comes back: healthy again.
    record_heartbeat("worker-b")
    assert _healthz(client)[0] == 200


def test_no_worker_ever_seen(app, frozen, client):
    status, body = _healthz(client)
    assert status == 503
    assert body["checks"]["worker"]["error"] == "never_seen"
    assert body["checks"]["worker"]["last_seen_seconds"] is None
    app.config["HEALTH_REQUIRE_WORKER"] = False
    status, body = _healthz(client)
    assert status == 200
    assert body["checks"]["worker"] == {"ok": True, "error": "never_seen",
                                        "last_seen_seconds": None, "workers_recent": 0,
                                        "max_age_seconds": 300.0, "required": False}


def test_an_overdue_outbox_row_is_unhealthy_a_row_waiting_for_a_retry_is_not(frozen, client):
    start = frozen.advance(seconds=0)
    # A row in backoff (its calendar server is down): old, but not the worker's fault.
    retry = outbox.enqueue("mail", {"to": "x"})
    retry.created_at = start - timedelta(hours=2)
    retry.next_attempt_at = start + timedelta(hours=1)
    retry.attempts = 5
    db.session.commit()
    record_heartbeat("worker-a")
    status, body = _healthz(client)
    assert status == 200, body
    assert body["checks"]["outbox"]["pending"] == 1
    assert body["checks"]["outbox"]["due"] == 0
    assert body["checks"]["outbox"]["oldest_pending_seconds"] == 7200.0
    # A row due now that nobody delivers.
    outbox.enqueue("caldav.booking", {"booking_id": 1})
    db.session.commit()
    frozen.advance(seconds=600)
    record_heartbeat("worker-a")  # the worker is alive, but not keeping up
    status, body = _healthz(client)
    assert status == 200 and body["checks"]["outbox"]["oldest_due_delay_seconds"] == 600.0
    frozen.advance(seconds=1)
    record_heartbeat("worker-a")
    status, body = _healthz(client)
    assert status == 503
    out = body["checks"]["outbox"]
    assert out["error"] == "backlog" and out["pending"] == 2 and out["due"] == 1
    assert out["oldest_due_delay_seconds"] == 601.0
    assert body["checks"]["worker"]["ok"] is True
    # Failed rows are counted, not judged: an alert was raised for each.
    db.session.execute(outbox.OutboxItem.__table__.update().values(status="failed"))
    db.session.commit()
    status, body = _healthz(client)
    assert status == 200 and body["checks"]["outbox"]["failed"] == 2


def test_database_unreachable_sqlite(other_app, tmp_path):
    app = other_app(f"sqlite:///{tmp_path / 'missing-folder' / 'agenda.sqlite3'}")
    status, body = _healthz(app.test_client())
    assert status == 503
    assert body["status"] == "unhealthy"
    assert body["checks"] == {"database": {"ok": False, "error": "unreachable"}}
    assert "sqlite" not in str(body) and "missing-folder" not in str(body)


def test_database_unreachable_postgresql(other_app):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = other_app(f"postgresql+psycopg://agenda:secret-password@127.0.0.1:{port}/agenda")
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 503
    assert resp.get_json()["checks"]["database"] == {"ok": False, "error": "unreachable"}
    text = resp.get_data(as_text=True)
    assert "secret-password" not in text and str(port) not in text


def test_a_database_that_does_not_answer_times_out(other_app):
    # A server that accepts the TCP connection and never speaks: the driver would wait.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    try:
        app = other_app(f"postgresql+psycopg://agenda@127.0.0.1:{port}/agenda",
                        HEALTH_TIMEOUT_SECONDS=0.5)
        client = app.test_client()
        for _ in range(2):  # the second probe shares the first one's pending connection
            resp = client.get("/healthz")
            assert resp.status_code == 503
            assert resp.get_json()["checks"]["database"] == {"ok": False, "error": "timeout"}
    finally:
        listener.close()


def test_health_liveness_is_unchanged(client):
    resp = client.get("/health")
    assert resp.status_code == 200 and resp.get_json()["status"] == "ok"


def test_the_sync_worker_records_a_heartbeat_each_pass(app, database_url, tmp_path, client):
    env = {**os.environ, "AGENDA_DATABASE_URL": database_url, "AGENDA_SECRET_KEY": "t",
           "AGENDA_INSTANCE_PATH": str(tmp_path / "worker"), "AGENDA_MAIL_HOST": "127.0.0.1",
           "AGENDA_MAIL_PORT": "1"}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "flask"), "--app", "agenda",
                             "sync", "worker", "--interval", "1"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        seen: list = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            db.session.rollback()
            seen = sorted(db.session.scalars(select(WorkerHeartbeat.seen_at)))
            first = seen[0] if seen else None
            if first is not None:
                break
            time.sleep(0.2)
        assert seen, "no heartbeat written by the worker"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the next pass moves the same row
            db.session.rollback()
            again = db.session.scalar(select(func.max(WorkerHeartbeat.seen_at)))
            if again > first:
                break
            time.sleep(0.2)
        assert again > first
        row = db.session.scalar(select(WorkerHeartbeat))
        assert row.pid == proc.pid and row.host == socket.gethostname()[:64]
        assert db.session.scalar(select(func.count()).select_from(WorkerHeartbeat)) == 1
        status, body = _healthz(client)
        assert status == 200, body
        assert body["checks"]["worker"]["workers_recent"] == 1
        hostname = socket.gethostname()
        assert len(hostname) < 4 or hostname not in str(body)
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=30)[0]
    assert "Worker arrêté." in output, output
