"""The booking pages through the test client: the 4-screen flow, the ED page, SAS origin,
the doctor's "Demandes" page, cancel and outcome forms."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from agenda.booking.models import Booking, FloatingRequest
from agenda.booking.services.patients import ensure_default_reasons
from agenda.extensions import db
from tests.conftest import csrf_token, login

PATIENT = {"last_name": "Bernard", "first_name": "Julie", "birth_date": "1990-05-04",
           "phone": "06 22 33 44 55", "commune": "Châteaubriant (44110)", "treating": "unknown",
           "reason": "0", "mobility": "mobile", "note": "", "origin": "web",
           "treating_external_name": "", "treating_external_rpps": ""}


def _hidden(html: str) -> dict:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))


def test_four_screens_treating_doctor_first(frozen, make_doctor, make_slot, login_as, cpts):
    now = frozen.advance(minutes=0)
    ensure_default_reasons(cpts.id)
    db.session.commit()
    treating = make_doctor("44069")
    make_slot(make_doctor("44036"), now + timedelta(hours=1))
    wanted = make_slot(treating, now + timedelta(hours=4))
    c = login_as("secretary")
    # Screen 1: the form.
    token = csrf_token(c, "/reservations/recherche")
    data = dict(PATIENT, treating=f"doctor:{treating.id}", csrf_token=token, horizon="",
                mode="", sector="0", action="search")
    # Screen 2: the results, the treating doctor's slot first.
    html = c.post("/reservations/recherche", data=data).get_data(as_text=True)
    ids = re.findall(r'data-slot-id="(\d+)"', html)
    assert ids[0] == str(wanted.id) and len(ids) == 2
    assert "médecin traitant" in html and "km" in html
    hidden = _hidden(html)
    assert hidden["last_name"] == "Bernard" and hidden["treating"] == f"doctor:{treating.id}"
    # Screen 3: hold and confirm.
    html = c.post("/reservations/recherche", data=dict(hidden, slot_id=wanted.id,
                                                       action="hold")).get_data(as_text=True)
    assert "bloqué pour vous" in html
    # Screen 4: booked, with what to tell the patient.
    resp = c.post("/reservations/recherche", data=dict(_hidden(html), action="book"))
    assert resp.status_code == 302
    html = c.get(resp.headers["Location"]).get_data(as_text=True)
    assert "À dire au patient" in html and treating.address in html
    booking = db.session.scalar(select(Booking))
    assert booking.slot_id == wanted.id and booking.patient.treating_doctor_id == treating.id


def test_search_form_errors_are_shown(frozen, login_as, communes):
    c = login_as("secretary")
    token = csrf_token(c, "/reservations/recherche")
    resp = c.post("/reservations/recherche", data=dict(PATIENT, commune="Zzzz", csrf_token=token,
                                                       horizon="", sector="0"))
    assert resp.status_code == 400 and "Commune inconnue" in resp.get_data(as_text=True)


def test_book_slot_page_keeps_sas_origin(frozen, make_doctor, make_slot, login_as):
    from agenda.sas.auth import sign_slot_link

    now = frozen.advance(minutes=0)
    slot = make_slot(make_doctor(), now + timedelta(hours=2))
    c = login_as("regulator")
    # The SAS path: the signed link of the slot opens the habilitation, then the booking page.
    resp = c.get(f"/sas/creneau/{slot.id}?origin=sas&sig={sign_slot_link(slot.id)}")
    assert resp.status_code == 302 and f"/reservations/creneau/{slot.id}" in resp.location
    html = c.get(resp.location).get_data(as_text=True)
    assert "plateforme SAS" in html
    token = csrf_token(c, f"/reservations/creneau/{slot.id}?origin=sas")
    resp = c.post(f"/reservations/creneau/{slot.id}", data=dict(PATIENT, origin="sas",
                                                                 csrf_token=token))
    assert resp.status_code == 302
    booking = db.session.scalar(select(Booking))
    assert booking.origin == "sas" and booking.channel == "samu"


def test_hidden_sas_origin_alone_is_not_trusted(frozen, make_doctor, make_slot, login_as):
    """Without the signed SAS link, a posted origin=sas is an ordinary booking."""
    now = frozen.advance(minutes=0)
    slot = make_slot(make_doctor(), now + timedelta(hours=2))
    c = login_as("regulator")
    token = csrf_token(c, f"/reservations/creneau/{slot.id}?origin=sas")
    resp = c.post(f"/reservations/creneau/{slot.id}", data=dict(PATIENT, origin="sas",
                                                                 csrf_token=token))
    assert resp.status_code == 302
    booking = db.session.scalar(select(Booking))
    assert booking.origin == "web"


def test_ed_page_one_screen(frozen, make_doctor, make_slot, login_as):
    now = frozen.advance(minutes=0)
    slot = make_slot(make_doctor(), now + timedelta(hours=2))
    c = login_as("ed_nurse")
    token = csrf_token(c, "/urgences")
    base = {"commune": "Châteaubriant", "reason": "0", "mobility": "mobile", "treating": "unknown",
            "last_name": "Petit", "first_name": "Léon", "phone": "", "birth_date": "",
            "note": "", "csrf_token": token}
    html = c.post("/urgences", data=dict(base, action="search")).get_data(as_text=True)
    assert f'data-slot-id="{slot.id}"' in html
    html = c.post("/urgences", data=dict(base, slot_id=slot.id)).get_data(as_text=True)
    assert "Réservation confirmée" in html and "À dire au patient" in html
    assert db.session.scalar(select(Booking)).channel == "ed"


def test_doctor_accepts_on_the_requests_page(frozen, make_doctor, make_slot, login_as, app):
    from agenda.accounts.models import User
    from agenda.accounts.services import hash_password
    from agenda.booking import services

    now = frozen.advance(minutes=0)
    doctor = make_doctor(with_user=True)
    slot = make_slot(doctor, now + timedelta(hours=1), minutes=180, kind="floating")
    sec = login_as("secretary")
    services.book(sec.user, services.BookingInput(slot_id=slot.id, patient=services.PatientData(
        last_name="Caché", first_name="Nom", commune_insee="44036")))
    req = db.session.scalar(select(FloatingRequest))
    user = db.session.get(User, doctor.user_id)
    user.password_hash = hash_password("motdepasse-solide")
    db.session.commit()
    c = app.test_client()
    login(c, user.email, "motdepasse-solide")
    html = c.get("/demandes").get_data(as_text=True)
    assert "Caché" not in html and f'data-request="{req.id}"' in html
    options = re.findall(r'<option[^>]*value="([^"]+)"', html)
    token = csrf_token(c, "/demandes")
    resp = c.post(f"/demandes/{req.id}/accepter", data={"csrf_token": token,
                                                        f"r{req.id}-time": options[2]})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    html = c.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Caché" in html  # visible once accepted
    html = sec.get(f"/reservations/demandes/{req.id}").get_data(as_text=True)
    assert 'data-testid="confirmed"' in html


def test_reorientation_needs_no_identity(login_as, communes):
    from sqlalchemy import func

    from agenda.booking.models import Reorientation

    for role, path in (("regulator", "/reservations/recherche"), ("ed_nurse", "/urgences")):
        c = login_as(role)
        token = csrf_token(c, path)
        resp = c.post(path, data={"csrf_token": token, "action": "reorient",
                                 "commune": "Châteaubriant",
                                  "last_name": "", "first_name": ""})
        assert resp.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Reorientation)) == 2
    assert db.session.scalar(select(Reorientation.commune_insee)) == "44036"
