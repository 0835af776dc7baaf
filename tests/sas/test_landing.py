"""The slot link (Slot.comment): the only path to a SAS regulator's habilitation."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from agenda.accounts.services import set_password
from agenda.booking.models import Booking
from agenda.extensions import db
from agenda.sas import accounts as sas_accounts
from tests.conftest import login
from tests.sas.conftest import NOW, search_url
from tests.sas.test_accounts import regulator

PASSWORD = "mot-de-passe-choisi-42"


def _sas_user(fhir):
    resp = fhir.post("/fhir/r4/Practitioner", regulator())
    assert resp.status_code == 201
    account = sas_accounts.find_accounts("3456780581/11242343")[0]
    set_password(account.user, PASSWORD)  # as after "mot de passe oublié"
    db.session.commit()
    return account.user


def _comment_path(fhir, doctor, slot_id: int | None = None) -> str:
    bundle = fhir.get(search_url([doctor], "2026-12-01", "2026-12-02")).get_json()
    slots = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "match"]
    (slot,) = [s for s in slots if slot_id is None or s["id"] == f"slot-{slot_id}"]
    parts = urlsplit(slot["comment"])
    return f"{parts.path}?{parts.query}"


def test_link_requires_login_then_opens_booking_page(app, fhir, make_doctor, make_slot):
    doctor = make_doctor()
    slot = make_slot(doctor, NOW + timedelta(hours=3))
    user = _sas_user(fhir)
    path = _comment_path(fhir, doctor)
    browser = app.test_client()
    resp = browser.get(path)
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert login(browser, user.email, PASSWORD).status_code == 302
    resp = browser.get(path)
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/reservations/creneau/{slot.id}?origin=sas")
    page = browser.get(resp.headers["Location"])
    assert page.status_code == 200
    assert 'value="sas"' in page.get_data(as_text=True)


def test_sas_account_confined_to_the_slot_path(app, fhir, make_doctor, make_slot, frozen):
    doctor = make_doctor()
    slot = make_slot(doctor, NOW + timedelta(hours=3))
    other = make_slot(doctor, NOW + timedelta(hours=5))
    user = _sas_user(fhir)
    browser = app.test_client()
    login(browser, user.email, PASSWORD)
    # without the link: no regulator habilitation
    assert browser.get(f"/reservations/creneau/{slot.id}?origin=sas").status_code == 403
    assert browser.get("/reservations/recherche").status_code == 403
    assert browser.get(_comment_path(fhir, doctor, slot.id)).status_code == 302
    assert browser.get(f"/reservations/creneau/{slot.id}?origin=sas").status_code == 200
    # only the slot of the link, and only for a while
    assert browser.get(f"/reservations/creneau/{other.id}?origin=sas").status_code == 403
    frozen.advance(minutes=31)
    assert browser.get(f"/reservations/creneau/{slot.id}?origin=sas").status_code == 403


def test_sas_account_token_opens_no_api(app, fhir, make_doctor, make_slot, api_client):
    """A token of a SAS-managed account (made before the account was linked, or by an
    administrator) books nothing: its habilitation comes only through a slot link."""
    slot = make_slot(make_doctor(), NOW + timedelta(hours=3))
    body = {"slot_id": slot.id, "patient": {"last_name": "Durand", "first_name": "Alice",
                                            "commune_insee": "44036"}}
    api, headers, _ = api_client("regulator", user=_sas_user(fhir))
    for resp in (api.get("/api/v1/me", headers=headers),
                 api.post("/api/v1/bookings", headers=headers, json=body)):
        assert resp.status_code == 403
        assert "plateforme numérique SAS" in resp.get_json()["message"]
    assert db.session.scalar(db.select(db.func.count(Booking.id))) == 0
    # A local (CPTS) regulator's token keeps the API.
    api, headers, _ = api_client("regulator")
    assert api.post("/api/v1/bookings", headers=headers, json=body).status_code == 201


def test_forged_or_foreign_links_refused(app, fhir, make_doctor, make_slot, login_as):
    doctor = make_doctor()
    slot = make_slot(doctor, NOW + timedelta(hours=3))
    path = _comment_path(fhir, doctor)
    regulator_client = login_as("regulator")  # a local (CPTS) regulator account
    forged = path.replace("sig=", "sig=0")
    assert regulator_client.get(forged).status_code == 404
    other_slot = path.replace(f"/creneau/{slot.id}", f"/creneau/{slot.id + 1}")
    assert regulator_client.get(other_slot).status_code == 404
    secretary = login_as("secretary")
    assert secretary.get(path).status_code == 403
    # a local regulator keeps its usual pages
    assert regulator_client.get(path).status_code == 302
    assert regulator_client.get("/reservations/recherche").status_code == 200


def test_habilitation_removed_blocks_login(app, fhir, make_doctor, make_slot):
    user = _sas_user(fhir)
    fhir.put("/fhir/r4/Practitioner?identifier=3456780581/11242343", regulator(active=False))
    browser = app.test_client()
    assert login(browser, user.email, PASSWORD).status_code != 302
