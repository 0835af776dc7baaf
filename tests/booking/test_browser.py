"""The three booking flows end to end in Chromium, and the doctor's accept page at phone size."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from agenda import clock
from agenda.booking import services
from agenda.booking.models import Booking, FloatingRequest
from agenda.extensions import db
from tests.conftest import browser_login, submit

PASSWORD = "motdepasse-solide"


def _fill_patient(page, last="Bernard", first="Julie"):
    page.get_by_label("Nom", exact=True).fill(last)
    page.get_by_label("Prénom", exact=True).fill(first)
    page.get_by_label("Téléphone", exact=True).fill("06 22 33 44 55")


def test_secretary_books_treating_doctor_slot_in_four_screens(browser_page, make_doctor,
                                                              make_slot, make_user):
    page = browser_page
    now = clock.now()
    treating = make_doctor("44069", address="3 place de l'Église, Issé")
    make_slot(make_doctor("44036"), now + timedelta(hours=1))
    wanted = make_slot(treating, now + timedelta(hours=3))
    user, _ = make_user("secretary")
    browser_login(page, user.email, PASSWORD)
    screens = 0
    page.goto(page.base_url + "/reservations/recherche")
    screens += 1
    _fill_patient(page)
    page.get_by_label("Commune (nom ou code postal)").fill("Châteaubriant (44110)")
    page.get_by_label("Médecin traitant", exact=True).select_option(f"doctor:{treating.id}")
    submit(page.get_by_role("button", name="Chercher les créneaux"))
    screens += 1
    first = page.locator("li.slot").first
    assert first.get_attribute("data-slot-id") == str(wanted.id)
    assert "médecin traitant" in first.inner_text()
    submit(first.get_by_role("button", name="Choisir ce créneau"))
    screens += 1
    assert page.get_by_text("bloqué pour vous").is_visible()
    submit(page.get_by_role("button", name="Confirmer la réservation"))
    screens += 1
    assert page.get_by_role("heading", name="À dire au patient").is_visible()
    assert "3 place de l'Église" in page.content()
    assert screens <= 4
    booking = db.session.scalar(select(Booking))
    assert booking.slot_id == wanted.id and booking.channel == "secretariat"
    assert f"/reservations/{booking.id}" in page.url


def test_regulator_books_from_the_sas_link(browser_page, make_doctor, make_slot, make_user):
    page = browser_page
    slot = make_slot(make_doctor("44036"), clock.now() + timedelta(hours=2))
    user, _ = make_user("regulator")
    browser_login(page, user.email, PASSWORD)
    from agenda.sas.auth import sign_slot_link

    # The slot's SAS link (its FHIR `comment`): landing, habilitation, booking page.
    page.goto(page.base_url + f"/sas/creneau/{slot.id}?origin=sas&sig={sign_slot_link(slot.id)}")
    assert f"/reservations/creneau/{slot.id}" in page.url
    assert page.get_by_text("Orientation depuis la plateforme SAS").is_visible()
    _fill_patient(page, "Leroy", "Tom")
    page.get_by_label("Commune (nom ou code postal)").fill("Châteaubriant")
    submit(page.get_by_role("button", name="Confirmer la réservation"))
    assert page.get_by_role("heading", name="À dire au patient").is_visible()
    db.session.expire_all()
    booking = db.session.scalar(select(Booking))
    assert booking.origin == "sas" and booking.channel == "samu"


def test_ed_nurse_orients_on_one_screen(browser_page, make_doctor, make_slot, make_user):
    page = browser_page
    slot = make_slot(make_doctor("44180"), clock.now() + timedelta(hours=2))
    user, _ = make_user("ed_nurse")
    browser_login(page, user.email, PASSWORD)
    page.goto(page.base_url + "/urgences")
    page.get_by_label("Commune du patient").fill("Soudan")
    submit(page.get_by_role("button", name="Voir les créneaux"))
    assert page.locator("li.slot").first.get_attribute("data-slot-id") == str(slot.id)
    _fill_patient(page, "Petit", "Léon")
    submit(page.locator("li.slot").first.get_by_role("button", name="Réserver"))
    assert page.get_by_text("Réservation confirmée").is_visible()
    assert page.get_by_role("heading", name="À dire au patient").is_visible()
    assert db.session.scalar(select(Booking)).channel == "ed"


def test_doctor_accepts_a_request_on_a_phone(phone_page, make_doctor, make_slot, make_user):
    page = phone_page
    doctor = make_doctor("44036", with_user=True)
    slot = make_slot(doctor, clock.now() + timedelta(minutes=30), minutes=240, kind="floating")
    secretary, _ = make_user("secretary")
    req = services.book(secretary, services.BookingInput(
        slot_id=slot.id, patient=services.PatientData(
            last_name="Masqué", first_name="Avant", commune_insee="44036")))
    assert isinstance(req, FloatingRequest)
    browser_login(page, doctor.user.email, PASSWORD)
    page.goto(page.base_url + "/demandes")
    card = page.locator(f'[data-request="{req.id}"]')
    assert card.is_visible() and "Masqué" not in page.content()
    # Built for a phone: no horizontal scrolling, big buttons.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    box = card.get_by_role("button", name="Accepter").bounding_box()
    assert box["height"] >= 44 and box["width"] >= 200
    select_ = card.get_by_label("Heure de la consultation")
    options = select_.locator("option").all_inner_texts()
    select_.select_option(index=2)
    submit(card.get_by_role("button", name="Accepter"))
    assert page.get_by_text("Demande acceptée").is_visible()
    assert "Masqué" in page.content()  # the patient's details once accepted
    db.session.expire_all()
    booking = db.session.scalar(select(Booking))
    assert booking.request_id == req.id
    assert options[2] in page.content()
