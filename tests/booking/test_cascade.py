"""The floating request cascade with a frozen clock: treating doctor alone for T1, then the
community within the radius; refusal; two doctors accepting at once; expiry alert + email."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from agenda.accounts.models import User
from agenda.alerts import Alert
from agenda.booking import services, tasks
from agenda.booking.models import Booking, FloatingRequest, RequestOffer
from agenda.errors import Conflict
from agenda.extensions import db
from agenda.outbox import OutboxItem
from tests.booking.conftest import deliver_mail

# Tuesday 1 December 2026, 14:00 in Paris (13:00 UTC).
T0 = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)


@pytest.fixture()
def world(frozen, make_doctor, make_slot, make_user):
    frozen.set(T0)
    treating = make_doctor("44036", with_user=True, email="traitant@test.fr")
    colleague_a = make_doctor("44180", with_user=True, email="a@test.fr")   # Soudan ~7 km
    colleague_b = make_doctor("44150", with_user=True, email="b@test.fr")   # Rougé ~8 km
    far = make_doctor("44109", with_user=True, email="loin@test.fr")        # Nantes ~55 km
    window = dict(kind="floating", minutes=240, capacity=2)                 # 14:00–18:00
    slots = {d: make_slot(d, T0, **window) for d in (treating, colleague_a, colleague_b, far)}
    secretary, _ = make_user("secretary", email="secretariat@test.fr")
    return {"treating": treating, "a": colleague_a, "b": colleague_b, "far": far,
            "slots": slots, "secretary": secretary}


def _request(world, patient_data, treating=True) -> FloatingRequest:
    data = patient_data("44036", treating=world["treating"] if treating else None)
    req = services.book(world["secretary"], services.BookingInput(
        slot_id=world["slots"][world["a"]].id, patient=data))
    assert isinstance(req, FloatingRequest)
    return req


def _user(doctor) -> User:
    return db.session.get(User, doctor.user_id)


def _offered_ids(doctor) -> list[int]:
    return [r.id for r, _o in services.offers_for(_user(doctor))]


def test_treating_doctor_alone_for_t1_then_community(world, patient_data, frozen):
    req = _request(world, patient_data)
    assert req.phase == "treating"
    assert req.t1_at == T0 + timedelta(minutes=60)
    assert req.deadline_at == T0 + timedelta(minutes=120)
    assert _offered_ids(world["treating"]) == [req.id]
    assert _offered_ids(world["a"]) == [] and _offered_ids(world["b"]) == []
    frozen.advance(minutes=59)
    tasks.request_cascade()
    assert _offered_ids(world["a"]) == []
    frozen.advance(minutes=2)
    tasks.request_cascade()
    db.session.refresh(req)
    assert req.phase == "community"
    assert _offered_ids(world["a"]) == [req.id] and _offered_ids(world["b"]) == [req.id]
    assert _offered_ids(world["far"]) == []  # outside the charter radius
    assert _offered_ids(world["treating"]) == [req.id]  # still may accept
    # A colleague accepts at 15:40 and chooses 16:00; the booker sees the confirmed time.
    frozen.set(datetime(2026, 12, 1, 14, 40, tzinfo=UTC))
    booking = services.accept_request(_user(world["a"]), req.id,
                                      datetime(2026, 12, 1, 15, 0, tzinfo=UTC))
    assert booking.doctor_id == world["a"].id and booking.request_id == req.id
    db.session.refresh(req)
    assert req.status == "accepted"
    mine = services.requests_for(world["secretary"])
    assert mine[0].status == "accepted"
    kinds = [o.kind for o in db.session.scalars(select(OutboxItem))]
    assert "caldav.floating" in kinds
    assert db.session.get(type(world["slots"][world["a"]]),
                          world["slots"][world["a"]].id).booked_count == 1
    # Mails to doctors never carry the patient's identity.
    for item in db.session.scalars(select(OutboxItem).where(OutboxItem.kind == "mail")):
        assert "Dupont" not in item.payload["body"] and "Marie" not in item.payload["body"]
        assert "06 11" not in item.payload["body"]


def test_refusal_by_treating_doctor_goes_to_community_at_once(world, patient_data):
    req = _request(world, patient_data)
    services.refuse_request(_user(world["treating"]), req.id)
    db.session.refresh(req)
    assert req.phase == "community"
    assert _offered_ids(world["treating"]) == []  # refused: no longer shown
    assert req.id in _offered_ids(world["a"])
    with pytest.raises(Conflict):
        services.accept_request(_user(world["treating"]), req.id, T0 + timedelta(minutes=30))


def test_no_treating_doctor_goes_to_community_directly(world, patient_data):
    req = _request(world, patient_data, treating=False)
    assert req.phase == "community"
    assert req.id in _offered_ids(world["a"]) and req.id in _offered_ids(world["b"])


def test_two_doctors_accepting_at_once_one_wins(app, world, patient_data):
    req = _request(world, patient_data, treating=False)
    ids = [world["a"].user_id, world["b"].user_id]
    req_id = req.id
    db.session.remove()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def accept(user_id):
        with app.app_context():
            user = db.session.get(User, user_id)
            barrier.wait(timeout=10)
            try:
                services.accept_request(user, req_id, T0 + timedelta(minutes=30))
                outcomes.append("won")
            except Conflict:
                outcomes.append("lost")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=accept, args=(uid,)) for uid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["lost", "won"]
    bookings = list(db.session.scalars(select(Booking).where(Booking.request_id == req_id)))
    assert len(bookings) == 1


def test_expiry_alerts_the_booker_on_dashboard_and_by_email(world, patient_data, frozen,
                                                            smtp_server, login_as):
    req = _request(world, patient_data)
    deliver_mail()  # the offer to the treating doctor
    assert [m.rcpt_tos for m in smtp_server.messages] == [["traitant@test.fr"]]
    frozen.advance(minutes=119)
    tasks.request_cascade()
    db.session.refresh(req)
    assert req.status == "pending"
    frozen.advance(minutes=2)
    tasks.request_cascade()
    db.session.refresh(req)
    assert req.status == "expired" and req.booker_alerted_at is not None
    alert = db.session.scalar(select(Alert).where(Alert.kind == "request_expired"))
    assert alert.user_id == world["secretary"].id
    assert alert.organisation_id == world["secretary"].organisation_id
    smtp_server.messages.clear()
    deliver_mail()
    expired_mails = [m for m in smtp_server.messages if m.rcpt_tos == ["secretariat@test.fr"]]
    assert len(expired_mails) == 1
    content = expired_mails[0].content.decode()
    assert req.reference in content and "Dupont" not in content
    # Nobody can accept any more.
    with pytest.raises(Conflict):
        services.accept_request(_user(world["treating"]), req.id, T0 + timedelta(minutes=150))
    # The dashboard of the booker organisation shows the alert.
    from agenda.dashboard import panels_for

    panels = panels_for(world["secretary"])
    booking_panel = [p for p in panels if p["template"] == "booking/_panel_booker.html"][0]
    assert [a.id for a in booking_panel["alerts"]] == [alert.id]


def test_offers_are_unique_and_accept_time_must_fit(world, patient_data, frozen):
    req = _request(world, patient_data)
    frozen.advance(minutes=61)
    tasks.request_cascade()
    tasks.request_cascade()
    offers = db.session.scalars(select(RequestOffer).where(RequestOffer.request_id == req.id))
    doctors = [o.doctor_id for o in offers]
    assert len(doctors) == len(set(doctors)) == 3
    from agenda.errors import RuleViolation

    with pytest.raises(RuleViolation):  # after the window
        services.accept_request(_user(world["a"]), req.id, T0 + timedelta(hours=5))
    with pytest.raises(RuleViolation):  # in the past
        services.accept_request(_user(world["a"]), req.id, T0 + timedelta(minutes=10))
