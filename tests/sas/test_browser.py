"""A regulator follows a slot's comment URL in a real browser (Chromium) and books."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from agenda.accounts.services import set_password
from agenda.booking.models import Booking
from agenda.extensions import db
from agenda.sas import accounts as sas_accounts
from agenda.sync.worker import drain_outbox
from tests.conftest import submit
from tests.sas.conftest import NOW, search_url
from tests.sas.test_accounts import regulator


def test_comment_link_in_browser(app, browser_page, fhir, make_doctor, make_slot, standin):
    page = browser_page
    app.config["SAS_ENDPOINT"] = standin.url
    app.config["SAS_API_KEY"] = standin.api_key
    doctor = make_doctor()
    slot = make_slot(doctor, NOW + timedelta(hours=3))
    assert fhir.post("/fhir/r4/Practitioner", regulator()).status_code == 201
    (account,) = sas_accounts.find_accounts("3456780581/11242343")
    set_password(account.user, "mot-de-passe-du-regulateur")
    db.session.commit()
    bundle = fhir.get(search_url([doctor], "2026-12-01", "2026-12-02")).get_json()
    (comment,) = [e["resource"]["comment"] for e in bundle["entry"]
                  if e["search"]["mode"] == "match"]
    assert comment.startswith(page.base_url + "/sas/creneau/")

    page.goto(comment + "&origin=sas")  # as the SAS platform opens it
    page.get_by_label("Adresse e-mail").fill("sebastien.loridon@test.fr")
    page.get_by_label("Mot de passe").fill("mot-de-passe-du-regulateur")
    submit(page.get_by_role("button", name="Se connecter"))
    assert f"/reservations/creneau/{slot.id}" in page.url and "origin=sas" in page.url
    assert page.get_by_text("Orientation depuis la plateforme SAS").is_visible()
    page.get_by_label("Nom", exact=True).fill("Durand")
    page.get_by_label("Prénom").fill("Alice")
    page.get_by_label("Commune (nom ou code postal)").fill("Châteaubriant")
    submit(page.get_by_role("button", name="Confirmer la réservation"))
    assert "Réservation confirmée" in page.content()

    db.session.expire_all()
    booking = db.session.scalar(select(Booking).where(Booking.slot_id == slot.id))
    assert booking.origin == "sas" and booking.booker_user_id == account.user_id
    drain_outbox()
    assert [(c.method, c.status, c.body["status"]) for c in standin.calls] == [
        ("POST", 201, "booked")]
    # the account still has no other page than the SAS path
    page.goto(page.base_url + "/reservations/recherche")
    assert "Accès refusé" in page.content()
