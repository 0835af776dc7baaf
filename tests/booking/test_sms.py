"""Text messages to consenting patients (issue 18, point 1): consent at booking, the
confirmation and the reminder through the outbox and a real local HTTP gateway, the
one-tap cancel link (single-use, expiring, revealing nothing when wrong)."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from agenda import clock
from agenda.alerts import Alert
from agenda.booking import reminders, services
from agenda.booking.models import Booking, Patient, SmsMessage
from agenda.booking.services.patients import ensure_default_reasons, reasons_of
from agenda.errors import ValidationError
from agenda.extensions import db
from agenda.outbox import OutboxItem
from agenda.slots.models import Slot
from agenda.sms import gsm_text, to_e164
from agenda.sync.worker import drain_outbox
from tests.conftest import csrf_token

ADDRESS = "12 rue de la Gare"
PRACTICE_PHONE = "02 40 81 22 33"


@pytest.fixture()
def doctor(make_doctor):
    return make_doctor("44036", address=ADDRESS, phone=PRACTICE_PHONE,
                       email="docteur@test.fr")


def _book(user, slot, patient_data, consent=True, **kwargs):
    reason = kwargs.pop("reason_id", None)
    return services.book(user, services.BookingInput(
        slot_id=slot.id, patient=patient_data(sms_consent=consent, **kwargs),
        reason_id=reason))


def _sms_rows() -> list[OutboxItem]:
    return list(db.session.scalars(select(OutboxItem).where(OutboxItem.kind == "sms")
                                   .order_by(OutboxItem.id)))


def _token(link: str) -> str:
    return link.rsplit("/a/", 1)[1]


# --- the pieces ---------------------------------------------------------------------------------

def test_numbers_and_gsm_text():
    assert to_e164("06 12 34 56 78") == "+33612345678"
    assert to_e164("07.12.34.56.78") == "+33712345678"
    assert to_e164("+33 6 12 34 56 78") == "+33612345678"
    assert to_e164("0033612345678") == "+33612345678"
    assert to_e164("02 40 81 22 33") is None  # a landline receives no text
    assert to_e164("+32 470 12 34 56") == "+32470123456"
    assert to_e164("hello") is None and to_e164(None) is None
    assert gsm_text("Rappel : RDV médecin à 9h00, 3 place de l’Église, Châteaubriant — "
                    "fenêtre") == ("Rappel : RDV médecin à 9h00, 3 place de l'Église, "
                                   "Chateaubriant - fenetre")


def test_consent_needs_a_mobile_number(frozen, doctor, make_slot, make_user, patient_data):
    slot = make_slot(doctor, clock.now() + timedelta(hours=3))
    user, _ = make_user("secretary")
    with pytest.raises(ValidationError) as err:
        _book(user, slot, patient_data, phone="02 40 00 00 00")
    assert err.value.field == "phone"
    with pytest.raises(ValidationError):
        _book(user, slot, patient_data, phone=None)
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 0
    # Without consent, a landline is fine and nothing is queued.
    booking = _book(user, slot, patient_data, consent=False, phone="02 40 00 00 00")
    assert booking.patient.sms_consent is False
    assert _sms_rows() == []


# --- confirmation ---------------------------------------------------------------------------

def test_booking_with_consent_texts_the_patient_once(frozen, doctor, make_slot, make_user,
                                                     patient_data, sms_gateway, caplog):
    ensure_default_reasons(doctor.cpts_id)
    reason = reasons_of(doctor.cpts_id)[0]  # "Infectieux…": never in a text
    slot = make_slot(doctor, clock.now() + timedelta(hours=4))  # 13:00 in Paris
    user, _ = make_user("secretary")
    caplog.set_level(logging.DEBUG)
    booking = _book(user, slot, patient_data, reason_id=reason.id, phone="06 12 34 56 78")
    assert booking.patient.sms_consent is True
    [row] = _sms_rows()
    assert row.doctor_id is None  # never held up by the doctor's calendar
    assert "06 12" not in str(row.payload) and "Dupont" not in str(row.payload)

    report = drain_outbox()
    assert sms_gateway.problems == []
    [message] = sms_gateway.messages
    assert message["to"] == "+33612345678" and message["sender"] == "CPTS Test"
    text = message["text"]
    assert "médecin" in text and "13h00" in text and "mardi 1er décembre" in text
    # GSM alphabet: "â" is not in it, "é" is.
    assert ADDRESS in text and "Chateaubriant" in text and PRACTICE_PHONE in text
    assert re.search(r"http://localhost/a/[A-Za-z0-9_-]{20,}", text)
    assert message["key"] == f"{booking.reference}-confirmation"
    assert report.delivered >= 1
    # The raw token left the database with the message; only its hash stays.
    db.session.refresh(row)
    assert row.status == "done" and "token" not in row.payload
    token = _token(sms_gateway.links()[0])
    stored = db.session.scalar(select(SmsMessage))
    assert stored.sent_at is not None and stored.token_hash == reminders.hash_token(token)
    assert token not in str(db.session.scalars(select(OutboxItem.payload)).all())

    # Delivered again (a worker that crashed after sending): nothing is sent twice.
    row.status = "pending"
    db.session.commit()
    drain_outbox()
    assert len(sms_gateway.messages) == 1 and sms_gateway.attempts == 1
    # Log lines name the event, never the number or the text.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "sms: confirmation of booking" in logged
    assert "06 12" not in logged and "+336" not in logged and ADDRESS not in logged


def test_without_consent_no_message(frozen, doctor, make_slot, make_user, patient_data,
                                    sms_gateway):
    slot = make_slot(doctor, clock.now() + timedelta(hours=4))
    user, _ = make_user("secretary")
    _book(user, slot, patient_data, consent=False)
    frozen.advance(hours=3)
    reminders.send_due_reminders()
    drain_outbox()
    assert _sms_rows() == [] and sms_gateway.attempts == 0


def test_gateway_down_is_retried_and_the_message_sent_once(frozen, doctor, make_slot,
                                                           make_user, patient_data,
                                                           sms_gateway):
    slot = make_slot(doctor, clock.now() + timedelta(hours=6))
    user, _ = make_user("secretary")
    _book(user, slot, patient_data)
    sms_gateway.down = True
    drain_outbox()
    [row] = _sms_rows()
    assert sms_gateway.attempts == 1 and sms_gateway.messages == []
    assert row.status == "pending" and row.attempts == 1
    assert "503" in row.last_error and "06" not in row.last_error
    drain_outbox()  # not due yet: the outbox waits (backoff)
    assert sms_gateway.attempts == 1
    frozen.advance(minutes=1)
    drain_outbox()
    assert sms_gateway.attempts == 2 and sms_gateway.messages == []
    sms_gateway.down = False
    frozen.advance(minutes=2)
    drain_outbox()
    drain_outbox()
    assert sms_gateway.attempts == 3 and len(sms_gateway.messages) == 1
    assert sms_gateway.problems == []
    db.session.refresh(row)
    assert row.status == "done"


def test_gateway_unreachable_then_back(frozen, doctor, make_slot, make_user, patient_data,
                                       sms_gateway, app):
    """The gateway's address answers nothing at all (connection refused): retried."""
    slot = make_slot(doctor, clock.now() + timedelta(hours=6))
    user, _ = make_user("secretary")
    _book(user, slot, patient_data)
    url = app.config["SMS_GATEWAY_URL"]
    from tests.booking.conftest import free_port

    app.config["SMS_GATEWAY_URL"] = f"http://127.0.0.1:{free_port()}/sms/send"
    drain_outbox()
    [row] = _sms_rows()
    assert row.status == "pending" and "ConnectionError" in row.last_error
    app.config["SMS_GATEWAY_URL"] = url
    frozen.advance(minutes=1)
    drain_outbox()
    assert len(sms_gateway.messages) == 1


def test_form_gateway_with_other_field_names(frozen, doctor, make_slot, make_user,
                                             patient_data, app):
    """A provider taking form fields with its own names, plugged by settings only."""
    from tests.booking.sms_receiver import API_KEY, Receiver

    receiver = Receiver(fmt="form", fields={"numero": "to", "message": "text",
                                            "emetteur": "sender"})
    base = receiver.start()
    try:
        app.config.update(SMS_GATEWAY_URL=base + "/api/envoi", SMS_GATEWAY_FORMAT="form",
                          SMS_GATEWAY_TEMPLATE='{"numero": "{to}", "message": "{text}", '
                                               '"emetteur": "{sender}"}',
                          SMS_GATEWAY_HEADERS='{"X-Api-Key": "' + API_KEY + '"}')
        slot = make_slot(doctor, clock.now() + timedelta(hours=6))
        user, _ = make_user("secretary")
        _book(user, slot, patient_data)
        drain_outbox()
        assert receiver.problems == []
        assert len(receiver.messages) == 1 and receiver.messages[0]["path"] == "/api/envoi"
    finally:
        receiver.stop()


def test_get_gateway_with_the_message_in_the_url(frozen, doctor, make_slot, make_user,
                                                 patient_data, app):
    """A provider taking a GET with the number and the text in the query string."""
    from tests.booking.sms_receiver import API_KEY, Receiver

    receiver = Receiver(fmt="form", fields={"dest": "to", "msg": "text"})
    base = receiver.start()
    try:
        app.config.update(SMS_GATEWAY_URL=base + "/http/send?dest={to}&msg={text}",
                          SMS_GATEWAY_METHOD="GET",
                          SMS_GATEWAY_HEADERS='{"X-Api-Key": "' + API_KEY + '"}')
        _book(make_user("secretary")[0], make_slot(doctor, clock.now() + timedelta(hours=6)),
              patient_data)
        drain_outbox()
        assert receiver.problems == []
        [message] = receiver.messages
        assert message["to"] == "+33611223311" and "RDV médecin" in message["text"]
    finally:
        receiver.stop()


# --- reminder -------------------------------------------------------------------------------

def test_reminder_sent_once_at_its_time_never_for_a_cancelled_booking(
        frozen, doctor, make_slot, make_user, patient_data, sms_gateway):
    now = clock.now()
    user, _ = make_user("secretary")
    kept = _book(user, make_slot(doctor, now + timedelta(hours=5)), patient_data)
    dropped = _book(user, make_slot(doctor, now + timedelta(hours=5, minutes=20)),
                    patient_data)
    drain_outbox()
    assert len(sms_gateway.messages) == 2  # the two confirmations
    services.cancel_booking(user, dropped.id, "le patient a rappelé")
    assert reminders.send_due_reminders() == 0  # default: 2 h before, not yet
    frozen.advance(hours=2, minutes=59)
    assert reminders.send_due_reminders() == 0
    frozen.advance(minutes=1)  # 2 h before the kept booking
    # A booking made now, inside the reminder window: its confirmation is enough.
    late = _book(user, make_slot(doctor, clock.now() + timedelta(hours=1)), patient_data)
    assert reminders.send_due_reminders() == 1
    assert reminders.send_due_reminders() == 0  # never twice
    frozen.advance(minutes=30)
    assert reminders.send_due_reminders() == 0  # the cancelled one never gets one
    drain_outbox()
    texts = [m for m in sms_gateway.messages if m["key"].endswith("-reminder")]
    assert [m["key"] for m in texts] == [f"{kept.reference}-reminder"]
    assert texts[0]["text"].startswith("Rappel : RDV médecin")
    kinds = dict(db.session.execute(select(SmsMessage.booking_id, func.count())
                                    .group_by(SmsMessage.booking_id)).all())
    assert kinds == {kept.id: 2, dropped.id: 1, late.id: 1}
    assert sms_gateway.problems == []


def test_reminder_written_then_booking_cancelled_is_not_sent(frozen, doctor, make_slot,
                                                             make_user, patient_data,
                                                             sms_gateway):
    user, _ = make_user("secretary")
    booking = _book(user, make_slot(doctor, clock.now() + timedelta(hours=5)), patient_data)
    drain_outbox()
    frozen.advance(hours=3)
    assert reminders.send_due_reminders() == 1
    services.cancel_booking(user, booking.id, "autre solution")
    drain_outbox()
    assert [m["key"] for m in sms_gateway.messages] == [f"{booking.reference}-confirmation"]


def test_charter_settings_change_delay_and_wording(frozen, doctor, make_slot, make_user,
                                                   patient_data, sms_gateway, login_as):
    client = login_as("coordinator")
    token = csrf_token(client, "/coordination/sms")
    bad = client.post("/coordination/sms", data={
        "csrf_token": token, "sms_reminder_minutes": "60",
        "sms_booking_text": "RDV {date} {nom} {lien}", "sms_reminder_text": ""})
    assert bad.status_code == 400 and "Repère inconnu" in bad.get_data(as_text=True)
    no_link = client.post("/coordination/sms", data={
        "csrf_token": token, "sms_reminder_minutes": "60",
        "sms_booking_text": "RDV le {date}", "sms_reminder_text": ""})
    assert no_link.status_code == 400
    ok = client.post("/coordination/sms", data={
        "csrf_token": token, "sms_reminder_minutes": "60",
        "sms_booking_text": "CPTS : consultation le {date} a {heure}, {adresse}. "
                            "Annuler : {lien}", "sms_reminder_text": ""})
    assert ok.status_code == 302
    user, _ = make_user("secretary")
    booking = _book(user, make_slot(doctor, clock.now() + timedelta(hours=3)), patient_data)
    frozen.advance(hours=1, minutes=30)
    assert reminders.send_due_reminders() == 0  # 60 min before now, not 120
    frozen.advance(minutes=30)
    assert reminders.send_due_reminders() == 1
    drain_outbox()
    first, second = sms_gateway.messages
    assert first["text"].startswith("CPTS : consultation le mardi 1er décembre a 12h00")
    assert second["text"].startswith("Rappel : RDV médecin")  # the default wording
    assert booking.reference in second["key"]


# --- the link -------------------------------------------------------------------------------

def _booked_and_texted(doctor, make_slot, make_user, patient_data, gateway):
    """A booking 3 h ahead with consent, its confirmation delivered: (booking, token)."""
    user, _ = make_user("secretary")
    booking = _book(user, make_slot(doctor, clock.now() + timedelta(hours=3)), patient_data)
    drain_outbox()
    return booking, _token(gateway.links()[0])


def _link_page(client, token):
    return client.get(f"/a/{token}")


def _tap(client, token):
    return client.post(f"/a/{token}", data={"csrf_token": csrf_token(client, "/login")})


def test_link_cancels_in_one_tap_once(frozen, doctor, make_slot, make_user, patient_data,
                                      sms_gateway, smtp_server, client):
    from tests.booking.conftest import deliver_mail

    user, _ = make_user("secretary")
    user.email = "secretaire@test.fr"
    db.session.commit()
    slot = make_slot(doctor, clock.now() + timedelta(hours=5))
    booking = _book(user, slot, patient_data)
    other = _book(user, make_slot(doctor, clock.now() + timedelta(hours=6)), patient_data)
    drain_outbox()
    deliver_mail()
    smtp_server.messages.clear()
    link = sms_gateway.links()[0]
    token = _token(link)

    # A GET (a link previewer, the patient opening it) changes nothing.
    page = _link_page(client, token)
    assert page.status_code == 200 and "Annuler mon rendez-vous" in page.get_data(as_text=True)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert db.session.get(Booking, booking.id).status == "booked"

    done = _tap(client, token)
    assert done.status_code == 200 and "Rendez-vous annulé" in done.get_data(as_text=True)
    db.session.expire_all()
    cancelled = db.session.get(Booking, booking.id)
    assert cancelled.status == "cancelled" and cancelled.cancelled_by == "patient"
    assert cancelled.cancelled_by_user_id is None
    assert db.session.get(Slot, slot.id).status == "open"  # bookable again at once
    found = services.search_slots(user, db.session.get(Patient, booking.patient_id).commune)
    assert slot.id in {r.slot_id for r in found}
    alerts = list(db.session.scalars(select(Alert).where(Alert.object_id == booking.id)))
    assert {a.doctor_id for a in alerts} >= {doctor.id}
    assert any(a.organisation_id == user.organisation_id for a in alerts)
    assert all("Dupont" not in a.message for a in alerts)
    deliver_mail()
    to = sorted(m.rcpt_tos[0] for m in smtp_server.messages)
    assert to == ["docteur@test.fr", "secretaire@test.fr"]
    assert all(b"Dupont" not in m.content for m in smtp_server.messages)
    assert db.session.scalar(select(SmsMessage.used_at).where(
        SmsMessage.token_hash == reminders.hash_token(token))) is not None

    # A second tap, or opening the link again: "déjà annulé", nothing else happens.
    again = _tap(client, token)
    assert again.status_code == 200 and "Déjà annulé" in again.get_data(as_text=True)
    assert "Déjà annulé" in _link_page(client, token).get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Alert).where(
        Alert.object_id == booking.id)) == len(alerts)

    # Forged and unknown tokens: the same page and status, and nothing changes.
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    answers = [_tap(client, forged), _link_page(client, forged),
               _link_page(client, "x" * 22), _link_page(client, "bad'token<>")]
    assert {a.status_code for a in answers} == {404}
    bodies = {re.sub(r'name="csrf_token"[^>]*>', "", a.get_data(as_text=True))
              for a in answers}
    assert len(bodies) == 1
    assert "Lien invalide ou expiré" in bodies.pop()
    assert db.session.get(Booking, other.id).status == "booked"


def test_link_expires_after_the_consultation(frozen, doctor, make_slot, make_user,
                                             patient_data, sms_gateway, client):
    booking, token = _booked_and_texted(doctor, make_slot, make_user, patient_data,
                                        sms_gateway)
    frozen.advance(hours=3, minutes=5)  # the consultation has begun
    page = _link_page(client, token)
    assert page.status_code == 200 and "Annulation en ligne impossible" in page.get_data(
        as_text=True)
    assert _tap(client, token).status_code == 200
    assert db.session.get(Booking, booking.id).status == "booked"
    frozen.advance(minutes=20)  # after its end: the link is no more
    assert _link_page(client, token).status_code == 404


def test_floating_request_capacity_comes_back(frozen, make_doctor, make_slot, make_user,
                                              patient_data, sms_gateway, client):
    from agenda.booking.models import FloatingRequest

    now = clock.now()
    doctor = make_doctor("44036", address=ADDRESS, phone=PRACTICE_PHONE, with_user=True)
    window = make_slot(doctor, now + timedelta(hours=1), minutes=240, kind="floating",
                       capacity=2)
    user, _ = make_user("secretary")
    req = services.book(user, services.BookingInput(
        slot_id=window.id, patient=patient_data(sms_consent=True)))
    assert isinstance(req, FloatingRequest) and _sms_rows() == []  # no time yet
    from agenda.accounts.models import User

    booking = services.accept_request(db.session.get(User, doctor.user_id), req.id,
                                      now + timedelta(hours=2))
    assert db.session.get(Slot, window.id).booked_count == 1
    drain_outbox()
    [message] = sms_gateway.messages
    assert "11h00" in message["text"]
    _tap(client, _token(sms_gateway.links()[0]))
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).cancelled_by == "patient"
    assert db.session.get(Slot, window.id).booked_count == 0


def test_too_many_wrong_links_pause_the_address(frozen, doctor, make_slot, make_user,
                                                patient_data, sms_gateway, client):
    booking, token = _booked_and_texted(doctor, make_slot, make_user, patient_data,
                                        sms_gateway)
    for i in range(reminders.LINK_MAX_FAILURES):
        assert _link_page(client, f"guess{i:04d}abcdefghijklmnop").status_code == 404
    # Now even a right link waits: guessing cannot tell right from wrong.
    assert _link_page(client, token).status_code == 429
    assert _tap(client, token).status_code == 429
    assert db.session.get(Booking, booking.id).status == "booked"
    frozen.advance(minutes=16)
    assert _link_page(client, token).status_code == 200


# --- the other booking paths -------------------------------------------------------------------

def test_api_booking_records_consent(frozen, doctor, make_slot, api_client, communes,
                                     sms_gateway):
    slot = make_slot(doctor, clock.now() + timedelta(hours=3))
    api, headers, _user = api_client("regulator")
    body = {"slot_id": slot.id, "patient": {
        "last_name": "Durand", "first_name": "Paul", "phone": "0611223344",
        "commune_insee": "44036", "sms_consent": True}}
    resp = api.post("/api/v1/bookings", json=body, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    assert db.session.scalar(select(Patient.sms_consent)) is True
    assert len(_sms_rows()) == 1
    bad = dict(body, patient=dict(body["patient"], phone="0240000000"))
    assert api.post("/api/v1/bookings", json=bad, headers=headers).status_code in (400, 422)
    spec = api.get("/api/v1/openapi.json").get_json()
    assert "sms_consent" in str(spec["components"]["schemas"]["PatientInput"])


def test_pages_ask_consent_only_with_a_gateway(app, login_as, communes):
    client = login_as("secretary")
    assert "sms_consent" not in client.get("/reservations/recherche").get_data(as_text=True)
    app.config["SMS_GATEWAY_URL"] = "http://127.0.0.1:9/sms"
    for path in ("/reservations/recherche", "/urgences"):
        assert 'name="sms_consent"' in client.get(path).get_data(as_text=True), path
