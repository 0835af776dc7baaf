"""Fixtures of the security tests: slots, a patient everybody can recognise, API clients."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from agenda.extensions import db
from agenda.slots.models import Slot
from agenda.timeutil import iso_week

# A patient whose every identifying value is unique enough to grep for in logs and dumps.
KNOWN = {"last_name": "Zébulonesque", "first_name": "Ophélistine", "phone": "0699887766",
         "birth_date": "1931-07-23", "commune": "44036"}
KNOWN_TRACES = ["Zébulonesque", "Zebulonesque", "Ophélistine", "0699887766", "06 99 88 77 66",
                "1931-07-23", "23/07/1931", "19310723"]


def known_patient(**extra) -> dict:
    return {**KNOWN, **extra}


def traces_in(text: str) -> list[str]:
    return [t for t in KNOWN_TRACES if t in text]


@pytest.fixture()
def make_slot(app):
    """``make_slot(doctor, start, minutes=20, kind="fixed", capacity=1)``."""

    def _make(doctor, start: datetime, minutes: int = 20, *, kind: str = "fixed",
              capacity: int = 1) -> Slot:
        slot = Slot(doctor_id=doctor.id, kind=kind, start=start,
                    end=start + timedelta(minutes=minutes), week=iso_week(start),
                    capacity=capacity, booked_count=0, mode="AMB", status="open",
                    in_charter=True, source="web")
        db.session.add(slot)
        db.session.commit()
        return slot

    return _make


@pytest.fixture()
def slots(frozen, make_doctor, make_slot):
    """``slots(n)`` -> n open fixed slots of one doctor, an hour apart from now + 1 h."""

    def _make(n: int, doctor=None) -> list[Slot]:
        doctor = doctor or make_doctor()
        now = frozen.advance(minutes=0)
        return [make_slot(doctor, now + timedelta(hours=1 + i)) for i in range(n)]

    return _make


def birth(value: str) -> date:
    return date.fromisoformat(value)
