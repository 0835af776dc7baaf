""""Ma semaine SNP" in Chromium at phone size (390×844), and the coordinator's list."""

from __future__ import annotations

from datetime import date, time

from agenda.extensions import db
from agenda.slots import services as slots
from tests.conftest import browser_login, submit

PASSWORD = "motdepasse-solide"
FLOATING = "Flottant (plage, heure fixée à l'acceptation)"


def publish(page, day: str, start: str, end: str = "", floating: bool = False,
            capacity: int = 1, mode: str = "AMB") -> None:
    form = page.locator("#ajouter")
    if floating:
        form.get_by_label(FLOATING).check()
    else:
        form.get_by_label("Fixe (heure précise)").check()
    form.get_by_label("Jour").fill(day)
    form.get_by_label("Début").fill(start)
    form.get_by_label("Fin").fill(end)
    form.get_by_label("Mode de consultation").select_option(mode)
    capacity_field = form.get_by_label("Nombre de patients (plage flottante)")
    if floating:
        capacity_field.fill(str(capacity))
    else:
        assert not capacity_field.is_visible()  # only shown for a floating window
    submit(form.get_by_role("button", name="Publier le créneau"))


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= 390


def test_phone_publish_pool_charter_error_and_coordinator_list(phone_page, make_doctor,
                                                               make_user, frozen):
    doctor = make_doctor(with_user=True, last_name="Lemoine")
    page = phone_page
    browser_login(page, doctor.user.email, PASSWORD)
    submit(page.get_by_role("link", name="Ma semaine SNP").first)
    assert page.get_by_role("heading", name="Ma semaine SNP").is_visible()

    # Next week (2026-W50): 3 fixed slots and 1 floating window.
    publish(page, "2026-12-08", "09:00")
    assert "Créneau publié" in page.content()
    publish(page, "2026-12-08", "14:00", mode="VR")
    publish(page, "2026-12-09", "17:40")
    publish(page, "2026-12-10", "14:00", "18:00", floating=True)
    next_week = page.locator('section[data-week="2026-W50"]')
    assert next_week.locator(".count").get_attribute("data-count") == "4"
    assert next_week.locator("li.slot").count() == 4
    assert "Plage flottante, 1 patient\n" in next_week.inner_text()
    assert "dans la charte" in next_week.inner_text()
    assert no_horizontal_scroll(page)

    # Up to 6, then the 7th is refused with a French message naming the charter.
    publish(page, "2026-12-11", "09:00")
    publish(page, "2026-12-11", "10:00")
    publish(page, "2026-12-11", "11:00")
    alert = page.locator(".flash-error")
    assert alert.is_visible()
    assert "Refusé par la charte SNP de la CPTS de test" in alert.inner_text()
    assert "6 consultations SNP au plus par semaine" in alert.inner_text()
    assert page.locator('section[data-week="2026-W50"] .count').get_attribute(
        "data-count") == "6"

    # The coordinator's list shows 6 for this doctor; a doctor with 1 slot is under the minimum.
    one = make_doctor(last_name="Solo")
    slots.create_slot(one, slots.local_slot_input("fixed", date(2026, 12, 8), time(9),
                                                  time(9, 20)))
    db.session.commit()
    coordinator, password = make_user("coordinator")
    submit(page.get_by_role("button", name="Se déconnecter"))
    browser_login(page, coordinator.email, password)
    page.goto(page.base_url + "/charte")
    section = page.locator('section[data-week="2026-W50"]')
    assert section.locator(f'tr[data-doctor="{doctor.id}"] .count').inner_text() == "6"
    under = section.locator(".under").inner_text()
    assert "Dr Jeanne Solo — 1 consultation" in under
    assert "Lemoine" not in under


def test_phone_acceptance_four_slots_in_coordinator_list(phone_page, make_doctor, make_user,
                                                        frozen):
    doctor = make_doctor(with_user=True, last_name="Caradec")
    page = phone_page
    browser_login(page, doctor.user.email, PASSWORD)
    page.goto(page.base_url + "/ma-semaine")
    publish(page, "2026-12-07", "12:00")
    publish(page, "2026-12-08", "12:00")
    publish(page, "2026-12-09", "12:00", mode="HH")
    publish(page, "2026-12-10", "09:00", "12:00", floating=True)
    coordinator, password = make_user("coordinator")
    submit(page.get_by_role("button", name="Se déconnecter"))
    browser_login(page, coordinator.email, password)
    page.goto(page.base_url + "/charte")
    assert page.get_by_role("link", name="Charte").first.get_attribute("aria-current") == "page"
    row = page.locator(f'section[data-week="2026-W50"] tr[data-doctor="{doctor.id}"]')
    assert row.locator(".count").inner_text() == "4"
    assert "dans la charte" in row.inner_text()


def test_phone_copy_last_week_and_withdraw(phone_page, make_doctor, frozen):
    doctor = make_doctor(with_user=True)
    # This week (2026-W49, "now" is Tuesday 09:00): Wednesday and Thursday.
    slots.create_slot(doctor, slots.local_slot_input("fixed", date(2026, 12, 2), time(14),
                                                     time(14, 20)))
    slots.create_slot(doctor, slots.local_slot_input("floating", date(2026, 12, 3), time(9),
                                                     time(12), capacity=2))
    db.session.commit()
    page = phone_page
    browser_login(page, doctor.user.email, PASSWORD)
    page.goto(page.base_url + "/ma-semaine")
    next_week = page.locator('section[data-week="2026-W50"]')
    assert "Aucun créneau publié." in next_week.inner_text()
    submit(next_week.get_by_role("button", name="Copier la semaine précédente ici"))
    assert "2 créneaux copiés depuis la semaine précédente." in page.content()
    next_week = page.locator('section[data-week="2026-W50"]')
    text = next_week.inner_text()
    assert next_week.locator("li.slot").count() == 2
    assert "14:00–14:20" in text and "09:00–12:00" in text
    assert next_week.locator(".count").get_attribute("data-count") == "3"

    first = next_week.locator("li.slot").first
    first.get_by_label("Motif du retrait").fill("formation")
    submit(first.get_by_role("button", name="Retirer"))
    assert "Créneau retiré" in page.content()
    assert page.locator('section[data-week="2026-W50"] li.slot').count() == 1
    assert no_horizontal_scroll(page)


def test_acceptance_on_the_demo(phone_page, frozen):
    """The issue's acceptance, on the demo data: the demo doctor publishes 3 fixed slots and
    1 floating window for next week from the phone page; the coordinator's list shows 4; a
    7th consultation is refused naming the charter; a doctor with 1 slot is under the minimum."""
    from agenda import demo

    built = demo.build()
    logins: dict = {}
    for role, email, password in built.logins:  # the first login of each role
        logins.setdefault(role, (email, password))
    doctor = built.doctors[0]
    page = phone_page
    browser_login(page, *logins["doctor"])
    page.goto(page.base_url + "/ma-semaine")
    publish(page, "2026-12-07", "09:00")
    publish(page, "2026-12-08", "14:00", mode="VR")
    publish(page, "2026-12-09", "18:00")
    publish(page, "2026-12-10", "14:00", "18:00", floating=True)
    assert page.locator('section[data-week="2026-W50"] .count').get_attribute(
        "data-count") == "4"

    submit(page.get_by_role("button", name="Se déconnecter"))
    browser_login(page, *logins["coordinator"])
    page.goto(page.base_url + "/charte")
    section = page.locator('section[data-week="2026-W50"]')
    row = section.locator(f'tr[data-doctor="{doctor.id}"]')
    assert row.locator(".count").inner_text() == "4"
    assert "dans la charte" in row.inner_text()
    under = section.locator(".under").inner_text()
    assert doctor.display_name not in under

    submit(page.get_by_role("button", name="Se déconnecter"))
    browser_login(page, *logins["doctor"])
    page.goto(page.base_url + "/ma-semaine")
    publish(page, "2026-12-11", "09:00")
    publish(page, "2026-12-11", "10:00")
    publish(page, "2026-12-11", "11:00")
    assert "Refusé par la charte SNP de la CPTS du Pays de Châteaubriant" in page.locator(
        ".flash-error").inner_text()
    assert page.locator('section[data-week="2026-W50"] .count').get_attribute(
        "data-count") == "6"
    main = [d for d in built.doctors if d.cpts_id == built.cpts.id]
    for one in main[-3:-1]:
        assert f"{one.display_name} — 1 consultation" in under
    assert f"{main[-1].display_name} — aucun créneau" in under
