"""Calls: every request for unscheduled care is one :class:`CallLog` row, whatever its end.

- a booking (:func:`agenda.booking.services.bookings.book`), a floating request
  (:func:`agenda.booking.services.requests.create_request`) or a reorientation to the 15
  writes its call in its own transaction (:func:`log_call`): the booker does nothing more;
- a call that ends without any of them is closed with :func:`close_call` ("Aucun créneau
  ne convient": no slot found, the patient declined, other);
- bookings still without an outcome 48 h after their start are reminded to their doctor
  once, by mail through the outbox (:func:`remind_missing_outcomes`, run by the worker).

The figures read from these rows are defined in ``docs/statistics.md``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import select, update

from agenda import audit, clock
from agenda.accounts.models import User
from agenda.booking.models import CLOSING_OUTCOMES, Booking, BookingStatus, CallLog
from agenda.booking.services.common import absolute_url, channel_of, require_booker
from agenda.booking.services.patients import check_reason
from agenda.booking.services.search import search_scope
from agenda.errors import ValidationError
from agenda.extensions import db
from agenda.territory.models import Commune, Doctor
from agenda.territory.services import cpts_for_commune

# A booking whose outcome is still missing this long after its start is listed and reminded.
MISSING_OUTCOME_AFTER = timedelta(hours=48)


def log_call(user: User, outcome: str, cpts_id: int | None, *, commune_insee: str | None,
             reason_id: int | None = None, booking_id: int | None = None,
             request_id: int | None = None, now: datetime | None = None) -> CallLog:
    """Add the call ``user`` just ended to the session (committed with the caller's change)."""
    now = now or clock.now()
    call = CallLog(booker_org_id=user.organisation_id, booker_user_id=user.id, cpts_id=cpts_id,
                   channel=channel_of(user), outcome=outcome, commune_insee=commune_insee,
                   reason_id=reason_id, booking_id=booking_id, request_id=request_id,
                   created_at=now, closed_at=now)
    db.session.add(call)
    return call


def call_cpts(user: User, commune_insee: str | None) -> tuple[int, str | None]:
    """The CPTS a call is counted for: the one of the patient's commune among those the
    booker serves, else the first they serve; and the commune (None when unknown)."""
    scope = search_scope(user)
    if commune_insee and db.session.get(Commune, commune_insee) is None:
        commune_insee = None
    return (cpts_for_commune(commune_insee, scope) if commune_insee else scope[0]), commune_insee


def close_call(user: User, outcome: str, commune_insee: str | None = None,
               reason_id: int | None = None) -> CallLog:
    """"Aucun créneau ne convient": the call ends without a booking, with its outcome
    (``no_slot``, ``declined`` or ``other``). No patient identity is needed."""
    require_booker(user)
    if outcome not in CLOSING_OUTCOMES:
        raise ValidationError(_("Issue d'appel inconnue (aucun créneau, refus du patient ou "
                                "autre)."), field="outcome")
    cpts_id, commune_insee = call_cpts(user, (commune_insee or "").strip() or None)
    reason_id = check_reason(reason_id, search_scope(user))
    call = log_call(user, outcome, cpts_id, commune_insee=commune_insee, reason_id=reason_id)
    db.session.flush()
    audit.record("create", "call", call.id, user_id=user.id, cpts_id=cpts_id, detail=outcome)
    db.session.commit()
    return call


def remind_missing_outcomes(now: datetime | None = None) -> int:
    """Mail each doctor, once per booking, the bookings whose outcome is still missing
    ``MISSING_OUTCOME_AFTER`` after their start (one mail per doctor and pass)."""
    from agenda.mail import notify as send_mail

    now = now or clock.now()
    rows = db.session.execute(
        select(Booking.id, Booking.reference, Booking.start, Doctor.id, Doctor.email)
        .join(Doctor, Doctor.id == Booking.doctor_id)
        .where(Booking.status == BookingStatus.BOOKED.value,
               Booking.start <= now - MISSING_OUTCOME_AFTER,
               Booking.outcome_reminded_at.is_(None))
        .order_by(Doctor.id, Booking.start)).all()
    by_doctor: dict[int, list] = {}
    for booking_id, ref, start, doctor_id, email in rows:
        won = db.session.execute(
            update(Booking).where(Booking.id == booking_id,
                                  Booking.outcome_reminded_at.is_(None))
            .values(outcome_reminded_at=now).execution_options(synchronize_session=False))
        if won.rowcount == 1:
            by_doctor.setdefault(doctor_id, [email, []])[1].append((ref, start))
    from agenda.booking.services import notify

    for email, items in by_doctor.values():
        lines = "\n".join(f"- {ref} : {notify.when(start)}" for ref, start in items)
        send_mail(email, _("SNP : issue de consultation à saisir (%(n)s)", n=len(items)),
                  _("L'issue (vu, non venu ou annulé) de ces consultations n'est pas encore "
                    "saisie :\n%(lines)s\nSaisir l'issue : %(link)s\n", lines=lines,
                    link=absolute_url("booking.bookings")))
    db.session.commit()
    return sum(len(items) for _email, items in by_doctor.values())


__all__ = ["MISSING_OUTCOME_AFTER", "call_cpts", "close_call", "log_call",
           "remind_missing_outcomes"]
