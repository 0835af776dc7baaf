"""Indemnity formulas per doctor per month: per slot, per floating hour, per session,
decreasing tiers with patients seen, cap; CSV for the treasurer."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest

from agenda.booking.models import Booking, Patient
from agenda.coverage import indemnities
from agenda.coverage.indemnities import monthly, validate_formula
from agenda.errors import ValidationError
from agenda.extensions import db
from agenda.slots.models import CharterSettings
from tests.coverage.helpers import add_slot, local


@pytest.fixture()
def november(app, make_doctor, make_org):
    """Doctor A in November 2026: day 1 (Tue 3rd) two fixed slots, 2 seen; day 2 (Thu 5th)
    a 3-hour floating window, 3 seen + 1 no-show; day 3 (Mon 30th) one fixed slot, unseen.
    A slot on 1 December is another month; a withdrawn slot does not count."""
    a = make_doctor(last_name="Alpha")
    make_doctor(last_name="Sans activité")
    org = make_org("secretariat")
    patient = Patient(last_name="P", first_name="Q", commune_insee="44036")
    db.session.add(patient)
    db.session.flush()
    n = 0

    def book(slot, status, at=None):
        nonlocal n
        n += 1
        db.session.add(Booking(reference=f"I{n}", slot_id=slot.id, doctor_id=a.id,
                               patient_id=patient.id, booker_org_id=org.id,
                               channel="secretariat", status=status, start=at or slot.start,
                               end=slot.end))

    s1 = add_slot(a, local(date(2026, 11, 3), 9), booked=1, status="seen")
    s2 = add_slot(a, local(date(2026, 11, 3), 10), booked=1, status="seen")
    fl = add_slot(a, local(date(2026, 11, 5), 14), minutes=180, kind="floating", capacity=4,
                  booked=4, status="seen")
    add_slot(a, local(date(2026, 11, 30), 18))
    add_slot(a, local(date(2026, 11, 12), 9), status="withdrawn")
    dec = add_slot(a, local(date(2026, 12, 1), 9), booked=1, status="seen")
    book(s1, "seen")
    book(s2, "seen")
    for i, status in enumerate(["seen", "seen", "seen", "no_show"]):
        book(fl, status, at=local(date(2026, 11, 5), 14 + i // 3, 20 * (i % 3)))
    book(dec, "seen")
    book(s1, "cancelled")
    db.session.commit()
    return a


def _row(cpts_id, formula):
    rows = monthly(cpts_id, "2026-11", validate_formula(formula))
    assert len(rows) == 1  # the doctor without activity is left out
    return rows[0]


def test_figures_of_the_month(november):
    row = _row(november.cpts_id, {})
    assert (row.fixed_slots, row.floating_windows, row.floating_hours) == (3, 1, 3.0)
    assert (row.sessions, row.consultations, row.no_shows) == (3, 5, 1)
    assert row.amount == Decimal("0.00")


@pytest.mark.parametrize("formula, expected", [
    ({"per_slot": "25"}, "75.00"),  # 3 fixed slots
    ({"per_floating_hour": "12,50"}, "37.50"),  # 3 hours
    ({"per_session": "100"}, "300.00"),  # 3 days
    ({"per_consultation": "5"}, "25.00"),  # 5 seen (no-shows not paid)
    ({"per_slot": "25", "per_floating_hour": "10", "per_consultation": "2"}, "115.00"),
    # Decreasing: day 1 saw 2 (200), day 2 saw 3 (150), day 3 saw 0 (200).
    ({"session_tiers": "0:200, 3:150, 6:100, 10:60"}, "550.00"),
    ({"session_tiers": [[0, 200], [2, 120]], "per_session": "999"}, "440.00"),
    ({"per_session": "100", "monthly_cap": "250"}, "250.00"),
])
def test_formulas(november, formula, expected):
    assert _row(november.cpts_id, formula).amount == Decimal(expected)


def test_tier_amount_is_the_highest_tier_reached():
    tiers = [[0, "200"], [3, "150"], [6, "100"], [10, "60"]]
    assert [indemnities.tier_amount(tiers, n) for n in (0, 2, 3, 5, 6, 9, 10, 40)] == [
        200, 200, 150, 150, 100, 100, 60, 60]


@pytest.mark.parametrize("formula", [
    {"per_slot": "-1"}, {"per_slot": "abc"}, {"per_session": "1e9"},
    {"session_tiers": "3:150"}, {"session_tiers": "0:200, 0:100"}, {"session_tiers": "x"},
    {"session_tiers": [[0]]}, {"monthly_cap": "NaN"},
])
def test_invalid_formulas_are_refused(formula):
    with pytest.raises(ValidationError):
        validate_formula(formula)


def test_page_form_and_treasurer_csv(november, login_as):
    client = login_as("coordinator")
    page = client.get("/coverage/indemnities?month=2026-11")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    token = html.split('name="csrf_token" value="')[1].split('"')[0]
    resp = client.post("/coverage/indemnities/formula", data={
        "csrf_token": token, "per_slot": "20", "tier_min": ["0", "3"],
        "tier_amount": ["200", "150"],
        "per_floating_hour": "", "per_session": "", "per_consultation": "",
        "monthly_cap": "", "month": "2026-11"})
    assert resp.status_code == 302
    charter = db.session.get(CharterSettings, november.cpts_id)
    db.session.refresh(charter)
    assert charter.indemnity_formula == {"per_slot": "20.00", "session_tiers": [
        [0, "200.00"], [3, "150.00"]]}
    html = client.get("/coverage/indemnities?month=2026-11").get_data(as_text=True)
    assert "610,00\u00a0€" in html  # 3 x 20 + 200 + 150 + 200
    people = client.get("/coverage/indemnities?month=2026-11&format=csv")
    assert people.get_data(as_text=True).lstrip("\ufeff").startswith(
        "N° du médecin;Médecin;Mois;dont créneaux fixes;Plages flottantes;")
    assert 'filename="indemnites-2026-11.csv"' in people.headers["Content-Disposition"]
    resp = client.get("/coverage/indemnities?month=2026-11&format=csv&technique=1")
    assert 'filename="indemnites-2026-11-technique.csv"' in resp.headers["Content-Disposition"]
    body = resp.get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff")), delimiter=";"))
    assert len(rows) == 1
    assert rows[0]["amount"] == "610,00"
    assert (rows[0]["fixed_slots"], rows[0]["consultations"], rows[0]["no_shows"]) == (
        "3", "5", "1")
    # Bad input: a 400 page, nothing written.
    resp = client.post("/coverage/indemnities/formula", data={
        "csrf_token": token, "per_slot": "-5", "session_tiers": ""})
    assert resp.status_code == 400
    db.session.refresh(charter)
    assert charter.indemnity_formula["per_slot"] == "20.00"
    assert client.get("/coverage/indemnities?month=2026-13").status_code == 400
    assert login_as("doctor").get("/coverage/indemnities").status_code == 403
