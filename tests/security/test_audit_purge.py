"""Finding 6: every read of patient data is audited, lists included (one entry per list
naming the ids); the audit detail holds ids and codes only; after the retention purge a
dump of the whole database holds no trace of the patient's name, phone or birth date."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, text

from agenda.audit import AuditEntry
from agenda.booking.services.purge import purge_expired
from agenda.extensions import db
from tests.security.conftest import KNOWN, known_patient, traces_in

NAME = f"{KNOWN['first_name']} {KNOWN['last_name']}"


def _book(client, headers, slot, **extra):
    resp = client.post("/api/v1/bookings", headers=headers,
                       json={"slot_id": slot.id, "patient": known_patient(),
                             # the same known patient each time: a deliberate repeat
                             "duplicate_reason": "test : même patient", **extra})
    assert resp.status_code in (201, 202), resp.get_json()
    return resp.get_json()


def test_a_list_of_requests_is_audited_once_naming_every_id(app, frozen, make_doctor,
                                                            make_slot, api_client):
    doctor = make_doctor(with_user=True)
    now = frozen.advance(minutes=0)
    client, headers, user = api_client("secretary")
    ids = []
    for hours in (2, 5, 8):
        window = make_slot(doctor, now + timedelta(hours=hours), minutes=120,
                           kind="floating", capacity=2)
        ids.append(_book(client, headers, window)["request"]["id"])
    before = db.session.scalar(select(db.func.count()).select_from(AuditEntry))
    listed = client.get("/api/v1/requests", headers=headers).get_json()["requests"]
    assert {r["id"] for r in listed} == set(ids) and listed[0]["patient"]["last_name"]
    entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()[before:]
    assert len(entries) == 1
    entry = entries[0]
    assert (entry.action, entry.object_type, entry.user_id) == ("list", "request", user.id)
    named = entry.detail.split(";")[0].removeprefix("request:").split(",")
    assert sorted(map(int, named)) == sorted(ids)
    assert entry.detail.split(";")[1].startswith("patient:")
    # The doctor's list of offered requests (no names, but communes and reasons): audited.
    doc_client, doc_headers, doc_user = api_client("doctor", user=doctor.user)
    offered = doc_client.get("/api/v1/requests", headers=doc_headers).get_json()["requests"]
    entry = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert (entry.action, entry.user_id) == ("list", doc_user.id)
    assert {int(i) for i in entry.detail.split(";")[0][8:].split(",")} == {
        r["id"] for r in offered} and offered


def test_the_bookings_page_is_one_audit_entry(app, frozen, make_doctor, make_slot,
                                              api_client, login_as):
    page = login_as("secretary")
    doctor = make_doctor()
    now = frozen.advance(minutes=0)
    client, headers, _ = api_client("secretary", user=page.user)
    booked = [_book(client, headers, make_slot(doctor, now + timedelta(hours=h)))
              for h in (1, 2, 3)]
    before = db.session.scalar(select(db.func.count()).select_from(AuditEntry))
    assert KNOWN["last_name"] in page.get("/reservations").get_data(as_text=True)
    entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()[before:]
    assert [(e.action, e.object_type) for e in entries] == [("list", "booking")]
    assert {int(i) for i in entries[0].detail.split(";")[0][8:].split(",")} == {
        b["booking"]["id"] for b in booked}


def _dump(app) -> str:
    """Every row of every table, as text: SQLite's iterdump, PostgreSQL's row casts."""
    if db.engine.dialect.name == "sqlite":
        db.session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        path = db.engine.url.database
        conn = sqlite3.connect(path)
        try:
            return "\n".join(conn.iterdump())
        finally:
            conn.close()
    parts = []
    for table in db.metadata.sorted_tables:
        rows = db.session.execute(text(f'SELECT CAST(t AS text) FROM "{table.name}" t'))
        parts.extend(r[0] for r in rows)
    return "\n".join(parts)


def _raw_sqlite_bytes() -> str:
    """The database file and its write-ahead log, as bytes, read by another process.

    Not read here: closing any descriptor of a file drops every POSIX lock this process
    holds on it, SQLite's included. A process that then closed its last connection to the
    database (the gunicorn or worker of a later test on this xdist worker) took itself for
    the last one and deleted the WAL and shared-memory files under this process's open
    connections: "disk I/O error", "database disk image is malformed"."""
    path = Path(db.engine.url.database)
    files = [str(p) for p in (path, Path(f"{path}-wal")) if p.exists()]
    read = ("import sys; sys.stdout.buffer.write(b''.join(open(f, 'rb').read() "
            "for f in sys.argv[1:]))")
    data = subprocess.run([sys.executable, "-c", read, *files], capture_output=True,
                          check=True).stdout
    return data.decode("utf-8", "replace")


def test_after_the_purge_no_trace_of_the_patient_is_left(app, frozen, make_doctor,
                                                        make_slot, api_client, make_user):
    doctor = make_doctor(with_user=True)
    now = frozen.advance(minutes=0)
    booker, headers, _ = api_client("secretary")
    doc_client, doc_headers, _ = api_client("doctor", user=doctor.user)
    free_text = f"{NAME}, né le 23/07/1931, tél. {KNOWN['phone']}"
    # A booking cancelled with a reason naming the patient.
    cancelled = _book(booker, headers, make_slot(doctor, now + timedelta(hours=1)),
                      note=free_text)["booking"]
    resp = booker.post(f"/api/v1/bookings/{cancelled['id']}/cancel", headers=headers,
                       json={"reason": "Annulé à la demande de " + free_text})
    assert resp.status_code == 200
    # A booking seen, with the doctor's synthesis naming the patient.
    seen = _book(booker, headers, make_slot(doctor, now + timedelta(hours=2)),
                 note=free_text)["booking"]
    # A floating request with a note naming the patient.
    _book(booker, headers, make_slot(doctor, now + timedelta(hours=5), minutes=120,
                                     kind="floating", capacity=2), note=free_text)
    assert booker.get(f"/api/v1/bookings/{seen['id']}", headers=headers).status_code == 200
    assert booker.get("/api/v1/requests", headers=headers).status_code == 200
    frozen.advance(hours=3)
    resp = doc_client.post(f"/api/v1/bookings/{seen['id']}/outcome", headers=doc_headers,
                           json={"outcome": "seen", "synthesis": "Vu " + free_text})
    assert resp.status_code == 200
    assert set(traces_in(_dump(app))) >= {KNOWN["last_name"], KNOWN["phone"], "1931-07-23"}

    frozen.advance(days=400)
    assert purge_expired() == 3  # one patient record per booking or request
    dump = _dump(app)
    assert traces_in(dump) == [], traces_in(dump)
    assert "Annulé à la demande" not in dump  # the cancel reason went with the booking
    assert db.session.scalar(select(db.func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "purge")) == 3
    if db.engine.dialect.name == "sqlite":
        # Not even in the file's free pages or write-ahead log (secure_delete, checkpoint).
        assert traces_in(_raw_sqlite_bytes()) == []


def test_the_cancel_reason_stays_out_of_the_audit_log(app, frozen, make_doctor, make_slot,
                                                      login_as, api_client):
    doctor = make_doctor()
    now = frozen.advance(minutes=0)
    client, headers, _ = api_client("secretary")
    booking = _book(client, headers, make_slot(doctor, now + timedelta(hours=1)))["booking"]
    client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=headers,
                json={"reason": "Mme " + KNOWN["last_name"] + " a trouvé un autre médecin"})
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "cancel"))
    assert entry.object_id == booking["id"] and entry.detail is None
    admin = login_as("admin")
    assert KNOWN["last_name"] not in admin.get("/admin/journal").get_data(as_text=True)
