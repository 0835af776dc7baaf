"""Small builders for the coverage tests (rows inserted directly: coverage only reads)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from agenda.extensions import db
from agenda.slots.models import Slot
from agenda.territory.models import Commune
from agenda.timeutil import iso_week, local_to_utc


def add_commune(insee: str, name: str, lat: float, lon: float, population: int) -> Commune:
    c = Commune(insee=insee, name=name, department="99", postcodes="", population=population,
                lat=lat, lon=lon)
    db.session.add(c)
    db.session.commit()
    return c


def add_slot(doctor, start: datetime, minutes: int = 20, *, kind: str = "fixed",
             capacity: int = 1, booked: int = 0, status: str | None = None,
             in_charter: bool = True, **extra) -> Slot:
    slot = Slot(doctor_id=doctor.id, kind=kind, start=start,
                end=start + timedelta(minutes=minutes), week=iso_week(start), capacity=capacity,
                booked_count=booked,
                status=status or ("booked" if booked == capacity else "open"),
                in_charter=in_charter, **extra)
    db.session.add(slot)
    db.session.commit()
    return slot


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return local_to_utc(day, time(hour, minute))
