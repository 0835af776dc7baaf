"""The department view (issue 10, point 5): three CPTS of Loire-Atlantique, a SAMU serving
all three, an emergency department serving two; coverage of every commune of the
department by any CPTS, hourly grids per CPTS and merged, requests by CPTS and channel.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import func, select

from agenda.accounts.models import Organisation
from agenda.accounts.services import create_organisation, create_token, create_user
from agenda.booking.models import Booking, FloatingRequest, Patient
from agenda.booking.services.bookings import BookingInput, book, record_reorientation
from agenda.booking.services.patients import PatientData
from agenda.coverage import department, stats
from agenda.coverage.hourly import hourly_grid
from agenda.extensions import db
from agenda.slots.services import charter_for
from agenda.territory.models import Commune
from agenda.territory.services import (DoctorData, create_doctor, import_communes,
                                       rpps_with_check_digit, save_sector)
from tests.conftest import login, submit
from tests.coverage.helpers import add_slot, local

TUESDAY = date(2026, 12, 1)  # the frozen clock's day (09:00 in Paris), ISO week 2026-W49
WEEK = "2026-W49"
PATIENT = ("Zébulon-Quintal", "Anatole")
OTHERS = (("Quérineau", "Hortense"), ("Vauqueline", "Séraphin"), ("Ombrelière", "Philomène"))
# Every word of a patient's identity booked below (names and phone).
IDENTITY = (*PATIENT, *(w for name in OTHERS for w in name), "06 11 22 33 44")
PASSWORD = "motdepasse-solide"


@dataclass
class Department:
    a: Organisation
    b: Organisation
    c: Organisation
    doctors: dict  # cpts id -> [doctors]
    samu: object   # regulator user
    ed: object     # ED nurse user
    coordinator: object
    operator: object


_rpps = itertools.count(2000000001)


def _doctor(cpts_id: int, insee: str, last_name: str):
    return create_doctor(DoctorData(rpps=rpps_with_check_digit(str(next(_rpps))),
                                    first_name="Claire", last_name=last_name,
                                    commune_insee=insee), cpts_id)


def _user(role: str, org: Organisation, email: str):
    user, _pw = create_user(email, f"{role} test", role, org, PASSWORD)
    return user


@pytest.fixture()
def dept(app, frozen, cpts, make_user) -> Department:
    import_communes(departments=["44"])
    a = cpts
    a.name = "CPTS Pays de Châteaubriant"
    b = create_organisation("CPTS Erdre et Gesvres", "cpts")
    c = create_organisation("CPTS Nantes Métropole", "cpts")
    db.session.flush()
    save_sector(a.id, "Châteaubriant", ["44036", "44199", "44146", "44075"])
    save_sector(b.id, "Erdre", ["44110", "44015"])
    save_sector(c.id, "Nantes", ["44109", "44143", "44162"])
    for org, radius in ((a, 15), (b, 10), (c, 20)):
        charter_for(org.id).radius_km = radius
    # CPTS C also publishes on Sunday mornings (the others do not).
    charter_for(c.id).publication_hours = {"7": ["09:00", "12:00"]}
    doctors = {a.id: [_doctor(a.id, "44036", "Ardouin"), _doctor(a.id, "44075", "Aubry")],
               b.id: [_doctor(b.id, "44110", "Bernier")],
               c.id: [_doctor(c.id, "44109", "Cadou")]}
    db.session.commit()
    # The same hour in every CPTS (Tuesday 14:00), then hours of their own.
    for docs in doctors.values():
        add_slot(docs[0], local(TUESDAY, 14))
    add_slot(doctors[a.id][0], local(TUESDAY, 15))
    add_slot(doctors[a.id][1], local(date(2026, 12, 2), 10))
    add_slot(doctors[a.id][1], local(date(2026, 12, 2), 11), kind="floating", minutes=180,
             capacity=3)
    add_slot(doctors[b.id][0], local(TUESDAY, 15))
    add_slot(doctors[b.id][0], local(TUESDAY, 16), booked=1)  # full: not capacity
    add_slot(doctors[c.id][0], local(TUESDAY, 16))
    add_slot(doctors[c.id][0], local(date(2026, 12, 3), 8, 40))
    samu = create_organisation("SAMU 44", "samu", None, serves=[a.id, b.id, c.id])
    ed = create_organisation("Urgences de Châteaubriant", "ed", None, serves=[a.id, b.id])
    db.session.commit()
    coordinator, _pw = make_user("coordinator")
    operator, _pw = make_user("operator")
    regulator = _user("regulator", samu, "regul@samu44.fr")
    nurse = _user("ed_nurse", ed, "ioa@ch-chateaubriant.fr")
    db.session.commit()
    return Department(a, b, c, doctors, regulator, nurse, coordinator, operator)


def _client(app, user):
    client = app.test_client()
    assert login(client, user.email, PASSWORD).status_code == 302
    return client


def _km(lat1, lon1, lat2, lon2) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


# --- communes -------------------------------------------------------------------------------

def test_every_commune_of_the_department_and_who_covers_it(dept):
    scope = department.department_scope(dept.samu)
    assert [c.id for c in scope] == [dept.a.id, dept.b.id, dept.c.id]
    geo = department.department_geo(scope, "48h")
    assert geo.departments == ["44"]
    n44 = db.session.scalar(select(func.count()).select_from(Commune)
                            .where(Commune.department == "44"))
    assert len(geo.communes) == n44 > 200

    # Independent check: a commune is covered by a CPTS when one of its doctors with open
    # capacity in the next 48 h is within that CPTS's radius (haversine, no KD-tree).
    radius = {dept.a.id: 15, dept.b.id: 10, dept.c.id: 20}
    sites = {dept.a.id: [(47.72021, -1.39411), (47.62241, -1.46355)],  # Châteaubriant, Issé
             dept.b.id: [(47.44647, -1.52362)],                        # Nort-sur-Erdre
             dept.c.id: [(47.23833, -1.53756)]}                        # Nantes
    for commune in geo.communes:
        dists = {cid: min(_km(commune.lat, commune.lon, *s) for s in pts)
                 for cid, pts in sites.items()}
        expected = sorted(cid for cid, d in dists.items() if d <= radius[cid])
        assert sorted(commune.covered_by) == expected, commune.name
        assert commune.covered == bool(expected)
        nearest = min(dists, key=dists.get)
        assert commune.distance_km == pytest.approx(dists[nearest], abs=0.01)
        assert commune.cpts_id == nearest

    by_insee = {c.insee: c for c in geo.communes}
    assert by_insee["44036"].covered_by == [dept.a.id]
    # Nort-sur-Erdre: its own CPTS's doctor; Nantes (23 km) is beyond C's 20 km.
    assert by_insee["44110"].covered_by == [dept.b.id]
    # Saint-Nazaire is covered by no CPTS: listed with its population.
    uncovered = {c.insee: c for c in geo.uncovered}
    assert "44184" in uncovered and uncovered["44184"].population == 74568
    assert "44036" not in uncovered
    # Largest population first.
    pops = [c.population for c in geo.uncovered]
    assert pops == sorted(pops, reverse=True)
    assert geo.covered_population == sum(c.population for c in geo.communes if c.covered)


def test_a_full_slot_is_no_capacity_and_the_ed_sees_only_its_two_cpts(dept):
    scope = department.department_scope(dept.ed)
    assert [c.id for c in scope] == [dept.a.id, dept.b.id]
    geo = department.department_geo(scope, "48h")
    by_insee = {c.insee: c for c in geo.communes}
    # Without CPTS C, Nantes is covered by nobody (Nort-sur-Erdre is 23 km away, radius 10).
    assert not by_insee["44109"].covered and by_insee["44109"].cpts_id == dept.b.id
    assert {d[0] for d in geo.doctors} == {d.id for cid in (dept.a.id, dept.b.id)
                                           for d in dept.doctors[cid]}


def test_coordinator_and_others_cannot_read_the_department(dept, make_user):
    from agenda.errors import Forbidden, NotFound

    for role in ("coordinator", "admin", "doctor", "secretary"):
        user, _pw = make_user(role)
        with pytest.raises(Forbidden):
            department.department_scope(user)
    with pytest.raises(NotFound):
        department.department_scope(dept.ed, only=[dept.c.id])
    assert [c.id for c in department.department_scope(dept.samu, only=[dept.c.id])] == \
        [dept.c.id]
    assert [c.id for c in department.department_scope(dept.operator)] == \
        [dept.a.id, dept.b.id, dept.c.id]


# --- hourly ---------------------------------------------------------------------------------

def test_merged_grid_is_the_sum_of_the_cpts_grids(dept):
    scope = department.department_scope(dept.samu)
    h = department.department_hourly(scope, WEEK)
    assert [c.id for c, _g in h.per_cpts] == [dept.a.id, dept.b.id, dept.c.id]
    for c, grid in h.per_cpts:  # each grid is the CPTS's own grid
        assert grid.to_dict() == hourly_grid(c.id, WEEK).to_dict()
    for key, cell in h.merged.cells.items():
        parts = [g.cells[key] for _c, g in h.per_cpts]
        assert cell.supply == sum(p.supply for p in parts)
        assert cell.booked == sum(p.booked for p in parts)
        assert cell.demand == pytest.approx(sum(p.demand for p in parts))
        assert cell.in_hours == any(p.in_hours for p in parts)
        assert cell.flagged == (cell.in_hours and cell.supply == 0)
    assert h.merged.cell(2, 14).supply == 3  # one slot in each CPTS on Tuesday 14:00
    assert h.merged.cell(2, 16).supply == 2 and h.merged.cell(2, 16).booked == 1
    # The floating window of CPTS A: its capacity spread over its hours (one definition of
    # supply per hour, docs/statistics.md).
    assert h.merged.cell(3, 12).supply == pytest.approx(1.0)
    # Sunday 10:00 is in CPTS C's publication hours only, and nobody offers: flagged.
    assert h.merged.cell(7, 10).flagged and not h.per_cpts[0][1].cell(7, 10).flagged
    totals = h.merged.totals()
    assert totals["supply"] == sum(g.totals()["supply"] for _c, g in h.per_cpts)
    assert set(h.merged.hours) >= {8, 14, 16}


# --- requests by CPTS and channel -----------------------------------------------------------

def _patient(insee: str, name=PATIENT) -> PatientData:
    # Each patient their own phone: the same phone twice would be a possible duplicate.
    phone = f"06 11 22 33 {sum(map(ord, name[0] + name[1])) % 100:02d}"
    return PatientData(last_name=name[0], first_name=name[1], commune_insee=insee,
                       phone=phone)


def _slot_id(doctor, hour, day=TUESDAY):
    from agenda.slots.models import Slot

    return db.session.scalar(select(Slot.id).where(Slot.doctor_id == doctor.id,
                                                   Slot.start == local(day, hour)))


@pytest.fixture()
def booked(dept):
    """What the SAMU and the ED booked this morning (Tuesday 09:00)."""
    a, b, c = dept.doctors[dept.a.id], dept.doctors[dept.b.id], dept.doctors[dept.c.id]
    # The SAMU books a patient of CPTS A's territory into CPTS B, and one into CPTS C.
    book(dept.samu, BookingInput(_slot_id(b[0], 15), _patient("44036")))
    book(dept.samu, BookingInput(_slot_id(c[0], 16), _patient("44109", OTHERS[0])))
    # The ED books in CPTS A (a fixed slot and the floating window: a request).
    book(dept.ed, BookingInput(_slot_id(a[0], 14), _patient("44036", OTHERS[1])))
    req = book(dept.ed, BookingInput(_slot_id(a[1], 11, date(2026, 12, 2)),
                                     _patient("44075", OTHERS[2])))
    assert isinstance(req, FloatingRequest)
    record_reorientation(dept.samu, "44036")   # counted for CPTS A
    record_reorientation(dept.ed, "44110")     # counted for CPTS B
    return req


def test_requests_by_cpts_and_channel_equal_what_was_booked(dept, booked):
    period = stats.period_for("week", TUESDAY)
    scope = department.department_scope(dept.samu)
    table = department.requests_by_channel(scope, period)
    a, b, c = dept.a.id, dept.b.id, dept.c.id
    assert table.channels == ["secretariat", "samu", "ed", "cpts", "other"]
    assert table.row(b, "samu")["bookings"] == 1 and table.row(c, "samu")["bookings"] == 1
    assert table.row(a, "ed")["bookings"] == 1 and table.row(a, "ed")["requests"] == 1
    assert table.row(a, "samu")["reorientations"] == 1
    assert table.row(b, "ed")["reorientations"] == 1
    assert table.row(a, "samu")["bookings"] == 0 and table.row(c, "ed") == \
        dict.fromkeys(department.COUNTS, 0)
    assert table.row(channel="samu")["bookings"] == 2
    total = table.row()
    assert total["bookings"] == db.session.scalar(select(func.count(Booking.id))) == 3
    assert total["requests"] == 1 and total["reorientations"] == 2
    # Every row is the CPTS's own statistics (same definitions as the coordinator's page).
    for cid in (a, b, c):
        own = {r["channel"]: r for r in stats.compute(cid, period).channels}
        for ch in table.channels:
            row = table.row(cid, ch)
            # department key -> the statistics' name of the same figure
            for key, theirs in (("calls", "requests"), ("requests", "floating_requests"),
                                ("requests_accepted", "floating_accepted"),
                                ("requests_expired", "floating_expired"),
                                ("bookings", "bookings"), ("consultations", "consultations"),
                                ("no_shows", "no_shows"),
                                ("reorientations", "calls_reoriented")):
                assert row[key] == own[ch][theirs], (cid, ch, key)
    # The ED's table has no row of CPTS C.
    ed_table = department.requests_by_channel(department.department_scope(dept.ed), period)
    assert {r["cpts_id"] for r in ed_table.rows()} == {a, b}
    assert ed_table.row()["bookings"] == 2


# --- the page and the API -------------------------------------------------------------------

def _count(html: str, cpts, channel: str, key: str) -> int:
    row = re.search(rf'<tr data-cpts="{cpts}" data-channel="{channel}">(.*?)</tr>', html, re.S)
    assert row, (cpts, channel)
    cell = re.search(rf'data-count="{key}">(\d+)<', row.group(1))
    return int(cell.group(1))


def test_the_samu_page_shows_every_cpts_without_patient_identity(app, dept, booked):
    client = _client(app, dept.samu)
    resp = client.get(f"/coverage/department?week={WEEK}&horizon=48h&period=week")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    for name in ("CPTS Pays de Châteaubriant", "CPTS Erdre et Gesvres", "CPTS Nantes Métropole"):
        assert name in html
    # The menu leads there.
    assert 'href="/coverage/department"' in html
    # No patient identity anywhere on the page (though the patient is in the database).
    assert db.session.scalar(select(Patient.id).where(Patient.last_name == PATIENT[0]))
    for word in IDENTITY:
        assert word not in html, word
    # Uncovered communes, with their population.
    uncovered = re.search(r'<table class="table" id="uncovered">(.*?)</table>', html, re.S)
    assert uncovered and "Saint-Nazaire" in uncovered.group(1) \
        and "74\u202f568" in uncovered.group(1)
    assert 'data-insee="44036"' not in uncovered.group(1)
    # One grid per CPTS plus the merged one.
    assert html.count('class="table grid"') == 4
    assert 'id="grid-merged"' in html and f'id="grid-cpts-{dept.c.id}"' in html
    merged = re.search(r'id="grid-merged">(.*?)</table>', html, re.S).group(1)
    assert 'data-weekday="2" data-hour="14" data-supply="3"' in merged
    # Requests by CPTS and channel.
    assert _count(html, dept.b.id, "samu", "bookings") == 1
    assert _count(html, dept.a.id, "ed", "requests") == 1
    assert _count(html, dept.a.id, "samu", "reorientations") == 1
    assert _count(html, "all", "samu", "bookings") == 2
    assert _count(html, "all", "all", "bookings") == 3
    assert _count(html, dept.c.id, "all", "calls") == 1


def test_the_ed_page_shows_only_its_two_cpts(app, dept, booked):
    client = _client(app, dept.ed)
    html = client.get(f"/coverage/department?week={WEEK}&period=week").get_data(as_text=True)
    assert "CPTS Pays de Châteaubriant" in html and "CPTS Erdre et Gesvres" in html
    assert "CPTS Nantes Métropole" not in html
    assert f'data-cpts="{dept.c.id}"' not in html
    assert _count(html, "all", "all", "bookings") == 2
    # Asking for CPTS C by hand: not in its scope.
    resp = client.get(f"/coverage/department?cpts={dept.c.id}")
    assert resp.status_code == 404
    assert "périmètre" in resp.get_data(as_text=True)
    resp = client.get("/coverage/department?cpts=abc")
    assert resp.status_code == 400


def test_a_coordinator_is_refused_page_and_api(app, dept):
    client = _client(app, dept.coordinator)
    resp = client.get("/coverage/department")
    assert resp.status_code == 403
    assert "Accès refusé" in resp.get_data(as_text=True)
    assert 'href="/coverage/department"' not in client.get("/").get_data(as_text=True)
    token = create_token(dept.coordinator, "test")
    db.session.commit()
    resp = app.test_client().get("/api/v1/coverage/department",
                                 headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 403 and resp.get_json()["message"]


def test_the_api_for_the_samu_the_ed_and_the_operator(app, dept, booked):
    def get(user, query=""):
        token = create_token(user, "test")
        db.session.commit()
        week = "" if "week=" in query else f"week={WEEK}"
        return app.test_client().get(f"/api/v1/coverage/department?{week}{query}",
                                     headers={"Authorization": f"Bearer {token}"})

    resp = get(dept.samu, "&from=2026-11-30&to=2026-12-06")
    assert resp.status_code == 200
    data = resp.get_json()
    text = resp.get_data(as_text=True)
    for word in IDENTITY:
        assert word not in text
    assert [c["id"] for c in data["cpts"]] == [dept.a.id, dept.b.id, dept.c.id]
    assert "44184" in {c["insee"] for c in data["communes"]["uncovered"]}
    merged = {(c["weekday"], c["hour"]): c for c in data["hourly"]["merged"]["cells"]}
    assert merged[(2, 14)]["supply"] == 3
    per = data["hourly"]["per_cpts"]
    assert [p["cpts_id"] for p in per] == [dept.a.id, dept.b.id, dept.c.id]
    for i, cell in enumerate(data["hourly"]["merged"]["cells"]):
        assert cell["supply"] == sum(p["cells"][i]["supply"] for p in per)
    rows = {(r["cpts_id"], r["channel"]): r for r in data["requests"]["rows"]}
    assert rows[(dept.b.id, "samu")]["bookings"] == 1
    assert data["requests"]["total"]["bookings"] == 3

    ed = get(dept.ed).get_json()  # default period: this month
    assert [c["id"] for c in ed["cpts"]] == [dept.a.id, dept.b.id]
    assert ed["requests"]["total"]["bookings"] == 2
    assert get(dept.ed, f"&cpts={dept.c.id}").status_code == 404
    assert get(dept.ed, "&from=2026-12-06&to=2026-12-01").status_code == 400
    assert get(dept.samu, "week=2026-53x").status_code == 400

    op = get(dept.operator, f"&cpts={dept.b.id},{dept.c.id}").get_json()
    assert [c["id"] for c in op["cpts"]] == [dept.b.id, dept.c.id]


def test_the_department_is_in_the_openapi_document(app):
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    op = doc["paths"]["/coverage/department"]["get"]
    assert {p["name"] for p in op["parameters"]} == {"week", "horizon", "from", "to", "cpts"}
    assert "404" in op["responses"]


def test_the_samu_regulator_reads_the_department_in_chromium(browser_page, dept, booked):
    from tests.conftest import browser_login

    page = browser_page
    browser_login(page, dept.samu.email, PASSWORD)
    submit(page.get_by_role("link", name="Département", exact=True).first)
    assert page.get_by_role("heading", name="Vue départementale — couverture et demandes par "
                                             "CPTS").is_visible()
    # The map draws every commune of Loire-Atlantique from the shipped outlines.
    shapes = page.locator("svg.coverage-map path.commune")
    assert shapes.count() == db.session.scalar(
        select(func.count()).select_from(Commune).where(Commune.department == "44"))
    assert page.locator("#uncovered").get_by_text("Saint-Nazaire").is_visible()
    # The week picker moves the grids; the period picker the requests table.
    page.locator("form.filters select[name=period]").select_option("week")
    submit(page.locator("form.filters").get_by_role("button", name="Afficher"))
    submit(page.locator("nav.week-chooser").get_by_role("link", name="semaine suivante →"))
    assert "week=2026-W50" in page.url and "period=week" in page.url
    assert page.get_by_role("heading", name="Couverture horaire — semaine du lundi 7 décembre "
                                             "2026").is_visible()
    merged = page.locator('#grid-merged td[data-weekday="2"][data-hour="14"]')
    assert merged.get_attribute("data-supply") == "0"  # nothing published next week
    total = page.locator('#channels tr[data-cpts="all"][data-channel="all"] '
                         '[data-count="bookings"]')
    assert total.inner_text() == "3"  # this week's bookings ("day" is today)
    html = page.content()
    assert all(word not in html for word in IDENTITY)


def test_an_organisation_that_serves_no_cpts_any_more_sees_nothing(app, dept):
    from agenda.accounts.models import ServiceLink

    ed = create_organisation("Urgences fermées", "ed", None, serves=[dept.a.id])
    db.session.flush()
    for link in db.session.scalars(select(ServiceLink).where(
            ServiceLink.organisation_id == ed.id)):
        link.ended_on = TUESDAY
    nurse = _user("ed_nurse", ed, "ioa@fermee.fr")
    db.session.commit()
    assert department.department_scope(nurse) == []
    html = _client(app, nurse).get("/coverage/department").get_data(as_text=True)
    assert 'id="no-cpts"' in html and "CPTS Pays de Châteaubriant" not in html
    token = create_token(nurse, "test")
    db.session.commit()
    data = app.test_client().get("/api/v1/coverage/department",
                                 headers={"Authorization": f"Bearer {token}"}).get_json()
    assert data["cpts"] == [] and data["communes"]["communes"] == []
    assert data["requests"]["total"]["bookings"] == 0
