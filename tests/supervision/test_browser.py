"""The supervision pages in Chromium: the access log, alerts, the indemnity preview."""

from __future__ import annotations

from tests.conftest import browser_login, submit

PASSWORD = "motdepasse-solide"


def test_admin_finds_every_access_to_a_patient_in_two_steps(browser_page, supervised,
                                                              make_user, app):
    helene = supervised.book("Lefèvre", "Hélène", 2)
    supervised.book("Martin", "Paul", 3)
    from agenda import audit
    from agenda.extensions import db

    audit.record("view", "booking", helene.id, patient_id=helene.patient_id,
                 user_id=supervised.secretary.id)
    db.session.commit()
    admin, _ = make_user("admin")
    page = browser_page
    browser_login(page, admin.email, PASSWORD)
    page.goto(page.base_url + "/admin/journal")
    # Step 1: type the name -> the matching patients.
    page.get_by_label("Nom du patient").fill("lefèvre")
    submit(page.get_by_role("button", name="Chercher le patient"))
    hits = page.locator("#patient-hits li")
    assert hits.count() == 1
    assert "2 accès" in hits.first.inner_text()
    # Step 2: pick her -> the list of accesses to her record.
    submit(hits.first.get_by_role("link", name="LEFÈVRE Hélène"))
    assert page.locator("#patient-title").inner_text().startswith(
        "Accès au dossier de LEFÈVRE Hélène")
    rows = page.locator("#audit tbody tr")
    # The secretary's booking and opening, and the administrator's own search (it showed
    # her name: the log records it too).
    assert rows.count() == 3
    assert [r.get_attribute("data-action") for r in rows.all()] == [
        "audit.search", "view", "create"]
    assert admin.name in rows.nth(0).locator("td.who").inner_text()
    assert all(supervised.secretary.name in r.locator("td.who").inner_text()
               for r in rows.all()[1:])
    # The record is a link to its page.
    submit(rows.nth(1).get_by_role("link", name=f"réservation {helene.reference}"))
    assert f"/reservations/{helene.id}" in page.url


def test_coordinator_acknowledges_an_alert(browser_page, supervised, make_user, frozen):
    from agenda.alerts import raise_alert
    from agenda.extensions import db

    raise_alert("booking_cancelled", "Le médecin a annulé la réservation ABC123.",
                cpts_id=supervised.org.id)
    db.session.commit()
    coord, _ = make_user("coordinator")
    page = browser_page
    browser_login(page, coord.email, PASSWORD)
    panel = page.locator("#panel-alerts")
    assert "Alertes à traiter : 1 · en cours de traitement : 0" in panel.inner_text()
    submit(page.locator("#panel-alerts").get_by_role("link", name="voir"))
    row = page.locator("#alerts tbody tr").first
    assert row.get_attribute("data-state") == "open"
    submit(row.get_by_role("button", name="Je m'en occupe"))
    assert page.get_by_text("Alerte prise en charge.").is_visible()
    row = page.locator("#alerts tbody tr").first
    assert row.get_attribute("data-state") == "acknowledged"
    assert f"Prise en charge par {coord.name} le lun. 30 nov. 09:00" in row.inner_text()
    assert row.get_by_role("button", name="Je m'en occupe").count() == 0
    page.goto(page.base_url + "/")
    assert "Alertes à traiter : 0 · en cours de traitement : 1" in panel.inner_text()


def test_indemnity_preview_matches_the_saved_statement(browser_page, make_user, app,
                                                       november):
    coord, _ = make_user("coordinator")
    page = browser_page
    browser_login(page, coord.email, PASSWORD)
    page.goto(page.base_url + "/coverage/indemnities?month=2026-11")
    page.get_by_label("€ par créneau fixe").fill("20")
    page.get_by_label("Palier 1 : montant en euros").fill("200")
    submit(page.get_by_role("button", name="Ajouter un palier"))
    page.get_by_label("Palier 2 : à partir de combien de patients").fill("3")
    page.get_by_label("Palier 2 : montant en euros").fill("150,00")
    submit(page.get_by_role("button", name="Aperçu du mois"))
    preview_total = page.locator("#preview-table-total").inner_text()
    preview_rows = page.locator("#preview-table tbody tr").all_inner_texts()
    assert preview_total == "610,00\xa0€"
    assert page.locator("#indemnities-total").inner_text() == "0,00\xa0€"  # not saved yet
    submit(page.get_by_role("button", name="Enregistrer la formule"))
    assert page.get_by_text("Formule d'indemnisation enregistrée.").is_visible()
    assert page.locator("#indemnities-total").inner_text() == preview_total
    saved_rows = [r.removesuffix("\tRelevé à imprimer") for r in
                  page.locator("#indemnities tbody tr").all_inner_texts()]
    assert saved_rows == preview_rows
    # The doctor's printable statement says the same.
    submit(page.get_by_role("link", name="Relevé à imprimer").first)
    assert page.locator("#statement-total").inner_text() == preview_total
    assert page.locator("h1").inner_text() == "Relevé d'indemnités — novembre 2026"
    assert page.locator("header.top").evaluate("el => getComputedStyle(el).display") != "none"
    page.emulate_media(media="print")
    assert page.locator("header.top").evaluate("el => getComputedStyle(el).display") == "none"
