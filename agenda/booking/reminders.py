"""Text messages to consenting patients: a confirmation at booking, a reminder before the
consultation, each with a short link that cancels the booking in one tap.

- :func:`confirm` is called by the booking services (fixed booking, accepted floating
  request) when the patient consented: it writes the message row and its outbox row in
  the booking's transaction.
- :func:`send_due_reminders` (a worker timer) writes the reminder of each consenting
  booking when its time comes (charter: ``sms_reminder_minutes`` before), once: the row
  is unique per booking and kind.
- The outbox handler ``sms`` builds the text at delivery time (date and time in
  Europe/Paris, the place's address, the practice phone, the link: nothing medical, no
  name) and hands it to the gateway (:mod:`agenda.sms`); a booking no longer booked, or a
  consultation already begun, gets nothing.
- :func:`cancel_with_token` is the link: a random token, stored hashed, valid until the
  end of the consultation, single-use; the cancellation is the one of "Annuler"
  (:func:`agenda.booking.services.bookings.cancel_by_patient`).

Log lines name the event and the booking id, never the number or the text.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError

from agenda import clock, outbox, sms
from agenda.booking.models import Booking, BookingStatus, Patient, SmsMessage
from agenda.extensions import db
from agenda.i18n import format_local_datetime
from agenda.slots.models import CharterSettings, Slot
from agenda.territory.models import Commune, Doctor, Place
from agenda.timeutil import to_local

log = logging.getLogger(__name__)

CONFIRMATION = "confirmation"
REMINDER = "reminder"
KINDS = (CONFIRMATION, REMINDER)
PLACEHOLDERS = ("date", "heure", "adresse", "telephone", "lien")
DEFAULT_REMINDER_MINUTES = 120
# Wrong links tolerated from one address per LOGIN_WINDOW_MINUTES (the login's window).
LINK_MAX_FAILURES = 20
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

DEFAULT_TEXTS = {
    CONFIRMATION: _l("RDV médecin le {date} à {heure}, {adresse}. Tél. du cabinet : "
                     "{telephone}. Si vous ne pouvez pas venir, annulez ici : {lien}"),
    REMINDER: _l("Rappel : RDV médecin le {date} à {heure}, {adresse}. Tél. du cabinet : "
                 "{telephone}. Si vous ne pouvez pas venir, annulez ici : {lien}"),
}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_for(token: str) -> str:
    base = (current_app.config.get("BASE_URL") or "").rstrip("/")
    return f"{base}/a/{token}"


# --- writing the messages -----------------------------------------------------------------

def _queue(booking: Booking, kind: str) -> SmsMessage:
    """The message row (with its link's hash) and its outbox row, in the caller's
    transaction. The raw token rides in the outbox row until delivered, then is erased."""
    token = secrets.token_urlsafe(16)
    message = SmsMessage(booking_id=booking.id, kind=kind, token_hash=hash_token(token),
                         expires_at=booking.end, created_at=clock.now())
    db.session.add(message)
    outbox.enqueue("sms", {"booking_id": booking.id, "kind": kind, "token": token,
                           "key": f"{booking.reference}-{kind}"})
    return message


def confirm(booking: Booking) -> None:
    """The confirmation of a booking whose patient consented (called by the booking
    services in their transaction; they check the consent)."""
    _queue(booking, CONFIRMATION)


def send_due_reminders(now: datetime | None = None) -> int:
    """Write the reminders that are due: consenting patient, booking still booked, the
    charter's delay before the consultation reached, no reminder yet. A booking made
    after that moment has had its confirmation instead. Returns how many."""
    now = now or clock.now()
    longest = db.session.scalar(select(func.max(CharterSettings.sms_reminder_minutes)))
    longest = max(longest or 0, DEFAULT_REMINDER_MINUTES)
    reminded = exists().where(SmsMessage.booking_id == Booking.id,
                              SmsMessage.kind == REMINDER)
    rows = db.session.execute(
        select(Booking.id, Booking.cpts_id, Booking.start, Booking.created_at)
        .join(Patient, Patient.id == Booking.patient_id)
        .where(Booking.status == BookingStatus.BOOKED.value, Booking.start > now,
               Booking.start <= now + timedelta(minutes=longest),
               Patient.sms_consent.is_(True), ~reminded)).all()
    charters: dict[int, int] = {}
    count = 0
    for booking_id, cpts_id, start, created_at in rows:
        if cpts_id not in charters:
            charter = db.session.get(CharterSettings, cpts_id)
            charters[cpts_id] = (charter.sms_reminder_minutes if charter is not None
                                 else DEFAULT_REMINDER_MINUTES)
        due = start - timedelta(minutes=charters[cpts_id])
        if now < due or created_at >= due:
            continue
        try:
            _queue(db.session.get(Booking, booking_id), REMINDER)
            db.session.commit()
        except IntegrityError:  # another worker wrote it at the same moment
            db.session.rollback()
            continue
        log.info("sms: reminder queued for booking %s", booking_id)
        count += 1
    return count


# --- the text -------------------------------------------------------------------------------

@dataclass
class Details:
    date: str
    time: str
    address: str
    phone: str


def details(booking: Booking) -> Details:
    """What the message says of the consultation: local date and time, where, the
    practice phone (the place's, else the doctor's). Nothing medical, no name."""
    slot = db.session.get(Slot, booking.slot_id)
    place = db.session.get(Place, slot.place_id) if slot and slot.place_id else None
    doctor = db.session.get(Doctor, booking.doctor_id)
    mode = slot.mode if slot is not None else "AMB"
    if mode == "VR":
        address = _("en téléconsultation")
    elif mode == "HH":
        address = _("visite à domicile")
    else:
        street = (place.address if place else doctor.address) or ""
        insee = place.commune_insee if place else doctor.commune_insee
        commune = db.session.get(Commune, insee) if insee else None
        address = ", ".join(p for p in (street.strip(), commune.name if commune else "") if p)
    local = to_local(booking.start)
    return Details(date=format_local_datetime(booking.start, "EEEE d MMMM"),
                   time=f"{local.hour}h{local.minute:02d}", address=address,
                   phone=(place.phone if place and place.phone else doctor.phone)
                   or _("non communiqué"))


def wording(cpts_id: int, kind: str) -> str:
    charter = db.session.get(CharterSettings, cpts_id)
    custom = None
    if charter is not None:
        custom = charter.sms_booking_text if kind == CONFIRMATION else charter.sms_reminder_text
    return custom or str(DEFAULT_TEXTS[kind])


def compose(template: str, d: Details, link: str) -> str:
    """The text: placeholders filled, GSM characters only, at most :data:`sms.MAX_LENGTH`
    (the address is shortened if need be; the link is never cut)."""
    def build(address: str) -> str:
        return sms.gsm_text(sms.fill(template, {"date": d.date, "heure": d.time,
                                                "adresse": address, "telephone": d.phone,
                                                "lien": link}))

    text = build(d.address)
    if len(text) > sms.MAX_LENGTH:
        keep = max(0, len(d.address) - (len(text) - sms.MAX_LENGTH))
        text = build(d.address[:keep].rstrip(" ,"))
    return text


def check_wording(text: str | None, field: str) -> str | None:
    """A coordinator's wording: known placeholders only, the link required, at most 320
    characters. Empty: the default wording."""
    from agenda.errors import ValidationError

    text = (text or "").strip()
    if not text:
        return None
    unknown = sms.placeholders(text) - set(PLACEHOLDERS)
    if unknown:
        raise ValidationError(_("Repère inconnu : %(names)s. Repères possibles : %(known)s.",
                                names=", ".join("{" + n + "}" for n in sorted(unknown)),
                                known=" ".join("{" + n + "}" for n in PLACEHOLDERS)),
                              field=field)
    if "{lien}" not in text:
        raise ValidationError(_("Le texte doit contenir {lien} (le lien d'annulation)."),
                              field=field)
    if len(text) > 320:
        raise ValidationError(_("Texte trop long (320 caractères au plus)."), field=field)
    return text


def update_settings(cpts_id: int, minutes: int, booking_text: str | None,
                    reminder_text: str | None) -> CharterSettings:
    """The coordinator's SMS settings of the charter (validated before anything changes)."""
    from agenda.booking.services.common import charter_for
    from agenda.errors import ValidationError

    if not 15 <= minutes <= 48 * 60:
        raise ValidationError(_("Le rappel part entre 15 minutes et 48 heures avant la "
                                "consultation."), field="sms_reminder_minutes")
    booking_text = check_wording(booking_text, "sms_booking_text")
    reminder_text = check_wording(reminder_text, "sms_reminder_text")
    charter = charter_for(cpts_id)
    charter.sms_reminder_minutes = minutes
    charter.sms_booking_text = booking_text
    charter.sms_reminder_text = reminder_text
    db.session.commit()
    return charter


# --- delivery (outbox handler) --------------------------------------------------------------

@outbox.handler("sms")
def deliver(item: outbox.OutboxItem) -> None:
    """Send one message, once: a message already sent, a booking no longer booked, a
    consultation already begun, a withdrawn consent or no mobile number: nothing is
    sent (the row is done)."""
    payload = dict(item.payload or {})
    message = db.session.scalar(select(SmsMessage).where(
        SmsMessage.booking_id == payload.get("booking_id"),
        SmsMessage.kind == payload.get("kind")))
    if message is None or message.sent_at is not None:
        return
    booking = db.session.get(Booking, message.booking_id)
    now = clock.now()
    number = sms.to_e164(booking.patient.phone) if booking.patient.sms_consent else None
    if booking.status != BookingStatus.BOOKED.value or booking.start <= now or number is None:
        log.info("sms: %s of booking %s not sent (no longer due)", message.kind, booking.id)
        _forget_token(item, payload)
        return
    text = compose(wording(booking.cpts_id, message.kind), details(booking),
                   link_for(payload["token"]))
    sms.gateway().send(sms.Message(to=number, text=text, key=payload["key"]))
    # Committed by the worker with the row's "done" (a crash in between: sent_at says it
    # went, and it is not sent again).
    message.sent_at = now
    _forget_token(item, payload)
    log.info("sms: %s of booking %s sent", message.kind, booking.id)


def _forget_token(item: outbox.OutboxItem, payload: dict) -> None:
    """The raw token leaves the database once its message is out (only the hash stays)."""
    payload.pop("token", None)
    item.payload = payload


# --- the link -------------------------------------------------------------------------------

@dataclass
class LinkState:
    """``state``: "unknown" (no such link, or expired: the same answer), "active" (the
    booking can be cancelled), "cancelled" (already cancelled), "closed" (the
    consultation has begun, or its outcome is recorded)."""

    state: str
    booking: Booking | None = None
    message: SmsMessage | None = None
    details: Details | None = None


def link_state(token: str, now: datetime | None = None) -> LinkState:
    now = now or clock.now()
    if not _TOKEN_RE.match(token or ""):
        return LinkState("unknown")
    message = db.session.scalar(select(SmsMessage).where(
        SmsMessage.token_hash == hash_token(token)))
    if message is None or message.expires_at <= now:
        return LinkState("unknown")
    booking = db.session.get(Booking, message.booking_id)
    if booking.status == BookingStatus.CANCELLED.value:
        state = "cancelled"
    elif booking.status != BookingStatus.BOOKED.value or booking.start <= now:
        state = "closed"
    else:
        state = "active"
    return LinkState(state, booking, message, details(booking))


def cancel_with_token(token: str) -> LinkState:
    """The tap: cancel the booking of a live link (once). Returns the state after it:
    "done" when this tap cancelled, else what :func:`link_state` says."""
    from agenda.booking.services.bookings import cancel_by_patient

    now = clock.now()
    found = link_state(token, now)
    if found.state != "active":
        return found
    if not cancel_by_patient(found.booking, now):
        db.session.rollback()
        return link_state(token, now)
    found.message.used_at = now
    db.session.commit()
    log.info("sms: booking %s cancelled by the patient", found.booking.id)
    found.state = "done"
    return found


def throttled(ip: str) -> bool:
    """Too many wrong links from this address lately (a guessing attempt)."""
    from agenda.accounts.models import LoginThrottle

    row = db.session.get(LoginThrottle, _throttle_key(ip))
    window = timedelta(minutes=current_app.config["LOGIN_WINDOW_MINUTES"])
    return (row is not None and row.window_start > clock.now() - window
            and row.count >= LINK_MAX_FAILURES)


def count_wrong_link(ip: str) -> None:
    """One more wrong link from this address (the login rate limit's counters)."""
    from agenda.accounts.services import _reserve_attempt

    _reserve_attempt([(_throttle_key(ip), LINK_MAX_FAILURES)])


def _throttle_key(ip: str) -> str:
    return hashlib.sha256(f"sms-link:{ip}".encode()).hexdigest()
