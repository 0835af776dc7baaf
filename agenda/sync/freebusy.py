"""Free/busy of a doctor's main calendar, read without reading the day (issue 18, point 2).

A doctor may name one or more calendars of their CalDAV account (their main agenda) to be
read for **free/busy only**. The service asks the server for busy periods with the CalDAV
``free-busy-query`` REPORT (RFC 4791 section 7.10: the answer is one ``VFREEBUSY``, no
event at all); a server that lacks it gets a time-range ``calendar-query`` asking only for
the time properties of the events (``DTSTART``, ``DTEND``, ``DURATION``, ``RRULE``…, no
``SUMMARY``/``DESCRIPTION``/``LOCATION``), or the whole objects when it refuses partial
data, of which only the times are read. Transparent and cancelled events are not busy.

What is kept: :class:`BusyPeriod` rows — a start, an end (UTC) and when they were read.
Never a title, a description, a place or an event identifier; an unreadable event is named
in the sync log by its resource name, and the busy periods read before are kept for its
range ("nothing lost": a busy time stays busy until a clean read says otherwise).

Two users:

- the worker (:func:`refresh_account`, on its pass): one REPORT per main calendar, only for
  doctors who connected one and have an open fixed slot ahead, over the published horizon;
  an open fixed slot overlapping a busy period is **flagged** to the doctor (the Ma semaine
  page, the dashboard, an alert and one email), never withdrawn: the doctor decides;
- the doctor's "Demandes" page (:func:`busy_for_page`, through :mod:`agenda.busy`): read
  fresh when the page opens, with a short cache; a failure leaves the page as it was.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, select, update

from agenda import busy as busy_hook
from agenda import clock
from agenda.extensions import db
from agenda.sync.adapter import AdapterError, CalendarAdapter, _origin, canonical_href
from agenda.sync.busywire import (  # noqa: F401  (re-exported: the free/busy entry point)
    CALENDAR_QUERY, FREE_BUSY_QUERY, BusyRead, FreeBusyUnsupported, Interval,
    calendar_query, clip, free_busy_query, merge, object_busy, overlaps, parse_freebusy,
    resource_name)
from agenda.sync.models import BusyPeriod, CalendarAccount
from agenda.sync.text import _t

log = logging.getLogger(__name__)

#: A page reuses what was read this recently (the doctor reloads, several cards).
PAGE_CACHE = timedelta(minutes=2)
#: A page waits this long at most for the calendar server.
PAGE_TIMEOUT_SECONDS = 5
#: The worker reads at most this far ahead (the SNP calendar's horizon).
MAX_HORIZON = timedelta(days=60)
#: Busy periods are kept this long after they end.
KEEP_PAST = timedelta(days=1)
ALERT_KIND = "busy_overlap"

# --- an account --------------------------------------------------------------------------------


def main_calendars(account: CalendarAccount | None) -> list[str]:
    if account is None or not account.url:
        return []
    return [u for u in (account.busy_calendar_urls or []) if u and u != account.calendar_url]


def adapter_of(account: CalendarAccount, *, timeout: int | None = None) -> CalendarAdapter:
    """The account's adapter: credentials go to the origin they were saved with (and the
    SNP calendar's), never to another (a main calendar elsewhere gets none)."""
    from agenda.sync.adapter import ADAPTER_CLASS, CaldavAdapter, adapter_for
    from agenda.sync.crypto import decrypt

    password = decrypt(account.password_encrypted)
    trusted = (account.calendar_url,) if account.calendar_url else ()
    if timeout and issubclass(ADAPTER_CLASS, CaldavAdapter):
        return ADAPTER_CLASS(account.url, account.username, password, timeout=timeout,
                             trusted=trusted)
    return adapter_for(account.url, account.username, password, trusted=trusted)


def read_busy(account: CalendarAccount, start: datetime, end: datetime,
              adapter: CalendarAdapter | None = None) -> BusyRead:
    """One REPORT per main calendar (two the first time on a server without
    free-busy-query, which is then remembered). Raises :class:`AdapterError`."""
    own = adapter is None
    adapter = adapter or adapter_of(account)
    out = BusyRead(method=account.freebusy_method)
    try:
        for url in main_calendars(account):
            read = None
            if out.method != CALENDAR_QUERY:
                try:
                    read = free_busy_query(adapter, url, start, end)
                except FreeBusyUnsupported:
                    read = None
            if read is None:
                read = calendar_query(adapter, url, start, end)
            out.method = read.method
            out.periods.extend(read.periods)
            out.unreadable.extend(read.unreadable)
    finally:
        if own:
            adapter.close()
    out.periods = merge(clip(out.periods, start, end))
    return out


def store(account: CalendarAccount, start: datetime, end: datetime, read: BusyRead, *,
          now: datetime | None = None) -> None:
    """Replace the stored busy periods of ``[start, end)`` by ``read`` (not committed).
    When part of the answer did not read, the periods stored before stay as well."""
    from agenda.sync.inbound import log_line

    now = now or clock.now()
    doctor_id = account.doctor_id
    old = db.session.execute(select(BusyPeriod.start, BusyPeriod.end, BusyPeriod.fetched_at)
                             .where(BusyPeriod.doctor_id == doctor_id,
                                    BusyPeriod.start < end, BusyPeriod.end > start)).all()
    keep: list[tuple[datetime, datetime, datetime]] = []
    for s, e, at in old:  # the parts outside the range read stay as they were
        if s < start:
            keep.append((s, start, at))
        if e > end:
            keep.append((end, e, at))
    periods = list(read.periods)
    if read.unreadable:
        periods = merge(periods + clip([(s, e) for s, e, _at in old], start, end))
        for name in read.unreadable:
            log_line(doctor_id, "error", _t(
                "Agenda principal : événement « %(name)s » illisible dans la réponse du "
                "serveur ; les heures occupées déjà connues sont gardées pour cette période.",
                name=name))
    db.session.execute(delete(BusyPeriod).where(
        BusyPeriod.doctor_id == doctor_id, BusyPeriod.start < end, BusyPeriod.end > start))
    db.session.execute(delete(BusyPeriod).where(
        BusyPeriod.doctor_id == doctor_id, BusyPeriod.end < now - KEEP_PAST))
    for s, e, at in keep:
        db.session.add(BusyPeriod(doctor_id=doctor_id, start=s, end=e, fetched_at=at))
    for s, e in merge(periods):
        db.session.add(BusyPeriod(doctor_id=doctor_id, start=s, end=e, fetched_at=now))
    account.freebusy_method = read.method or account.freebusy_method
    account.freebusy_fetched_at = now
    account.freebusy_from, account.freebusy_until = start, end
    account.freebusy_error = None


def forget(doctor_id: int) -> None:
    """The main calendar changed or was disconnected: its busy periods go (not committed)."""
    db.session.execute(delete(BusyPeriod).where(BusyPeriod.doctor_id == doctor_id))


def stored_busy(doctor_id: int, start: datetime, end: datetime) -> list[Interval]:
    return merge([(s, e) for s, e in db.session.execute(
        select(BusyPeriod.start, BusyPeriod.end).where(
            BusyPeriod.doctor_id == doctor_id, BusyPeriod.start < end,
            BusyPeriod.end > start)).all()])


def _failed(account_id: int, message: str, *, rollback: bool = True) -> None:
    if rollback:
        db.session.rollback()
    db.session.execute(update(CalendarAccount).where(CalendarAccount.id == account_id)
                       .values(freebusy_error=message[:1000]))
    db.session.commit()


# --- the worker's pass -------------------------------------------------------------------------


def published_until(doctor_id: int, now: datetime) -> datetime | None:
    """The end of the doctor's last open fixed slot ahead (the published horizon)."""
    from agenda.slots.models import Slot

    last = db.session.scalar(select(func.max(Slot.end)).where(
        Slot.doctor_id == doctor_id, Slot.kind == "fixed", Slot.status == "open",
        Slot.end > now))
    return min(last, now + MAX_HORIZON) if last is not None else None


def refresh_account(account: CalendarAccount, adapter: CalendarAdapter | None = None, *,
                    now: datetime | None = None) -> str | None:
    """The worker's step for one claimed doctor: when a main calendar is connected and an
    open fixed slot lies ahead, read the busy periods up to it (one REPORT), store them and
    flag the open fixed slots they overlap. Returns the error, if any (never raises)."""
    from agenda.sync.inbound import serial_writes

    if not main_calendars(account):
        return None
    now = now or clock.now()
    account_id = account.id
    until = published_until(account.doctor_id, now)
    if until is None:
        with serial_writes():
            check_slots(account.doctor_id, now=now)  # nothing ahead: old flags resolved
            db.session.commit()
        return None
    try:
        read = read_busy(account, now, until, adapter)
    except AdapterError as exc:
        with serial_writes():
            _failed(account_id, exc.message)
        return exc.message
    except Exception as exc:  # an answer nobody foresaw: logged, the pass goes on
        log.exception("free/busy read of account %s failed", account_id)
        with serial_writes():
            _failed(account_id, _t("Réponse inattendue du serveur (%(kind)s).",
                                   kind=type(exc).__name__))
        return type(exc).__name__
    with serial_writes():
        account = db.session.get(CalendarAccount, account_id)
        store(account, now, until, read, now=clock.now())
        check_slots(account.doctor_id, now=now)
        db.session.commit()
    return None


def refresh_main_only(owner: str) -> list[str]:
    """The worker's step for the doctors with a main calendar and no SNP calendar (they
    publish from the pages): each claimed with the same lease as the others (a
    conditional UPDATE checked by its row count), read, released. Returns the errors."""
    from agenda.sync.inbound import serial_writes
    from agenda.sync.worker import LEASE, release_account

    now = clock.now()
    free = (CalendarAccount.lease_until.is_(None)) | (CalendarAccount.lease_until < now)
    rows = db.session.execute(select(CalendarAccount.id, CalendarAccount.busy_calendar_urls)
                              .where(CalendarAccount.calendar_url.is_(None),
                                     CalendarAccount.url.is_not(None),
                                     CalendarAccount.password_encrypted.is_not(None), free)
                              .order_by(CalendarAccount.id)).all()
    db.session.commit()
    errors = []
    for account_id, urls in rows:
        if not urls:
            continue
        with serial_writes():
            claimed = db.session.execute(update(CalendarAccount).where(
                CalendarAccount.id == account_id, CalendarAccount.calendar_url.is_(None), free)
                .values(lease_owner=owner, lease_until=now + LEASE)).rowcount == 1
            db.session.commit()
        if not claimed:
            continue
        try:
            error = refresh_account(db.session.get(CalendarAccount, account_id))
            if error:
                errors.append(error)
        finally:
            with serial_writes():
                release_account(account_id, owner)
    return errors


# --- flags -------------------------------------------------------------------------------------


def flagged_slots(doctor_id: int, start: datetime | None = None,
                  end: datetime | None = None) -> dict[int, Interval]:
    """Open fixed slots (ahead) overlapping a stored busy period: slot id -> the busy
    period. One query."""
    from agenda.slots.models import Slot

    now = clock.now()
    query = (select(Slot.id, BusyPeriod.start, BusyPeriod.end)
             .join(BusyPeriod, and_(BusyPeriod.doctor_id == Slot.doctor_id,
                                    BusyPeriod.start < Slot.end, BusyPeriod.end > Slot.start))
             .where(Slot.doctor_id == doctor_id, Slot.kind == "fixed", Slot.status == "open",
                    Slot.end > now)
             .order_by(Slot.start, BusyPeriod.start))
    if start is not None:
        query = query.where(Slot.end > start)
    if end is not None:
        query = query.where(Slot.start < end)
    out: dict[int, Interval] = {}
    for slot_id, s, e in db.session.execute(query).all():
        out.setdefault(slot_id, (s, e))
    return out


def flag_message(slot_start: datetime) -> str:
    from agenda.timeutil import to_local

    return _t("Créneau fixe du %(when)s : votre agenda principal est occupé à ce moment. Il "
              "reste ouvert à la réservation : retirez-le si vous ne pourrez pas recevoir.",
              when=to_local(slot_start).strftime("%d/%m/%Y %H:%M"))


def check_slots(doctor_id: int, *, now: datetime | None = None) -> int:
    """Raise an alert (and one email) for each open fixed slot newly overlapping a busy
    period; resolve the alerts of slots no longer in that case. Not committed."""
    from agenda.alerts import Alert, raise_alert
    from agenda.mail import notify
    from agenda.slots.models import Slot
    from agenda.sync.inbound import log_line
    from agenda.territory.models import Doctor

    flagged = flagged_slots(doctor_id)
    open_alerts = dict(db.session.execute(select(Alert.object_id, Alert.id).where(
        Alert.kind == ALERT_KIND, Alert.doctor_id == doctor_id, Alert.object_type == "slot",
        Alert.resolved_at.is_(None))).all())
    gone = [aid for slot_id, aid in open_alerts.items() if slot_id not in flagged]
    if gone:
        db.session.execute(update(Alert).where(Alert.id.in_(gone))
                           .values(resolved_at=clock.now()))
    new = [slot_id for slot_id in flagged if slot_id not in open_alerts]
    if not new:
        return 0
    doctor = db.session.get(Doctor, doctor_id)
    slots = db.session.scalars(select(Slot).where(Slot.id.in_(new)).order_by(Slot.start)).all()
    lines = []
    for slot in slots:
        message = flag_message(slot.start)
        lines.append(message)
        # The doctor's own business (their day): not the coordinator's (no cpts_id).
        raise_alert(ALERT_KIND, message[:500], user_id=doctor.user_id, doctor_id=doctor_id,
                    object_type="slot", object_id=slot.id)
        log_line(doctor_id, "warning", message, slot.caldav_uid)
    email = doctor.email
    if not email and doctor.user_id:
        from agenda.accounts.models import User

        user = db.session.get(User, doctor.user_id)
        email = user.email if user else None
    notify(email or "", _t("Créneau SNP pendant un moment occupé de votre agenda"),
           "\n\n".join(lines) + "\n\n" + _t("Rien n'a été retiré : vous décidez. Votre page "
                                            "« Ma semaine SNP » montre ces créneaux."))
    return len(new)


# --- the doctor's "Demandes" page ----------------------------------------------------------------


@dataclass
class PageBusy:
    periods: list[Interval]
    fetched_at: datetime | None
    error: str | None = None


def busy_for_page(doctor, start: datetime, end: datetime) -> PageBusy | None:
    """Busy periods of ``[start, end)`` for a page: None when no main calendar is
    connected; read fresh (reused for :data:`PAGE_CACHE`); on failure, an error and no
    periods (the page offers every time, as without a main calendar)."""
    from agenda.sync.services import account_of

    account = account_of(doctor)
    if not main_calendars(account) or end <= start:
        return None
    now = clock.now()
    if (account.freebusy_fetched_at is not None and not account.freebusy_error
            and account.freebusy_fetched_at >= now - PAGE_CACHE
            and account.freebusy_from is not None and account.freebusy_until is not None
            and account.freebusy_from <= max(start, account.freebusy_fetched_at)
            and account.freebusy_until >= end):
        return PageBusy(stored_busy(doctor.id, start, end), account.freebusy_fetched_at)
    account_id = account.id
    try:
        read = read_busy(account, start, end, adapter_of(account, timeout=PAGE_TIMEOUT_SECONDS))
    except Exception as exc:
        message = exc.message if isinstance(exc, AdapterError) else type(exc).__name__
        log.info("free/busy read for a page failed: %s", message)
        _failed(account_id, message, rollback=False)  # the page's own work is kept
        return PageBusy([], None, message)
    account = db.session.get(CalendarAccount, account_id)
    store(account, start, end, read, now=now)
    check_slots(doctor.id, now=now)
    db.session.commit()
    return PageBusy(stored_busy(doctor.id, start, end), now)


def same_account_url(account: CalendarAccount, url: str) -> bool:
    """A typed main-calendar URL must be on the origin the credentials were saved for."""
    origins = {_origin(account.url or "")}
    if account.calendar_url:
        origins.add(_origin(account.calendar_url))
    return _origin(url) in origins and canonical_href(url) != canonical_href(
        account.calendar_url or "")


class _Provider:
    busy_for_page = staticmethod(busy_for_page)
    flagged_slots = staticmethod(flagged_slots)
    flag_message = staticmethod(flag_message)


busy_hook.register(_Provider)
