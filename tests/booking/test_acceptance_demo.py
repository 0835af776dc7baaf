"""Acceptance on the demo data, in Chromium: a tele-secretary books a patient whose treating
doctor (a demo volunteer) has an open slot — that slot comes first, booked in 4 screens;
then the booker dashboards and the doctor's "Demandes" work on the same data."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from agenda import clock, demo
from agenda.booking.models import Booking
from agenda.extensions import db
from agenda.slots.models import Slot
from agenda.territory.models import Doctor
from tests.conftest import browser_login, submit


def test_demo_secretary_books_the_treating_doctors_slot_first(frozen, browser_page):
    # A Tuesday morning (the frozen clock), whatever the day of the run.
    data = demo.build()
    now = clock.now()
    slot, doctor = db.session.execute(
        select(Slot, Doctor).join(Doctor, Doctor.id == Slot.doctor_id)
        .where(Slot.kind == "fixed", Slot.status == "open", Slot.in_charter.is_(True),
               Slot.start > now + timedelta(minutes=30),
               Slot.start < now + timedelta(days=7))
        .order_by(Slot.start)).first()
    user, password = data.users["secretary"]
    page = browser_page
    browser_login(page, user.email, password)
    page.goto(page.base_url + "/reservations/recherche")
    page.get_by_label("Nom", exact=True).fill("Lemoine")
    page.get_by_label("Prénom", exact=True).fill("Arthur")
    from agenda.territory.services import commune_label

    # A name and its postcode (an INSEE code is read so only when asked: "insee:…").
    page.get_by_label("Commune (nom ou code postal)").fill(commune_label(doctor.commune))
    page.get_by_label("Médecin traitant", exact=True).select_option(f"doctor:{doctor.id}")
    submit(page.get_by_role("button", name="Chercher les créneaux"))
    first = page.locator("li.slot").first
    assert first.get_attribute("data-slot-id") == str(slot.id)
    submit(first.get_by_role("button", name="Choisir ce créneau"))
    submit(page.get_by_role("button", name="Confirmer la réservation"))
    assert page.get_by_role("heading", name="À dire au patient").is_visible()
    db.session.expire_all()
    booking = db.session.scalar(select(Booking).where(Booking.slot_id == slot.id))
    assert booking is not None and booking.patient.last_name == "Lemoine"
    # The secretariat's dashboard lists it among the latest bookings.
    page.goto(page.base_url + "/")
    assert f"/reservations/{booking.id}" in page.content()
