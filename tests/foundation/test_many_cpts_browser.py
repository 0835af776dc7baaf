"""In Chromium: the SAMU regulator books, for a patient of CPTS A's territory, a slot of
CPTS B; CPTS B's coordinator then sees the booking counted, without the patient's identity."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from agenda import clock
from agenda.accounts.services import create_organisation, create_user
from agenda.booking.models import Booking
from agenda.extensions import db
from agenda.slots.models import Slot
from agenda.territory.models import Sector
from agenda.territory.services import DoctorData, create_doctor, rpps_with_check_digit
from agenda.timeutil import iso_week
from tests.conftest import browser_login, submit

PASSWORD = "motdepasse-solide"


def test_samu_books_cpts_b_for_a_patient_of_cpts_a(browser_page, communes):
    page = browser_page
    a = create_organisation("CPTS du Pays de Châteaubriant", "cpts")
    b = create_organisation("CPTS Erdre et Gesvres", "cpts")
    db.session.add_all([Sector(cpts_id=a.id, name="Châteaubriant",
                               communes=[communes["44036"], communes["44180"]]),
                        Sector(cpts_id=b.id, name="Nantes", communes=[communes["44109"]])])
    samu = create_organisation("SAMU 44", "samu", serves=[a.id, b.id])
    regulator = create_user("regulation@samu44.fr", "Marc", "regulator", samu, PASSWORD)[0]
    create_user("coordination@cpts-b.fr", "Coordination B", "coordinator", b, PASSWORD)
    doctor_b = create_doctor(DoctorData(rpps=rpps_with_check_digit("6600000001"),
                                        first_name="Yann", last_name="Caradec",
                                        commune_insee="44150", address="2 rue de Rougé"), b.id)
    start = clock.now() + timedelta(hours=2)
    slot = Slot(doctor_id=doctor_b.id, kind="fixed", start=start,
                end=start + timedelta(minutes=20), week=iso_week(start), capacity=1,
                booked_count=0, mode="AMB", status="open", in_charter=True, source="web")
    db.session.add(slot)
    db.session.commit()

    browser_login(page, regulator.email, PASSWORD)
    page.goto(page.base_url + "/reservations/recherche")
    page.get_by_label("Nom", exact=True).fill("Lemoine")
    page.get_by_label("Prénom", exact=True).fill("Rose")
    page.get_by_label("Téléphone", exact=True).fill("06 22 33 44 55")
    page.get_by_label("Commune (nom ou code postal)").fill("Soudan (44110)")
    submit(page.get_by_role("button", name="Chercher les créneaux"))
    card = page.locator(f"li.slot[data-slot-id='{slot.id}']")
    assert "CPTS Erdre et Gesvres" in card.inner_text()  # each result names its CPTS
    submit(card.get_by_role("button", name="Choisir ce créneau"))
    submit(page.get_by_role("button", name="Confirmer la réservation"))
    assert page.get_by_role("heading", name="À dire au patient").is_visible()
    db.session.expire_all()
    booking = db.session.scalar(select(Booking))
    assert booking.cpts_id == b.id and booking.channel == "samu"

    # CPTS B's coordinator: counted, no identity.
    submit(page.get_by_role("button", name="Se déconnecter"))
    browser_login(page, "coordination@cpts-b.fr", PASSWORD)
    page.goto(page.base_url + "/reservations")
    assert page.locator("[data-count='booked'] strong").inner_text() == "1"
    assert "Lemoine" not in page.content()
    page.goto(page.base_url + f"/reservations/{booking.id}")
    assert "Lemoine" not in page.content() and "Rose" not in page.content()
