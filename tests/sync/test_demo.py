"""The demo calendars: written as Radicale's file storage, served, synchronised."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from agenda.extensions import db
from agenda.slots.models import Slot
from agenda.sync import crypto, worker
from agenda.sync.demo import PATTERN, write_calendars
from agenda.sync.demo_server import LocalServer, free_port
from agenda.sync.models import CalendarAccount


def test_demo_calendars_arrive_as_slots(app, frozen, make_doctor, tmp_path):
    doctors = [make_doctor(), make_doctor()]
    today = frozen.set(datetime(2026, 11, 30, 6, 0, tzinfo=UTC)).date()
    folder = tmp_path / "radicale"
    users = write_calendars(folder, doctors, today)
    assert set(users) == {"medecin1", "medecin2"}
    again = write_calendars(folder, doctors, today)  # idempotent: passwords kept
    assert again == users
    server = LocalServer("radicale", folder, free_port(), users).start()
    try:
        for i, doctor in enumerate(doctors):
            username = f"medecin{i + 1}"
            db.session.add(CalendarAccount(
                doctor_id=doctor.id, url=server.url, username=username,
                password_encrypted=crypto.encrypt(users[username]),
                calendar_url=f"{server.url}{username}/snp/", calendar_name="SNP",
                busy_calendar_urls=[], etags={}, state="pending"))
        db.session.commit()
        report = worker.run_pass(app, threads=2)
        assert report.doctors == 2 and not report.errors
        per_doctor = len(PATTERN) * 2  # this week and next
        for doctor in doctors:
            slots = db.session.scalars(select(Slot).where(Slot.doctor_id == doctor.id)).all()
            assert len(slots) == per_doctor
            assert {s.kind for s in slots} == {"fixed", "floating"}
            assert any(s.mode == "VR" for s in slots)
    finally:
        server.stop()
