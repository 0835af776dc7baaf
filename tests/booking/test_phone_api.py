"""Issue 12 through the JSON API: the commune fields, the order, the duplicate check (409
``possible_duplicate`` answered by resending with ``duplicate_reason``), the regulation
file number — and the same on the pages without JavaScript."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from agenda import clock
from agenda.audit import AuditEntry
from agenda.booking.models import Booking
from agenda.extensions import db
from agenda.timeutil import to_local
from tests.conftest import csrf_token


def test_api_commune_fields(make_doctor, make_slot, api_client):
    make_slot(make_doctor("44036"), clock.now() + timedelta(hours=2))
    c, h, _ = api_client("secretary")
    ok = c.get("/api/v1/slots?commune_insee=44036", headers=h)
    assert ok.status_code == 200 and ok.get_json()["commune"] == "44036"
    ok = c.get("/api/v1/slots?postcode=44110&commune_name=chateaubriant", headers=h)
    assert ok.status_code == 200 and ok.get_json()["commune"] == "44036"
    # The former field, unambiguous: still accepted.
    assert c.get("/api/v1/slots?commune=44036", headers=h).get_json()["commune"] == "44036"
    # A postcode of two communes: 400 with the candidates, nothing chosen.
    amb = c.get("/api/v1/slots?commune=44110", headers=h)
    assert amb.status_code == 400
    body = amb.get_json()
    assert body["error"] == "ambiguous_commune"
    assert {x["insee"] for x in body["candidates"]} == {"44036", "44180"}
    bad = c.get("/api/v1/slots?postcode=44110&commune_name=Nantes", headers=h)
    assert bad.status_code == 400
    assert c.get("/api/v1/slots?commune_insee=44036&order=sideways",
                 headers=h).status_code == 400


def test_api_order_earliest_by_default_nearest_on_request(make_doctor, make_slot, api_client):
    now = clock.now()
    near = make_slot(make_doctor("44036"), now + timedelta(hours=4))
    far_early = make_slot(make_doctor("44069"), now + timedelta(hours=1))
    c, h, _ = api_client("secretary")
    ids = [s["slot_id"] for s in c.get("/api/v1/slots?commune_insee=44036",
                                       headers=h).get_json()["slots"]]
    assert ids == [far_early.id, near.id]
    ids = [s["slot_id"] for s in c.get("/api/v1/slots?commune_insee=44036&order=nearest",
                                       headers=h).get_json()["slots"]]
    assert ids == [near.id, far_early.id]


def test_api_duplicate_409_then_reason_and_regulation_number(make_doctor, make_slot,
                                                             api_client):
    now = clock.now()
    doctor = make_doctor("44036", phone="02 40 11 22 33")
    first = make_slot(doctor, now + timedelta(hours=2))
    second = make_slot(doctor, now + timedelta(hours=3))
    third = make_slot(doctor, now + timedelta(hours=5))
    fourth = make_slot(doctor, now + timedelta(hours=6))
    cs, hs, _ = api_client("secretary")
    cr, hr, _ = api_client("regulator")
    patient = {"last_name": "Martin", "first_name": "Léo", "birth_date": "2015-04-02",
               "commune_insee": "44036"}
    resp = cs.post("/api/v1/bookings", json={"slot_id": first.id, "patient": patient},
                   headers=hs)
    assert resp.status_code == 201
    # The same child (name + birth date, accents and case aside) by the SAMU: 409.
    again = dict(patient, last_name="MARTIN", first_name="Léo")
    resp = cr.post("/api/v1/bookings", json={"slot_id": second.id, "patient": again,
                                             "regulation_number": "DR-2026-0042"}, headers=hr)
    assert resp.status_code == 409
    body = resp.get_json()
    assert body["error"] == "possible_duplicate" and body["resend_with"] == "duplicate_reason"
    dup = body["duplicates"][0]
    assert dup["channel"] == "secretariat" and dup["kind"] == "booking"
    assert dup["reference"] is None  # another organisation's booking: no reference
    assert "Martin" not in str(body["duplicates"])
    assert db.session.scalar(select(db.func.count()).select_from(Booking)) == 1
    resp = cr.post("/api/v1/bookings", json={
        "slot_id": second.id, "patient": again, "regulation_number": "DR-2026-0042",
        "duplicate_reason": "Deuxième enfant du même nom, vérifié"}, headers=hr)
    assert resp.status_code == 201, resp.get_json()
    booking = resp.get_json()["booking"]
    assert booking["regulation_number"] == "DR-2026-0042"
    entry = db.session.scalar(select(AuditEntry).where(
        AuditEntry.action == "duplicate_override"))
    assert entry.object_id == booking["id"] and "vérifié" in entry.detail
    # A phone match counts too, whatever the name and however the number is written.
    other = {"last_name": "Autre", "first_name": "Nom", "phone": "0611223344",
             "commune_insee": "44036"}
    assert cs.post("/api/v1/bookings", json={"slot_id": third.id, "patient": other},
                   headers=hs).status_code == 201
    same_phone = dict(other, last_name="Différent", phone="+33 6 11 22 33 44")
    resp = cs.post("/api/v1/bookings", json={"slot_id": fourth.id, "patient": same_phone},
                   headers=hs)
    assert resp.status_code == 409 and resp.get_json()["duplicates"][0]["reference"]


def test_pages_duplicate_and_ambiguous_commune_without_javascript(make_doctor, make_slot,
                                                                  make_user, login_as):
    now = clock.now()
    doctor = make_doctor("44036")
    slots = [make_slot(doctor, now + timedelta(hours=h)) for h in (2, 3)]
    c = login_as("secretary")
    token = csrf_token(c, "/reservations/recherche")
    form = {"csrf_token": token, "last_name": "Bernard", "first_name": "Julie",
            "phone": "06 22 33 44 55", "commune": "44110", "treating": "unknown",
            "reason": "0", "mobility": "mobile", "action": "search"}
    page = c.post("/reservations/recherche", data=form)
    html = page.get_data(as_text=True)
    assert page.status_code == 400 and 'name="commune_choice"' in html
    assert "data-slot-id" not in html
    page = c.post("/reservations/recherche", data=dict(form, commune_choice="44036"))
    assert page.status_code == 200 and "data-slot-id" in page.get_data(as_text=True)
    form.update(commune="Châteaubriant (44110)", commune_insee="44036", action="book")
    assert c.post("/reservations/recherche",
                  data=dict(form, slot_id=slots[0].id)).status_code == 302
    # Same phone: the confirm page warns and asks for a reason; nothing booked without one.
    page = c.post("/reservations/recherche", data=dict(form, slot_id=slots[1].id))
    html = page.get_data(as_text=True)
    assert page.status_code == 409 and 'data-testid="duplicate-warning"' in html
    assert db.session.scalar(select(db.func.count()).select_from(Booking)) == 1
    resp = c.post("/reservations/recherche", data=dict(form, slot_id=slots[1].id,
                                                       duplicate_reason="rappel du patient"))
    assert resp.status_code == 302
    booking = db.session.scalar(select(Booking).order_by(Booking.id.desc()))
    detail = c.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Patient suivant" in detail and "fiche" in detail
    slip = c.get(f"/reservations/{booking.id}/fiche")
    assert slip.status_code == 200 and "carte Vitale" in slip.get_data(as_text=True)
    csv = c.get("/reservations/export.csv").get_data(as_text=True)
    assert "N° de dossier de régulation" in csv and booking.reference in csv
    assert "Télésecrétariat" in csv or "SAMU / SAS" in csv or "Urgences" in csv
    technical = c.get("/reservations/export.csv?technique=1")
    assert "reservations-technique.csv" in technical.headers["Content-Disposition"]
    assert "dossier_regulation" in technical.get_data(as_text=True)
    # Another organisation's booker: no slip.
    other = login_as("regulator")
    assert other.get(f"/reservations/{booking.id}/fiche").status_code == 404


def test_day_outside_the_horizon_is_explained_and_regulation_number(make_doctor, make_slot,
                                                                    login_as):
    now = clock.now()
    slot = make_slot(make_doctor("44036"), now + timedelta(hours=2))
    c = login_as("regulator")
    token = csrf_token(c, "/reservations/recherche")
    assert 'name="regulation_number"' in c.get("/reservations/recherche").get_data(
        as_text=True)
    far_day = (to_local(now) + timedelta(days=10)).date()
    form = {"csrf_token": token, "last_name": "Roy", "first_name": "Alix",
            "commune": "Châteaubriant (44110)", "treating": "unknown", "reason": "0",
            "mobility": "mobile", "action": "search", "day": far_day.isoformat(),
            "regulation_number": "SAMU44-778"}
    html = c.post("/reservations/recherche", data=form).get_data(as_text=True)
    assert 'data-testid="day-note"' in html and "au-delà de l&#39;horizon" in html
    assert 'data-testid="horizon"' in html and "Réservable jusqu&#39;à" in html
    form.update(day="", action="book", slot_id=slot.id)
    resp = c.post("/reservations/recherche", data=form)
    assert resp.status_code == 302
    booking = db.session.scalar(select(Booking))
    assert booking.regulation_number == "SAMU44-778"
    detail = c.get(resp.headers["Location"]).get_data(as_text=True)
    assert "SAMU44-778" in detail
