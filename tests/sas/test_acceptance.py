"""Acceptance of issue 7 on the demo data: search two doctors over tomorrow, book through
the Slot.comment link with the SAS platform down, then cancel."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from agenda import demo
from agenda.accounts.services import set_password
from agenda.booking.models import Booking
from agenda.extensions import db
from agenda.outbox import OutboxItem
from agenda.sas import accounts as sas_accounts
from agenda.slots.models import Slot
from agenda.sync.worker import drain_outbox
from agenda.timeutil import local_to_utc, to_local
from tests.conftest import CSRF_RE, login
from tests.sas.conftest import API_KEY, search_url
from tests.sas.fhir_check import check_bundle
from tests.sas.test_accounts import regulator

BASE = "http://localhost"


@pytest.fixture()
def demo_data(app, frozen):
    app.config["FHIR_API_KEYS"] = f"sas:{API_KEY}"
    return demo.build()


def _fhir_get(client, url):
    return client.get(url, headers={"X-API-Key": API_KEY})


def _tomorrow_bounds():
    from datetime import time

    from agenda import clock

    day = to_local(clock.now()).date() + timedelta(days=1)
    return day, local_to_utc(day, time(0)), local_to_utc(day + timedelta(days=1), time(0))


def _pick_two(demo_data):
    day, lo, hi = _tomorrow_bounds()
    by_doctor: dict[int, list[Slot]] = {}
    for slot in db.session.scalars(select(Slot).where(Slot.start >= lo, Slot.start < hi)):
        by_doctor.setdefault(slot.doctor_id, []).append(slot)
    open_fixed = lambda s: s.kind == "fixed" and s.status == "open" and s.in_charter  # noqa: E731
    # prefer doctors who also have something that must NOT be exposed tomorrow
    # (two doctors of the main CPTS with one place each: one Organization, two roles)
    single = [d for d in demo_data.doctors if d.cpts_id == demo_data.cpts.id
              and d is not demo_data.two_places]
    ranked = sorted((d for d in single if any(open_fixed(s) for s in
                                              by_doctor.get(d.id, []))),
                    key=lambda d: -sum(not open_fixed(s) for s in by_doctor[d.id]))
    assert len(ranked) >= 2, "the demo has no two doctors with open fixed slots tomorrow"
    a, b = ranked[:2]
    expected = {f"slot-{s.id}" for d in (a, b) for s in by_doctor[d.id] if open_fixed(s)}
    return a, b, day, expected


def test_demo_search_two_doctors_over_tomorrow(client, demo_data):
    a, b, day, expected = _pick_two(demo_data)
    url = search_url([a, b], f"{day}T00:00:00+01:00", f"{day}T23:59:59+01:00")
    resp = _fhir_get(client, url)
    assert resp.status_code == 200 and resp.mimetype == "application/fhir+json"
    bundle = resp.get_json()
    by_type = check_bundle(bundle, BASE)
    assert set(by_type["Slot"]) == expected
    assert bundle["total"] == len(expected)
    assert {p["identifier"][0]["value"] for p in by_type["Practitioner"].values()} == {
        "8" + a.rpps, "8" + b.rpps}
    assert len(by_type["Schedule"]) == len(by_type["PractitionerRole"]) == 2
    (org,) = by_type["Organization"].values()
    assert org["identifier"][0]["value"] == "1" + demo_data.cpts.finess
    assert len(by_type["HealthcareService"]) == 1


def test_demo_doctor_with_two_places_in_two_cpts(client, demo_data):
    """One Practitioner; one PractitionerRole, Schedule and Location per place; one
    Organization and HealthcareService per CPTS; each Slot's schedule is its place's."""
    doctor = demo_data.two_places
    slots = list(db.session.scalars(select(Slot).where(
        Slot.doctor_id == doctor.id, Slot.status == "open", Slot.kind == "fixed",
        Slot.in_charter.is_(True))))
    assert {s.cpts_id for s in slots} == {demo_data.cpts.id, demo_data.neighbours[1].id}
    lo = to_local(min(s.start for s in slots)).date()
    hi = lo + timedelta(days=2)
    resp = _fhir_get(client, search_url([doctor], f"{lo}T00:00:00+01:00",
                                        f"{hi}T23:59:59+01:00"))
    assert resp.status_code == 200
    by_type = check_bundle(resp.get_json(), BASE)
    assert len(by_type["Practitioner"]) == 1
    places = {s.place_id for s in slots if to_local(s.start).date() <= hi}
    assert len(places) == 2
    assert len(by_type["PractitionerRole"]) == len(by_type["Schedule"]) == 2
    assert {r["id"] for r in by_type["PractitionerRole"].values()} == {
        f"role-{p}" for p in places}
    orgs = {o["identifier"][0]["value"] for o in by_type["Organization"].values()}
    assert orgs == {"1" + demo_data.cpts.finess, "1" + demo_data.neighbours[1].finess}
    assert len(by_type["HealthcareService"]) == 2
    lines = {r["contained"][0]["address"]["line"][0]
             for r in by_type["PractitionerRole"].values()}
    assert "2 rue du Port, Nort-sur-Erdre" in lines
    for slot in by_type["Slot"].values():
        db_slot = db.session.get(Slot, int(slot["id"].split("-")[1]))
        assert slot["schedule"]["reference"] == f"Schedule/schedule-{db_slot.place_id}"


def test_demo_booking_through_comment_link_platform_down(app, client, demo_data, standin,
                                                          frozen):
    app.config["SAS_ENDPOINT"] = standin.url
    app.config["SAS_API_KEY"] = standin.api_key
    a, b, day, expected = _pick_two(demo_data)
    # INT_R02: the SAS platform creates the regulator; they choose a password by reset
    body = regulator(national=None, technical="6f1c0e4e-5b5d-4a57-9d0b-3d3c0d1b8a11",
                     email="regulatrice@sas-national.fr")
    assert client.post("/fhir/r4/Practitioner", json=body,
                       headers={"X-API-Key": API_KEY}).status_code == 201
    (account,) = sas_accounts.find_accounts("6f1c0e4e-5b5d-4a57-9d0b-3d3c0d1b8a11")
    set_password(account.user, "choisi-apres-reinitialisation")
    db.session.commit()

    bundle = _fhir_get(client, search_url([a, b], str(day), str(day))).get_json()
    slot_res = next(e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "match")
    slot_id = int(slot_res["id"].split("-")[1])
    link = urlsplit(slot_res["comment"])

    browser = app.test_client()
    assert login(browser, "regulatrice@sas-national.fr",
                 "choisi-apres-reinitialisation").status_code == 302
    resp = browser.get(f"{link.path}?{link.query}&origin=sas")  # the SAS adds its own origin
    assert resp.status_code == 302
    page = browser.get(resp.headers["Location"])
    assert page.status_code == 200
    token = CSRF_RE.search(page.get_data(as_text=True)).group(1)

    standin.stop()  # the national platform is down at booking time
    resp = browser.post(f"/reservations/creneau/{slot_id}", data={
        "csrf_token": token, "last_name": "Martin", "first_name": "Zoé",
        "commune": "Châteaubriant", "treating": "unknown", "reason": "0",
        "mobility": "mobile", "origin": "sas"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    booking = db.session.scalar(select(Booking).where(Booking.slot_id == slot_id))
    assert booking.origin == "sas" and booking.status == "booked"
    drain_outbox()
    item = db.session.scalar(select(OutboxItem).where(OutboxItem.kind == "sas.appointment"))
    assert item.status == "pending" and item.last_error

    standin.start()  # back later
    frozen.advance(minutes=2)
    drain_outbox()
    assert [(c.method, c.body["status"]) for c in standin.calls] == [("POST", "booked")]
    assert standin.calls[0].status == 201, standin.calls[0].problems

    detail = browser.get(f"/reservations/{booking.id}")
    assert detail.status_code == 200
    token = CSRF_RE.search(detail.get_data(as_text=True)).group(1)
    resp = browser.post(f"/reservations/{booking.id}/annuler",
                        data={"csrf_token": token, "reason": "Patient orienté ailleurs"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).status == "cancelled"
    drain_outbox()
    drain_outbox()
    assert [(c.method, c.body["status"], c.status) for c in standin.calls] == [
        ("POST", "booked", 201), ("PUT", "cancelled", 200)]
    assert not re.search(r"Martin|Zoé", str([c.body for c in standin.calls]))
