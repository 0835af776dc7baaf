"""Shared reads of agenda.coverage: the charter (or its defaults), the territory, doctors.

Everything here only reads; each helper is one set-based query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time

from sqlalchemy import func, or_, select

from agenda.extensions import db
from agenda.slots.models import CharterSettings, SlotStatus
from agenda.territory.models import Commune, Doctor, Place, Sector, sector_communes

# Slot statuses that are no longer supply: only the doctor's withdrawal takes an offered
# slot back (a cancelled booking leaves its slot offered; "cancelled" slots are kept for
# rows written before the cancellation paths were unified, and count as offered).
GONE_STATUSES = (SlotStatus.WITHDRAWN.value,)

# Publication hours when the charter leaves a day unset (as agenda.slots reads them).
DEFAULT_WEEKDAY_HOURS = ("08:00", "20:00")
DEFAULT_SATURDAY_HOURS = ("08:00", "12:00")


@dataclass
class Charter:
    """The charter values coverage needs (a read-only copy, defaults filled in)."""

    cpts_id: int
    min_per_week: int = 2
    max_per_week: int = 6
    horizon_hours: int = 48
    radius_km: int = 15
    saturday_morning: bool = True
    publication_hours: dict = field(default_factory=dict)
    indemnity_formula: dict = field(default_factory=dict)

    def hours_of(self, weekday: int) -> tuple[time, time] | None:
        """Publication hours [start, end) of ISO ``weekday`` (1 = Monday), or None.

        Same reading as the slots package: a configured day wins (empty = closed); other
        weekdays default to 08:00-20:00, Saturday to 08:00-12:00 when Saturday morning is on.
        """
        key = str(weekday)
        if key in (self.publication_hours or {}):
            span = self.publication_hours[key]
        elif weekday <= 5:
            span = DEFAULT_WEEKDAY_HOURS
        elif weekday == 6 and self.saturday_morning:
            span = DEFAULT_SATURDAY_HOURS
        else:
            span = None
        if weekday == 6 and not self.saturday_morning:
            span = None
        if not span or len(span) != 2:
            return None
        try:
            start, end = (time.fromisoformat(span[0]), time.fromisoformat(span[1]))
        except (TypeError, ValueError):
            return None
        return (start, end) if end > start or end == time(0) else None


def charter(cpts_id: int) -> Charter:
    row = db.session.get(CharterSettings, cpts_id)
    if row is None:
        return Charter(cpts_id=cpts_id)
    base = Charter(cpts_id=cpts_id)
    return Charter(
        cpts_id=cpts_id,
        min_per_week=row.min_per_week if row.min_per_week is not None else base.min_per_week,
        max_per_week=row.max_per_week if row.max_per_week is not None else base.max_per_week,
        horizon_hours=row.horizon_hours or base.horizon_hours,
        radius_km=row.radius_km or base.radius_km,
        saturday_morning=(row.saturday_morning if row.saturday_morning is not None
                          else base.saturday_morning),
        publication_hours=dict(row.publication_hours or {}),
        indemnity_formula=dict(row.indemnity_formula or {}),
    )


@dataclass
class Territory:
    """Communes of a CPTS as parallel lists (arrays for the spatial computations)."""

    insee: list[str]
    name: list[str]
    population: list[int]
    lat: list[float]
    lon: list[float]
    # Communes of the territory without coordinates: they cannot be placed on the map nor
    # measured; counted in the population (as not covered) and named in a warning.
    unplaced: list[tuple[str, str, int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.insee)

    @property
    def unplaced_population(self) -> int:
        return sum(p for _i, _n, p in self.unplaced)


def territory(cpts_id: int) -> Territory:
    """The CPTS's communes: those of its sectors, else every commune loaded."""
    cols = (Commune.insee, Commune.name, Commune.population, Commune.lat, Commune.lon)
    has_sectors = db.session.scalar(
        select(Sector.id).where(Sector.cpts_id == cpts_id).limit(1)) is not None
    if has_sectors:
        stmt = (select(*cols).distinct()
                .join(sector_communes, sector_communes.c.insee == Commune.insee)
                .join(Sector, Sector.id == sector_communes.c.sector_id)
                .where(Sector.cpts_id == cpts_id))
    else:
        stmt = select(*cols)
    return territory_of(stmt)


def territory_of(stmt) -> Territory:
    """The communes a ``select`` of (insee, name, population, lat, lon) returns: those
    located, and those it cannot place (no coordinates: named in a warning)."""
    everything = db.session.execute(stmt.order_by(Commune.insee)).all()
    rows = [r for r in everything if r[3] is not None and r[4] is not None]
    unplaced = [(r[0], r[1], r[2] or 0) for r in everything if r[3] is None or r[4] is None]
    return Territory(insee=[r[0] for r in rows], name=[r[1] for r in rows],
                     population=[r[2] or 0 for r in rows], lat=[r[3] for r in rows],
                     lon=[r[4] for r in rows], unplaced=unplaced)


@dataclass
class DoctorRow:
    id: int
    name: str
    commune_insee: str
    lat: float | None
    lon: float | None
    active: bool


def doctors(cpts_id: int, *, active_only: bool = True) -> list[DoctorRow]:
    # The doctor's place in this CPTS (the main one first) locates them on its map.
    place = (select(Place.doctor_id, func.min(Place.id).label("place_id"))
             .where(Place.cpts_id == cpts_id, Place.active.is_(True))
             .group_by(Place.doctor_id).subquery())
    stmt = (select(Doctor.id, Doctor.first_name, Doctor.last_name, Place.commune_insee,
                   Place.lat, Place.lon, Doctor.active)
            .join(place, place.c.doctor_id == Doctor.id)
            .join(Place, Place.id == place.c.place_id))
    if active_only:
        stmt = stmt.where(Doctor.active.is_(True))
    rows = db.session.execute(stmt.order_by(Doctor.last_name, Doctor.first_name)).all()
    return [DoctorRow(r[0], f"Dr {r[1]} {r[2]}", r[3], r[4], r[5], r[6]) for r in rows]


def partner_org_ids_clause(column, cpts_id: int):
    """``column`` (an organisation id) is the CPTS or an organisation that has served it
    (a link, active or ended: the history of past bookings)."""
    from agenda.accounts.models import ServiceLink

    partners = select(ServiceLink.organisation_id).where(ServiceLink.cpts_id == cpts_id)
    return or_(column == cpts_id, column.in_(partners))
