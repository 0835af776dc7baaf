"""Outbound: bookings written back to the doctor's SNP calendar (outbox handlers).

``caldav.booking`` {"booking_id", "action"}: the event of the booked slot (or, for a slot
that did not come from the calendar, an event of ours) shows the booking's current
state. ``caldav.floating`` {"booking_id"}: an accepted floating request becomes a new
event at the agreed time.

What an event may hold: "SNP – réservé" and the channel, the booking reference, an
authenticated link to the booking page, STATUS and TRANSP. **Never** the patient's name,
birth date, phone or reason (the tests read the server to check it).

Writes are conditional: ``If-Match`` with the stored ETag, ``If-None-Match: *`` to
create; on 412 the event is read again, the change applied again, and written again.
Idempotent: the state written is marked in the event (``X-AGENDA-SNP-BOOKING``), an
event already in that state is not written again; our UIDs are stable.
"""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import select

from agenda import clock
from agenda.extensions import db
from agenda.outbox import OutboxItem, RetryLater, handler
from agenda.sync import ical
from agenda.sync.adapter import (AdapterError, CalendarAdapter, PreconditionFailed,
                                 new_event_href)
from agenda.sync.models import CalendarAccount, RemoteEvent
from agenda.sync.text import _t

log = logging.getLogger(__name__)

MAX_RACES = 4
# Labels written into the doctor's calendar (through gettext when the message is used).
STATE_TITLES = {
    "booked": "SNP – réservé",
    "seen": "SNP – réservé · consultation faite",
    "no_show": "SNP – réservé · patient absent",
    "cancelled": "SNP – réservation annulée",
}


def channel_label(channel: str | None) -> str:
    """Who took the slot, in words (agenda.labels names every channel)."""
    from agenda.labels import label

    return label(channel, "channel")

# The adapter factory used by the handlers (the worker may pass a shared one per doctor).
_adapters: dict[int, CalendarAdapter] = {}


def booking_link(booking_id: int) -> str:
    base = str(current_app.config.get("BASE_URL") or "").rstrip("/")
    return f"{base}/reservations/{booking_id}"


def our_uid(reference: str) -> str:
    return f"agenda-snp-{reference}@agenda-snp"


# --- iCalendar editing (pure) ----------------------------------------------------------------


def render_state(text: str | None, *, uid: str, recurrence_id: str | None, start: datetime,
                 end: datetime, reference: str, state: str, channel: str, link: str,
                 slot_open_again: bool, ours: bool, now: datetime) -> str | None:
    """The event text with the booking's state applied, or None when it already shows it.

    ``text`` None: a new event of ours. ``recurrence_id``: the instance of a recurring
    event to override.
    """
    import icalendar

    mark = f"{reference};{state}"
    if text:
        cal = icalendar.Calendar.from_ical(text)
        if isinstance(cal, list):
            cal = cal[0]
    else:
        cal = icalendar.Calendar()
        cal.add("PRODID", "-//CPTS//Agenda SNP//FR")
        cal.add("VERSION", "2.0")
    events = [c for c in cal.subcomponents if c.name == "VEVENT"
              and str(c.get("UID") or "").strip() == uid]
    target = _instance(cal, events, recurrence_id) if events else None
    if target is None:
        if text and not ours and recurrence_id is None and events:
            target = events[0]
        else:
            target = icalendar.Event()
            target.add("UID", uid)
            target.add("DTSTART", start)
            target.add("DTEND", end)
            target.add("SUMMARY", "SNP")
            if ours:
                target.add(ical.CREATED_MARK, "1")
            cal.add_component(target)
    if str(target.get(ical.BOOKING_MARK) or "") == mark:
        return None

    if target.get(ical.SUMMARY_MARK) is None:
        target.add(ical.SUMMARY_MARK, str(target.get("SUMMARY") or "SNP"))
    label = channel_label(channel)
    if state == "cancelled" and slot_open_again and not ours:
        summary = str(target.get(ical.SUMMARY_MARK))
        description = _t("Réservation SNP %(ref)s annulée : le créneau est de nouveau libre."
                         "\nAucune donnée de patient n'est inscrite dans ce calendrier.",
                         ref=reference)
        status = "CONFIRMED"
    else:
        summary = _t(STATE_TITLES.get(state, STATE_TITLES["booked"]))
        if label:
            summary = f"{summary} ({label})"
        description = _t("Réservation SNP %(ref)s\nVoir la réservation (connexion requise) : "
                         "%(link)s\nAucune donnée de patient n'est inscrite dans ce calendrier.",
                         ref=reference, link=link)
        status = "CANCELLED" if state == "cancelled" else "CONFIRMED"
    _set(target, "SUMMARY", summary)
    _set(target, "DESCRIPTION", description)
    _set(target, "STATUS", status)
    _set(target, "TRANSP", "OPAQUE")
    _set(target, "URL", link)
    _set(target, ical.BOOKING_MARK, mark)
    try:
        sequence = int(str(target.get("SEQUENCE") or 0)) + 1
    except ValueError:
        sequence = 1
    _set(target, "SEQUENCE", sequence)
    stamp = now.astimezone(UTC).replace(microsecond=0)
    _set(target, "DTSTAMP", stamp)
    _set(target, "LAST-MODIFIED", stamp)
    return cal.to_ical().decode("utf-8")


def _set(component, name: str, value) -> None:
    if name in component:
        del component[name]
    component.add(name, value)


def _instance(cal, events, recurrence_id: str | None):
    """The component to edit: the event itself, or the override of one instance of a
    recurring event (created from the master when missing)."""
    if recurrence_id is None:
        masters = [e for e in events if e.get("RECURRENCE-ID") is None]
        return masters[0] if masters else events[0]
    for e in events:
        rid = e.get("RECURRENCE-ID")
        if rid is None:
            continue
        try:
            value = e.decoded("RECURRENCE-ID")
            if isinstance(value, datetime):
                if value.tzinfo is None:
                    from zoneinfo import ZoneInfo

                    value = value.replace(tzinfo=ZoneInfo(ical.DEFAULT_TZ))
                if value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ") == recurrence_id:
                    return e
        except Exception:  # an unreadable override is not ours to fix
            continue
    master = next((e for e in events if e.get("RECURRENCE-ID") is None), None)
    if master is None:
        return None
    override = copy.deepcopy(master)
    for name in ("RRULE", "RDATE", "EXDATE", "DTSTART", "DTEND", "DURATION", "RECURRENCE-ID"):
        while name in override:
            del override[name]
    original = datetime.strptime(recurrence_id, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    length = _master_length(master)
    override.add("RECURRENCE-ID", original)
    override.add("DTSTART", original)
    override.add("DTEND", original + length)
    cal.add_component(override)
    return override


def _master_length(master):
    from datetime import timedelta

    try:
        start = master.decoded("DTSTART")
        if master.get("DTEND") is not None:
            return master.decoded("DTEND") - start
        return master.decoded("DURATION")
    except Exception:
        return timedelta(minutes=20)


# --- the handlers ----------------------------------------------------------------------------


def _account(doctor_id: int) -> CalendarAccount | None:
    account = db.session.scalar(select(CalendarAccount).where(
        CalendarAccount.doctor_id == doctor_id))
    if account is None or not account.calendar_url:
        return None
    return account


def _adapter_for(account: CalendarAccount) -> CalendarAdapter:
    from agenda.sync.inbound import account_adapter

    return account_adapter(account)


def write_booking(booking, *, create_new: bool = False,
                  adapter: CalendarAdapter | None = None) -> bool:
    """Bring the doctor's event in line with ``booking``; True when something was written.

    Raises :class:`RetryLater` (server down, repeated races) — the worker retries.
    """
    account = _account(booking.doctor_id)
    if account is None:
        return False  # this doctor has no calendar connected: nothing to tell
    slot = booking.slot
    in_place = (not create_new and slot is not None and slot.source == "caldav"
                and slot.caldav_uid and slot.caldav_href and slot.kind == "fixed")
    if in_place:
        uid, href, rid = slot.caldav_uid, slot.caldav_href, slot.recurrence_id
    else:
        uid = our_uid(booking.reference)
        href = new_event_href(account.calendar_url, uid)
        rid = None
    row = db.session.scalar(select(RemoteEvent).where(RemoteEvent.doctor_id == account.doctor_id,
                                                      RemoteEvent.href == href))
    data = row.data if row is not None else None
    etag = (row.etag if row is not None else None) or (slot.caldav_etag if in_place else None)
    exists = row is not None or bool(in_place)
    own_adapter = adapter is None
    adapter = adapter or _adapter_for(account)
    try:
        for _attempt in range(MAX_RACES):
            if exists and (data is None or not etag):
                remote = adapter.get(href)
                if remote is None:
                    if in_place:
                        # The doctor deleted the event: the booking is shown in an event
                        # of ours instead (the inbound sync raises the conflict).
                        return write_booking(booking, create_new=True, adapter=adapter)
                    exists, data, etag = False, None, None
                else:
                    data, etag = remote.data, remote.etag
            text = render_state(
                data if exists else None, uid=uid, recurrence_id=rid, start=booking.start,
                end=booking.end, reference=booking.reference, state=booking.status,
                channel=booking.channel, link=booking_link(booking.id),
                slot_open_again=_offered_again(slot),
                ours=not in_place, now=clock.now())
            if text is None:
                return False  # already shows this state (a retry after a crash)
            try:
                new_etag = adapter.put(href, text, etag=etag if exists else None)
            except PreconditionFailed:
                # Changed (or created) meanwhile: read it again, apply again.
                exists, data, etag = True, None, None
                continue
            _remember(account, href, uid, text, new_etag, slot if in_place else None)
            return True
        raise RetryLater(_t("L'événement change sans cesse sur le serveur : nouvel essai plus "
                            "tard."))
    except AdapterError as exc:
        raise RetryLater(exc.message) from exc
    finally:
        if own_adapter:
            adapter.close()


def _offered_again(slot) -> bool:
    """After a cancellation: the doctor's event offers its time again — the slot reopened,
    or (the event having moved while booked) the slot was withdrawn and the sync offers
    the event's new time. The event then gets the doctor's own title back."""
    if slot is None:
        return False
    return slot.status == "open" or (slot.status == "withdrawn" and bool(slot.conflict))


def _remember(account: CalendarAccount, href: str, uid: str, text: str, etag: str | None,
              slot) -> None:
    row = db.session.scalar(select(RemoteEvent).where(RemoteEvent.doctor_id == account.doctor_id,
                                                      RemoteEvent.href == href))
    if row is None:
        row = RemoteEvent(doctor_id=account.doctor_id, href=href, uids=[uid], reexpand=False)
        db.session.add(row)
    row.data = text
    row.etag = etag
    row.updated_at = clock.now()
    if slot is not None:
        slot.caldav_etag = etag


def _booking(item: OutboxItem):
    from agenda.booking.models import Booking

    booking_id = (item.payload or {}).get("booking_id")
    booking = db.session.get(Booking, booking_id) if booking_id is not None else None
    if booking is None:
        log.info("outbox %s: booking %s gone, nothing to write", item.id, booking_id)
    return booking


@handler("caldav.booking")
def handle_booking(item: OutboxItem) -> None:
    booking = _booking(item)
    if booking is not None:
        write_booking(booking)


@handler("caldav.floating")
def handle_floating(item: OutboxItem) -> None:
    booking = _booking(item)
    if booking is not None:
        write_booking(booking, create_new=True)
