"""INT_R03: the appointment feedback to the SAS stand-in, through the outbox worker."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from agenda import outbox
from agenda.booking import services as booking_services
from agenda.booking.models import Booking
from agenda.extensions import db
from agenda.outbox import OutboxItem
from agenda.sas.models import SasAppointment
from agenda.sync.worker import drain_outbox
from tests.sas.conftest import NOW
from tests.sas.fhir_check import check_appointment


def _book(user, slot, origin="sas") -> Booking:
    booking = booking_services.book(user, booking_services.BookingInput(
        slot_id=slot.id, origin=origin,
        patient=booking_services.PatientData(last_name="Durand", first_name="Paul",
                                             commune_insee="44036")))
    return booking


def _sas_items():
    return list(db.session.scalars(select(OutboxItem).where(OutboxItem.kind == "sas.appointment")
                                   .order_by(OutboxItem.id)))


def test_booking_then_cancel_posts_then_puts(sas_on, sas_regulator, make_doctor, make_slot):
    doctor = make_doctor()
    slot = make_slot(doctor, NOW + timedelta(hours=3))
    user = sas_regulator()
    booking = _book(user, slot)
    assert [i.payload["action"] for i in _sas_items()] == ["booked"]
    drain_outbox()
    (post,) = sas_on.calls
    assert post.method == "POST" and post.status == 201, post.problems
    body = post.body
    assert body["status"] == "booked"
    assert body["participant"][0]["actor"]["identifier"]["value"] == "8" + doctor.rpps
    op = body["extension"][0]["valueReference"]["identifier"]
    assert op["value"] == "810009999999" and op["type"]["coding"][0]["code"] == "IDNPS"
    assert body["start"].endswith("+01:00")
    assert "Durand" not in str(body) and "Paul" not in str(body)  # no patient identity
    assert post.headers.get("If-None-Exist", "").startswith("identifier=")

    booking_services.cancel_booking(user, booking.id, "Patient rappelé")
    drain_outbox()
    assert [c.method for c in sas_on.calls] == ["POST", "PUT"]
    put = sas_on.calls[1]
    assert put.status == 200, put.problems and put.body["status"] == "cancelled"
    assert put.body["status"] == "cancelled"
    assert put.body["identifier"] == body["identifier"]
    assert all(i.status == "done" for i in _sas_items())
    # delivering again changes nothing (idempotent)
    item = _sas_items()[-1]
    outbox.HANDLERS["sas.appointment"](item)
    db.session.commit()
    assert len(sas_on.calls) == 2


def test_platform_down_then_back(sas_on, sas_regulator, make_doctor, make_slot, frozen):
    doctor = make_doctor()
    slot = make_slot(doctor, NOW + timedelta(hours=3))
    user = sas_regulator(national=None, technical="3c9e2f1a-0000-4000-8000-000000000001")
    sas_on.stop()
    booking = _book(user, slot)
    report = drain_outbox()
    assert report.retried >= 1
    (item,) = _sas_items()
    assert item.status == "pending" and item.attempts == 1
    assert "SAS" in item.last_error  # shown to the coordinator
    assert booking.status == "booked"  # the booking never waited
    sas_on.start()
    drain_outbox()
    assert sas_on.calls == []  # not yet due (backoff)
    frozen.advance(minutes=5)
    drain_outbox()
    (post,) = sas_on.calls
    assert post.status == 201, post.problems
    op = post.body["extension"][0]["valueReference"]["identifier"]
    assert op["type"]["coding"][0]["code"] == "INTRN"
    assert op["system"] == "urn:oid:1.2.250.1.213.3.6"
    booking_services.cancel_booking(user, booking.id, "Plus nécessaire")
    drain_outbox()
    assert [(c.method, c.body["status"]) for c in sas_on.valid_calls] == [
        ("POST", "booked"), ("PUT", "cancelled")]


def test_both_queued_while_down_keep_the_history(sas_on, sas_regulator, make_doctor, make_slot,
                                                 frozen):
    doctor = make_doctor()
    slot = make_slot(doctor, NOW + timedelta(hours=3))
    user = sas_regulator()
    sas_on.stop()
    booking = _book(user, slot)
    booking_services.cancel_booking(user, booking.id, "Erreur")
    drain_outbox()
    sas_on.start()
    frozen.advance(minutes=10)
    drain_outbox()
    assert [(c.method, c.body["status"]) for c in sas_on.valid_calls] == [
        ("POST", "booked"), ("PUT", "cancelled")]
    assert all(i.status == "done" for i in _sas_items())


def test_lost_answer_does_not_duplicate(sas_on, sas_regulator, make_doctor, make_slot):
    """The POST reached the platform but our record of it was lost: the retry's
    If-None-Exist makes the platform answer 200 and create nothing."""
    doctor = make_doctor()
    slot = make_slot(doctor, NOW + timedelta(hours=3))
    booking = _book(sas_regulator(), slot)
    drain_outbox()
    row = db.session.scalar(select(SasAppointment).where(SasAppointment.booking_id == booking.id))
    row.created_remote = False
    row.last_digest = None
    db.session.commit()
    outbox.HANDLERS["sas.appointment"](_sas_items()[0])
    db.session.commit()
    assert [c.status for c in sas_on.calls] == [201, 200]
    assert len(sas_on.store) == 1


def test_outcome_fulfilled(sas_on, sas_regulator, make_doctor, make_slot, frozen, app):
    doctor = make_doctor(with_user=True)
    slot = make_slot(doctor, NOW + timedelta(hours=3))
    booking = _book(sas_regulator(), slot)
    drain_outbox()
    frozen.advance(hours=4)
    booking_services.record_outcome(doctor.user, booking.id, "no_show")
    drain_outbox()
    assert [(c.method, c.body["status"]) for c in sas_on.valid_calls] == [
        ("POST", "booked"), ("PUT", "noshow")]


def test_web_bookings_and_unset_endpoint_send_nothing(app, sas_on, sas_regulator, make_doctor,
                                                      make_slot):
    doctor = make_doctor()
    s1 = make_slot(doctor, NOW + timedelta(hours=3))
    s2 = make_slot(doctor, NOW + timedelta(hours=4))
    user = sas_regulator()
    _book(user, s1, origin="web")
    assert _sas_items() == []
    app.config["SAS_ENDPOINT"] = ""
    _book(user, s2)
    drain_outbox()
    assert sas_on.calls == []
    assert all(i.status == "done" for i in _sas_items())


def test_regulator_without_identifier_is_reported(sas_on, make_user, make_doctor, make_slot):
    doctor = make_doctor()
    slot = make_slot(doctor, NOW + timedelta(hours=3))
    user, _ = make_user("regulator")
    booking = _book(user, slot)
    drain_outbox()
    booking_services.cancel_booking(user, booking.id, "Erreur de saisie")
    drain_outbox()
    assert sas_on.calls == []
    assert all(i.status == "done" for i in _sas_items())  # not retried in vain
    from agenda.alerts import Alert

    alerts = list(db.session.scalars(select(Alert).where(Alert.kind == "sas_error")))
    assert len(alerts) == 1 and booking.reference in alerts[0].message
    assert alerts[0].cpts_id == doctor.cpts_id


def test_refused_call_is_retried(sas_on, sas_regulator, make_doctor, make_slot, frozen):
    doctor = make_doctor()
    slot = make_slot(doctor, NOW + timedelta(hours=3))
    sas_on.api_key = "another-key"
    _book(sas_regulator(), slot)
    drain_outbox()
    (item,) = _sas_items()
    assert item.status == "pending" and "401" in item.last_error  # our key: retried
    assert "api key" in item.last_error
    sas_on.api_key = "sas-outbound-key"
    frozen.advance(minutes=5)
    drain_outbox()
    assert sas_on.valid_calls and not check_appointment(sas_on.valid_calls[0].body)


def test_failing_delivery_visible_to_coordinator(app, sas_on, sas_regulator, make_doctor,
                                                 make_slot, login_as):
    doctor = make_doctor()
    slot = make_slot(doctor, NOW + timedelta(hours=3))
    sas_on.stop()
    booking = _book(sas_regulator(), slot)
    drain_outbox()
    from flask import render_template

    from agenda.dashboard import panels_for

    coordinator = login_as("coordinator").user
    (panel,) = [p for p in panels_for(coordinator) if p["template"].startswith("sas/")]
    with app.test_request_context("/"):
        html = render_template(panel["template"], p=panel)
    assert "data-sas-failing" in html and booking.reference in html
    assert "injoignable" in html
