"""The coordinator's supervision pages in Chromium."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agenda.coverage.generator import generate_year
from tests.conftest import browser_login, submit
from tests.coverage.helpers import add_slot

PASSWORD = "motdepasse-solide"


def test_grid_map_stats_and_indemnities_in_chromium(browser_page, make_user, make_doctor,
                                                    communes, cpts, frozen):
    now = frozen.set(datetime(2026, 11, 30, 8, 0, tzinfo=UTC))  # Monday 09:00 Paris
    doc = make_doctor(insee="44036")
    add_slot(doc, now + timedelta(hours=1))
    add_slot(doc, now + timedelta(days=1, hours=5), minutes=180, kind="floating", capacity=3)
    truth = generate_year(cpts, list(communes.values()), year=2025)
    user, _ = make_user("coordinator")
    page = browser_page
    browser_login(page, user.email, PASSWORD)
    # The hourly grid, through the main menu (the dashboard panel is tested in test_pages).
    page.goto(page.base_url + "/coverage/alerts")
    submit(page.get_by_role("link", name="Couverture", exact=True).first)
    assert page.get_by_role(
        "heading", name="Couverture horaire — semaine du lundi 30 novembre 2026").is_visible()
    flagged = page.locator('#hourly-grid td[data-flagged="1"]')
    assert flagged.count() == 64 - 1 - 3  # Monday 10h, Tuesday 14h-17h have supply
    assert page.locator('#hourly-grid td[data-weekday="2"][data-hour="15"]').inner_text() \
        .startswith("1/1")  # 3 places over 3 hours: one per hour

    # The map: one shape per commune of the territory, coloured, with a legend.
    submit(page.locator("nav.subnav").get_by_role("link", name="Carte"))
    shapes = page.locator("svg.coverage-map path.commune")
    assert shapes.count() == len(communes)
    assert shapes.first.is_visible()
    fill = page.locator('svg.coverage-map path[data-insee="44036"]').evaluate(
        "el => getComputedStyle(el).fill")
    assert fill == "rgb(26, 152, 80)"  # band b1, the doctor's commune
    assert page.locator("svg.coverage-map g.legend rect").count() == 5
    assert page.locator("#uncovered").get_by_text("Nantes").is_visible()
    page.get_by_label("Horizon").select_option("week")
    submit(page.get_by_role("button", name="Afficher"))
    assert "horizon=week" in page.url

    # Statistics of the generated year, then its CSV download.
    submit(page.locator("nav.subnav").get_by_role("link", name="Statistiques"))
    page.locator("form.filters select[name=period]").select_option("custom")
    page.locator("form.filters input[name=from]").fill("2025-01-01")
    page.locator("form.filters input[name=to]").fill("2025-12-31")
    submit(page.get_by_role("button", name="Afficher"))
    summary = page.locator("#period-summary").inner_text()
    assert f"{truth.summary['calls']} demandes" in summary
    assert f"{truth.summary['slots_made_available']} créneaux mis à disposition" in summary
    assert f"{truth.summary['consultations']} consultations réalisées" in summary
    assert page.locator("svg.chart").count() >= 4
    with page.expect_download() as info:
        page.locator('a.csv[data-table="summary"]').click()
    body = Path(info.value.path()).read_text(encoding="utf-8-sig")
    # The people's CSV: French headers (the codes are in the "technique" export).
    values = {r["Code de l'indicateur"]: r["Valeur"]
              for r in csv.DictReader(io.StringIO(body), delimiter=";")}
    assert int(values["consultations"]) == truth.summary["consultations"]
    assert int(values["no_shows"]) == truth.summary["no_shows"]

    # Indemnities: apply the decreasing model and see amounts beside the figures.
    submit(page.locator("nav.subnav").get_by_role("link", name="Indemnités"))
    page.get_by_label("Mois").fill("2025-03")
    submit(page.get_by_role("button", name="Afficher"))
    page.locator("select[name=preset]").select_option("decreasing")
    submit(page.get_by_role("button", name="Appliquer le modèle"))
    assert "Formule d'indemnisation enregistrée" in page.content()
    assert page.get_by_label("Palier 1 : montant en euros").input_value() == "200,00"
    total = page.locator("#indemnities-total").inner_text()
    assert total.endswith("\u00a0€")
    assert float(total[:-2].replace("\u202f", "").replace(",", ".")) >= 200
