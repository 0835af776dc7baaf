"""Finding 7: bad input is a French 400/404/422, never a 500 — ids beyond the database's
integer range, years 1 and 9999, JSON nested 100,000 deep, NUL bytes, strings longer than
their column, an e-mail address over 254 characters (pages and API, SQLite and
PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import csrf_token, login
from tests.security.conftest import known_patient

HUGE = [2**31, 2**63, 10**30]
COVERAGE = "/coverage"


@pytest.fixture()
def clients(api_client, make_doctor):
    doctor = make_doctor(with_user=True)
    out = {role: api_client(role) for role in ("secretary", "coordinator")}
    out["doctor"] = api_client("doctor", user=doctor.user)
    return out


def _french(resp) -> str:
    body = resp.get_json()
    assert body and body["message"], resp.get_data(as_text=True)
    return body["message"]


@pytest.mark.parametrize("number", HUGE)
def test_ids_beyond_the_integer_range(app, clients, number):
    c, h, _ = clients["secretary"]
    assert c.get(f"/api/v1/bookings/{number}", headers=h).status_code == 404
    assert c.get(f"/api/v1/slots?commune=44036&sector_id={number}",
                 headers=h).status_code == 400
    resp = c.post("/api/v1/holds", json={"slot_id": number}, headers=h)
    assert resp.status_code == 400 and "hors limites" in _french(resp)
    resp = c.post("/api/v1/bookings", headers=h, json={
        "slot_id": 1, "patient": known_patient(treating={"kind": "doctor",
                                                          "doctor_id": number})})
    assert resp.status_code == 400
    d, dh, _ = clients["doctor"]
    assert d.patch(f"/api/v1/me/slots/{number}", json={}, headers=dh).status_code == 404
    assert d.post(f"/api/v1/requests/{number}/refuse", headers=dh).status_code == 404


def test_ids_beyond_the_integer_range_in_pages(app, login_as, number=2**63):
    page = login_as("secretary")
    assert page.get(f"/reservations/{number}").status_code == 404
    assert page.get(f"/reservations/creneau/{number}").status_code == 404
    token = csrf_token(page, "/reservations/recherche")
    resp = page.post("/reservations/recherche", data={
        "csrf_token": token, "action": "hold", "slot_id": str(number), "commune": "44036",
        "last_name": "A", "first_name": "B"})
    assert resp.status_code in (200, 400, 404, 422)


@pytest.mark.parametrize("year", ["0001", "9999"])
def test_years_outside_the_service(app, clients, year):
    d, dh, _ = clients["doctor"]
    c, ch, _ = clients["coordinator"]
    s, sh, _ = clients["secretary"]
    calls = [(d, dh, f"/api/v1/me/slots?week={year}-W52"),
             (c, ch, f"/api/v1/coverage/hourly?week={year}-W52"),
             (c, ch, f"/api/v1/stats?from={year}-01-01&to={year}-12-31"),
             (s, sh, f"/api/v1/slots?commune=44036&day={year}-12-31")]
    for client, headers, url in calls:
        resp = client.get(url, headers=headers)
        assert resp.status_code == 400, (url, resp.status_code)
        _french(resp)
    resp = d.post("/api/v1/me/slots", headers=dh,
                  json={"start": f"{year}-12-01T10:00:00", "kind": "fixed"})
    assert resp.status_code == 400


@pytest.mark.parametrize("year", ["0001", "9999"])
def test_years_outside_the_service_in_pages(app, login_as, year):
    coord = login_as("coordinator")
    for url in (f"{COVERAGE}/hourly?week={year}-W52",
                f"{COVERAGE}/stats?from={year}-01-01&to={year}-12-31"):
        assert coord.get(url).status_code in (200, 400), url  # the page explains, no 500


def test_json_nested_100000_deep(app, clients):
    c, h, _ = clients["secretary"]
    deep = "[" * 100_000 + "]" * 100_000
    for path in ("/api/v1/holds", "/api/v1/bookings"):
        resp = c.post(path, data='{"slot_id": ' + deep + "}", headers={
            **h, "Content-Type": "application/json"})
        assert resp.status_code == 400, path
        _french(resp)
    nested: object = 1
    for _ in range(40):  # deeper than any body the API declares
        nested = [nested]
    resp = c.post("/api/v1/holds", json={"slot_id": 1, "x": nested}, headers=h)
    assert resp.status_code == 400


def test_nul_bytes_everywhere(app, frozen, clients, make_doctor, make_slot):
    slot = make_slot(make_doctor(), frozen.advance(minutes=0) + timedelta(hours=2))
    c, h, _ = clients["secretary"]
    for patient in (known_patient(last_name="Nul\x00"), known_patient(commune="44\x0036"),
                    known_patient(phone="06\x00")):
        resp = c.post("/api/v1/bookings", headers=h, json={"slot_id": slot.id,
                                                            "patient": patient})
        assert resp.status_code == 400
        _french(resp)
    assert c.get("/api/v1/slots?commune=44%0036", headers=h).status_code == 400
    d, dh, _ = clients["doctor"]
    assert d.delete(f"/api/v1/me/slots/{slot.id}", headers=dh,
                    json={"reason": "a\x00b"}).status_code in (400, 404)


def test_strings_longer_than_their_column(app, frozen, clients, make_doctor, make_slot):
    slot = make_slot(make_doctor(), frozen.advance(minutes=0) + timedelta(hours=2))
    c, h, _ = clients["secretary"]
    for patient in (known_patient(last_name="L" * 101), known_patient(phone="0" * 31),
                    known_patient(treating={"kind": "external", "name": "N" * 203})):
        resp = c.post("/api/v1/bookings", headers=h, json={"slot_id": slot.id,
                                                            "patient": patient})
        assert resp.status_code == 400 and "trop long" in _french(resp)


def test_an_email_over_254_characters(app, client, login_as, cpts):
    from sqlalchemy import select

    from agenda.accounts.models import User
    from agenda.extensions import db

    long_email = "a" * 250 + "@example.fr"
    assert login(client, long_email, "faux").status_code == 401
    admin = login_as("admin")
    resp = admin.post("/admin/utilisateurs", data={
        "csrf_token": csrf_token(admin, "/admin/utilisateurs"), "email": long_email,
        "name": "Trop long", "role": "secretary", "organisation_id": str(cpts.id)})
    assert resp.status_code == 400
    assert db.session.scalar(select(User).where(User.name == "Trop long")) is None


def test_service_level_guard_refuses_overlong_text_before_the_database(app, cpts):
    """Any ORM write (page, API, CLI): a string longer than its column is a French 400."""
    from agenda.accounts.services import create_organisation
    from agenda.errors import ValidationError
    from agenda.extensions import db

    with pytest.raises(ValidationError) as info:
        create_organisation("O" * 201, "secretariat", cpts.id)
    db.session.rollback()
    assert "trop long" in info.value.message and info.value.status == 400
