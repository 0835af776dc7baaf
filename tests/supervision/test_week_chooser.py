"""The week chooser: "semaine du lundi 30 novembre 2026", previous / next, any day of it
(issue 14, part B.5)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import browser_login, submit

PAGES = ["/coverage/hourly", "/coverage/department", "/coverage/what-if", "/charte"]


@pytest.mark.parametrize("path", PAGES)
def test_every_week_page_has_the_chooser(path, supervised, login_as):
    client = login_as("operator" if "department" in path else "coordinator")
    html = client.get(f"{path}?week=2026-12-03").get_data(as_text=True)  # a Thursday
    chooser = html[html.index('class="week-chooser"'):]
    chooser = chooser[:chooser.index("</nav>")]
    assert "Semaine du lundi 30 novembre 2026" in chooser
    assert re.search(r'rel="prev"[^>]*href="[^"]*week=2026-W48', chooser)
    assert re.search(r'rel="next"[^>]*href="[^"]*week=2026-W50', chooser)
    assert 'type="date" name="week" value="2026-11-30"' in chooser
    assert 'pattern="\\d{4}-W\\d{2}"' not in html  # nothing to type in ISO form
    # The links' ISO weeks still work, and nonsense is a 400 in French.
    assert "Semaine du lundi 7 décembre 2026" in client.get(f"{path}?week=2026-W50") \
        .get_data(as_text=True)
    resp = client.get(f"{path}?week=bientot")
    assert resp.status_code == 400
    assert "Semaine invalide : « bientot »" in resp.get_data(as_text=True)


def test_first_of_the_month_reads_1er(supervised, login_as):
    html = login_as("coordinator").get("/coverage/hourly?week=2027-03-01").get_data(
        as_text=True)
    assert "Semaine du lundi 1er mars 2027" in html


def test_chooser_in_chromium(browser_page, supervised, make_user):
    coord, _ = make_user("coordinator")
    page = browser_page
    browser_login(page, coord.email, "motdepasse-solide")
    page.goto(page.base_url + "/charte")
    chooser = page.locator("nav.week-chooser")
    assert chooser.locator(".week-label").inner_text() == "Semaine du lundi 30 novembre 2026"
    submit(chooser.get_by_role("link", name="semaine suivante →"))
    assert page.locator("nav.week-chooser .week-label").inner_text() == \
        "Semaine du lundi 7 décembre 2026"
    assert page.locator('section[data-week="2026-W50"] h2').inner_text().startswith(
        "Semaine prochaine — semaine du lundi 7 décembre 2026")
    page.get_by_label("Aller à la semaine du").fill("2027-01-14")
    submit(page.locator("nav.week-chooser").get_by_role("button", name="Afficher"))
    assert page.locator("nav.week-chooser .week-label").inner_text() == \
        "Semaine du lundi 11 janvier 2027"
    assert page.locator('section[data-week="2027-W02"]').count() == 1
