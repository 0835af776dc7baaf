"""A read-only ICS feed of a doctor's SNP slots at a secret URL, for calendar apps that
can only subscribe (Google Calendar, Outlook). Never any patient data: a booked slot
shows "SNP – réservé", the channel, the booking reference and the authenticated link."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from agenda import clock
from agenda.extensions import db
from agenda.sync.text import _t
from agenda.sync.writer import booking_link, channel_label

PAST_DAYS = 7
AHEAD_DAYS = 90
LIVE = ("open", "held", "booked", "seen", "no_show")


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


def feed(doctor) -> str:
    from agenda.booking.models import Booking
    from agenda.slots.models import Slot

    now = clock.now()
    slots = db.session.scalars(select(Slot).where(
        Slot.doctor_id == doctor.id, Slot.status.in_(LIVE),
        Slot.start >= now - timedelta(days=PAST_DAYS),
        Slot.start < now + timedelta(days=AHEAD_DAYS)).order_by(Slot.start)).all()
    bookings: dict[int, list] = {}
    if slots:
        for b in db.session.scalars(select(Booking).where(
                Booking.slot_id.in_([s.id for s in slots]), Booking.status != "cancelled")):
            bookings.setdefault(b.slot_id, []).append(b)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    host = (current_app.config.get("BASE_URL") or "agenda").split("//")[-1].split("/")[0]
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//CPTS//Agenda SNP//FR",
             "CALSCALE:GREGORIAN", "METHOD:PUBLISH",
             "X-WR-CALNAME:" + _escape(_t("SNP – %(name)s", name=doctor.display_name)),
             "X-PUBLISHED-TTL:PT15M"]
    for slot in slots:
        taken = bookings.get(slot.id, [])
        if slot.kind == "floating":
            summary = _t("SNP – plage flottante (%(n)d/%(cap)d)", n=slot.booked_count,
                         cap=slot.capacity)
        elif taken:
            summary = _t("SNP – réservé (%(channel)s)", channel=channel_label(taken[0].channel))
        else:
            summary = _t("SNP – libre")
        description = "\n".join(_t("Réservation %(ref)s : %(link)s", ref=b.reference,
                                    link=booking_link(b.id)) for b in taken)
        lines += ["BEGIN:VEVENT", f"UID:slot-{slot.id}@{host}", f"DTSTAMP:{stamp}",
                  f"DTSTART:{slot.start:%Y%m%dT%H%M%SZ}", f"DTEND:{slot.end:%Y%m%dT%H%M%SZ}",
                  "SUMMARY:" + _escape(summary), "TRANSP:OPAQUE", "STATUS:CONFIRMED"]
        if description:
            lines.append("DESCRIPTION:" + _escape(description))
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)
