"""Fixtures of the supervision tests: a CPTS with bookings made through the real service."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from agenda.accounts.models import Organisation, User
from agenda.booking.services import BookingInput, PatientData, book
from agenda.extensions import db
from agenda.slots.models import Slot
from agenda.territory.models import Sector
from agenda.timeutil import iso_week
from tests.coverage.test_indemnities import november  # noqa: F401  (a month of activity)

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # Monday 09:00 in Paris


@dataclass
class Cpts:
    org: Organisation
    doctor: object
    secretary: User
    secretary_pw: str
    slots: list = field(default_factory=list)
    phones: list = field(default_factory=lambda: [f"06 12 34 56 {n:02d}" for n in range(10, 99)])

    def slot(self, hours: int, kind: str = "fixed", capacity: int = 1) -> Slot:
        start = NOW + timedelta(hours=hours)
        slot = Slot(doctor_id=self.doctor.id, kind=kind, start=start,
                    end=start + timedelta(minutes=20 if kind == "fixed" else 120),
                    week=iso_week(start), capacity=capacity, booked_count=0, mode="AMB",
                    status="open", in_charter=True, source="web")
        db.session.add(slot)
        db.session.commit()
        return slot

    def book(self, last: str, first: str, hours: int, insee: str = "44036"):
        return book(self.secretary, BookingInput(
            slot_id=self.slot(hours).id,
            patient=PatientData(last_name=last, first_name=first, commune_insee=insee,
                                phone=self.phones.pop())))


@pytest.fixture()
def supervised(app, frozen, cpts, communes, make_doctor, make_user):
    """The test CPTS, its sector, a doctor and a secretary (time frozen on a Monday)."""
    frozen.set(NOW)
    db.session.add(Sector(cpts_id=cpts.id, name="Secteur", communes=list(communes.values())))
    db.session.commit()
    doctor = make_doctor(insee="44036", last_name="Soignant", first_name="Paul")
    secretary, pw = make_user("secretary")
    return Cpts(cpts, doctor, secretary, pw)
