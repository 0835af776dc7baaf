"""The calendar settings page in a real Chromium (phone size: DAVx5 users are on Android)."""

from __future__ import annotations

from sqlalchemy import select

from agenda.extensions import db
from agenda.sync import crypto
from agenda.sync.models import CalendarAccount
from tests.conftest import browser_login
from tests.sync.conftest import RADICALE_PASSWORD, RADICALE_USER


def test_doctor_connects_calendar_in_browser(phone_page, make_user, make_doctor, radicale_dav):
    from agenda.errors import Forbidden
    from agenda.slots.services import doctor_for_user

    cal = radicale_dav.new_calendar("SNP-navigateur")
    user, password = make_user("doctor")
    try:
        doctor = doctor_for_user(user)
    except Forbidden:
        doctor = make_doctor()
        doctor.user_id = user.id
        db.session.commit()
    page = phone_page
    browser_login(page, user.email, password)
    page.goto(page.base_url + "/mon-calendrier")
    page.get_by_label("Adresse du serveur CalDAV").fill(radicale_dav.url)
    page.get_by_label("Identifiant").fill(RADICALE_USER)
    page.get_by_label("Mot de passe d'application").fill(RADICALE_PASSWORD)
    page.get_by_role("button", name="Tester la connexion").click()
    page.get_by_text("Connexion réussie").wait_for()
    assert RADICALE_PASSWORD not in page.content()
    page.get_by_role("radio", name="SNP-navigateur").check()
    page.get_by_role("button", name="Enregistrer").click()
    page.get_by_text("connecté").first.wait_for()
    assert "en attente" in page.content()
    db.session.expire_all()
    account = db.session.scalar(select(CalendarAccount).where(
        CalendarAccount.doctor_id == doctor.id))
    assert account.calendar_url == cal
    assert crypto.decrypt(account.password_encrypted) == RADICALE_PASSWORD
    # The convention is on the page, in French.
    assert "flottant x2" in page.content()
