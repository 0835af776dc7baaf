"""Search of bookable slots: the treating doctor's first, then by distance, then by time.

One SQL query: a bounding-box pre-filter on the doctors' coordinates (indexed), the slot
conditions on ``(status, start)``, and an ORDER BY on an equirectangular distance (plain
arithmetic, portable to SQLite and PostgreSQL; identical ranking to the great-circle
distance at the scale of a territory). The exact km shown are computed on the result rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask_babel import gettext as _
from sqlalchemy import and_, case, literal, or_, select

from agenda import clock, metrics
from agenda.booking.services.common import charter_for
from agenda.slots.services import booking_horizon_end
from agenda.errors import ValidationError
from agenda.extensions import db
from agenda.slots.models import Slot, SlotKind, SlotMode, SlotStatus
from agenda.territory.geo import bounding_box, distance_km
from agenda.territory.models import Commune, Doctor, sector_communes
from agenda.timeutil import local_to_utc

SEARCH_RADIUS_KM = 30
MIN_SEARCH_RADIUS_KM = 20
MAX_RESULTS = 50


@dataclass
class SearchQuery:
    """A resolved search: build it with :func:`prepare_search` (reads the charter)."""

    cpts_id: int
    user_id: int
    lat: float
    lon: float
    horizon_end: datetime
    treating_doctor_id: int | None = None
    mode: str | None = None
    day: date | None = None
    sector_id: int | None = None
    radius_km: float = SEARCH_RADIUS_KM
    kind: str | None = None
    limit: int = MAX_RESULTS
    # The bounding box of the doctors considered: the radius around the patient's commune,
    # stretched to take in the treating doctor's practice.
    box: tuple[float, float, float, float] | None = None


@dataclass
class SlotResult:
    slot_id: int
    kind: str
    start: datetime
    end: datetime
    mode: str
    remaining: int
    doctor_id: int
    doctor_name: str
    address: str
    commune_name: str
    distance_km: float | None
    is_treating: bool
    held_by_me: bool

    @property
    def is_floating(self) -> bool:
        return self.kind == SlotKind.FLOATING.value

    def to_dict(self) -> dict:
        return {"slot_id": self.slot_id, "kind": self.kind, "start": self.start.isoformat(),
                "end": self.end.isoformat(), "mode": self.mode, "remaining": self.remaining,
                "doctor": {"id": self.doctor_id, "name": self.doctor_name,
                           "address": self.address, "commune": self.commune_name},
                "distance_km": self.distance_km, "treating_doctor": self.is_treating,
                "held_by_me": self.held_by_me}


def prepare_search(user, commune: Commune, *, treating_doctor_id: int | None = None,
                   horizon_hours: int | None = None, mode: str | None = None,
                   day: date | None = None, sector_id: int | None = None,
                   kind: str | None = None, radius_km: float | None = None,
                   limit: int = MAX_RESULTS) -> SearchQuery:
    if commune.lat is None or commune.lon is None:
        raise ValidationError(_("Cette commune n'a pas de coordonnées : recherche impossible."),
                              field="commune")
    if mode and mode not in {m.value for m in SlotMode}:
        raise ValidationError(_("Mode de consultation inconnu."), field="mode")
    if kind and kind not in {k.value for k in SlotKind}:
        raise ValidationError(_("Type de créneau inconnu."), field="kind")
    charter = charter_for(user.cpts_id)
    if horizon_hours is not None and not 1 <= horizon_hours <= 24 * 14:
        raise ValidationError(_("Horizon de recherche invalide (1 heure à 14 jours)."),
                              field="horizon")
    # The charter's horizon ("48 h", or "same day until 19:30") unless the booker asks.
    horizon_end = (clock.now() + timedelta(hours=horizon_hours) if horizon_hours
                   else booking_horizon_end(charter))
    # Twice the charter radius (30 km by default): beyond that an SNP consultation is not
    # a realistic offer; the treating doctor is always included (see ``box``).
    radius = radius_km or max(2 * charter.radius_km, MIN_SEARCH_RADIUS_KM)
    min_lat, max_lat, min_lon, max_lon = bounding_box(commune.lat, commune.lon, radius)
    if treating_doctor_id:
        where = db.session.execute(select(Doctor.lat, Doctor.lon).where(
            Doctor.id == treating_doctor_id)).first()
        if where is not None and where[0] is not None and where[1] is not None:
            min_lat, max_lat = min(min_lat, where[0]), max(max_lat, where[0])
            min_lon, max_lon = min(min_lon, where[1]), max(max_lon, where[1])
    return SearchQuery(cpts_id=user.cpts_id, user_id=user.id, lat=commune.lat, lon=commune.lon,
                       horizon_end=horizon_end,
                       treating_doctor_id=treating_doctor_id, mode=mode or None, day=day,
                       sector_id=sector_id, kind=kind or None, radius_km=radius,
                       limit=max(1, min(limit, 200)),
                       box=(min_lat, max_lat, min_lon, max_lon))


def run_search(q: SearchQuery) -> list[SlotResult]:
    """The bookable slots for ``q``, best first. Exactly one SQL query."""
    metrics.count_search()
    now = clock.now()
    min_lat, max_lat, min_lon, max_lon = q.box or bounding_box(q.lat, q.lon, q.radius_km)
    coslat = math.cos(math.radians(q.lat))
    dx = (Doctor.lon - q.lon) * coslat
    dy = Doctor.lat - q.lat
    approx = dx * dx + dy * dy
    if q.treating_doctor_id:
        treating_rank = case((Slot.doctor_id == q.treating_doctor_id, 0), else_=1)
    else:
        treating_rank = literal(1)
    status, cpts = Slot.status, Doctor.cpts_id
    if db.session.get_bind().dialect.name == "sqlite":
        # SQLite has no statistics by default and would walk every open slot by
        # (status, start): let it start from the doctors' bounding box instead
        # (ix_doctors_lat_lon, then ix_slots_doctor_start), not from the CPTS.
        # PostgreSQL plans on its statistics.
        status, cpts = Slot.status.concat(""), Doctor.cpts_id + 0
    conditions = [
        status == SlotStatus.OPEN.value,
        Slot.in_charter.is_(True),
        Slot.booked_count < Slot.capacity,
        Slot.start < q.horizon_end,
        # A fixed slot must still be ahead; a floating window must not be over.
        or_(Slot.start > now, and_(Slot.kind == SlotKind.FLOATING.value, Slot.end > now)),
        or_(Slot.held_until.is_(None), Slot.held_until <= now,
            Slot.held_by_user_id == q.user_id),
        Doctor.active.is_(True),
        cpts == q.cpts_id,
        Doctor.lat.between(min_lat, max_lat),
        Doctor.lon.between(min_lon, max_lon),
    ]
    if q.mode:
        conditions.append(Slot.mode == q.mode)
    if q.kind:
        conditions.append(Slot.kind == q.kind)
    if q.day:
        day_start = local_to_utc(q.day, time(0))
        day_end = local_to_utc(q.day + timedelta(days=1), time(0))
        conditions += [Slot.start < day_end, Slot.end > day_start]
    if q.sector_id:
        conditions.append(Doctor.commune_insee.in_(
            select(sector_communes.c.insee).where(sector_communes.c.sector_id == q.sector_id)))
    stmt = (select(Slot.id, Slot.kind, Slot.start, Slot.end, Slot.mode, Slot.capacity,
                   Slot.booked_count, Slot.held_by_user_id, Slot.held_until, Doctor.id,
                   Doctor.first_name, Doctor.last_name, Doctor.address, Doctor.lat,
                   Doctor.lon, Commune.name)
            .join(Doctor, Doctor.id == Slot.doctor_id)
            .join(Commune, Commune.insee == Doctor.commune_insee)
            .where(*conditions)
            .order_by(treating_rank, approx, Slot.start, Slot.id)
            .limit(q.limit))
    results = []
    for row in db.session.execute(stmt):
        (slot_id, kind, start, end, mode, capacity, booked, held_by, held_until, doctor_id,
         first, last, address, lat, lon, commune_name) = row
        dist = None
        if lat is not None and lon is not None:
            dist = round(distance_km(q.lat, q.lon, lat, lon), 1)
        results.append(SlotResult(
            slot_id=slot_id, kind=kind, start=start, end=end, mode=mode,
            remaining=capacity - booked, doctor_id=doctor_id,
            doctor_name=f"Dr {first} {last}", address=address or "",
            commune_name=commune_name, distance_km=dist,
            is_treating=bool(q.treating_doctor_id) and doctor_id == q.treating_doctor_id,
            held_by_me=held_by == q.user_id and held_until is not None and held_until > now))
    return results


def search_slots(user, commune: Commune, **kwargs) -> list[SlotResult]:
    return run_search(prepare_search(user, commune, **kwargs))
