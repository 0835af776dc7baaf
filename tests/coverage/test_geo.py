"""Geographic coverage on a small territory whose distances are computed by hand.

Communes on one meridian (lon -1.5): 0.1 degree of latitude is 11.1195 km on the sphere of
radius 6371.0088 km (2 * pi * R / 360 * 0.1).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agenda.coverage import geo
from agenda.coverage.common import Territory
from agenda.territory.geo import distance_km
from tests.coverage.helpers import add_slot

KM_PER_TENTH = 2 * math.pi * 6371.0088 / 360 * 0.1  # 11.1195 km


def test_hand_computed_distances_and_population_share(line, frozen):
    now = frozen.set(datetime(2026, 11, 30, 8, 0, tzinfo=UTC))  # Monday 09:00 Paris
    doc_a, doc_b = line
    add_slot(doc_a, now + timedelta(hours=3))  # within 24 h
    add_slot(doc_b, now + timedelta(hours=30))  # within 48 h, not 24 h
    cov24 = geo.geo_coverage(doc_a.cpts_id, "24h")
    dist = {c.insee: c.distance_km for c in cov24.communes}
    assert dist["99001"] == pytest.approx(0, abs=1e-6)
    assert dist["99002"] == pytest.approx(KM_PER_TENTH, rel=1e-6)
    assert dist["99003"] == pytest.approx(2 * KM_PER_TENTH, rel=1e-6)
    assert dist["99004"] == pytest.approx(4 * KM_PER_TENTH, rel=1e-6)
    # Radius 15 km (default charter): Aval and Bourg covered = 3000 of 10000 people.
    assert cov24.covered_population == 3000
    assert cov24.covered_share == pytest.approx(0.3)
    assert [c.name for c in cov24.uncovered] == ["Dune", "Colline"]  # by population
    assert {c.insee: c.band for c in cov24.communes} == {
        "99001": "b1", "99002": "b3", "99003": "b4", "99004": "b5"}

    cov48 = geo.geo_coverage(doc_a.cpts_id, "48h")
    dist = {c.insee: c.distance_km for c in cov48.communes}
    assert dist["99003"] == pytest.approx(2 * KM_PER_TENTH, rel=1e-6)  # 22.2 km either way
    assert dist["99004"] == pytest.approx(0, abs=1e-6)
    assert cov48.covered_population == 1000 + 2000 + 4000
    assert [c.name for c in cov48.uncovered] == ["Colline"]


def test_full_or_withdrawn_or_hors_charte_slots_are_not_capacity(line, frozen):
    now = frozen.set(datetime(2026, 11, 30, 8, 0, tzinfo=UTC))
    doc_a, doc_b = line
    add_slot(doc_a, now + timedelta(hours=2), booked=1)  # full
    add_slot(doc_a, now + timedelta(hours=3), status="withdrawn")
    add_slot(doc_b, now + timedelta(hours=3), in_charter=False)
    add_slot(doc_b, now - timedelta(hours=3))  # past
    cov = geo.geo_coverage(doc_a.cpts_id, "week")
    assert cov.doctors == []
    assert all(c.distance_km is None and not c.covered for c in cov.communes)
    assert cov.covered_share == 0
    # A floating window already open counts until its end.
    add_slot(doc_b, now - timedelta(hours=1), minutes=180, kind="floating", capacity=3,
             booked=2)
    cov = geo.geo_coverage(doc_a.cpts_id, "24h")
    assert [d[0] for d in cov.doctors] == [doc_b.id]


def test_week_horizon_ends_with_the_local_week(line, frozen):
    now = frozen.set(datetime(2026, 12, 4, 8, 0, tzinfo=UTC))  # Friday
    doc_a, _ = line
    add_slot(doc_a, datetime(2026, 12, 6, 22, 30, tzinfo=UTC))  # Sunday 23:30 Paris
    add_slot(doc_a, datetime(2026, 12, 6, 23, 10, tzinfo=UTC))  # Monday 00:10 Paris
    start, end = geo.horizon_bounds("week", now)
    assert end == datetime(2026, 12, 6, 23, 0, tzinfo=UTC)
    assert len(geo.geo_coverage(doc_a.cpts_id, "week").doctors) == 1


def test_api_communes(line, frozen, api_client):
    now = frozen.set(datetime(2026, 11, 30, 8, 0, tzinfo=UTC))
    doc_a, _ = line
    add_slot(doc_a, now + timedelta(hours=3))
    client, headers, _ = api_client("coordinator")
    data = client.get("/api/v1/coverage/communes?horizon=24h", headers=headers).get_json()
    assert data["covered_population"] == 3000
    assert data["uncovered"] == ["99004", "99003"]
    assert {c["insee"]: c["nearest_doctor_id"] for c in data["communes"]}["99003"] == doc_a.id
    resp = client.get("/api/v1/coverage/communes?horizon=3d", headers=headers)
    assert resp.status_code == 400
    client, headers, _ = api_client("regulator")
    assert client.get("/api/v1/coverage/communes", headers=headers).status_code == 403
    spec = client.get("/api/v1/openapi.json").get_json()
    for path in ("/coverage/hourly", "/coverage/communes", "/stats"):
        assert "get" in spec["paths"][path]


coords = st.tuples(st.floats(41.0, 51.5), st.floats(-5.5, 10.0))


@settings(max_examples=40, deadline=None)
@given(points=st.lists(coords, min_size=1, max_size=30),
       sites=st.lists(coords, min_size=1, max_size=30))
def test_kdtree_nearest_equals_brute_force_haversine(points, sites):
    dist, idx = geo.nearest_km([p[0] for p in points], [p[1] for p in points],
                               [s[0] for s in sites], [s[1] for s in sites])
    for i, (lat, lon) in enumerate(points):
        brute = min(distance_km(lat, lon, s[0], s[1]) for s in sites)
        assert dist[i] == pytest.approx(brute, abs=1e-6)
        assert distance_km(lat, lon, *sites[idx[i]]) == pytest.approx(brute, abs=1e-6)


def test_no_site_means_infinite_distance():
    terr = Territory(["1"], ["x"], [10], [47.0], [-1.0])
    out = geo.coverage_from_arrays(terr, [], 15)
    assert out[0].distance_km is None and out[0].band == "b5" and not out[0].covered
    d, idx = geo.nearest_km([47.0], [-1.0], [], [])
    assert np.isinf(d[0]) and idx[0] == -1


def test_bands_follow_the_charter_radius():
    labels = [b[2] for b in geo.bands(15)]
    assert [t.replace("\u00a0", " ") for t in labels] == [
        "0–5 km", "5–10 km", "10–15 km", "15–30 km", "> 30 km"]
    assert geo.band_of(15.0, geo.bands(15)) == "b3"
    assert geo.band_of(15.01, geo.bands(15)) == "b4"


def test_shipped_contours_cover_the_department():
    shapes = geo.contours()
    assert len([k for k in shapes if k.startswith("44")]) == 207
    assert shapes["44036"]["type"] in ("Polygon", "MultiPolygon")


def test_every_horizon_at_once_and_csv(line, frozen, login_as):
    now = frozen.set(datetime(2026, 11, 30, 8, 0, tzinfo=UTC))
    doc_a, doc_b = line
    add_slot(doc_a, now + timedelta(hours=3))
    add_slot(doc_b, now + timedelta(hours=30))
    rows = {r["insee"]: r for r in geo.distances_by_horizon(doc_a.cpts_id)}
    assert rows["99004"]["distance_24h_km"] == pytest.approx(4 * KM_PER_TENTH, abs=0.01)
    assert rows["99004"]["distance_48h_km"] == 0
    assert (rows["99004"]["covered_24h"], rows["99004"]["covered_week"]) == (False, True)
    assert rows["99003"]["covered_week"] is False
    client = login_as("coordinator")
    people = client.get("/coverage/map?format=csv").get_data(as_text=True).lstrip("\ufeff")
    assert people.startswith("Code INSEE;Commune;Population;Distance à 24 h (km);")
    body = client.get("/coverage/map?format=csv&technique=1").get_data(as_text=True)
    lines = body.lstrip("\ufeff").strip().split("\r\n")
    assert lines[0].startswith("insee;commune;population;distance_24h_km")
    assert lines[1:] == people.strip().split("\r\n")[1:]  # same cells, other header
    assert lines[1].startswith("99004;Dune;4000;44,48;0;0,0;1;0,0;1")
    html = client.get("/coverage/map").get_data(as_text=True)
    assert html.count('<tr data-insee="99') == 4


def test_a_started_fixed_slot_is_not_capacity_a_floating_window_is(line, frozen):
    """The map uses the search's notion: a fixed slot that has begun cannot be booked."""
    now = frozen.set(datetime(2026, 11, 30, 8, 0, tzinfo=UTC))
    doc_a, doc_b = line
    add_slot(doc_a, now - timedelta(minutes=5))  # 08:55-09:15 Paris, started
    add_slot(doc_b, now - timedelta(minutes=5), minutes=120, kind="floating", capacity=2)
    cov = geo.geo_coverage(doc_a.cpts_id, "24h")
    assert [d[0] for d in cov.doctors] == [doc_b.id]


def test_a_commune_at_exactly_the_radius_is_covered(line, frozen):
    """Bourg is 11.1195 km from Aval: with a radius of exactly that distance, Bourg is
    covered even when the distance code lands a hair above it (float error)."""
    doc_a, _ = line
    d = distance_km(47.0, -1.5, 47.1, -1.5)
    assert geo.within_radius(d * (1 + 1e-12), d)  # a hair over, by rounding: inside
    assert not geo.within_radius(d + 0.01, d)
    terr = geo.territory(doc_a.cpts_id)
    for radius in (d, d * (1 - 1e-12), KM_PER_TENTH):
        cov = geo.coverage_from_arrays(terr, [(doc_a.id, 47.0, -1.5)], radius)
        assert {c.insee: c.covered for c in cov} == {
            "99001": True, "99002": True, "99003": False, "99004": False}


def test_unplaced_communes_count_in_the_population_with_a_warning(line, frozen, login_as,
                                                                   api_client, app):
    from sqlalchemy import select

    from agenda.extensions import db
    from agenda.territory.models import Commune, Sector

    now = frozen.set(datetime(2026, 11, 30, 8, 0, tzinfo=UTC))
    doc_a, _ = line
    add_slot(doc_a, now + timedelta(hours=2))
    lost = Commune(insee="99009", name="Sans-Coordonnées", department="99", postcodes="",
                   population=5000, lat=None, lon=None)
    db.session.add(lost)
    sector = db.session.scalar(select(Sector).where(Sector.cpts_id == doc_a.cpts_id))
    sector.communes.append(lost)
    db.session.commit()
    cov = geo.geo_coverage(doc_a.cpts_id, "24h")
    assert cov.population == 10000 + 5000
    assert cov.covered_population == 3000
    assert cov.warnings and "Sans-Coordonnées (99009)" in cov.warnings[0]
    html = login_as("coordinator").get("/coverage/map?horizon=24h").get_data(as_text=True)
    assert 'id="unplaced-warning"' in html and "Sans-Coordonnées" in html
    client, headers, _ = api_client("coordinator")
    data = client.get("/api/v1/coverage/communes?horizon=24h", headers=headers).get_json()
    assert data["population"] == 15000 and data["unplaced"][0]["insee"] == "99009"
    assert data["warnings"]
    out = app.test_cli_runner().invoke(args=["coverage", "report"]).output
    assert "ATTENTION" in out and "Sans-Coordonnées" in out


def test_report_and_api_cover_the_week_asked_for(line, frozen, app, api_client):
    """``coverage report --week`` measures that week, not today's 48 h; without --week the
    default horizon is the API's (48 h)."""
    now = frozen.set(datetime(2026, 11, 30, 8, 0, tzinfo=UTC))  # W49
    doc_a, doc_b = line
    add_slot(doc_b, now + timedelta(days=14))  # Monday of W51 only
    runner = app.test_cli_runner()
    w51 = runner.invoke(args=["coverage", "report", "--week", "2026-W51"]).output
    assert "semaine 2026-W51) : 3" in w51  # Dune covered, the 3 others not
    today = runner.invoke(args=["coverage", "report"]).output
    assert "horizon 48h) : 4" in today
    client, headers, _ = api_client("coordinator")
    data = client.get("/api/v1/coverage/communes?week=2026-W51", headers=headers).get_json()
    assert data["doctors_with_capacity"] == 1
    assert client.get("/api/v1/coverage/communes?week=2026-51",
                      headers=headers).status_code == 400
