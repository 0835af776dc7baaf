"""Pages of the coordinator: access, the map (one shape per commune), the dashboard panel,
and the acceptance on the demo data."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from agenda.coverage import geo
from agenda.coverage.common import territory
from tests.coverage.helpers import add_slot

PAGES = ["/coverage/hourly", "/coverage/map", "/charte", "/coverage/alerts",
         "/coverage/what-if", "/coverage/stats", "/coverage/indemnities"]


@pytest.mark.parametrize("role", ["coordinator", "admin"])
def test_coordinator_pages_render(app, frozen, login_as, make_doctor, role):
    make_doctor()
    client = login_as(role)
    for path in PAGES:
        resp = client.get(path)
        assert resp.status_code == 200, path
    assert client.get("/coverage/").status_code == 302


@pytest.mark.parametrize("role", ["doctor", "secretary", "regulator", "ed_nurse"])
def test_other_roles_are_refused(app, login_as, role):
    client = login_as(role)
    for path in PAGES:
        assert client.get(path).status_code == 403, path
    assert app.test_client().get("/coverage/map").status_code == 302  # to the login page


def test_map_has_one_shape_per_commune_coloured_by_band(app, frozen, login_as, make_doctor,
                                                        communes):
    now = frozen.set(datetime(2026, 11, 30, 8, 0, tzinfo=UTC))
    doc = make_doctor(insee="44036")
    add_slot(doc, now + timedelta(hours=2))
    html = login_as("coordinator").get("/coverage/map?horizon=24h").get_data(as_text=True)
    shapes = re.findall(r'<path class="commune (b\d)" data-insee="(\w+)"', html)
    assert sorted(i for _, i in shapes) == sorted(communes)
    bands = dict((i, b) for b, i in shapes)
    assert bands["44036"] == "b1"  # the doctor's commune
    assert bands["44109"] == "b5"  # Nantes, 55 km away
    assert html.count('class="doctor"') >= 2  # the doctor's dot + the legend's
    assert "Licence Ouverte 2.0" in html
    assert re.search(r"<td>Nantes</td><td>44109</td>", html)
    assert login_as("coordinator").get("/coverage/map?horizon=1y").status_code == 400


def test_dashboard_panel(app, frozen, login_as, make_doctor):
    make_doctor()
    html = login_as("coordinator").get("/").get_data(as_text=True)
    assert "Couverture de la semaine" in html
    assert "Heures sans offre cette semaine : 64" in html


def test_demo_acceptance(app, login_as, frozen):
    """On the demo data: a grid with at least one flagged empty hour, the map of the
    territory coloured by distance band, the uncovered communes named.

    The clock is frozen on a Tuesday morning: the week's remaining capacity (and so the
    bands) must not depend on the day the suite runs."""
    from agenda import demo

    built = demo.build()
    email, password = built.users["coordinator"][0].email, built.users["coordinator"][1]
    from tests.conftest import login

    client = app.test_client()
    assert login(client, email, password).status_code == 302
    html = client.get("/coverage/hourly").get_data(as_text=True)
    assert 'data-flagged="1"' in html
    terr = territory(built.cpts.id)
    assert len(terr) > 30
    html = client.get("/coverage/map?horizon=week").get_data(as_text=True)
    shapes = re.findall(r'<path class="commune (b\d)" data-insee="(\w+)"', html)
    assert sorted(i for _, i in shapes) == sorted(terr.insee)
    assert len({b for b, _ in shapes}) >= 2
    cov = geo.geo_coverage(built.cpts.id, "week")
    assert cov.uncovered
    for c in cov.uncovered:
        assert f"<td>{c.name}</td>" in html
