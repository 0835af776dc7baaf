"""Issue 12 in Chromium (French locale; 1366 px and 390 px): the commune by postcode, the
earliest slot first, the duplicate warning, the secretary's clicks and page loads, the
doctor's one-tap outcome, a slot three weeks ahead, the emergency department's slip."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from agenda import clock
from agenda.audit import AuditEntry
from agenda.booking import services
from agenda.booking.models import Booking
from agenda.extensions import db
from agenda.slots.models import Slot
from agenda.timeutil import to_local
from tests.conftest import _page, browser_login, submit

PASSWORD = "motdepasse-solide"
VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(params=sorted(VIEWPORTS))
def page(request, _browser, live_server):
    extra = {"is_mobile": True, "has_touch": True} if request.param == "phone" else {}
    context, page = _page(_browser, viewport=VIEWPORTS[request.param], **extra)
    page.base_url = live_server
    page.loads = 0

    def count(frame):
        if frame == page.main_frame:
            page.loads += 1

    page.on("framenavigated", count)
    yield page
    context.close()


def _no_sideways_scroll(page) -> None:
    page.wait_for_load_state()  # after a form's submit, the next page (never mid-navigation)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_postcode_offers_every_commune_and_chooses_none(page, make_doctor, make_slot,
                                                       make_user):
    make_slot(make_doctor("44036"), clock.now() + timedelta(hours=2))
    user, _ = make_user("secretary")
    browser_login(page, user.email, PASSWORD)
    page.goto(page.base_url + "/reservations/recherche")
    page.get_by_label("Nom", exact=True).fill("Martin")
    page.get_by_label("Prénom", exact=True).fill("Léa")
    field = page.get_by_label("Commune (nom ou code postal)")
    field.fill("44110")
    options = page.locator(".commune-list [role=option]")
    options.first.wait_for()
    texts = options.all_inner_texts()
    assert any("Châteaubriant" in t for t in texts) and any("Soudan" in t for t in texts)
    # Submitted without choosing: the candidates are listed, no slot is offered.
    field.press("Escape")
    submit(page.get_by_role("button", name="Chercher les créneaux"))
    candidates = page.get_by_test_id("commune-candidates")
    assert candidates.is_visible()
    assert page.locator("li.slot").count() == 0
    candidates.get_by_label("Châteaubriant").check()
    submit(page.get_by_role("button", name="Chercher les créneaux"))
    assert "Châteaubriant" in page.get_by_test_id("patient-summary").inner_text()
    assert page.locator("li.slot").count() == 1
    _no_sideways_scroll(page)


def test_secretary_flow_earliest_first_in_few_clicks(page, make_doctor, make_slot, make_user,
                                                     frozen):
    # 09:00 in Paris: both slots are today's (the page groups the results by day, so a
    # slot past midnight would come second whatever the order asked for).
    now = clock.now()
    near = make_doctor("44036")
    far = make_doctor("44069")
    late_near = make_slot(near, now + timedelta(hours=5))
    early_far = make_slot(far, now + timedelta(hours=1))
    user, _ = make_user("secretary")
    browser_login(page, user.email, PASSWORD)
    page.goto(page.base_url + "/")
    page.loads, clicks = 0, 0
    quick = page.get_by_test_id("quick-call")
    quick.get_by_label("Nom", exact=True).fill("Petit")
    quick.get_by_label("Prénom", exact=True).fill("Jean")
    quick.get_by_label("Commune (nom ou code postal)").fill("chateaub")
    quick.locator(".commune-list [role=option]").first.click()
    clicks += 1
    submit(quick.get_by_role("button", name="Chercher les créneaux"))
    clicks += 1
    cards = page.locator("li.slot")
    # Earliest first, whatever the distance; the distance shown; the horizon stated.
    assert cards.first.get_attribute("data-slot-id") == str(early_far.id)
    assert cards.nth(1).get_attribute("data-slot-id") == str(late_near.id)
    assert "km" in cards.first.inner_text()
    assert "Réservable jusqu'à" in page.get_by_test_id("horizon").inner_text()
    # One click: the nearest first, the patient kept.
    submit(page.get_by_role("button", name="le plus proche"))
    assert cards.first.get_attribute("data-slot-id") == str(late_near.id)
    assert "Petit Jean" in page.get_by_test_id("patient-summary").inner_text()
    submit(page.get_by_role("button", name="le plus tôt"))
    page.loads, clicks = page.loads - 2, clicks  # the switch back and forth is not the flow
    submit(cards.first.get_by_role("button", name="Choisir ce créneau"))
    clicks += 1
    submit(page.get_by_role("button", name="Confirmer la réservation"))
    clicks += 1
    assert page.get_by_role("heading", name="À dire au patient").is_visible()
    print(f"\nsecretary flow ({page.viewport_size['width']} px): {clicks} clicks, "
          f"{page.loads} page loads from the dashboard")
    assert clicks <= 5 and page.loads <= 3
    booking = db.session.scalar(select(Booking))
    assert booking.slot_id == early_far.id
    _no_sideways_scroll(page)


def test_treating_doctor_on_top_then_earliest(page, make_doctor, make_slot, make_user):
    now = clock.now()
    treating = make_doctor("44069")
    other = make_doctor("44036")
    later = make_slot(other, now + timedelta(hours=4))
    earliest = make_slot(other, now + timedelta(hours=1))
    mine = make_slot(treating, now + timedelta(hours=6))
    user, _ = make_user("regulator")
    browser_login(page, user.email, PASSWORD)
    page.goto(page.base_url + "/reservations/recherche")
    page.get_by_label("Nom", exact=True).fill("Roux")
    page.get_by_label("Prénom", exact=True).fill("Anna")
    page.get_by_label("Commune (nom ou code postal)").fill("Châteaubriant (44110)")
    page.get_by_label("Médecin traitant", exact=True).select_option(f"doctor:{treating.id}")
    submit(page.get_by_role("button", name="Chercher les créneaux"))
    ids = [c.get_attribute("data-slot-id") for c in page.locator("li.slot").all()]
    assert ids == [str(mine.id), str(earliest.id), str(later.id)]


def test_duplicate_warning_needs_a_reason(page, make_doctor, make_slot, make_user,
                                         patient_data):
    now = clock.now()
    doctor = make_doctor("44036")
    first = make_slot(doctor, now + timedelta(hours=2))
    second = make_slot(doctor, now + timedelta(hours=3))
    other_org_user, _ = make_user("regulator")
    services.book(other_org_user, services.BookingInput(
        slot_id=first.id, patient=patient_data(last_name="Durand", phone="06 99 88 77 66")))
    user, _ = make_user("secretary")
    browser_login(page, user.email, PASSWORD)
    page.goto(page.base_url + "/reservations/recherche")
    page.get_by_label("Nom", exact=True).fill("DURAND")
    page.get_by_label("Prénom", exact=True).fill("Marie")
    page.get_by_label("Téléphone", exact=True).fill("+33 6 99 88 77 66")
    page.get_by_label("Commune (nom ou code postal)").fill("Châteaubriant (44110)")
    submit(page.get_by_role("button", name="Chercher les créneaux"))
    submit(page.locator(f'li.slot[data-slot-id="{second.id}"]').get_by_role(
        "button", name="Choisir ce créneau"))
    warning = page.get_by_test_id("duplicate-warning")
    assert warning.is_visible()
    text = warning.inner_text()
    assert "SAMU / SAS" in text and to_local(first.start).strftime("%H:%M") in text
    assert "Marie" not in text  # no identity in the warning
    page.get_by_label("Raison de réserver quand même").fill("Deuxième motif, vu avec le 15")
    submit(page.get_by_role("button", name="Confirmer la réservation"))
    assert page.get_by_role("heading", name="À dire au patient").is_visible()
    entry = db.session.scalar(select(AuditEntry).where(
        AuditEntry.action == "duplicate_override"))
    assert entry is not None and "vu avec le 15" in entry.detail


def test_doctor_one_tap_outcome_and_a_slot_three_weeks_ahead(page, make_doctor, make_slot,
                                                            make_user, patient_data):
    now = clock.now()
    doctor = make_doctor("44036", with_user=True)
    slot = make_slot(doctor, now + timedelta(minutes=30))
    booker, _ = make_user("secretary")
    booking = services.book(booker, services.BookingInput(slot_id=slot.id,
                                                          patient=patient_data()))
    clock.set_now(now + timedelta(hours=1))
    try:
        from agenda.accounts.models import User

        browser_login(page, db.session.get(User, doctor.user_id).email, PASSWORD)
        page.goto(page.base_url + "/")
        submit(page.get_by_role("link", name="Mes rendez-vous").first)
        card = page.locator(f'[data-booking="{booking.id}"]')
        submit(card.get_by_role("button", name="Vu", exact=True))
        assert page.get_by_text("Issue enregistrée.").is_visible()
        db.session.expire_all()
        assert db.session.get(Booking, booking.id).status == "seen"
        _no_sideways_scroll(page)
        # A slot three weeks ahead: published, shown, withdrawn.
        day = to_local(clock.now()).date() + timedelta(days=21)
        page.goto(page.base_url + "/ma-semaine")
        page.get_by_label("Jour", exact=True).fill(day.isoformat())
        page.get_by_label("Début", exact=True).fill("10:00")
        submit(page.get_by_role("button", name="Publier le créneau"))
        new = db.session.scalar(select(Slot).where(Slot.doctor_id == doctor.id,
                                                   Slot.id != slot.id))
        assert new is not None, page.content()
        item = page.locator(f'[data-slot="{new.id}"]')
        assert item.is_visible()
        page.goto(page.base_url + "/ma-semaine")
        submit(page.locator(f'[data-week-link="{new.week}"]'))
        item = page.locator(f'[data-slot="{new.id}"]')
        submit(item.get_by_role("button", name="Retirer"))
        db.session.expire_all()
        assert db.session.get(Slot, new.id).status == "withdrawn"
        _no_sideways_scroll(page)
    finally:
        clock.set_now(None)


def test_ed_slip(page, make_doctor, make_slot, make_user):
    slot = make_slot(make_doctor("44180", phone="02 40 00 00 00"),
                     clock.now() + timedelta(hours=2))
    user, _ = make_user("ed_nurse")
    browser_login(page, user.email, PASSWORD)
    page.goto(page.base_url + "/urgences")
    page.get_by_label("Commune du patient (nom ou code postal)").fill("Soudan")
    page.get_by_label("Nom", exact=True).fill("Lemoine")
    page.get_by_label("Prénom", exact=True).fill("Paul")
    submit(page.get_by_role("button", name="Voir les créneaux"))
    submit(page.locator(f'li.slot[data-slot-id="{slot.id}"]').get_by_role("button",
                                                                          name="Réserver"))
    assert "02 40 00 00 00" in page.get_by_test_id("practice-phone").inner_text()
    submit(page.get_by_test_id("slip-link"))
    assert to_local(slot.start).strftime("%H:%M") in page.get_by_test_id("slip-when").inner_text()
    assert "Lemoine" in page.content() and "carte Vitale" in page.content()
    submit(page.get_by_role("link", name="Retour"))
    assert "/urgences" in page.url
