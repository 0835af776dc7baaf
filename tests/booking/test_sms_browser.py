"""Issue 18 acceptance in Chromium: a secretary books with the patient's consent → the text
reaches the local gateway → the patient opens the link on a phone and taps → the slot is
bookable again, the doctor is told, the statistics count it; a second tap says "déjà
annulé"; a forged link changes nothing."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import expect
from sqlalchemy import func, select

from agenda import clock
from agenda.alerts import Alert
from agenda.booking import services
from agenda.booking.models import Booking
from agenda.extensions import db
from agenda.outbox import OutboxItem
from agenda.slots.models import Slot
from agenda.sync.worker import drain_outbox
from agenda.timeutil import to_local
from tests.conftest import browser_login, submit

PASSWORD = "motdepasse-solide"


def test_booking_consent_text_link_tapped_slot_free_again(browser_page, phone_page,
                                                          make_doctor, make_slot, make_user,
                                                          patient_data, sms_gateway,
                                                          login_as):
    page = browser_page
    now = clock.now()
    doctor = make_doctor("44036", address="5 rue du Château", phone="02 40 81 00 00",
                         email="medecin@test.fr")
    slot = make_slot(doctor, now + timedelta(hours=3))
    kept_slot = make_slot(doctor, now + timedelta(hours=4))
    user, _ = make_user("secretary")
    # Another consenting patient's booking: a forged link must not touch it.
    kept = services.book(user, services.BookingInput(
        slot_id=kept_slot.id, patient=patient_data(sms_consent=True)))

    # The secretary books, the patient agrees to the texts.
    browser_login(page, user.email, PASSWORD)
    page.goto(page.base_url + "/reservations/recherche")
    page.get_by_label("Nom", exact=True).fill("Bernard")
    page.get_by_label("Prénom", exact=True).fill("Julie")
    page.get_by_label("Téléphone", exact=True).fill("06 22 33 44 55")
    page.get_by_test_id("sms-consent").check()
    page.get_by_label("Commune (nom ou code postal)").fill("Châteaubriant (44110)")
    submit(page.get_by_role("button", name="Chercher les créneaux"))
    submit(page.locator(f'li.slot[data-slot-id="{slot.id}"]').get_by_role(
        "button", name="Choisir ce créneau"))
    assert page.get_by_test_id("sms-consent-summary").is_visible()
    submit(page.get_by_role("button", name="Confirmer la réservation"))
    expect(page.get_by_role("heading", name="À dire au patient")).to_be_visible()
    db.session.expire_all()
    booking = db.session.scalar(select(Booking).where(Booking.slot_id == slot.id))
    assert booking.patient.sms_consent is True

    # The worker delivers: the gateway receives the text, which carries the link.
    drain_outbox()
    assert sms_gateway.problems == []
    mine = [m for m in sms_gateway.messages if m["key"] == f"{booking.reference}-confirmation"]
    assert len(mine) == 1 and mine[0]["to"] == "+33622334455"
    assert "Bernard" not in mine[0]["text"] and "Julie" not in mine[0]["text"]
    link = next(link for link in sms_gateway.links() if link in mine[0]["text"])
    assert link.startswith(page.base_url + "/a/")

    # The patient opens the link twice (two tabs), taps in the first.
    phone = phone_page
    second_tab = phone.context.new_page()
    phone.goto(link)
    second_tab.goto(link)
    expect(phone.get_by_role("heading", name="Annuler votre rendez-vous ?")).to_be_visible()
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).status == "booked"  # opening is no cancelling
    phone.get_by_test_id("cancel-button").tap()
    expect(phone.get_by_role("heading", name="Rendez-vous annulé")).to_be_visible()

    db.session.expire_all()
    cancelled = db.session.get(Booking, booking.id)
    assert cancelled.status == "cancelled" and cancelled.cancelled_by == "patient"
    assert db.session.get(Slot, slot.id).status == "open"
    # The doctor is told (dashboard alert and mail), without the patient's name.
    alert = db.session.scalar(select(Alert).where(Alert.object_id == booking.id,
                                                  Alert.doctor_id == doctor.id))
    assert alert is not None and "Bernard" not in alert.message
    mails = [i.payload for i in db.session.scalars(select(OutboxItem).where(
        OutboxItem.kind == "mail")) if i.payload.get("to") == "medecin@test.fr"]
    assert any("annulée par le patient" in m["body"] for m in mails)
    assert all("Bernard" not in m["body"] for m in mails)

    # The booker's page says who cancelled.
    page.goto(page.base_url + f"/reservations/{booking.id}")
    expect(page.get_by_test_id("cancelled-by")).to_have_text(
        "annulé par le patient (lien du SMS)")

    # The second tab's tap: "déjà annulé", nothing more.
    second_tab.get_by_test_id("cancel-button").tap()
    expect(second_tab.get_by_role("heading", name="Déjà annulé")).to_be_visible()
    phone.goto(link)
    expect(phone.get_by_role("heading", name="Déjà annulé")).to_be_visible()

    # A forged link: the invalid page, nothing changes.
    token = link.rsplit("/", 1)[1]
    forged = token[:-3] + ("xyz" if not token.endswith("xyz") else "abc")
    phone.goto(page.base_url + "/a/" + forged)
    expect(phone.get_by_role("heading", name="Lien invalide ou expiré")).to_be_visible()
    assert phone.get_by_test_id("cancel-button").count() == 0
    db.session.expire_all()
    assert db.session.get(Booking, kept.id).status == "booked"
    assert db.session.scalar(select(func.count()).select_from(Booking).where(
        Booking.status == "cancelled")) == 1

    # The slot is offered again to the next caller.
    page.goto(page.base_url + "/reservations/recherche")
    page.get_by_label("Nom", exact=True).fill("Martin")
    page.get_by_label("Prénom", exact=True).fill("Paul")
    page.get_by_label("Commune (nom ou code postal)").fill("Châteaubriant (44110)")
    submit(page.get_by_role("button", name="Chercher les créneaux"))
    assert page.locator(f'li.slot[data-slot-id="{slot.id}"]').count() == 1

    # The statistics count the patient's cancellation.
    day = to_local(slot.start).date().isoformat()
    coordinator = login_as("coordinator")
    stats = coordinator.get(f"/coverage/stats?period=custom&from={day}&to={day}").get_data(
        as_text=True)
    assert 'data-key="patient_cancellations"><th scope="row">' in stats
    value = re.search(r'data-key="patient_cancellations">.*?data-value="([^"]*)"', stats,
                      re.S).group(1)
    assert value == "1"
