"""Hourly coverage: a weekday x hour grid of supply (capacity), bookings and demand.

* Supply of a cell = the capacity of every slot of the CPTS that overlaps that local hour;
  a floating window counts its whole capacity in every hour of its window (a patient can
  be seen at any time of it). Slots withdrawn or cancelled, and slots kept "hors charte",
  are not supply.
* Booked = the booked count of those slots, spread the same way; open = supply - booked.
* Demand = requests and direct bookings made (by the hour of the call) per weekday-hour,
  averaged over the ``demand_weeks`` ISO weeks before the chosen one. A booking that comes
  from a request is counted once, as its request.
* A cell inside the charter's publication hours with no supply is flagged.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from agenda.booking.models import Booking, FloatingRequest
from agenda.coverage.common import GONE_STATUSES, Charter, charter
from agenda.extensions import db
from agenda.slots.models import Slot
from agenda.timeutil import parse_week, to_local, week_bounds

HOUR = timedelta(hours=1)
DEFAULT_DEMAND_WEEKS = 8


@dataclass
class Cell:
    weekday: int
    hour: int
    supply: int = 0
    booked: int = 0
    demand: float = 0.0
    in_hours: bool = False

    @property
    def open(self) -> int:
        return self.supply - self.booked

    @property
    def flagged(self) -> bool:
        return self.in_hours and self.supply == 0

    @property
    def ratio(self) -> float | None:
        """Supply per expected request; None when no demand was seen at that hour."""
        return round(self.supply / self.demand, 2) if self.demand > 0 else None


@dataclass
class HourlyGrid:
    week: str
    days: list[tuple[int, date]]
    hours: list[int]
    cells: dict[tuple[int, int], Cell]
    demand_weeks: int
    # doctor id -> the (weekday, hour) cells where that doctor offers capacity.
    doctor_cells: dict[int, set[tuple[int, int]]] = field(default_factory=dict)

    def cell(self, weekday: int, hour: int) -> Cell:
        return self.cells[(weekday, hour)]

    @property
    def flagged(self) -> list[Cell]:
        return [c for c in self.cells.values() if c.flagged]

    def rows(self) -> list[tuple[int, list[Cell]]]:
        return [(h, [self.cells[(wd, h)] for wd, _ in self.days]) for h in self.hours]

    def totals(self) -> dict[str, float]:
        cells = self.cells.values()
        return {"supply": sum(c.supply for c in cells), "booked": sum(c.booked for c in cells),
                "demand": round(sum(c.demand for c in cells), 3),
                "flagged": sum(1 for c in cells if c.flagged)}

    def to_dict(self) -> dict:
        return {
            "week": self.week,
            "demand_weeks": self.demand_weeks,
            "totals": self.totals(),
            "cells": [{"weekday": c.weekday, "date": self.days[c.weekday - 1][1].isoformat(),
                       "hour": c.hour, "supply": c.supply, "booked": c.booked, "open": c.open,
                       "demand": round(c.demand, 3), "ratio": c.ratio,
                       "in_publication_hours": c.in_hours, "flagged": c.flagged}
                      for c in sorted(self.cells.values(), key=lambda c: (c.weekday, c.hour))],
        }


def hours_touched(start: datetime, end: datetime):
    """The local (weekday, hour) of every clock hour that [start, end) overlaps.

    Paris offsets are whole hours, so local hour boundaries are UTC hour boundaries.
    """
    h = start.replace(minute=0, second=0, microsecond=0)
    while h < end:
        local = to_local(h)
        yield local.isoweekday(), local.hour
        h += HOUR


def _publication_cells(ch: Charter) -> set[tuple[int, int]]:
    out = set()
    for wd in range(1, 8):
        span = ch.hours_of(wd)
        if span is None:
            continue
        start, end = span
        last = 24 if end == time(0) else end.hour + (1 if end.minute else 0)
        for h in range(start.hour, last):
            out.add((wd, h))
    return out


def week_slots(cpts_id: int, week: str, *, start: datetime | None = None,
               end: datetime | None = None) -> list[tuple]:
    """(doctor_id, kind, start, end, capacity, booked_count) of the supply of a period."""
    if start is None or end is None:
        start, end = week_bounds(week)
    stmt = (select(Slot.doctor_id, Slot.kind, Slot.start, Slot.end, Slot.capacity,
                   Slot.booked_count)
            .where(Slot.cpts_id == cpts_id, Slot.start < end, Slot.end > start,
                   Slot.status.not_in(GONE_STATUSES), Slot.in_charter.is_(True)))
    return db.session.execute(stmt).all()


def demand_counts(cpts_id: int, start: datetime, end: datetime) -> dict[tuple[int, int], int]:
    """Requests and direct bookings made in [start, end), by local (weekday, hour)."""
    counts: dict[tuple[int, int], int] = defaultdict(int)
    requests = select(FloatingRequest.created_at).where(
        FloatingRequest.created_at >= start, FloatingRequest.created_at < end,
        FloatingRequest.cpts_id == cpts_id)
    bookings = (select(Booking.created_at)
                .where(Booking.created_at >= start, Booking.created_at < end,
                       Booking.request_id.is_(None), Booking.cpts_id == cpts_id))
    for stmt in (requests, bookings):
        for (at,) in db.session.execute(stmt):
            local = to_local(at)
            counts[(local.isoweekday(), local.hour)] += 1
    return counts


def hourly_grid(cpts_id: int, week: str, *, demand_weeks: int = DEFAULT_DEMAND_WEEKS) -> HourlyGrid:
    monday = parse_week(week)
    ch = charter(cpts_id)
    publication = _publication_cells(ch)
    cells: dict[tuple[int, int], Cell] = {
        (wd, h): Cell(wd, h, in_hours=(wd, h) in publication)
        for wd in range(1, 8) for h in range(24)}
    doctor_cells: dict[int, set[tuple[int, int]]] = defaultdict(set)
    w_start, w_end = week_bounds(week)
    for doctor_id, _kind, start, end, capacity, booked in week_slots(cpts_id, week):
        # A slot across midnight on Sunday counts in each week for its own hours only.
        for key in hours_touched(max(start, w_start), min(end, w_end)):
            cell = cells[key]
            cell.supply += capacity
            cell.booked += booked
            doctor_cells[doctor_id].add(key)
    if demand_weeks > 0:
        from agenda.timeutil import local_to_utc

        d_start = local_to_utc(monday - timedelta(weeks=demand_weeks), time(0))
        d_end = local_to_utc(monday, time(0))
        for key, n in demand_counts(cpts_id, d_start, d_end).items():
            cells[key].demand = n / demand_weeks
    used = {h for (wd, h), c in cells.items() if c.in_hours or c.supply or c.demand}
    hours = list(range(min(used), max(used) + 1)) if used else list(range(8, 20))
    days = [(i + 1, monday + timedelta(days=i)) for i in range(7)]
    return HourlyGrid(week=week, days=days, hours=hours, cells=cells,
                      demand_weeks=demand_weeks, doctor_cells=dict(doctor_cells))
