"""Fixtures of the security tests: slots, a patient everybody can recognise, API clients."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from agenda.slots.models import Slot
from tests.booking.conftest import make_slot, patient_data  # noqa: F401 (fixtures)

# A patient whose every identifying value is unique enough to grep for in logs and dumps.
KNOWN = {"last_name": "Zébulonesque", "first_name": "Ophélistine", "phone": "0699887766",
         "birth_date": "1931-07-23", "commune": "44036"}
KNOWN_TRACES = ["Zébulonesque", "Zebulonesque", "Ophélistine", "0699887766", "06 99 88 77 66",
                "1931-07-23", "23/07/1931", "19310723",
                "699887766"]  # the phone's key (patients.phone_key): the purge clears it too


def known_patient(**extra) -> dict:
    return {**KNOWN, **extra}


def traces_in(text: str) -> list[str]:
    return [t for t in KNOWN_TRACES if t in text]


@pytest.fixture()
def slots(frozen, make_doctor, make_slot):  # noqa: F811
    """``slots(n)`` -> n open fixed slots of one doctor, an hour apart from now + 1 h."""

    def _make(n: int, doctor=None) -> list[Slot]:
        doctor = doctor or make_doctor()
        now = frozen.advance(minutes=0)
        return [make_slot(doctor, now + timedelta(hours=1 + i)) for i in range(n)]

    return _make


def birth(value: str) -> date:
    return date.fromisoformat(value)
