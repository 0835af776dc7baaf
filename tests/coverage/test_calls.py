"""Calls as first-class records, the one cancellation path, exact-minute indemnities and
the reminder of missing outcomes (issue 13), through the services, pages and API."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from agenda.booking import services
from agenda.booking.models import CallLog, FloatingRequest
from agenda.booking.services.calls import close_call, remind_missing_outcomes
from agenda.coverage import indemnities, stats
from agenda.errors import ValidationError
from agenda.extensions import db
from agenda.outbox import OutboxItem
from agenda.slots.models import Slot
from tests.conftest import csrf_token
from tests.coverage.helpers import add_slot

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # Monday 09:00 Paris


def _patient(insee="44036"):
    return services.PatientData(last_name="Durand", first_name="Léa", commune_insee=insee)


def _period():
    return stats.Period(date(2026, 11, 1), date(2026, 12, 31))


def test_close_call_from_the_pages_and_the_api_with_its_channel(app, frozen, cpts, communes,
                                                               make_user, login_as,
                                                               api_client):
    frozen.set(NOW)
    client = login_as("secretary")
    html = client.get("/urgences").get_data(as_text=True)
    assert "Aucun créneau ne convient" in html and 'formaction="/reservations/appel/clore"' \
        in html
    token = csrf_token(client, "/urgences")
    resp = client.post("/reservations/appel/clore", data={
        "csrf_token": token, "outcome": "no_slot", "commune": "Châteaubriant",
        "back": "booking.ed_quick"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/urgences")
    call = db.session.scalar(select(CallLog))
    assert (call.outcome, call.channel, call.commune_insee, call.cpts_id) == (
        "no_slot", "secretariat", "44036", cpts.id)
    bad = client.post("/reservations/appel/clore", data={"csrf_token": token,
                                                         "outcome": "booked"})
    assert bad.status_code == 400 and "Issue d&#39;appel inconnue" in bad.get_data(as_text=True)

    api, headers, _ = api_client("regulator")
    resp = api.post("/api/v1/calls", json={"outcome": "declined", "commune": "Soudan"},
                    headers=headers)
    assert resp.status_code == 201
    assert resp.get_json()["channel"] == "samu" and resp.get_json()["commune"] == "44180"
    resp = api.post("/api/v1/calls", json={"outcome": "reoriented"}, headers=headers)
    assert resp.status_code == 400 and resp.get_json()["message"]

    # The CPTS's own organisation is its own channel, not the call centre.
    own, _pw = make_user("secretary", organisation=cpts)
    close_call(own, "other")
    s = stats.compute(cpts.id, _period())
    by_channel = {r["channel"]: r for r in s.channels}
    assert by_channel["cpts"]["requests"] == 1 and by_channel["secretariat"]["requests"] == 1
    assert by_channel["samu"]["requests"] == 1
    assert s.summary["calls_no_slot"] == s.summary["calls_declined"] == 1
    assert s.summary["calls_other"] == 1 and s.summary["found_slot"] == 0
    assert s.summary["field_acceptance_rate"] == 0.0
    with pytest.raises(ValidationError):
        close_call(own, "booked")


def test_both_cancellation_paths_keep_the_slot_offered_and_the_request_accepted(
        app, frozen, cpts, communes, make_user, make_doctor):
    frozen.set(NOW)
    booker, _pw = make_user("secretary")
    doctor = make_doctor(with_user=True)
    doctor_user = db.session.get(type(booker), doctor.user_id)
    slot_a = add_slot(doctor, NOW + timedelta(hours=2))
    slot_b = add_slot(doctor, NOW + timedelta(hours=3))
    window = add_slot(doctor, NOW + timedelta(hours=4), minutes=120, kind="floating",
                      capacity=2)
    a = services.book(booker, services.BookingInput(slot_id=slot_a.id, patient=_patient()))
    b = services.book(booker, services.BookingInput(slot_id=slot_b.id, patient=_patient()))
    req = services.book(booker, services.BookingInput(slot_id=window.id, patient=_patient()))
    assert isinstance(req, FloatingRequest)
    accepted = services.accept_request(doctor_user, req.id, NOW + timedelta(hours=4))
    frozen.set(NOW + timedelta(hours=3, minutes=30))
    services.cancel_booking(booker, a.id, "Le patient a prévenu trop tard")  # "Annuler"
    services.record_outcome(doctor_user, b.id, "cancelled")  # outcome "annulé"
    services.cancel_booking(booker, accepted.id, "Le patient va mieux")  # before its time
    assert db.session.get(FloatingRequest, req.id).status == "accepted"
    assert {db.session.get(Slot, s.id).status for s in (slot_a, slot_b)} == {"booked"}
    assert db.session.get(Slot, window.id).booked_count == 0  # its place is bookable again
    s = stats.compute(cpts.id, _period())
    assert s.summary["slots_offered"] == 1 + 1 + 2
    assert s.summary["cancelled_bookings"] == 3 and s.summary["bookings"] == 0
    assert s.summary["floating_accepted"] == 1 and s.summary["found_slot"] == 3
    rows = indemnities.monthly(cpts.id, "2026-11", {"per_slot": "25"})
    assert [(r.fixed_slots, r.amount) for r in rows] == [(2, Decimal("50.00"))]


def test_floating_time_is_paid_from_exact_minutes(app, frozen, cpts, communes, make_doctor):
    frozen.set(NOW)
    doctor = make_doctor()
    add_slot(doctor, NOW + timedelta(hours=1), minutes=100, kind="floating", capacity=2)
    add_slot(doctor, NOW + timedelta(hours=4), minutes=100, kind="floating", capacity=2)
    rows = indemnities.monthly(cpts.id, "2026-11", {"per_floating_hour": "30"})
    # 1 h 40 twice: 200 min × 30 € / 60 = 100.00 € (rounding hours first gave 100.20 €).
    assert rows[0].floating_minutes == 200 and rows[0].amount == Decimal("100.00")
    rows = indemnities.monthly(cpts.id, "2026-11", {"per_floating_hour": "31.70"})
    assert rows[0].amount == Decimal("105.67")  # 105.666… rounded once
    assert "3 h 20 × 31,70\u00a0€" in rows[0].detail


def test_missing_outcomes_are_listed_and_reminded_once(app, frozen, cpts, communes, make_user,
                                                      make_doctor, login_as):
    frozen.set(NOW)
    booker, _pw = make_user("secretary")
    doctor = make_doctor(with_user=True, email="dr.oubli@test.fr")
    slot = add_slot(doctor, NOW + timedelta(hours=2))
    made = services.book(booker, services.BookingInput(slot_id=slot.id, patient=_patient()))
    frozen.set(NOW + timedelta(hours=49))
    assert remind_missing_outcomes() == 0  # 47 h after the start: not yet
    frozen.set(NOW + timedelta(hours=51))
    assert remind_missing_outcomes() == 1
    assert remind_missing_outcomes() == 0  # once
    mails = [o for o in db.session.scalars(select(OutboxItem).where(OutboxItem.kind == "mail"))
             if "issue de consultation" in o.payload["subject"]]
    assert len(mails) == 1 and mails[0].payload["to"] == "dr.oubli@test.fr"
    assert made.reference in mails[0].payload["body"]
    assert "Durand" not in mails[0].payload["body"]
    s = stats.compute(cpts.id, _period())
    assert s.summary["outcome_missing"] == 1
    assert [r["reference"] for r in s.missing_outcomes] == [made.reference]
    html = login_as("coordinator").get("/coverage/stats?period=month&day=2026-11-30"
                                       ).get_data(as_text=True)
    assert f'data-booking="{made.id}"' in html and "Durand" not in html
