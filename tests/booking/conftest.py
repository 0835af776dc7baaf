"""Fixtures of the booking tests: slots inserted directly, a patient, an SMTP server."""

from __future__ import annotations

import itertools
import socket
from datetime import datetime, timedelta

import pytest

from agenda.booking.services import PatientData
from agenda.extensions import db
from agenda.outbox import HANDLERS, OutboxItem, load_handlers
from agenda.slots.models import Slot
from agenda.timeutil import iso_week


@pytest.fixture()
def make_slot(app):
    """``make_slot(doctor, start, minutes=20, kind="fixed", capacity=1, mode="AMB")``."""

    def _make(doctor, start: datetime, minutes: int = 20, *, kind: str = "fixed",
              capacity: int = 1, mode: str = "AMB", in_charter: bool = True,
              status: str = "open") -> Slot:
        slot = Slot(doctor_id=doctor.id, kind=kind, start=start,
                    end=start + timedelta(minutes=minutes), week=iso_week(start),
                    capacity=capacity, booked_count=0, mode=mode, status=status,
                    in_charter=in_charter, source="web")
        db.session.add(slot)
        db.session.commit()
        return slot

    return _make


@pytest.fixture()
def patient_data():
    """A patient; each call a different one (its own phone), so that two bookings are not
    taken for a duplicate unless a test says so."""
    numbers = itertools.count(11)

    def _make(insee: str = "44036", treating=None, **kwargs) -> PatientData:
        return PatientData(last_name=kwargs.pop("last_name", "Dupont"),
                           first_name=kwargs.pop("first_name", "Marie"), commune_insee=insee,
                           phone=kwargs.pop("phone", f"06 11 22 33 {next(numbers):02d}"),
                           treating_kind="doctor" if treating else "unknown",
                           treating_doctor_id=treating.id if treating else None, **kwargs)

    return _make


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def smtp_server(app):
    """A real SMTP server (aiosmtpd) on a free port; the app is configured to use it."""
    from aiosmtpd.controller import Controller

    class Collect:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(envelope)
            return "250 OK"

    handler = Collect()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(MAIL_HOST="127.0.0.1", MAIL_PORT=port, MAIL_STARTTLS=False,
                      MAIL_USERNAME="")
    yield handler
    controller.stop()


def deliver_mail() -> int:
    """Deliver the pending "mail" outbox rows through the real handler (as the worker does)."""
    load_handlers()
    count = 0
    for item in db.session.query(OutboxItem).filter_by(kind="mail", status="pending").all():
        HANDLERS["mail"](item)
        item.status = "done"
        count += 1
    db.session.commit()
    return count


@pytest.fixture()
def sms_gateway(app):
    """A local SMS provider (``tests.booking.sms_receiver``) the app is configured to use:
    JSON payload from the template, an API key header."""
    from tests.booking.sms_receiver import API_KEY, Receiver

    receiver = Receiver(forbidden=("Dupont", "Marie", "Infectieux", "généraliste"))
    base = receiver.start()
    app.config.update(SMS_GATEWAY_URL=base + "/sms/send", SMS_GATEWAY_FORMAT="json",
                      SMS_GATEWAY_TEMPLATE='{"to": "{to}", "text": "{text}", '
                                           '"sender": "{sender}"}',
                      SMS_GATEWAY_HEADERS='{"X-Api-Key": "' + API_KEY + '"}',
                      SMS_SENDER="CPTS Test", SMS_GATEWAY_TIMEOUT=5)
    yield receiver
    receiver.stop()
