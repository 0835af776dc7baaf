"""Coverage and statistics at department level, for those who serve several CPTS (the SAMU,
the emergency departments) and for the platform operator.

For the CPTS of a user's :func:`~agenda.accounts.scope.supervision_scope`:

* **communes** — every commune of the departments these CPTS's sectors touch (a CPTS
  without sectors: the departments of its places), each with the nearest bookable capacity
  of any of these CPTS. A commune is *covered* when at least one CPTS has a doctor with open
  capacity within that CPTS's own charter radius; the others are listed with their
  population. Same arrays and KD-tree as :mod:`agenda.coverage.geo` (one tree per CPTS).
* **hourly** — the weekday x hour grid of each CPTS (:func:`agenda.coverage.hourly.hourly_grid`)
  and their sum: supply, booked and demand add up; an hour is in publication hours when it
  is in one CPTS's; a merged hour is flagged when no CPTS offers anything in it.
* **channels** — calls, floating requests, bookings and reorientations of a period by CPTS
  and by channel (secretariat / SAMU / ED), from the ``cpts_id`` columns, with the
  definitions of :mod:`agenda.coverage.stats` (so each CPTS's rows equal its own statistics).

Only counts and communes: no query here reads a patient.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import func, select, union

from agenda.accounts.models import Organisation, Role, User
from agenda.accounts.scope import supervision_scope
from agenda.booking.models import (Booking, BookingStatus, CallLog, FloatingRequest,
                                   Reorientation, RequestStatus)
from agenda.coverage import geo, hourly, stats
from agenda.coverage.common import charter, territory_of
from agenda.errors import Forbidden, NotFound, ValidationError
from agenda.extensions import db
from agenda.territory.models import Commune, Place, Sector, sector_communes
from agenda.timeutil import parse_week

# The roles that read the department view (the route rules use the same tuple). Not the
# secretaries, even of a call centre shared by several CPTS: they book, they do not
# supervise, and a CPTS's figures are its coordinator's (the operator can share them).
DEPARTMENT_ROLES = (Role.REGULATOR.value, Role.ED_NURSE.value, Role.OPERATOR.value)

COUNTS = ("calls", "requests", "requests_accepted", "requests_expired", "bookings",
          "consultations", "no_shows", "cancelled", "reorientations")


@dataclass
class CptsInfo:
    id: int
    name: str
    radius_km: int


def department_scope(user: User, only: list[int] | None = None) -> list[CptsInfo]:
    """The CPTS whose department figures ``user`` may read (restricted to ``only`` when
    given). A CPTS coordinator or administrator reads their own CPTS's pages, not these."""
    if user.role not in DEPARTMENT_ROLES:
        raise Forbidden(_("La vue départementale est réservée au SAMU, aux urgences et à "
                          "l'opérateur de la plateforme."))
    ids = supervision_scope(user)
    if only:
        outside = set(only) - set(ids)
        if outside:
            raise NotFound(_("CPTS introuvable dans votre périmètre : %(ids)s.",
                             ids=", ".join(str(i) for i in sorted(outside))))
        ids = [i for i in ids if i in set(only)]
    names = dict(db.session.execute(
        select(Organisation.id, Organisation.name).where(Organisation.id.in_(ids))).all())
    return [CptsInfo(i, names.get(i, str(i)), charter(i).radius_km) for i in ids]


def parse_cpts(args: list[str]) -> list[int] | None:
    """``cpts=1,2`` (or repeated) from a query string: restrict the view to some CPTS."""
    values = [v.strip() for arg in args for v in arg.split(",") if v.strip()]
    try:
        return [int(v) for v in values] or None
    except ValueError:
        raise ValidationError(_("Liste de CPTS invalide (identifiants séparés par des "
                                "virgules)."), field="cpts") from None


# --- communes -----------------------------------------------------------------------------

def departments_of(cpts_ids: list[int]) -> list[str]:
    """Departments of the CPTS's sectors' communes; for a CPTS without sectors, of its
    places' communes."""
    with_sectors = select(Sector.cpts_id).where(Sector.cpts_id.in_(cpts_ids))
    of_sectors = (select(Commune.department)
                  .join(sector_communes, sector_communes.c.insee == Commune.insee)
                  .join(Sector, Sector.id == sector_communes.c.sector_id)
                  .where(Sector.cpts_id.in_(cpts_ids)))
    of_places = (select(Commune.department).join(Place, Place.commune_insee == Commune.insee)
                 .where(Place.cpts_id.in_(cpts_ids), Place.cpts_id.not_in(with_sectors),
                        Place.active.is_(True)))
    return sorted(db.session.scalars(union(of_sectors, of_places)))


@dataclass
class DepartmentCommune(geo.CommuneCoverage):
    """A commune with its nearest capacity among the CPTS, and who covers it."""

    department: str = ""
    cpts_id: int | None = None  # CPTS of the nearest capacity
    covered_by: list[int] = field(default_factory=list)


def ratio_bands() -> list[tuple[float, str, str]]:
    """Bands of distance as a share of the charter radius of the CPTS that comes closest
    (radii differ from one CPTS to another)."""
    return [(1 / 3, "b1", _("moins du tiers du rayon")),
            (2 / 3, "b2", _("du tiers aux deux tiers du rayon")),
            (1.0, "b3", _("jusqu'au rayon de la charte")),
            (2.0, "b4", _("jusqu'au double du rayon")),
            (float("inf"), "b5", _("au-delà, ou aucun médecin"))]


@dataclass
class DepartmentGeo(geo.GeoCoverage):
    departments: list[str] = field(default_factory=list)
    cpts: list[CptsInfo] = field(default_factory=list)

    @property
    def cpts_names(self) -> dict[int, str]:
        return {c.id: c.name for c in self.cpts}

    def covered_population_by_cpts(self) -> dict[int, int]:
        out = {c.id: 0 for c in self.cpts}
        for c in self.communes:
            for cid in c.covered_by:
                out[cid] += c.population
        return out

    def to_dict(self) -> dict:
        data = super().to_dict()
        data.pop("radius_km")
        data["departments"] = self.departments
        by_cpts = self.covered_population_by_cpts()
        data["cpts"] = [{"id": c.id, "name": c.name, "radius_km": c.radius_km,
                         "covered_population": by_cpts[c.id]} for c in self.cpts]
        for row, c in zip(data["communes"], self.communes, strict=True):
            row.update(department=c.department, nearest_cpts_id=c.cpts_id,
                       covered_by=c.covered_by)
        data["uncovered"] = [{"insee": c.insee, "name": c.name, "population": c.population,
                              "distance_km": None if c.distance_km is None
                              else round(c.distance_km, 2), "nearest_cpts_id": c.cpts_id}
                             for c in self.uncovered]
        return data


def department_geo(cpts: list[CptsInfo], horizon: str = "48h",
                   now: datetime | None = None) -> DepartmentGeo:
    if horizon not in geo.HORIZONS:
        raise ValueError(horizon)
    start, end = geo.horizon_bounds(horizon, now)
    ids = [c.id for c in cpts]
    departments = departments_of(ids) if ids else []
    in_departments = Commune.department.in_(departments)
    terr = territory_of(select(Commune.insee, Commune.name, Commune.population, Commune.lat,
                               Commune.lon).where(in_departments))
    department_of = dict(db.session.execute(
        select(Commune.insee, Commune.department).where(in_departments)).all())
    sites = geo.bookable_sites(ids, start, end) if ids else []
    import numpy as np  # here, not at start-up (see agenda.coverage.geo)

    n = len(terr)
    best = np.full(n, np.inf)          # nearest distance, any CPTS
    best_cpts = np.full(n, -1)
    best_doctor = np.full(n, -1)
    best_ratio = np.full(n, np.inf)    # distance / radius of the CPTS that comes closest
    covered_by: list[list[int]] = [[] for _ in range(n)]
    for c in cpts:
        own = [s for s in sites if s[0] == c.id]
        if not own:
            continue
        dist, idx = geo.nearest_km(terr.lat, terr.lon, [s[2] for s in own],
                                   [s[3] for s in own])
        doctor_ids = np.array([s[1] for s in own])[idx]
        closer = dist < best
        best = np.where(closer, dist, best)
        best_cpts = np.where(closer, c.id, best_cpts)
        best_doctor = np.where(closer, doctor_ids, best_doctor)
        best_ratio = np.minimum(best_ratio, dist / c.radius_km)
        for i in np.flatnonzero(dist <= c.radius_km):
            covered_by[i].append(c.id)
    band_list = ratio_bands()
    communes = []
    for i in range(n):
        finite = bool(np.isfinite(best[i]))
        communes.append(DepartmentCommune(
            insee=terr.insee[i], name=terr.name[i], population=terr.population[i],
            lat=terr.lat[i], lon=terr.lon[i],
            distance_km=float(best[i]) if finite else None,
            doctor_id=int(best_doctor[i]) if finite else None,
            band=geo.band_of(float(best_ratio[i]), band_list) if finite else "b5",
            covered=bool(covered_by[i]), department=department_of[terr.insee[i]],
            cpts_id=int(best_cpts[i]) if finite else None, covered_by=covered_by[i]))
    doctors = sorted({(s[1], s[2], s[3]) for s in sites})
    return DepartmentGeo(horizon=horizon, start=start, end=end,
                         radius_km=max((c.radius_km for c in cpts), default=0),
                         communes=communes, doctors=doctors, bands=band_list,
                         departments=departments, cpts=cpts)


# --- hourly -------------------------------------------------------------------------------

def merge_grids(week: str, grids: list[hourly.HourlyGrid]) -> hourly.HourlyGrid:
    """The sum of several CPTS's grids of the same week."""
    monday = parse_week(week)
    cells = {(wd, h): hourly.Cell(wd, h) for wd in range(1, 8) for h in range(24)}
    doctor_cells: dict[int, set[tuple[int, int]]] = defaultdict(set)
    hours: set[int] = set()
    for grid in grids:
        for key, c in grid.cells.items():
            m = cells[key]
            m.supply += c.supply
            m.booked += c.booked
            m.demand += c.demand
            m.in_hours = m.in_hours or c.in_hours
        for doctor_id, keys in grid.doctor_cells.items():
            doctor_cells[doctor_id] |= keys
        hours.update(grid.hours)
    return hourly.HourlyGrid(
        week=week, days=[(i + 1, monday + timedelta(days=i)) for i in range(7)],
        hours=list(range(min(hours), max(hours) + 1)) if hours else list(range(8, 20)),
        cells=cells, demand_weeks=grids[0].demand_weeks if grids else 0,
        doctor_cells=dict(doctor_cells))


@dataclass
class DepartmentHourly:
    week: str
    per_cpts: list[tuple[CptsInfo, hourly.HourlyGrid]]
    merged: hourly.HourlyGrid

    def to_dict(self) -> dict:
        return {"week": self.week, "merged": self.merged.to_dict(),
                "per_cpts": [{"cpts_id": c.id, "cpts": c.name, **g.to_dict()}
                             for c, g in self.per_cpts]}


def department_hourly(cpts: list[CptsInfo], week: str) -> DepartmentHourly:
    per_cpts = [(c, hourly.hourly_grid(c.id, week)) for c in cpts]
    return DepartmentHourly(week=week, per_cpts=per_cpts,
                            merged=merge_grids(week, [g for _c, g in per_cpts]))


# --- requests by CPTS and channel ---------------------------------------------------------

@dataclass
class ChannelTable:
    period: stats.Period
    cpts: list[CptsInfo]
    channels: list[str]
    # (cpts id, channel) -> counts (see COUNTS)
    counts: dict[tuple[int, str], dict[str, int]]

    def row(self, cpts_id: int | None = None, channel: str | None = None) -> dict[str, int]:
        """Counts of one CPTS and channel; None sums over all of them."""
        out = dict.fromkeys(COUNTS, 0)
        for (cid, ch), n in self.counts.items():
            if (cpts_id is None or cid == cpts_id) and (channel is None or ch == channel):
                for k in COUNTS:
                    out[k] += n.get(k, 0)
        return out

    @staticmethod
    def label(channel: str) -> str:
        return stats.channel_label(channel)

    def rows(self) -> list[dict]:
        """A row per CPTS and channel, in the scope's order."""
        return [{"cpts_id": c.id, "cpts": c.name, "channel": ch,
                 "label": stats.channel_label(ch), **self.row(c.id, ch)}
                for c in self.cpts for ch in self.channels]

    def to_dict(self) -> dict:
        return {"from": self.period.start_date.isoformat(),
                "to": self.period.end_date.isoformat(),
                "rows": self.rows(),
                "by_cpts": [{"cpts_id": c.id, "cpts": c.name, **self.row(c.id)}
                            for c in self.cpts],
                "by_channel": [{"channel": ch, "label": stats.channel_label(ch),
                                **self.row(channel=ch)} for ch in self.channels],
                "total": self.row()}


def requests_by_channel(cpts: list[CptsInfo], period: stats.Period) -> ChannelTable:
    """Four grouped queries over the scope (bookings by consultation start, the others by
    the time they were made), as :func:`agenda.coverage.stats.compute` counts them."""
    ids = [c.id for c in cpts]
    start, end = period.start, period.end
    counts: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for cid, channel, status, n in db.session.execute(
            select(Booking.cpts_id, Booking.channel, Booking.status, func.count(Booking.id))
            .where(Booking.cpts_id.in_(ids), Booking.start >= start, Booking.start < end)
            .group_by(Booking.cpts_id, Booking.channel, Booking.status)):
        bucket = counts[(cid, channel)]
        if status == BookingStatus.CANCELLED.value:
            bucket["cancelled"] += n
        else:
            _tally(bucket, status, n)
    for cid, channel, status, n in db.session.execute(
            select(FloatingRequest.cpts_id, FloatingRequest.channel, FloatingRequest.status,
                   func.count(FloatingRequest.id))
            .where(FloatingRequest.cpts_id.in_(ids), FloatingRequest.created_at >= start,
                   FloatingRequest.created_at < end)
            .group_by(FloatingRequest.cpts_id, FloatingRequest.channel,
                      FloatingRequest.status)):
        bucket = counts[(cid, channel)]
        bucket["requests"] += n
        if status == RequestStatus.ACCEPTED.value:
            bucket["requests_accepted"] += n
        elif status == RequestStatus.EXPIRED.value:
            bucket["requests_expired"] += n
    for cid, channel, n in db.session.execute(
            select(Reorientation.cpts_id, Reorientation.channel, func.count(Reorientation.id))
            .where(Reorientation.cpts_id.in_(ids), Reorientation.created_at >= start,
                   Reorientation.created_at < end)
            .group_by(Reorientation.cpts_id, Reorientation.channel)):
        counts[(cid, channel)]["reorientations"] += n
    for cid, channel, n in db.session.execute(
            select(CallLog.cpts_id, CallLog.channel, func.coalesce(func.sum(CallLog.count), 0))
            .where(CallLog.cpts_id.in_(ids), CallLog.created_at >= start,
                   CallLog.created_at < end)
            .group_by(CallLog.cpts_id, CallLog.channel)):
        counts[(cid, channel)]["calls"] += int(n)
    found = {ch for _cid, ch in counts}
    channels = list(stats.CHANNELS) + sorted(found - set(stats.CHANNELS))
    return ChannelTable(period=period, cpts=cpts, channels=channels,
                        counts={k: dict(v) for k, v in counts.items()})


# --- the whole view -----------------------------------------------------------------------

@dataclass
class Department:
    cpts: list[CptsInfo]
    geo: DepartmentGeo
    hourly: DepartmentHourly
    channels: ChannelTable

    def to_dict(self) -> dict:
        return {"cpts": [{"id": c.id, "name": c.name, "radius_km": c.radius_km}
                         for c in self.cpts],
                "communes": self.geo.to_dict(), "hourly": self.hourly.to_dict(),
                "requests": self.channels.to_dict()}


def _tally(bucket: dict, status: str, n: int) -> None:
    """Count ``n`` non-cancelled bookings of ``status`` into ``bucket``."""
    bucket["bookings"] += n
    if status == BookingStatus.SEEN.value:
        bucket["seen"] += n
    elif status == BookingStatus.NO_SHOW.value:
        bucket["no_shows"] += n


def department(user: User, *, week: str, horizon: str, period: stats.Period,
               only: list[int] | None = None) -> Department:
    """Everything the department page and API show, for ``user``'s scope."""
    cpts = department_scope(user, only)
    return Department(cpts=cpts, geo=department_geo(cpts, horizon),
                      hourly=department_hourly(cpts, week),
                      channels=requests_by_channel(cpts, period))
