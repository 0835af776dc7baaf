"""INT_R03: appointment feedback to the national SAS platform (we are the client).

The booking writes an outbox row ``sas.appointment`` {"booking_id", "action"} for bookings
with origin "sas"; the worker calls :func:`deliver`. The first delivery ``POST``s the
Appointment as booked (with ``If-None-Exist`` on our identifier, so a retry after a lost
answer creates nothing twice); any later state (cancelled, moved, fulfilled, noshow) goes
by ``PUT [base]/Appointment?identifier=system|value`` (conditional update). A version
already sent is not sent again, so delivering a row twice is harmless. Failures raise
:class:`agenda.outbox.RetryLater` (retried with backoff, shown to the coordinator).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from agenda import clock, outbox
from agenda.extensions import db
from agenda.sas import resources as R
from agenda.sas.models import SasAccount, SasAppointment

if TYPE_CHECKING:
    import requests

log = logging.getLogger("agenda.sas.client")

TIMEOUT = (5, 15)  # connect, read (seconds)
FHIR_JSON = "application/fhir+json"


class SasConfigurationError(outbox.RetryLater):
    """The booking cannot be described to the SAS (e.g. no regulator identifier)."""


class SasRejected(Exception):
    """A permanent refusal of the platform (a 4xx other than those a retry may cure):
    retrying would send the same thing again; the delivery stops and the coordinator is
    alerted with the platform's answer."""

    def __init__(self, status: int, detail: str):
        super().__init__(_("La plateforme SAS a refusé le rendez-vous (%(code)s) : %(detail)s",
                           code=status, detail=detail or "-"))
        self.status = status


# 4xx a later attempt may cure: our credentials (fixed by the operator), a timeout, a
# conflict of versions, too many requests. Every other 4xx is permanent.
RETRYABLE_4XX = {401, 403, 408, 409, 425, 429}


def _operator(booking) -> dict | None:
    from agenda.accounts.models import User

    user = db.session.get(User, booking.booker_user_id) if booking.booker_user_id else None
    if user is None:
        return None
    account = db.session.query(SasAccount).filter_by(user_id=user.id).first()
    return R.operator_identifier(user.national_id,
                                 account.technical_id if account is not None else None)


def _sync_row(booking_id: int) -> SasAppointment:
    row = db.session.query(SasAppointment).filter_by(booking_id=booking_id).first()
    if row is None:
        row = SasAppointment(booking_id=booking_id, identifier=str(uuid.uuid4()),
                             identifier_system=R.appointment_identifier_system())
        db.session.add(row)
        db.session.flush()
    return row


def identifier_system(row: SasAppointment) -> str:
    """The system of the Appointment's identifier: the one it was first sent with (an
    update must match it), else the software's fixed one (``AGENDA_SAS_IDENTIFIER_SYSTEM``)."""
    if row.identifier_system:
        return row.identifier_system
    if row.created_remote:
        return R.legacy_appointment_identifier_system()
    return R.appointment_identifier_system()


def appointment_for(booking, row: SasAppointment, status: str | None = None) -> dict:
    operator = _operator(booking)
    if operator is None:
        raise SasConfigurationError(_(
            "Rendez-vous SAS %(ref)s : le régulateur n'a ni identifiant national ni "
            "identifiant technique SAS.", ref=booking.reference))
    return R.appointment_resource(
        identifier=row.identifier, system=identifier_system(row),
        status=status or R.APPOINTMENT_STATUS.get(booking.status, "booked"),
        start=booking.start, end=booking.end, created=booking.created_at,
        doctor_rpps=booking.doctor.rpps, operator=operator)


def _digest(resource: dict) -> str:
    return hashlib.sha256(json.dumps(resource, sort_keys=True).encode()).hexdigest()


def _headers() -> dict:
    headers = {"Content-Type": FHIR_JSON + "; charset=utf-8", "Accept": FHIR_JSON}
    key = current_app.config.get("SAS_API_KEY")
    if key:
        headers["X-API-Key"] = key
    return headers


def _send(method: str, url: str, resource: dict, extra: dict | None = None,
          params: dict | None = None) -> requests.Response:
    import requests  # here, not at start-up: ~8 MB a web worker does without

    try:
        resp = requests.request(method, url, params=params,
                                data=json.dumps(resource, ensure_ascii=False).encode(),
                                headers={**_headers(), **(extra or {})}, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise outbox.RetryLater(_("Plateforme SAS injoignable : %(err)s",
                                  err=type(exc).__name__)) from exc
    if resp.status_code >= 300:
        detail = _answer_detail(resp)
        if 400 <= resp.status_code < 500 and resp.status_code not in RETRYABLE_4XX:
            raise SasRejected(resp.status_code, detail)
        raise outbox.RetryLater(_("La plateforme SAS a refusé l'envoi (%(code)s) %(detail)s",
                                  code=resp.status_code, detail=detail[:200]))
    return resp


def _answer_detail(resp: requests.Response) -> str:
    """What the platform said: the OperationOutcome's diagnostics, else the body's text."""
    try:
        body = resp.json()
        issues = body.get("issue") if isinstance(body, dict) else None
        if isinstance(issues, list) and issues:
            return "; ".join(str(i.get("diagnostics") or i.get("details") or i.get("code"))
                             for i in issues if isinstance(i, dict))[:400]
    except ValueError:
        pass
    return " ".join(resp.text.split())[:400]


def _report_rejection(booking, row: SasAppointment, exc: SasRejected) -> None:
    from agenda.alerts import raise_alert

    message = str(exc)[:500]
    if row.last_error != message:
        raise_alert("sas_error", message, cpts_id=booking.doctor.cpts_id,
                    object_type="booking", object_id=booking.id)
    row.last_error = message
    row.last_status = "rejected"
    log.warning("SAS appointment of booking %s rejected by the platform (%s)", booking.id,
                exc.status)
    db.session.flush()


def _report_unknown_operator(booking, row: SasAppointment) -> None:
    from agenda.alerts import raise_alert

    message = _("Réservation %(ref)s marquée « SAS » par un régulateur sans identifiant "
                "national ni identifiant technique SAS : elle n'est pas transmise à la "
                "plateforme SAS.", ref=booking.reference)
    if row.last_error != message[:500]:
        raise_alert("sas_error", message[:500], cpts_id=booking.doctor.cpts_id,
                    object_type="booking", object_id=booking.id)
        row.last_error = message[:500]
    log.warning("SAS appointment of booking %s not sent: regulator without identifier",
                booking.id)
    db.session.flush()


@outbox.handler("sas.appointment")
def deliver(item) -> None:
    """Bring the SAS platform's copy of the appointment up to date (idempotent)."""
    from agenda.booking.models import Booking

    endpoint = (current_app.config.get("SAS_ENDPOINT") or "").rstrip("/")
    booking = db.session.get(Booking, (item.payload or {}).get("booking_id"))
    if booking is None or booking.origin != "sas":
        return
    if not endpoint:
        log.info("SAS endpoint not configured: appointment of booking %s not sent", booking.id)
        return
    row = _sync_row(booking.id)
    token = f"{identifier_system(row)}|{row.identifier}"
    if _operator(booking) is None:
        # Permanent: a booking marked "sas" by a regulator the platform does not know.
        # Retrying cannot help; the coordinator is told once and the row is closed.
        _report_unknown_operator(booking, row)
        return
    try:
        current = appointment_for(booking, row)
        if not row.created_remote:
            created = appointment_for(booking, row, status="booked")
            resp = _send("POST", f"{endpoint}/Appointment", created,
                         {"If-None-Exist": urlencode({"identifier": token})})
            row.created_remote = True
            row.remote_location = (resp.headers.get("Location") or "")[:500] or None
            row.last_status, row.last_digest = "booked", _digest(created)
            row.last_sent_at = clock.now()
            # Keep what the platform now holds even if the update below fails and the
            # worker rolls back (a repeated POST would be harmless anyway: If-None-Exist).
            db.session.commit()
        if _digest(current) != row.last_digest:
            _send("PUT", f"{endpoint}/Appointment", current, params={"identifier": token})
            row.last_status, row.last_digest = current["status"], _digest(current)
            row.last_sent_at = clock.now()
        row.last_error = None
        db.session.flush()
    except SasRejected as exc:
        # Permanent: stop (the outbox row closes), alert once, keep the platform's answer.
        _report_rejection(booking, row, exc)
    except outbox.RetryLater as exc:
        row.last_error = str(exc)[:500]
        db.session.flush()
        log.warning("SAS appointment of booking %s not delivered: %s", booking.id, exc)
        raise


def resend(cpts_id: int, booking_id: int) -> None:
    """Queue again an appointment the platform refused (after the coordinator fixed the
    cause): nothing refused is lost. Only a refused appointment of ``cpts_id``'s doctors."""
    from agenda import audit
    from agenda.booking.models import Booking
    from agenda.errors import Conflict, NotFound

    booking = db.session.scalar(select(Booking).where(Booking.id == booking_id,
                                                      Booking.cpts_id == cpts_id))
    if booking is None:
        raise NotFound(_("Réservation introuvable."))
    rejected = db.session.scalar(select(SasAppointment.id).where(
        SasAppointment.booking_id == booking.id, SasAppointment.last_status == "rejected"))
    if rejected is None:
        raise Conflict(_("Aucun rendez-vous refusé par la plateforme SAS pour cette "
                         "réservation."))
    outbox.enqueue("sas.appointment", {"booking_id": booking.id, "action": "resend"},
                   doctor_id=booking.doctor_id)
    audit.record("sas.appointment.resend", "booking", booking.id)
