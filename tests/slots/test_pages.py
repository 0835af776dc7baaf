"""The slot pages through the Flask test client (the browser tests drive the same pages)."""

from __future__ import annotations

import re
from datetime import date, time

import pytest

from agenda.extensions import db
from agenda.slots import services as slots
from agenda.slots.models import CharterSettings, Slot
from agenda.timeutil import to_local
from tests.conftest import csrf_token, login

PASSWORD = "motdepasse-solide"


@pytest.fixture()
def doctor_client(app, make_doctor, frozen):
    doctor = make_doctor(with_user=True)
    client = app.test_client()
    assert login(client, doctor.user.email, PASSWORD).status_code == 302
    client.doctor = doctor
    return client


def add(client, **fields):
    data = {"kind": "fixed", "day": "2026-12-08", "start": "14:00", "end": "", "mode": "AMB",
            "capacity": "1", "csrf_token": csrf_token(client, "/ma-semaine")}
    data.update(fields)
    return client.post("/ma-semaine/creneaux", data=data)


def test_my_week_add_fixed_and_floating(doctor_client):
    r = doctor_client.get("/ma-semaine")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "Ma semaine SNP" in html
    assert "Cette semaine" in html and "Semaine prochaine" in html
    assert add(doctor_client).status_code == 302
    r = add(doctor_client, kind="floating", day="2026-12-10", start="14:00", end="18:00",
            capacity="2")
    assert r.status_code == 302
    html = doctor_client.get("/ma-semaine").get_data(as_text=True)
    assert "Créneau publié" in html
    assert "Plage flottante, 2 patients" in html
    assert 'data-count="3"' in html
    pool = slots.week_pool(doctor_client.doctor, "2026-W50")
    assert [(s.kind, s.capacity) for s in pool] == [("fixed", 1), ("floating", 2)]


def test_seventh_slot_refused_on_the_page(doctor_client):
    for hour in range(9, 15):
        assert add(doctor_client, start=f"{hour:02d}:00").status_code == 302
    r = add(doctor_client, start="16:00")
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "Refusé par la charte SNP de la CPTS de test" in html
    assert Slot.query.count() == 6


def test_incomplete_form_and_past(doctor_client):
    r = add(doctor_client, day="")
    assert r.status_code == 400 and "Indiquez le jour." in r.get_data(as_text=True)
    r = add(doctor_client, day="2026-11-30")
    assert r.status_code == 422 and "passé" in r.get_data(as_text=True)
    r = add(doctor_client, kind="floating", end="")
    assert r.status_code == 400 and "fin de la plage flottante" in r.get_data(as_text=True)


def test_edit_and_withdraw(doctor_client):
    add(doctor_client)
    slot = Slot.query.one()
    r = doctor_client.get(f"/ma-semaine/creneaux/{slot.id}")
    assert r.status_code == 200 and 'value="14:00"' in r.get_data(as_text=True)
    token = csrf_token(doctor_client, f"/ma-semaine/creneaux/{slot.id}")
    r = doctor_client.post(f"/ma-semaine/creneaux/{slot.id}", data={
        "kind": "fixed", "day": "2026-12-09", "start": "10:00", "end": "10:30", "mode": "HH",
        "capacity": "1", "csrf_token": token})
    assert r.status_code == 302
    db.session.expire_all()
    slot = db.session.get(Slot, slot.id)
    assert (slot.week, slot.mode) == ("2026-W50", "HH")
    r = doctor_client.post(f"/ma-semaine/creneaux/{slot.id}/retirer", data={
        "reason": "garde", "csrf_token": csrf_token(doctor_client, "/ma-semaine")})
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(Slot, slot.id).status == "withdrawn"


def test_booked_slot_cannot_be_withdrawn_from_the_page(doctor_client):
    add(doctor_client)
    slot = Slot.query.one()
    slot.status, slot.booked_count = "booked", 1
    db.session.commit()
    html = doctor_client.get("/ma-semaine").get_data(as_text=True)
    assert "annulez la réservation avec un motif" in html
    assert f"/ma-semaine/creneaux/{slot.id}/retirer" not in html
    r = doctor_client.post(f"/ma-semaine/creneaux/{slot.id}/retirer", data={
        "csrf_token": csrf_token(doctor_client, "/ma-semaine")}, follow_redirects=True)
    assert "Annulez la réservation en indiquant un motif" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Slot, slot.id).status == "booked"


def test_copy_previous_week(doctor_client, frozen):
    doctor = doctor_client.doctor
    slots.create_slot(doctor, slots.local_slot_input("fixed", date(2026, 12, 3), time(14),
                                                     time(14, 20)))
    slots.create_slot(doctor, slots.local_slot_input("floating", date(2026, 12, 4), time(9),
                                                     time(12), capacity=2))
    db.session.commit()
    r = doctor_client.post("/ma-semaine/copier", data={
        "target": "2026-W50", "csrf_token": csrf_token(doctor_client, "/ma-semaine")},
        follow_redirects=True)
    assert "2 créneaux copiés depuis la semaine précédente." in r.get_data(as_text=True)
    assert [to_local(s.start).date() for s in slots.week_pool(doctor, "2026-W50")] == [
        date(2026, 12, 10), date(2026, 12, 11)]
    r = doctor_client.post("/ma-semaine/copier", data={
        "target": "2027-W10", "csrf_token": csrf_token(doctor_client, "/ma-semaine")},
        follow_redirects=True)
    assert "Seules cette semaine et les 12 suivantes" in r.get_data(as_text=True)


def test_other_doctors_slot_page_is_404(doctor_client, make_doctor):
    other = make_doctor()
    slot = slots.create_slot(other, slots.local_slot_input("fixed", date(2026, 12, 8),
                                                           time(14), time(14, 20)))
    db.session.commit()
    assert doctor_client.get(f"/ma-semaine/creneaux/{slot.id}").status_code == 404


def test_roles(login_as, frozen):
    secretary = login_as("secretary")
    assert secretary.get("/ma-semaine").status_code == 403
    assert secretary.get("/charte").status_code == 403
    doctor = login_as("doctor")
    assert doctor.get("/charte/parametres").status_code == 403


def test_coordinator_overview_and_settings(login_as, make_doctor, frozen, cpts):
    four, one, _none = make_doctor(last_name="Quatre"), make_doctor(last_name="Un"), \
        make_doctor(last_name="Rien")
    for hour in (9, 10, 11):
        slots.create_slot(four, slots.local_slot_input("fixed", date(2026, 12, 8), time(hour),
                                                       time(hour, 20)))
    slots.create_slot(four, slots.local_slot_input("floating", date(2026, 12, 9), time(14),
                                                   time(18)))
    slots.create_slot(one, slots.local_slot_input("fixed", date(2026, 12, 8), time(9),
                                                  time(9, 20)))
    db.session.commit()
    coordinator = login_as("coordinator")
    html = coordinator.get("/charte").get_data(as_text=True)
    next_week = html[html.index('data-week="2026-W50"'):]
    row = re.search(rf'<tr data-doctor="{four.id}">.*?</tr>', next_week, re.S).group(0)
    assert '<td class="count">4' in row and "dans la charte" in row
    under = next_week[next_week.index('class="under"'):next_week.index('class="outside"')]
    assert "Jeanne Un — 1 consultation" in under
    assert "Jeanne Rien — aucun créneau" in under
    assert "Quatre" not in under
    dashboard = coordinator.get("/").get_data(as_text=True)
    assert "Charte SNP" in dashboard

    token = csrf_token(coordinator, "/charte/parametres")
    form = {"min_per_week": "3", "max_per_week": "5", "default_length_min": "15",
            "horizon_hours": "24", "weekday_start": "08:30", "weekday_end": "19:30",
            "saturday_end": "12:00", "hours_policy": "refuse", "holidays_policy": "refuse",
            "csrf_token": token}
    r = coordinator.post("/charte/parametres", data=form)
    assert r.status_code == 302
    charter = db.session.get(CharterSettings, cpts.id)
    db.session.refresh(charter)
    assert (charter.min_per_week, charter.max_per_week, charter.horizon_hours) == (3, 5, 24)
    assert charter.saturday_morning is False and charter.publication_hours["6"] is None
    r = coordinator.post("/charte/parametres", data={**form, "min_per_week": "7",
                                                     "csrf_token": token})
    assert r.status_code == 400
    assert "ne pas dépasser le maximum" in r.get_data(as_text=True)


def test_doctor_dashboard_panel(doctor_client):
    add(doctor_client)
    html = doctor_client.get("/").get_data(as_text=True)
    assert "Ma semaine SNP" in html and "sous le minimum" in html


def test_booked_slot_shows_booking_to_its_doctor_only_and_audits(doctor_client, make_org,
                                                                 make_doctor):
    from agenda.audit import AuditEntry
    from agenda.booking.models import Booking, Patient

    add(doctor_client)
    slot = Slot.query.one()
    patient = Patient(last_name="Durand", first_name="Paul", commune_insee="44036")
    db.session.add(patient)
    db.session.flush()
    booking = Booking(reference="RTEST1234", slot_id=slot.id, doctor_id=slot.doctor_id,
                      patient_id=patient.id, booker_org_id=make_org("secretariat").id,
                      channel="secretariat", start=slot.start, end=slot.end)
    slot.status, slot.booked_count = "booked", 1
    db.session.add(booking)
    db.session.commit()
    html = doctor_client.get("/ma-semaine").get_data(as_text=True)
    assert "Paul Durand" in html and "RTEST1234" in html
    assert "Annuler cette réservation (avec un motif)" in html  # booking.cancel exists
    entries = AuditEntry.query.filter_by(object_type="booking", object_id=booking.id).all()
    assert entries and entries[0].patient_id == patient.id
    other = make_doctor(with_user=True)
    other_client = doctor_client.application.test_client()
    login(other_client, other.user.email, PASSWORD)
    assert "Durand" not in other_client.get("/ma-semaine").get_data(as_text=True)
