"""Issue 12: the doctor's pages hold in a 360 px wide phone, without sideways scroll."""

from __future__ import annotations

from datetime import timedelta

from agenda import clock
from agenda.accounts.models import User
from agenda.booking import services
from agenda.booking.services.patients import PatientData
from agenda.extensions import db
from tests.conftest import _page, browser_login

PASSWORD = "motdepasse-solide"


def test_doctor_pages_fit_360_px(_browser, live_server, make_doctor, make_user):
    from agenda.slots.models import Slot
    from agenda.timeutil import iso_week

    doctor = make_doctor("44036", with_user=True, address="12 avenue de la Libération")
    start = clock.now() + timedelta(hours=3)
    slot = Slot(doctor_id=doctor.id, kind="fixed", start=start,
                end=start + timedelta(minutes=20), week=iso_week(start), capacity=1,
                booked_count=0, mode="AMB", status="open", in_charter=True, source="web")
    db.session.add(slot)
    db.session.commit()
    booker, _ = make_user("secretary")
    services.book(booker, services.BookingInput(slot_id=slot.id, patient=PatientData(
        last_name="Dupont-Longuenomdefamille", first_name="Marie-Charlotte",
        commune_insee="44036", phone="06 11 22 33 44"), note="Fièvre depuis trois jours"))
    context, page = _page(_browser, viewport={"width": 360, "height": 740}, is_mobile=True,
                          has_touch=True)
    page.base_url = live_server
    try:
        browser_login(page, db.session.get(User, doctor.user_id).email, PASSWORD)
        for path in ("/", "/mes-rendez-vous", "/ma-semaine", "/demandes", "/mon-calendrier"):
            page.goto(live_server + path)
            wide = page.evaluate(
                "[document.documentElement.scrollWidth, window.innerWidth, "
                "[...document.querySelectorAll('body *')].filter(e => "
                "e.getBoundingClientRect().right > window.innerWidth + 1)"
                ".slice(0, 3).map(e => e.tagName + '.' + e.className)]")
            assert wide[0] <= wide[1] + 1, (path, wide)
    finally:
        context.close()
