"""Booking timers, run by the worker at every pass (never in a request handler)."""

from __future__ import annotations

import logging

from sqlalchemy import update

from agenda import clock
from agenda.booking.services import requests as cascade
from agenda.booking.services.purge import purge_expired
from agenda.extensions import db
from agenda.outbox import periodic
from agenda.slots.models import Slot

log = logging.getLogger(__name__)


@periodic
def expire_holds() -> int:
    """Clear holds past their time (a hold already stops counting when it expires; this
    only tidies the columns)."""
    result = db.session.execute(
        update(Slot).where(Slot.held_until.is_not(None), Slot.held_until <= clock.now())
        .values(held_by_user_id=None, held_until=None)
        .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount


@periodic
def request_cascade() -> tuple[int, int]:
    """T1 passed -> the community; deadline passed -> expired and the booker alerted."""
    moved = cascade.escalate_due()
    expired = cascade.expire_due()
    if moved or expired:
        log.info("requests: %d to the community, %d expired", moved, expired)
    return moved, expired


@periodic
def retention_purge() -> int:
    count = purge_expired()
    if count:
        log.info("retention: %d patients anonymised", count)
    return count


@periodic
def outcome_reminders() -> int:
    """Bookings still without an outcome 48 h after their start: the doctor is mailed once."""
    from agenda.booking.services.calls import remind_missing_outcomes

    count = remind_missing_outcomes()
    if count:
        log.info("outcomes: %d bookings reminded to their doctors", count)
    return count


@periodic
def sms_reminders() -> int:
    """Text reminders due before their consultation (consenting patients, once each)."""
    from agenda.booking.reminders import send_due_reminders

    count = send_due_reminders()
    if count:
        log.info("sms: %d reminders queued", count)
    return count
