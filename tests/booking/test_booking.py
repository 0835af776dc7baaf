"""Holds, fixed bookings, cancellation, outcomes, synthesis, reorientation, purge."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from agenda.accounts.models import User
from agenda.alerts import Alert
from agenda.audit import AuditEntry
from agenda.booking import services, tasks
from agenda.booking.models import Booking, CallLog, Patient, Reorientation
from agenda.errors import Conflict, NotFound, RuleViolation, ValidationError
from agenda.extensions import db
from agenda.outbox import OutboxItem
from agenda.slots.models import Slot


def _book(user, slot, patient_data, **kwargs):
    return services.book(user, services.BookingInput(slot_id=slot.id, patient=patient_data(),
                                                     **kwargs))


def test_hold_blocks_others_and_expires_by_itself(frozen, make_doctor, make_slot, make_user,
                                                  patient_data):
    now = frozen.advance(minutes=0)
    slot = make_slot(make_doctor(), now + timedelta(hours=2))
    alice, _ = make_user("secretary")
    bob, _ = make_user("regulator")
    held = services.hold_slot(alice, slot.id)
    assert held.held_by_user_id == alice.id
    assert held.held_until == now + timedelta(minutes=5)
    with pytest.raises(Conflict):
        services.hold_slot(bob, slot.id)
    with pytest.raises(Conflict):
        _book(bob, slot, patient_data)
    frozen.advance(minutes=4)
    with pytest.raises(Conflict):
        _book(bob, slot, patient_data)
    frozen.advance(minutes=2)  # the hold has expired: no timer needed for that
    booking = _book(bob, slot, patient_data)
    assert booking.booker_user_id == bob.id and booking.channel == "samu"
    with pytest.raises(Conflict):
        _book(alice, slot, patient_data)


def test_hold_owner_books_and_the_timer_clears_stale_holds(frozen, make_doctor, make_slot,
                                                           make_user, patient_data):
    now = frozen.advance(minutes=0)
    doctor = make_doctor()
    s1 = make_slot(doctor, now + timedelta(hours=2))
    s2 = make_slot(doctor, now + timedelta(hours=3))
    alice, _ = make_user("secretary")
    services.hold_slot(alice, s1.id)
    services.hold_slot(alice, s2.id)
    booking = _book(alice, s1, patient_data)
    slot = db.session.get(Slot, s1.id)
    db.session.refresh(slot)
    assert slot.status == "booked" and slot.held_by_user_id is None
    assert booking.channel == "secretariat" and booking.origin == "web"
    frozen.advance(minutes=6)
    assert tasks.expire_holds() == 1
    db.session.refresh(s2)
    assert s2.held_until is None


def test_booking_writes_outbox_audit_and_call(frozen, make_doctor, make_slot, make_user,
                                              patient_data):
    now = frozen.advance(minutes=0)
    slot = make_slot(make_doctor(email="doc@test.fr"), now + timedelta(hours=2))
    user, _ = make_user("regulator")
    booking = _book(user, slot, patient_data, origin="sas")
    items = {o.kind: o for o in db.session.scalars(select(OutboxItem))}
    assert items["caldav.booking"].payload == {"booking_id": booking.id, "action": "booked"}
    assert items["sas.appointment"].payload == {"booking_id": booking.id, "action": "booked"}
    assert items["mail"].payload["to"] == "doc@test.fr"
    assert "Dupont" not in items["mail"].payload["body"]
    entry = db.session.scalar(select(AuditEntry).where(
        AuditEntry.patient_id == booking.patient_id))
    assert (entry.action, entry.object_type, entry.object_id, entry.user_id) == (
        "create", "booking", booking.id, user.id)
    assert db.session.scalar(select(CallLog.outcome)) == "booked"


def test_bad_input_leaves_nothing_written(frozen, make_doctor, make_slot, make_user,
                                          patient_data):
    now = frozen.advance(minutes=0)
    slot = make_slot(make_doctor(), now + timedelta(hours=2))
    user, _ = make_user("secretary")
    with pytest.raises(ValidationError):
        services.book(user, services.BookingInput(slot_id=slot.id, patient=patient_data(
            last_name="")))
    with pytest.raises(ValidationError):
        services.book(user, services.BookingInput(slot_id=slot.id, patient=patient_data(
            phone="abc")))
    db.session.refresh(slot)
    assert slot.booked_count == 0 and slot.status == "open"
    assert db.session.scalar(select(func.count()).select_from(Patient)) == 0
    with pytest.raises(NotFound):
        services.book(user, services.BookingInput(slot_id=99999, patient=patient_data()))


def test_cancel_by_booker_reopens_future_slot_and_alerts_doctor(frozen, make_doctor, make_slot,
                                                                 make_user, patient_data):
    now = frozen.advance(minutes=0)
    doctor = make_doctor(with_user=True)
    slot = make_slot(doctor, now + timedelta(hours=2))
    user, _ = make_user("secretary")
    booking = _book(user, slot, patient_data)
    with pytest.raises(ValidationError):
        services.cancel_booking(user, booking.id, "  ")
    services.cancel_booking(user, booking.id, "Le patient va mieux")
    db.session.refresh(slot)
    assert slot.status == "open" and slot.booked_count == 0
    assert booking.status == "cancelled" and booking.cancel_reason == "Le patient va mieux"
    alert = db.session.scalar(select(Alert).where(Alert.kind == "booking_cancelled"))
    assert alert.doctor_id == doctor.id
    actions = [o.payload.get("action") for o in db.session.scalars(
        select(OutboxItem).where(OutboxItem.kind == "caldav.booking"))]
    assert actions == ["booked", "cancelled"]
    with pytest.raises(Conflict):
        services.cancel_booking(user, booking.id, "encore")
    # The reopened slot can be booked again.
    assert _book(user, slot, patient_data).status == "booked"


def test_cancel_by_doctor_alerts_the_booker_organisation(frozen, make_doctor, make_slot,
                                                         make_user, patient_data):
    now = frozen.advance(minutes=0)
    doctor = make_doctor(with_user=True)
    slot = make_slot(doctor, now + timedelta(hours=2))
    user, _ = make_user("ed_nurse")
    booking = _book(user, slot, patient_data)
    doctor_user = db.session.get(User, doctor.user_id)
    services.cancel_booking(doctor_user, booking.id, "Urgence au cabinet")
    alert = db.session.scalar(select(Alert).where(Alert.kind == "booking_cancelled"))
    assert alert.organisation_id == user.organisation_id and alert.user_id == user.id
    other_doctor = make_doctor(with_user=True)
    booking2 = _book(user, db.session.get(Slot, slot.id), patient_data)
    with pytest.raises(NotFound):
        services.cancel_booking(db.session.get(User, other_doctor.user_id), booking2.id, "x")


def test_outcomes_after_the_time_only(frozen, make_doctor, make_slot, make_user, patient_data):
    now = frozen.advance(minutes=0)
    doctor = make_doctor(with_user=True)
    user, _ = make_user("secretary")
    doctor_user = db.session.get(User, doctor.user_id)
    bookings = [_book(user, make_slot(doctor, now + timedelta(hours=1, minutes=30 * i)),
                      patient_data) for i in range(3)]
    with pytest.raises(RuleViolation):
        services.record_outcome(doctor_user, bookings[0].id, "seen")
    frozen.advance(hours=3)
    services.record_outcome(doctor_user, bookings[0].id, "seen", "Angine virale, repos.")
    services.record_outcome(doctor_user, bookings[1].id, "no_show")
    services.record_outcome(doctor_user, bookings[2].id, "cancelled")
    statuses = [db.session.get(Slot, b.slot_id).status for b in bookings]
    # "annulé" takes the same path as a late "Annuler": the slot stays offered as it was.
    assert statuses == ["seen", "no_show", "booked"]
    with pytest.raises(Conflict):
        services.record_outcome(doctor_user, bookings[1].id, "seen")
    with pytest.raises(ValidationError):
        services.record_outcome(doctor_user, bookings[0].id, "bof")
    with pytest.raises(RuleViolation):
        services.write_synthesis(doctor_user, bookings[1].id, "x")
    assert bookings[0].synthesis == "Angine virale, repos."
    outcomes = [o.payload["action"] for o in db.session.scalars(
        select(OutboxItem).where(OutboxItem.kind == "caldav.booking"))]
    assert outcomes.count("outcome") == 3


def test_synthesis_reaches_the_treating_doctor(frozen, make_doctor, make_slot, make_user,
                                               patient_data):
    now = frozen.advance(minutes=0)
    treating = make_doctor(with_user=True)
    consulting = make_doctor(with_user=True)
    user, _ = make_user("secretary")
    booking = services.book(user, services.BookingInput(
        slot_id=make_slot(consulting, now + timedelta(hours=1)).id,
        patient=patient_data(treating=treating)))
    frozen.advance(hours=2)
    services.record_outcome(db.session.get(User, consulting.user_id), booking.id, "seen",
                            "Otite moyenne aiguë, antibiotique 5 jours.")
    seen = services.treated_patients(db.session.get(User, treating.user_id))
    assert [b.id for b in seen] == [booking.id] and seen[0].treating_seen
    assert services.treated_patients(db.session.get(User, consulting.user_id)) == []
    letter = services.letter_booking(db.session.get(User, consulting.user_id), booking.id)
    assert letter.synthesis.startswith("Otite")


def test_reorientation_is_counted(frozen, make_user, communes):
    user, _ = make_user("regulator")
    services.record_reorientation(user, "44036")
    services.record_reorientation(user, None)
    assert db.session.scalar(select(func.count()).select_from(Reorientation)) == 2
    coordinator, _ = make_user("coordinator")
    from agenda.booking.services.bookings import status_counts

    assert status_counts(coordinator)["reoriented"] == 2


def test_purge_anonymises_past_retention_and_keeps_counts(frozen, make_doctor, make_slot,
                                                          make_user, patient_data):
    now = frozen.advance(minutes=0)
    user, _ = make_user("secretary")
    booking = _book(user, make_slot(make_doctor(), now + timedelta(hours=1)), patient_data)
    frozen.advance(days=200)
    assert tasks.retention_purge() == 0
    frozen.advance(days=200)
    assert tasks.retention_purge() == 1
    db.session.expire_all()
    patient = db.session.get(Patient, booking.patient_id)
    assert patient.last_name == "—" and patient.phone is None and patient.anonymised_at
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 1


def test_cancelling_after_the_time_does_not_reopen_the_slot(frozen, make_doctor, make_slot,
                                                            make_user, patient_data):
    now = frozen.advance(minutes=0)
    user, _ = make_user("secretary")
    slot = make_slot(make_doctor(), now + timedelta(hours=1))
    booking = _book(user, slot, patient_data)
    frozen.advance(hours=2)
    services.cancel_booking(user, booking.id, "Le patient a prévenu trop tard")
    db.session.refresh(slot)
    assert slot.status == "booked" and slot.booked_count == 1


def test_charter_settings_drive_hold_t1_deadline_and_radius(frozen, make_doctor, make_slot,
                                                            make_user, patient_data, cpts):
    from agenda.booking.models import FloatingRequest
    from agenda.slots.models import CharterSettings

    db.session.add(CharterSettings(cpts_id=cpts.id, hold_minutes=2, request_t1_min=30,
                                   request_deadline_min=90, radius_km=5))
    db.session.commit()
    now = frozen.advance(minutes=0)
    near = make_doctor("44036", with_user=True)
    soudan = make_doctor("44180", with_user=True)  # ~7 km: outside a 5 km radius
    user, _ = make_user("secretary")
    fixed = make_slot(near, now + timedelta(hours=1))
    assert services.hold_slot(user, fixed.id).held_until == now + timedelta(minutes=2)
    window = make_slot(near, now, minutes=240, kind="floating")
    make_slot(soudan, now, minutes=240, kind="floating")
    req = services.book(user, services.BookingInput(slot_id=window.id,
                                                    patient=patient_data(treating=near)))
    assert isinstance(req, FloatingRequest)
    assert (req.t1_at, req.deadline_at) == (now + timedelta(minutes=30),
                                            now + timedelta(minutes=90))
    frozen.advance(minutes=31)
    tasks.request_cascade()
    assert services.offers_for(db.session.get(User, soudan.user_id)) == []
