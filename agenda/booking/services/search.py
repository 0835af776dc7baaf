"""Search of bookable slots across every CPTS the booker serves: the treating doctor's
first (wherever they practise), then the earliest (or, on request, the nearest).

One SQL query: a bounding-box pre-filter on the places' coordinates (indexed), the slot
conditions, and an ORDER BY on the start (``order="earliest"``, the default: a patient
on the phone wants the first consultation) or on an equirectangular distance
(``order="nearest"``: plain arithmetic, portable to SQLite and PostgreSQL; identical ranking
to the great-circle distance at the scale of a territory). The exact km shown are
computed on the result rows.

What is bookable is said once, by :func:`bookable_conditions` and :func:`horizon_ends`:
the search shows exactly that, and every booking path (pages, JSON API, SAS link) takes a
slot only under the same conditions (``agenda.booking.services.bookings``). Each CPTS's
own charter (horizon, radius) applies to its slots.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask_babel import gettext as _
from sqlalchemy import Float, Integer, and_, bindparam, case, join, or_, select, true

from agenda import clock, metrics
from agenda.accounts.scope import in_cpts
from agenda.slots.services import booking_horizon_end, charters_of
from agenda.errors import Forbidden, ValidationError
from agenda.extensions import db
from agenda.slots.models import Slot, SlotKind, SlotMode, SlotStatus
from agenda.territory.geo import bounding_box, distance_km
from agenda.territory.models import Commune, Doctor, Place, sector_communes
from agenda.timeutil import local_to_utc
from agenda.types import UTCDateTime

SEARCH_RADIUS_KM = 30
MIN_SEARCH_RADIUS_KM = 20
MAX_RESULTS = 50
ORDERS = ("earliest", "nearest")


@dataclass
class SearchQuery:
    """A resolved search: build it with :func:`prepare_search` (reads the charters)."""

    cpts_ids: list[int]
    user_id: int
    lat: float
    lon: float
    # CPTS id -> end of the booking horizon of its charter (narrowed by the booker's choice).
    horizons: dict[int, datetime]
    treating_doctor_id: int | None = None
    mode: str | None = None
    day: date | None = None
    sector_id: int | None = None
    radius_km: float = SEARCH_RADIUS_KM
    kind: str | None = None
    limit: int = MAX_RESULTS
    order: str = "earliest"
    # The bounding box of the places considered: the radius around the patient's commune,
    # stretched to take in the treating doctor's practices.
    box: tuple[float, float, float, float] | None = None

    @property
    def horizon_end(self) -> datetime:
        return max(self.horizons.values())


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
    cpts_id: int = 0
    cpts_name: str = ""
    place_id: int = 0

    @property
    def is_floating(self) -> bool:
        return self.kind == SlotKind.FLOATING.value

    def to_dict(self) -> dict:
        return {"slot_id": self.slot_id, "kind": self.kind, "start": self.start.isoformat(),
                "end": self.end.isoformat(), "mode": self.mode, "remaining": self.remaining,
                "doctor": {"id": self.doctor_id, "name": self.doctor_name,
                           "address": self.address, "commune": self.commune_name},
                "cpts": {"id": self.cpts_id, "name": self.cpts_name},
                "place_id": self.place_id,
                "distance_km": self.distance_km, "treating_doctor": self.is_treating,
                "held_by_me": self.held_by_me}


def search_scope(user) -> list[int]:
    """The CPTS ``user`` searches and books in (Forbidden when none)."""
    from agenda.accounts.scope import booking_scope

    scope = booking_scope(user)
    if not scope:
        raise Forbidden(_("Votre organisation ne réserve pour aucune CPTS : demandez à "
                          "l'administrateur de la CPTS de vous en donner l'accès."))
    return scope


def horizon_ends(cpts_ids: list[int], horizon_hours: int | None = None,
                 now: datetime | None = None, charters: dict | None = None
                 ) -> dict[int, datetime]:
    """CPTS id -> end of its charter's booking horizon ("48 h", "same day until 19:30"),
    narrowed to ``horizon_hours`` when the booker asks for less (never widened)."""
    now = now or clock.now()
    charters = charters if charters is not None else charters_of(cpts_ids)
    out = {}
    for cpts_id in cpts_ids:
        end = booking_horizon_end(charters[cpts_id], now)
        if horizon_hours:
            end = min(end, now + timedelta(hours=horizon_hours))
        out[cpts_id] = end
    return out


def bookable_conditions(user_id: int, now: datetime, horizons: dict[int, datetime], *,
                        status=None) -> list:
    """The SQL conditions of a slot ``user_id`` may book now (Slot, Doctor and Place joined):
    open, in the charter, with room, within its CPTS's horizon and the booker's CPTS, still
    ahead (a floating window: not over), not held by somebody else, its doctor and place
    active. The search filters on them; the booking's conditional UPDATE repeats the ones
    that can change under a race."""
    return _bookable(user_id, now, now - timedelta(hours=24),
                     Slot.cpts_id.in_(sorted(horizons)), max(horizons.values()),
                     _horizon_branches(horizons), status)


def _horizon_branches(horizons: dict[int, datetime]) -> list[tuple[int, datetime]]:
    """Each CPTS's ``(id, horizon)`` when their horizons differ, by id; none when they all
    end at the same time (the latest end then says it all)."""
    return [] if len(set(horizons.values())) == 1 else sorted(horizons.items())


def _bookable(user_id, now, since, in_scope, end, branches, status=None) -> list:
    """:func:`bookable_conditions` from its parts, values or bound parameters (the search's
    statement, built once: :func:`_search_template`): ``since`` a day before ``now``,
    ``in_scope`` the condition that the slot's CPTS is one of the booker's, ``end`` the
    latest horizon, ``branches`` each CPTS's ``(id, horizon)`` when they differ (else
    empty)."""
    status = Slot.status if status is None else status
    within = Slot.start < end
    if branches:
        within = and_(within, or_(*[and_(Slot.cpts_id == cpts_id, Slot.start < cpts_end)
                                    for cpts_id, cpts_end in branches]))
    return [
        status == SlotStatus.OPEN.value,
        Slot.in_charter.is_(True),
        Slot.booked_count < Slot.capacity,
        in_scope,
        within,
        # A slot lies within one day: a lower bound the (…, start) indexes can use, so that
        # no plan reads the past slots of the places in the box. It changes no result.
        Slot.start > since,
        # A fixed slot must still be ahead; a floating window must not be over.
        or_(Slot.start > now, and_(Slot.kind == SlotKind.FLOATING.value, Slot.end > now)),
        or_(Slot.held_until.is_(None), Slot.held_until <= now, Slot.held_by_user_id == user_id),
        Doctor.active.is_(True),
        Place.active.is_(True),
    ]


def prepare_search(user, commune: Commune, *, treating_doctor_id: int | None = None,
                   horizon_hours: int | None = None, mode: str | None = None,
                   day: date | None = None, sector_id: int | None = None,
                   kind: str | None = None, radius_km: float | None = None,
                   limit: int = MAX_RESULTS, cpts_ids: list[int] | None = None,
                   order: str | None = None) -> SearchQuery:
    if commune.lat is None or commune.lon is None:
        raise ValidationError(_("Cette commune n'a pas de coordonnées : recherche impossible."),
                              field="commune")
    if mode and mode not in {m.value for m in SlotMode}:
        raise ValidationError(_("Mode de consultation inconnu."), field="mode")
    if kind and kind not in {k.value for k in SlotKind}:
        raise ValidationError(_("Type de créneau inconnu."), field="kind")
    if order and order not in ORDERS:
        raise ValidationError(_("Ordre inconnu : « earliest » (le plus tôt) ou « nearest » "
                                "(le plus proche)."), field="order")
    if horizon_hours is not None and not 1 <= horizon_hours <= 24 * 14:
        raise ValidationError(_("Horizon de recherche invalide (1 heure à 14 jours)."),
                              field="horizon")
    scope = search_scope(user)
    if cpts_ids:
        scope = [c for c in scope if c in set(cpts_ids)] or scope
    charters = charters_of(scope)  # one query, whatever the number of CPTS
    horizons = horizon_ends(scope, horizon_hours, charters=charters)
    # Twice the widest charter radius (30 km by default): beyond that an SNP consultation
    # is not a realistic offer; the treating doctor is always included (see ``box``).
    widest = max(charters[c].radius_km for c in scope)
    radius = radius_km or max(2 * widest, MIN_SEARCH_RADIUS_KM)
    min_lat, max_lat, min_lon, max_lon = bounding_box(commune.lat, commune.lon, radius)
    if treating_doctor_id:
        for lat, lon in db.session.execute(select(Place.lat, Place.lon).where(
                Place.doctor_id == treating_doctor_id, Place.active.is_(True),
                Place.cpts_id.in_(scope))):
            if lat is not None and lon is not None:
                min_lat, max_lat = min(min_lat, lat), max(max_lat, lat)
                min_lon, max_lon = min(min_lon, lon), max(max_lon, lon)
    return SearchQuery(cpts_ids=scope, user_id=user.id, lat=commune.lat, lon=commune.lon,
                       horizons=horizons,
                       treating_doctor_id=treating_doctor_id, mode=mode or None, day=day,
                       sector_id=sector_id, kind=kind or None, radius_km=radius,
                       limit=max(1, min(limit, 200)), order=order or "earliest",
                       box=(min_lat, max_lat, min_lon, max_lon))


def run_search(q: SearchQuery) -> list[SlotResult]:
    """The bookable slots for ``q``, best first. Exactly one SQL query."""
    metrics.count_search()
    now = clock.now()
    results = []
    for row in db.session.execute(*search_statement(q, now)):
        dist = None
        if row.lat is not None and row.lon is not None:
            dist = round(distance_km(q.lat, q.lon, row.lat, row.lon), 1)
        results.append(SlotResult(
            slot_id=row.id, kind=row.kind, start=row.start, end=row.end, mode=row.mode,
            remaining=row.capacity - row.booked_count, doctor_id=row.doctor_id,
            doctor_name=f"Dr {row.first_name} {row.last_name}", address=row.address or "",
            commune_name=row.commune_name, distance_km=dist,
            is_treating=bool(q.treating_doctor_id) and row.doctor_id == q.treating_doctor_id,
            held_by_me=(row.held_by_user_id == q.user_id and row.held_until is not None
                        and row.held_until > now),
            cpts_id=row.cpts_id, cpts_name=row.cpts_name, place_id=row.place_id))
    return results


def search_statement(q: SearchQuery, now: datetime) -> tuple:
    """The search's one query and its parameters. The statement depends only on the shape
    of the search (the engine, how many distinct horizons, the order, which filters are
    set): it is built once per shape (:func:`_search_template`) and each search sends its
    values as parameters — building it cost more than running it."""
    branches = _horizon_branches(q.horizons)
    postgresql = db.session.get_bind().dialect.name == "postgresql"
    stmt = _search_template(postgresql, len(branches), q.order, bool(q.treating_doctor_id),
                            bool(q.mode), bool(q.kind), bool(q.day), bool(q.sector_id))
    min_lat, max_lat, min_lon, max_lon = q.box or bounding_box(q.lat, q.lon, q.radius_km)
    params = {"search_user": q.user_id, "search_now": now,
              "search_since": now - timedelta(hours=24),
              "search_cpts": sorted(q.horizons), "search_end": max(q.horizons.values()),
              "search_lat": q.lat, "search_lon": q.lon,
              "search_coslat": math.cos(math.radians(q.lat)),
              "search_min_lat": min_lat, "search_max_lat": max_lat,
              "search_min_lon": min_lon, "search_max_lon": max_lon, "search_limit": q.limit}
    for i, (cpts_id, end) in enumerate(branches):
        params[f"search_c{i}"], params[f"search_e{i}"] = cpts_id, end
    if q.treating_doctor_id:
        params["search_treating"] = q.treating_doctor_id
    if q.mode:
        params["search_mode"] = q.mode
    if q.kind:
        params["search_kind"] = q.kind
    if q.day:
        params["search_day_start"] = local_to_utc(q.day, time(0))
        params["search_day_end"] = local_to_utc(q.day + timedelta(days=1), time(0))
    if q.sector_id:
        params["search_sector"] = q.sector_id
    return stmt, params


@functools.lru_cache(maxsize=256)
def _search_template(postgresql: bool, branches: int, order: str, treating: bool,
                     mode: bool, kind: bool, day: bool, sector: bool):
    """The search query for one shape, its values as bound parameters (``search_…``).

    The places of the bounding box come first (indexed on their coordinates); each place's
    bookable slots are read in start order up to the limit over the slots' ``(place_id,
    start)`` index — a top-N per place, however many slots the territory holds
    (PostgreSQL: a ``LATERAL`` subquery ``ORDER BY start LIMIT n``; SQLite: the same
    places, their slots through ``ix_slots_place_start``). The commune's and the CPTS's
    names are read for the returned rows only. What is bookable is
    :func:`bookable_conditions` (``branches``: 0 when every CPTS's horizon ends at the same
    time, else one per CPTS)."""
    from agenda.accounts.models import Organisation

    def param(name, type_=None):
        return bindparam(f"search_{name}", type_=type_)

    now = param("now", UTCDateTime)
    dx = (Place.lon - param("lon", Float)) * param("coslat", Float)
    dy = Place.lat - param("lat", Float)
    approx = dx * dx + dy * dy
    # The treating doctor's slots first (wherever they practise), when one is named.
    treating_rank = (case((Place.doctor_id == param("treating"), 0), else_=1),) \
        if treating else ()
    status = Slot.status
    if not postgresql:
        # SQLite has no statistics by default and would walk every open slot by
        # (status, start): let it start from the places' bounding box instead
        # (ix_places_lat_lon, then ix_slots_place_start).
        status = Slot.status.concat("")
    slot_conditions = _bookable(param("user"), now, param("since", UTCDateTime),
                                in_cpts(Slot.cpts_id, "search_cpts", postgresql),
                                param("end", UTCDateTime),
                                [(param(f"c{i}"), param(f"e{i}", UTCDateTime))
                                 for i in range(branches)], status)
    if mode:
        slot_conditions.append(Slot.mode == param("mode"))
    if kind:
        slot_conditions.append(Slot.kind == param("kind"))
    if day:
        slot_conditions += [Slot.start < param("day_end", UTCDateTime),
                            Slot.end > param("day_start", UTCDateTime)]
    # Pre-filters on the places (like the box; the slots' own CPTS is in the conditions).
    place_conditions = [Place.lat.between(param("min_lat"), param("max_lat")),
                        Place.lon.between(param("min_lon"), param("max_lon")),
                        in_cpts(Place.cpts_id, "search_cpts", postgresql)]
    if sector:
        place_conditions.append(Place.commune_insee.in_(
            select(sector_communes.c.insee).where(sector_communes.c.sector_id == param("sector"))))
    limit = param("limit", Integer)
    slot_columns = (Slot.id, Slot.kind, Slot.start, Slot.end, Slot.mode, Slot.capacity,
                    Slot.booked_count, Slot.held_by_user_id, Slot.held_until, Slot.cpts_id,
                    Slot.doctor_id, Doctor.first_name, Doctor.last_name)
    if postgresql:
        slots = (select(*slot_columns).join(Doctor, Doctor.id == Slot.doctor_id)
                 .where(Slot.place_id == Place.id, *slot_conditions)
                 .order_by(Slot.start, Slot.id).limit(limit).lateral("s"))
        from_ = join(Place, slots, true())
    else:
        slots = join(Slot, Doctor, Doctor.id == Slot.doctor_id)
        from_ = join(Place, slots, and_(Slot.place_id == Place.id, *slot_conditions))
    columns = [slots.c[c.key] if postgresql else c for c in slot_columns]
    by_id = {c.key: col for c, col in zip(slot_columns, columns, strict=True)}
    rank = (*treating_rank, approx, by_id["start"], by_id["id"]) if order == "nearest" \
        else (*treating_rank, by_id["start"], approx, by_id["id"])
    top = (select(*columns, Place.address, Place.lat, Place.lon, Place.commune_insee,
                  Place.id.label("place_id"), *[r.label(f"rank_{i}") for i, r in enumerate(rank)])
           .select_from(from_).where(*place_conditions).order_by(*rank).limit(limit)
           .subquery("top"))
    commune_name = (select(Commune.name).where(Commune.insee == top.c.commune_insee)
                    .scalar_subquery())
    cpts_name = select(Organisation.name).where(Organisation.id == top.c.cpts_id) \
        .scalar_subquery()
    return (select(top, commune_name.label("commune_name"), cpts_name.label("cpts_name"))
            .order_by(*[top.c[f"rank_{i}"] for i in range(len(rank))]))


def search_slots(user, commune: Commune, **kwargs) -> list[SlotResult]:
    return run_search(prepare_search(user, commune, **kwargs))
