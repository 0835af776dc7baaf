"""Issue 12 on "Ma semaine SNP": every week that holds slots, the place of a new slot
when the doctor has several, what "copier la semaine précédente" skipped and why."""

from __future__ import annotations

from datetime import date, time

import pytest
from sqlalchemy import select

from agenda.extensions import db
from agenda.slots import services as slots
from agenda.slots.models import Slot
from agenda.territory.models import Commune
from agenda.territory.services import add_place
from tests.conftest import csrf_token, login

PASSWORD = "motdepasse-solide"


@pytest.fixture()
def doctor_client(app, make_doctor, frozen):
    doctor = make_doctor(with_user=True)
    client = app.test_client()
    assert login(client, doctor.user.email, PASSWORD).status_code == 302
    client.doctor = doctor
    return client


def test_weeks_with_slots_and_place_choice(doctor_client, frozen, communes):
    doctor = doctor_client.doctor
    far = slots.create_slot(doctor, slots.local_slot_input("fixed", date(2026, 12, 22),
                                                          time(10), time(10, 20)))
    db.session.commit()
    page = doctor_client.get("/ma-semaine").get_data(as_text=True)
    assert f'data-week-link="{far.week}"' in page
    assert 'name="place_id"' not in page  # one place: nothing to choose
    page = doctor_client.get(f"/ma-semaine?semaine={far.week}").get_data(as_text=True)
    assert f'data-slot="{far.id}"' in page
    second = add_place(doctor, doctor.cpts_id, address="2 rue du Marché",
                       commune=db.session.get(Commune, "44180"), label="Cabinet de Soudan")
    db.session.commit()
    page = doctor_client.get("/ma-semaine").get_data(as_text=True)
    assert 'name="place_id"' in page and "Cabinet de Soudan" in page
    resp = doctor_client.post("/ma-semaine/creneaux", data={
        "csrf_token": csrf_token(doctor_client, "/ma-semaine"), "kind": "fixed",
        "day": "2026-12-03", "start": "15:00", "mode": "AMB", "place_id": str(second.id)})
    assert resp.status_code == 302
    new = db.session.scalar(select(Slot).where(Slot.place_id == second.id))
    assert new is not None
    page = doctor_client.get(resp.headers["Location"]).get_data(as_text=True)
    assert 'data-testid="slot-place"' in page


def test_copy_week_says_what_was_skipped(doctor_client, frozen):
    doctor = doctor_client.doctor
    kept = slots.create_slot(doctor, slots.local_slot_input("fixed", date(2026, 12, 3),
                                                           time(14), time(14, 20)))
    gone = slots.create_slot(doctor, slots.local_slot_input("fixed", date(2026, 12, 4),
                                                           time(9), time(9, 20)))
    db.session.commit()
    slots.withdraw_slot(gone, "congé")
    # Already taken in the target week: the copy of `kept` collides with it.
    slots.create_slot(doctor, slots.local_slot_input("fixed", date(2026, 12, 10), time(14),
                                                     time(14, 20)))
    db.session.commit()
    assert kept.id
    r = doctor_client.post("/ma-semaine/copier", data={
        "target": "2026-W50", "csrf_token": csrf_token(doctor_client, "/ma-semaine")},
        follow_redirects=True)
    html = r.get_data(as_text=True)
    assert "2 créneaux non copiés" in html
    assert "créneau retiré ou annulé" in html
    assert html.count("Non copié (") == 2
