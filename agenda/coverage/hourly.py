"""Hourly coverage: a weekday x hour grid of supply (capacity), bookings and demand.

* Supply of a cell (one definition, for every kind of slot) = the patients the CPTS's
  slots can take during that local hour: each slot's capacity spread over its duration in
  proportion to the minutes that fall in the hour. A 20-minute fixed slot counts 1 in its
  hour; a floating window of capacity 3 over 3 hours counts 1 in each hour; a week's
  supply therefore adds up to the capacity offered that week (the statistics' "slots
  offered"). Withdrawn slots, and slots kept "hors charte", are not supply.
* Hours are real hours: the grid walks the week in UTC and files each real hour under its
  local (weekday, hour). On the autumn DST Sunday the repeated local hour 02:00 receives
  the share of both real hours (once each, never the capacity twice); on the spring
  Sunday the missing local hour 02:00 gets none and is never flagged.
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
    supply: float = 0.0
    booked: float = 0.0
    demand: float = 0.0
    in_hours: bool = False

    @property
    def open(self) -> float:
        return round(self.supply - self.booked, 3)

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
        return {"supply": round(sum(c.supply for c in cells), 3),
                "booked": round(sum(c.booked for c in cells), 3),
                "demand": round(sum(c.demand for c in cells), 3),
                "flagged": sum(1 for c in cells if c.flagged)}

    def to_dict(self) -> dict:
        return {
            "week": self.week,
            "demand_weeks": self.demand_weeks,
            "totals": self.totals(),
            "cells": [{"weekday": c.weekday, "date": self.days[c.weekday - 1][1].isoformat(),
                       "hour": c.hour, "supply": round(c.supply, 3),
                       "booked": round(c.booked, 3), "open": c.open,
                       "demand": round(c.demand, 3), "ratio": c.ratio,
                       "in_publication_hours": c.in_hours, "flagged": c.flagged}
                      for c in sorted(self.cells.values(), key=lambda c: (c.weekday, c.hour))],
        }


def supply_definition() -> str:
    from flask_babel import gettext as _

    return _("Offre d'une heure : les patients que les créneaux peuvent recevoir pendant "
             "cette heure — la capacité de chaque créneau répartie sur sa durée au prorata "
             "des minutes (un créneau fixe compte 1 dans son heure, une plage flottante de "
             "3 places sur 3 heures compte 1 par heure). La semaine totalise donc les "
             "places offertes. Créneaux retirés ou hors charte exclus.")


def hours_touched(start: datetime, end: datetime):
    """The local (weekday, hour) of every real hour that [start, end) overlaps.

    Paris offsets are whole hours, so local hour boundaries are UTC hour boundaries.
    """
    for key, _share in hour_shares(start, end):
        yield key


def hour_shares(start: datetime, end: datetime):
    """(local (weekday, hour), share of [start, end) in that real hour), the shares adding
    up to 1. Two real hours with the same local label (autumn DST) come out separately."""
    for _h, key, share in hour_parts(start, end):
        yield key, share


def hour_parts(start: datetime, end: datetime):
    total = (end - start).total_seconds()
    if total <= 0:
        return
    h = start.replace(minute=0, second=0, microsecond=0)
    while h < end:
        overlap = (min(end, h + HOUR) - max(start, h)).total_seconds()
        local = to_local(h)
        yield h, (local.isoweekday(), local.hour), overlap / total
        h += HOUR


def _missing_local_hours(monday: date) -> set[tuple[int, int]]:
    """Local (weekday, hour) labels that do not exist in the week (spring DST)."""
    from agenda.timeutil import local_to_utc

    start, end = local_to_utc(monday, time(0)), local_to_utc(monday + timedelta(days=7), time(0))
    present = set(hours_touched(start, end))
    return {(wd, h) for wd in range(1, 8) for h in range(24)} - present


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
    for key in _missing_local_hours(monday):
        cells[key].in_hours = False
    w_start, w_end = week_bounds(week)
    for doctor_id, _kind, start, end, capacity, booked in week_slots(cpts_id, week):
        # A slot across midnight on Sunday counts in each week for its own hours only.
        for h, key, share in hour_parts(start, end):
            if not w_start <= h < w_end:
                continue
            cell = cells[key]
            cell.supply += capacity * share
            cell.booked += booked * share
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
