"""What one booking sends to the database (issue 17): a count of statements, not a timing.

Through ``POST /api/v1/bookings`` (token, commune, slot with the duplicate check's
candidates, take and write): at most 4 SQL statements on PostgreSQL — the slot and the
candidates are one read there, the conditional UPDATE and every row of the booking one
statement — and 10 on the portable path (SQLite: the four reads, the UPDATE, then one
INSERT per table). Nothing is read twice (the commune), nothing after the
commit (the response's doctor), and every row is written with the ids that tie them.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, select

from agenda import clock
from agenda.audit import AuditEntry
from agenda.booking.models import Booking, CallLog, Patient
from agenda.extensions import db
from agenda.outbox import OutboxItem
from agenda.slots.models import Slot

LIMIT = {"postgresql": 4, "sqlite": 10}


class Recorder:
    """The statements sent through the engine, and which came after a COMMIT."""

    def __init__(self):
        self.statements: list[str] = []
        self.after_commit: list[str] = []
        self.committed = False

    def __enter__(self):
        event.listen(db.engine, "before_cursor_execute", self._statement)
        event.listen(db.engine, "commit", self._commit)
        return self

    def __exit__(self, *exc):
        event.remove(db.engine, "before_cursor_execute", self._statement)
        event.remove(db.engine, "commit", self._commit)

    def _statement(self, conn, cursor, statement, *args):
        (self.after_commit if self.committed else self.statements).append(statement)

    def _commit(self, conn):
        self.committed = True


def test_one_booking_costs_at_most_four_statements_on_postgresql(make_doctor, make_slot,
                                                                 api_client):
    now = clock.now()
    doctor = make_doctor("44036")
    slots = [make_slot(doctor, now + timedelta(hours=2 + k)).id for k in range(3)]
    name = doctor.display_name
    c, h, user = api_client("secretary")
    # A first booking: the token's last use is recorded (at most once a minute).
    patient = {"last_name": "Durand", "first_name": "Léa", "commune": "44036",
               "phone": "06 11 22 33 44"}
    assert c.post("/api/v1/bookings", json={"slot_id": slots[0], "patient": patient},
                  headers=h).status_code == 201
    patient = dict(patient, phone="06 55 66 77 88", birth_date="1990-05-06")
    with Recorder() as rec:
        resp = c.post("/api/v1/bookings", json={"slot_id": slots[1], "patient": patient,
                                                "note": "fièvre"}, headers=h)
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()["booking"]
    assert body["doctor"]["name"] == name
    dialect = db.engine.dialect.name
    assert len(rec.statements) <= LIMIT[dialect], "\n".join(s[:90] for s in rec.statements)
    assert rec.after_commit == []  # the response reads nothing after the commit
    # Each text short enough for psycopg to cache its conversion (4 kB; longer ones are
    # parsed again on every booking).
    assert max(len(s) for s in rec.statements) <= 4096, [len(s) for s in rec.statements]
    assert sum("FROM communes" in s for s in rec.statements) <= 1, rec.statements

    # Every row, tied by its ids, in the one transaction.
    db.session.rollback()
    booking = db.session.get(Booking, body["id"])
    patient_row = db.session.get(Patient, booking.patient_id)
    assert (patient_row.last_name, patient_row.commune_insee) == ("Durand", "44036")
    assert booking.slot_id == slots[1] and booking.note == "fièvre"
    assert db.session.scalar(select(CallLog.outcome).where(CallLog.booking_id == booking.id)) \
        == "booked"
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.object_type == "booking",
                                                        AuditEntry.object_id == booking.id)).one()
    assert (entry.action, entry.patient_id, entry.user_id) == ("create", patient_row.id,
                                                               user.id)
    payloads = [o.payload for o in db.session.scalars(
        select(OutboxItem).where(OutboxItem.kind == "caldav.booking"))]
    assert {"booking_id": booking.id, "action": "booked"} in payloads
    slot = db.session.get(Slot, slots[1])
    assert (slot.booked_count, slot.status) == (1, "booked")

    # The INSEE code alone (what API clients send): the commune is checked within the
    # slot's read on PostgreSQL — no statement more — and an unknown one is still a 400
    # naming the field, with nothing written.
    counts = {m: db.session.query(m).count() for m in (Patient, Booking, CallLog)}
    unknown = {"last_name": "Roux", "first_name": "Jo", "commune_insee": "99999",
               "phone": "06 01 02 03 04"}
    resp = c.post("/api/v1/bookings", json={"slot_id": slots[2], "patient": unknown},
                  headers=h)
    assert resp.status_code == 400, resp.get_json()
    assert resp.get_json()["field"] == "commune" and "99999" in resp.get_json()["message"]
    db.session.rollback()
    assert {m: db.session.query(m).count() for m in counts} == counts
    with Recorder() as rec:
        resp = c.post("/api/v1/bookings", json={"slot_id": slots[2], "patient": dict(
            unknown, commune_insee="44036")}, headers=h)
    assert resp.status_code == 201, resp.get_json()
    assert len(rec.statements) <= LIMIT[dialect], "\n".join(s[:90] for s in rec.statements)
    db.session.rollback()
    assert db.session.get(Patient, db.session.get(Booking, resp.get_json()["booking"]["id"])
                          .patient_id).commune_insee == "44036"


def test_a_lost_race_writes_nothing(make_doctor, make_slot, api_client):
    """The slot taken between the read and the take: 409, and not one row written."""
    now = clock.now()
    slot_id = make_slot(make_doctor("44036"), now + timedelta(hours=2)).id
    c, h, _ = api_client("secretary")
    counts = {m: db.session.query(m).count() for m in (Patient, Booking, CallLog, AuditEntry,
                                                        OutboxItem)}

    def taken_meanwhile(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith(("WITH TAKEN", "UPDATE SLOTS")):
            cursor.execute("UPDATE slots SET booked_count = capacity, status = 'booked' "
                           f"WHERE id = {slot_id}")

    event.listen(db.engine, "before_cursor_execute", taken_meanwhile)
    try:
        resp = c.post("/api/v1/bookings", json={"slot_id": slot_id, "patient": {
            "last_name": "Roux", "first_name": "Jo", "commune": "44036",
            "phone": "06 01 02 03 04"}}, headers=h)
    finally:
        event.remove(db.engine, "before_cursor_execute", taken_meanwhile)
    assert resp.status_code == 409
    db.session.rollback()
    assert {m: db.session.query(m).count() for m in counts} == counts
