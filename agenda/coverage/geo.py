"""Geographic coverage: distance from each commune to the nearest doctor with bookable
capacity, for a horizon (24 h, 48 h, the rest of this week) or a given ISO week.

*Bookable capacity* is the booking search's own notion
(:func:`agenda.booking.services.search.bookable_conditions`, reused, not copied): open, in
the charter, with room, not held, its doctor and place active, a fixed slot not yet
started, a floating window not over — as a booker who holds nothing would see it now,
with the search horizon widened to the window asked for. A commune is covered when such a
doctor practises within the charter radius, the radius included (a tolerance of 1 mm
absorbs floating-point error). Communes without coordinates cannot be measured: they are
counted in the population as not covered, and listed in a warning.

The nearest-doctor search runs on arrays: doctors' practices and communes' points are
mapped to unit vectors on the sphere and a KD-tree (scipy ``cKDTree``) answers every
commune's nearest neighbour at once; the chord length converts exactly to the
great-circle distance. No loop over pairs, no ORM object per commune.

Commune outlines for the map: ``agenda/data/contours-44.geojson.gz`` holds the communes of
Loire-Atlantique (44), taken from ``communes-fr-contours.geojson.gz`` (simplified ~100 m).
Données : INSEE, COG 2026 ; IGN — Licence Ouverte 2.0.
Other departments are read from ``AGENDA_CONTOURS_FILE`` (e.g. the full national file)
when set.
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources

import numpy as np
from flask_babel import gettext as _
from flask_babel import ngettext
from scipy.spatial import cKDTree
from sqlalchemy import select

from agenda import clock
from agenda.coverage.common import Territory, charter, territory
from agenda.extensions import db
from agenda.i18n import format_num
from agenda.slots.models import Slot
from agenda.territory.geo import EARTH_RADIUS_KM
from agenda.territory.models import Doctor, Place
from agenda.timeutil import iso_week, week_bounds

HORIZONS = ("24h", "48h", "week")
# A distance equal to the radius is within it: floating-point error is absorbed (1 mm).
RADIUS_TOLERANCE_KM = 1e-6


def within_radius(distance_km, radius_km: float):
    """``distance <= radius``, inclusive despite floating-point error (scalars or arrays)."""
    return distance_km <= radius_km + RADIUS_TOLERANCE_KM
ATTRIBUTION = "Données : INSEE, COG 2026 ; IGN — Licence Ouverte 2.0"
SHIPPED_CONTOURS = ("contours-44.geojson.gz",)


# --- arrays -----------------------------------------------------------------------------

def unit_vectors(lat, lon) -> np.ndarray:
    la = np.radians(np.asarray(lat, dtype=float))
    lo = np.radians(np.asarray(lon, dtype=float))
    cl = np.cos(la)
    return np.column_stack((cl * np.cos(lo), cl * np.sin(lo), np.sin(la)))


def nearest_km(points_lat, points_lon, sites_lat, sites_lon) -> tuple[np.ndarray, np.ndarray]:
    """For each point, (great-circle km to the nearest site, index of that site).

    No site: distances are ``inf`` and indexes ``-1``.
    """
    n = len(points_lat)
    if n == 0:
        return np.zeros(0), np.zeros(0, dtype=int)
    if len(sites_lat) == 0:
        return np.full(n, np.inf), np.full(n, -1, dtype=int)
    tree = cKDTree(unit_vectors(sites_lat, sites_lon))
    chord, idx = tree.query(unit_vectors(points_lat, points_lon), k=1)
    angle = 2 * np.arcsin(np.clip(chord / 2, 0.0, 1.0))
    return angle * EARTH_RADIUS_KM, np.asarray(idx, dtype=int)


def within_km(points_lat, points_lon, site_lat: float, site_lon: float,
              radius_km: float) -> np.ndarray:
    """Boolean mask of the points within ``radius_km`` of one site."""
    d, _ = nearest_km(points_lat, points_lon, [site_lat], [site_lon])
    return within_radius(d, radius_km)


# --- supply -----------------------------------------------------------------------------

def horizon_bounds(horizon: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """[now, now + 24 h / 48 h / end of this week); an ISO week ("2027-W12") gives that
    week, from now at the earliest (what is past cannot be booked any more)."""
    now = now or clock.now()
    if horizon not in HORIZONS:
        w_start, w_end = week_bounds(horizon)  # ValueError for a bad label
        return max(now, w_start), max(now, w_end)
    if horizon == "24h":
        return now, now + timedelta(hours=24)
    if horizon == "48h":
        return now, now + timedelta(hours=48)
    if horizon == "week":
        return now, week_bounds(iso_week(now))[1]
    raise ValueError(horizon)


def bookable_sites(cpts_ids: list[int], start: datetime, end: datetime,
                   now: datetime | None = None) -> list[tuple[int, int, float, float]]:
    """(CPTS id, doctor id, lat, lon) of the places with capacity bookable now in
    [start, end), for several CPTS in one query (the search's conditions)."""
    from agenda.booking.services.search import bookable_conditions

    if not cpts_ids:
        return []
    now = now or clock.now()
    stmt = (select(Slot.cpts_id, Doctor.id, Place.lat, Place.lon).distinct()
            .join(Doctor, Doctor.id == Slot.doctor_id)
            .join(Place, Place.id == Slot.place_id)
            .where(*bookable_conditions(0, now, dict.fromkeys(cpts_ids, end)),
                   Slot.end > start, Place.lat.is_not(None), Place.lon.is_not(None)))
    return [(r[0], r[1], r[2], r[3]) for r in db.session.execute(stmt)]


def bookable_slots(cpts_id: int, start: datetime, end: datetime,
                   now: datetime | None = None) -> list[tuple]:
    """(doctor id, lat, lon, slot start, slot end) of the capacity bookable now in
    [start, end): the search's conditions, its horizon widened to ``end``."""
    from agenda.booking.services.search import bookable_conditions

    now = now or clock.now()
    stmt = (select(Doctor.id, Place.lat, Place.lon, Slot.start, Slot.end)
            .join(Doctor, Doctor.id == Slot.doctor_id)
            .join(Place, Place.id == Slot.place_id)
            .where(*bookable_conditions(0, now, {cpts_id: end}), Slot.end > start,
                   Place.lat.is_not(None), Place.lon.is_not(None)))
    return [tuple(r) for r in db.session.execute(stmt)]


def bookable_doctors(cpts_id: int, start: datetime, end: datetime,
                     now: datetime | None = None) -> list[tuple[int, float, float]]:
    """(doctor id, lat, lon) of the doctors with bookable capacity in [start, end)."""
    seen: dict[int, tuple[int, float, float]] = {}
    for doctor_id, lat, lon, _s, _e in bookable_slots(cpts_id, start, end, now):
        seen.setdefault(doctor_id, (doctor_id, lat, lon))
    return sorted(seen.values())


# --- coverage ---------------------------------------------------------------------------

def bands(radius_km: float) -> list[tuple[float, str, str]]:
    """Distance bands (upper bound km, css class, label): thirds of the charter radius,
    then up to twice the radius, then beyond (or no doctor at all)."""
    r = float(radius_km)
    edges = [(round(r / 3, 1), "b1"), (round(2 * r / 3, 1), "b2"), (r, "b3"), (2 * r, "b4")]
    out, low = [], 0.0
    for upper, css in edges:
        out.append((upper, css, f"{format_num(low)}–{format_num(upper)}\u00a0km"))
        low = upper
    out.append((float("inf"), "b5", f"> {format_num(low)}\u00a0km"))
    return out


def band_of(distance: float, band_list) -> str:
    for upper, css, _label in band_list:
        if distance <= upper:
            return css
    return "b5"


@dataclass
class CommuneCoverage:
    insee: str
    name: str
    population: int
    lat: float
    lon: float
    distance_km: float | None  # None: no doctor with capacity at all
    doctor_id: int | None
    band: str
    covered: bool


@dataclass
class GeoCoverage:
    horizon: str
    start: datetime
    end: datetime
    radius_km: int
    communes: list[CommuneCoverage]
    doctors: list[tuple[int, float, float]]
    bands: list[tuple[float, str, str]]
    # Communes of the territory that cannot be placed (no coordinates): not covered.
    unplaced: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def population(self) -> int:
        """Everyone of the territory, the unplaced communes included."""
        return sum(c.population for c in self.communes) + sum(p for _i, _n, p in self.unplaced)

    @property
    def warnings(self) -> list[str]:
        if not self.unplaced:
            return []
        names = ", ".join(f"{n} ({i})" for i, n, _p in self.unplaced[:20])
        more = len(self.unplaced) - 20
        return [ngettext("%(num)d commune sans coordonnées ne peut pas être placée : "
                         "%(names)s%(more)s. Sa population (%(pop)s hab.) est comptée comme "
                         "non couverte.",
                         "%(num)d communes sans coordonnées ne peuvent pas être placées : "
                         "%(names)s%(more)s. Leur population (%(pop)s hab.) est comptée comme "
                         "non couverte.",
                         len(self.unplaced), names=names,
                  more=_(" et %(k)s autres", k=more) if more > 0 else "",
                  pop=sum(p for _i, _n, p in self.unplaced))]

    @property
    def covered_population(self) -> int:
        return sum(c.population for c in self.communes if c.covered)

    @property
    def covered_share(self) -> float:
        total = self.population
        return self.covered_population / total if total else 0.0

    @property
    def uncovered(self) -> list[CommuneCoverage]:
        return sorted((c for c in self.communes if not c.covered),
                      key=lambda c: (-c.population, c.name))

    def to_dict(self) -> dict:
        return {
            "horizon": self.horizon, "from": self.start.isoformat(), "to": self.end.isoformat(),
            "radius_km": self.radius_km, "population": self.population,
            "covered_population": self.covered_population,
            "covered_share": round(self.covered_share, 4),
            "doctors_with_capacity": len(self.doctors),
            "communes": [{"insee": c.insee, "name": c.name, "population": c.population,
                          "distance_km": None if c.distance_km is None
                          else round(c.distance_km, 2),
                          "nearest_doctor_id": c.doctor_id, "band": c.band,
                          "covered": c.covered} for c in self.communes],
            "uncovered": [c.insee for c in self.uncovered],
            "unplaced": [{"insee": i, "name": n, "population": p} for i, n, p in self.unplaced],
            "warnings": self.warnings,
        }


def coverage_from_arrays(terr: Territory, sites: list[tuple[int, float, float]],
                         radius_km: float) -> list[CommuneCoverage]:
    dist, idx = nearest_km(terr.lat, terr.lon, [s[1] for s in sites], [s[2] for s in sites])
    band_list = bands(radius_km)
    out = []
    for i in range(len(terr)):
        d = float(dist[i])
        finite = np.isfinite(d)
        out.append(CommuneCoverage(
            insee=terr.insee[i], name=terr.name[i], population=terr.population[i],
            lat=terr.lat[i], lon=terr.lon[i], distance_km=d if finite else None,
            doctor_id=sites[idx[i]][0] if finite else None,
            band=band_of(d, band_list) if finite else "b5",
            covered=bool(finite and within_radius(d, radius_km))))
    return out


def geo_coverage(cpts_id: int, horizon: str = "48h", now: datetime | None = None) -> GeoCoverage:
    """``horizon``: one of :data:`HORIZONS`, or an ISO week ("2027-W12")."""
    now = now or clock.now()
    start, end = horizon_bounds(horizon, now)
    ch = charter(cpts_id)
    terr = territory(cpts_id)
    sites = bookable_doctors(cpts_id, start, end, now)
    return GeoCoverage(horizon=horizon, start=start, end=end, radius_km=ch.radius_km,
                       communes=coverage_from_arrays(terr, sites, ch.radius_km),
                       doctors=sites, bands=bands(ch.radius_km), unplaced=terr.unplaced)


# --- contours ---------------------------------------------------------------------------

def _read_features(raw: bytes) -> dict[str, dict]:
    data = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    return {f["properties"]["insee"]: f["geometry"] for f in data.get("features", [])
            if f.get("geometry")}


@lru_cache(maxsize=4)
def _contours_cached(extra: str | None) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for name in SHIPPED_CONTOURS:
        out.update(_read_features(resources.files("agenda.data").joinpath(name).read_bytes()))
    if extra and os.path.exists(extra):
        with open(extra, "rb") as fh:
            for insee, geom in _read_features(fh.read()).items():
                out.setdefault(insee, geom)
    return out


def contours() -> dict[str, dict]:
    """INSEE code -> GeoJSON geometry (Polygon / MultiPolygon), lon/lat."""
    return _contours_cached(os.environ.get("AGENDA_CONTOURS_FILE"))


def distances_by_horizon(cpts_id: int, now: datetime | None = None) -> list[dict]:
    """Every commune of the territory with its distance (km, None: no doctor) to the
    nearest doctor with bookable capacity for each horizon — one query per horizon."""
    now = now or clock.now()
    terr = territory(cpts_id)
    radius = charter(cpts_id).radius_km
    rows = [{"insee": terr.insee[i], "commune": terr.name[i],
             "population": terr.population[i]} for i in range(len(terr))]
    for horizon in HORIZONS:
        start, end = horizon_bounds(horizon, now)
        sites = bookable_doctors(cpts_id, start, end, now)
        dist, _idx = nearest_km(terr.lat, terr.lon, [s[1] for s in sites],
                                [s[2] for s in sites])
        for i, row in enumerate(rows):
            d = float(dist[i])
            row[f"distance_{horizon}_km"] = round(d, 2) if np.isfinite(d) else None
            row[f"covered_{horizon}"] = bool(np.isfinite(d) and within_radius(d, radius))
    rows.sort(key=lambda r: (-r["population"], r["commune"]))
    return rows


DISTANCE_COLUMNS = ["insee", "commune", "population", "distance_24h_km", "covered_24h",
                    "distance_48h_km", "covered_48h", "distance_week_km", "covered_week"]
