"""A read-only ICS feed of a doctor's SNP slots at a secret URL, for calendar apps that
can only subscribe (Google Calendar, Outlook). Never any patient data: a booked slot
shows "SNP – réservé", the channel, the booking reference and the authenticated link.

The whole publishing horizon (``MAX_WEEKS_AHEAD``); an accepted floating time is an
event of its own; UIDs hold no host (a change of ``BASE_URL`` duplicates nothing in the
subscribers' calendars); DTSTAMP is the last change of what the event shows, so the same
state gives the same bytes, an ETag and a Last-Modified (a poll with nothing new: 304)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

from sqlalchemy import func, select

from agenda import clock
from agenda.extensions import db
from agenda.sync.text import _t
from agenda.sync.writer import booking_link, channel_label

PAST_DAYS = 7
LIVE = ("open", "held", "booked", "seen", "no_show")
UID_DOMAIN = "agenda-snp"


@dataclass(frozen=True)
class Feed:
    body: str
    etag: str
    last_modified: datetime | None

    @property
    def last_modified_http(self) -> str:
        return format_datetime(self.last_modified.astimezone(UTC).replace(microsecond=0),
                               usegmt=True)


def _escape(text: str) -> str:
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\n", "\\n"))


def _fold(line: str) -> str:
    out, raw = [], line.encode("utf-8")
    while len(raw) > 75:
        cut = 75
        while cut > 0 and (raw[cut] & 0xC0) == 0x80:  # never split a UTF-8 sequence
            cut -= 1
        out.append(raw[:cut].decode("utf-8"))
        raw = b" " + raw[cut:]
    out.append(raw.decode("utf-8"))
    return "\r\n".join(out)


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _latest(*values) -> datetime | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def window(now: datetime | None = None) -> tuple[datetime, datetime]:
    from agenda.slots.services import MAX_WEEKS_AHEAD

    now = now or clock.now()
    return now - timedelta(days=PAST_DAYS), now + timedelta(weeks=MAX_WEEKS_AHEAD, days=1)


def feed(doctor) -> Feed:
    from agenda.booking.models import Booking
    from agenda.slots.models import Slot

    start, end = window()
    in_window = (Slot.doctor_id == doctor.id, Slot.start >= start, Slot.start < end)
    slots = db.session.scalars(select(Slot).where(*in_window, Slot.status.in_(LIVE))
                               .order_by(Slot.start, Slot.id)).all()
    bookings: dict[int, list] = {}
    if slots:
        for b in db.session.scalars(select(Booking).where(
                Booking.slot_id.in_([s.id for s in slots]), Booking.status != "cancelled")
                .order_by(Booking.start, Booking.id)):
            bookings.setdefault(b.slot_id, []).append(b)
    # Any change in the window (a slot withdrawn too) moves Last-Modified on.
    changed = db.session.scalar(select(func.max(Slot.updated_at)).where(*in_window))
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//CPTS//Agenda SNP//FR",
             "CALSCALE:GREGORIAN", "METHOD:PUBLISH",
             "X-WR-CALNAME:" + _escape(_t("SNP – %(name)s", name=doctor.display_name)),
             "X-PUBLISHED-TTL:PT15M"]
    latest = changed
    for slot in slots:
        taken = bookings.get(slot.id, [])
        stamp = _latest(slot.updated_at, slot.created_at,
                        *(b.created_at for b in taken)) or slot.start
        latest = _latest(latest, stamp)
        if slot.kind == "floating":
            summary = _t("SNP – plage flottante (%(n)d/%(cap)d)", n=slot.booked_count,
                         cap=slot.capacity)
            lines += _event(f"slot-{slot.id}", stamp, slot.start, slot.end, summary, "")
            for b in taken:  # each accepted time: an event of its own
                lines += _event(f"booking-{b.reference}", _latest(b.created_at, stamp),
                                b.start, b.end,
                                _t("SNP – réservé (%(channel)s)",
                                   channel=channel_label(b.channel)),
                                _t("Réservation %(ref)s : %(link)s", ref=b.reference,
                                   link=booking_link(b.id)))
            continue
        if taken:
            summary = _t("SNP – réservé (%(channel)s)", channel=channel_label(taken[0].channel))
        else:
            summary = _t("SNP – libre")
        description = "\n".join(_t("Réservation %(ref)s : %(link)s", ref=b.reference,
                                    link=booking_link(b.id)) for b in taken)
        lines += _event(f"slot-{slot.id}", stamp, slot.start, slot.end, summary, description)
    lines.append("END:VCALENDAR")
    body = "".join(_fold(line) + "\r\n" for line in lines)
    etag = '"' + hashlib.sha256(body.encode("utf-8")).hexdigest()[:32] + '"'
    return Feed(body, etag, latest)


def _event(key: str, stamp: datetime, start: datetime, end: datetime, summary: str,
           description: str) -> list[str]:
    lines = ["BEGIN:VEVENT", f"UID:{key}@{UID_DOMAIN}", f"DTSTAMP:{_utc(stamp)}",
             f"DTSTART:{_utc(start)}", f"DTEND:{_utc(end)}", "SUMMARY:" + _escape(summary),
             "TRANSP:OPAQUE", "STATUS:CONFIRMED"]
    if description:
        lines.append("DESCRIPTION:" + _escape(description))
    lines.append("END:VEVENT")
    return lines


def not_modified(feed: Feed, if_none_match: str | None, if_modified_since: str | None) -> bool:
    """True when the client's copy is current (If-None-Match first, as RFC 9110 says)."""
    if if_none_match:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or feed.etag in tags
    if if_modified_since and feed.last_modified is not None:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError, IndexError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return feed.last_modified.replace(microsecond=0) <= since
    return False
