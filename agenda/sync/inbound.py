"""Inbound sync: the doctor's SNP calendar -> slots.

One pass for one doctor (:func:`sync_account`):

1. read what changed: RFC 6578 sync-collection with the stored token; an invalid token
   -> a full listing (the UID is the key: no duplicate); a server without
   sync-collection -> ETag comparison with the stored objects;
2. parse each changed object into slot specs (:mod:`agenda.sync.ical`), remember it
   (:class:`RemoteEvent`);
3. reconcile the UIDs touched with their slots through the slot services: create, follow
   (move/resize), withdraw. A booked slot never moves: the booking is kept, the slot
   carries a conflict and an alert goes to the doctor and the coordinator.

Every event skipped or refused leaves a :class:`SyncLogEntry` naming it.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update

from agenda import clock
from agenda.errors import DomainError
from agenda.extensions import db
from agenda.sync import ical
from agenda.sync.adapter import (AdapterError, CalendarAdapter, InvalidSyncToken,
                                 RemoteObject, SyncChanges, SyncUnsupported, adapter_for,
                                 canonical_href)
from agenda.sync.models import CalendarAccount, RemoteEvent, SyncLogEntry
from agenda.sync.text import _t

log = logging.getLogger(__name__)

HORIZON_DAYS = 60
REEXPAND_EVERY = timedelta(hours=12)
MAX_STORED_TEXT = 2 * 1024 * 1024
# Slots whose status means "someone is on it": never moved or withdrawn by the calendar.
TAKEN = {"held", "booked", "seen", "no_show"}
GONE = {"withdrawn", "cancelled"}


@dataclass
class SyncReport:
    doctor_id: int
    read: int = 0
    created: int = 0
    updated: int = 0
    withdrawn: int = 0
    conflicts: int = 0
    skipped: int = 0
    full: bool = False
    quiet: bool = False  # nothing changed, nothing written
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # hrefs the server's answer hid
    # A change that could not be applied yet (a slot held during a call): the sync token
    # is kept, so that the server reports the change again at the next pass.
    retry: bool = False


_SQLITE_WRITER = threading.RLock()


@contextmanager
def serial_writes():
    """SQLite has one writer: worker threads take turns for their database phase (the
    network calls stay parallel). A no-op on PostgreSQL, where row locks do the work."""
    if db.session.get_bind().dialect.name != "sqlite":
        yield
        return
    with _SQLITE_WRITER:
        db.session.commit()  # end any read transaction: no stale snapshot to upgrade
        yield


def horizon(now: datetime | None = None) -> tuple[datetime, datetime]:
    now = now or clock.now()
    return now, now + timedelta(days=HORIZON_DAYS)


def account_adapter(account: CalendarAccount) -> CalendarAdapter:
    from agenda.sync.crypto import decrypt

    return adapter_for(account.url or account.calendar_url, account.username,
                       decrypt(account.password_encrypted),
                       trusted=(account.calendar_url,) if account.calendar_url else ())


def log_line(doctor_id: int | None, level: str, message: str, uid: str | None = None) -> None:
    message = message.replace("\x00", "")[:2000]
    uid = (uid or "").replace("\x00", "")[:255] or None
    db.session.add(SyncLogEntry(doctor_id=doctor_id, level=level, message=message,
                                event_uid=uid, at=clock.now()))


# --- reading ---------------------------------------------------------------------------------


def _read_changes(account: CalendarAccount, adapter: CalendarAdapter, report: SyncReport,
                  prefetched: SyncChanges | None = None
                  ) -> tuple[list[RemoteObject], set[str], str | None, bool]:
    """(changed objects, deleted hrefs, new token, full listing?); ``prefetched``: the
    answer the worker's quick check already got for the stored token (not asked twice)."""
    cal = account.calendar_url

    def stored() -> dict[str, str | None]:  # only a full listing needs it
        return {canonical_href(href): etag for href, etag in db.session.execute(
            select(RemoteEvent.href, RemoteEvent.etag).where(
                RemoteEvent.doctor_id == account.doctor_id)).all()}

    try:
        try:
            if prefetched is not None and account.sync_token:
                changes, full = prefetched, False
            else:
                changes = adapter.sync(cal, account.sync_token)
                full = account.sync_token is None
        except InvalidSyncToken as exc:
            log_line(account.doctor_id, "info", exc.message)
            changes = adapter.sync(cal, None)
            full = True
        report.unreadable = list(changes.unreadable)
        deleted = set(changes.deleted)
        if full:
            known = stored()
            seen = {o.href for o in changes.changed} | set(changes.unreadable)
            deleted |= set(known) - seen
            # Objects we already know unchanged: not parsed again.
            changed = [o for o in changes.changed
                       if not (o.etag and known.get(o.href) == o.etag)]
        else:
            changed = changes.changed
        return changed, deleted, changes.token, full
    except SyncUnsupported:
        known = stored()
        current = adapter.etags(cal)
        todo = [h for h, e in current.items() if not e or known.get(h) != e]
        changed = adapter.multiget(cal, todo) if todo else []
        return changed, set(known) - set(current), None, True


# --- the pass --------------------------------------------------------------------------------


def sync_account(account: CalendarAccount, adapter: CalendarAdapter | None = None,
                 *, now: datetime | None = None, has_pending: bool | None = None,
                 release: str | None = None,
                 prefetched: SyncChanges | None = None) -> SyncReport:
    """One inbound pass for one doctor; commits. Adapter errors end up in the account's
    state (shown in French), never as an exception."""
    report = SyncReport(doctor_id=account.doctor_id)
    if not account.calendar_url:
        report.error = _t("Aucun calendrier SNP choisi.")
        return report
    own_adapter = adapter is None
    adapter = adapter or account_adapter(account)
    try:
        changed, deleted, token, full = _read_changes(account, adapter, report, prefetched)
        report.full = full
        report.read = len(changed)
        if release and not report.unreadable and _quiet(account, changed, deleted, token,
                                                        has_pending, now):
            # Nothing to write: the worker stamps every quiet doctor in one UPDATE.
            report.quiet = True
            db.session.rollback()
            return report
        with serial_writes():
            for href in report.unreadable:
                log_line(account.doctor_id, "error", _t(
                    "Événement (ressource « %(res)s ») illisible dans la réponse du serveur de "
                    "calendrier : ignoré, le reste du calendrier est synchronisé. Modifiez ou "
                    "recréez cet événement.", res=_resource(href)))
                report.skipped += 1
            apply_changes(account, changed, deleted, now=now, report=report)
            if token is not None and not report.retry:
                account.sync_token = token
            if account.state == "error":
                resolve_alerts(account.doctor_id)
            account.last_sync_at = clock.now()
            account.last_error = None
            if has_pending is None:
                has_pending = bool(pending_outbox(account.doctor_id))
            account.state = "pending" if has_pending else "ok"
            if release and account.lease_owner == release:  # the claim ends here
                account.lease_owner = account.lease_until = None
            db.session.commit()
    except AdapterError as exc:
        db.session.rollback()
        report.error = exc.message
        mark_error(account, exc.message)
    finally:
        if own_adapter:
            adapter.close()
    return report


def _quiet(account: CalendarAccount, changed, deleted, token, has_pending,
           now: datetime | None) -> bool:
    if changed or deleted or has_pending is None or has_pending:
        return False
    if account.state != "ok" or account.last_error or account.last_sync_at is None:
        return False
    if token is not None and token != account.sync_token:
        return False
    _start, end = horizon(now)
    due = db.session.scalar(select(RemoteEvent.id).where(
        RemoteEvent.doctor_id == account.doctor_id, RemoteEvent.reexpand.is_(True),
        or_(RemoteEvent.expanded_until.is_(None),
            RemoteEvent.expanded_until <= end - REEXPAND_EVERY)).limit(1))
    return due is None


def resolve_alerts(doctor_id: int) -> None:
    """The calendar works again: its open sync alerts are closed."""
    from agenda.alerts import Alert

    db.session.execute(update(Alert).where(
        Alert.kind == "sync_error", Alert.doctor_id == doctor_id,
        Alert.resolved_at.is_(None)).values(resolved_at=clock.now()))


def mark_error(account: CalendarAccount, message: str) -> None:
    from agenda.alerts import raise_alert

    account = db.session.get(CalendarAccount, account.id)
    first = account.state != "error" or account.last_error != message
    account.state = "error"
    account.last_error = message[:1000]
    if first:
        doctor = account.doctor
        log_line(account.doctor_id, "error", message)
        raise_alert("sync_error", _t("Calendrier de %(doctor)s : %(msg)s",
                                     doctor=doctor.display_name, msg=message)[:500],
                    cpts_id=doctor.cpts_id, user_id=doctor.user_id, doctor_id=doctor.id,
                    object_type="calendar_account", object_id=account.id)
    db.session.commit()


def pending_outbox(doctor_id: int) -> int:
    from agenda.outbox import OutboxItem

    return db.session.scalar(select(func.count(OutboxItem.id)).where(
        OutboxItem.doctor_id == doctor_id, OutboxItem.status == "pending",
        OutboxItem.kind.like("caldav.%"))) or 0


def apply_changes(account: CalendarAccount, changed: list[RemoteObject], deleted: set[str],
                  *, now: datetime | None = None, report: SyncReport | None = None) -> None:
    """Store the changed objects, forget the deleted ones, reconcile their slots."""
    now = now or clock.now()
    report = report or SyncReport(doctor_id=account.doctor_id)
    start, end = horizon(now)
    doctor_id = account.doctor_id
    query = select(RemoteEvent).where(RemoteEvent.doctor_id == doctor_id)
    if not changed and not deleted:
        # Nothing new: only the recurring events whose horizon moved on.
        query = query.where(RemoteEvent.reexpand.is_(True), or_(
            RemoteEvent.expanded_until.is_(None),
            RemoteEvent.expanded_until <= end - REEXPAND_EVERY))
    rows = _rows_by_href(query)
    if not changed and not deleted and not rows:
        return
    touched: set[str] = set()
    desired: dict[tuple[str, str | None], ical.SlotSpec] = {}
    where: dict[str, tuple[str, str | None]] = {}  # uid -> (href, etag)

    for href in deleted:
        row = rows.pop(canonical_href(href), None)
        if row is not None:
            touched.update(row.uids or [])
            db.session.delete(row)
    if deleted:
        # Reported again (a change kept for retry): the slots still know their event.
        touched.update(_uids_of_slots_at(doctor_id, deleted))

    # UIDs owned by objects not changed in this batch (duplicate UID detection).
    changed_hrefs = {canonical_href(o.href) for o in changed}
    owners = {uid: href for href, row in rows.items() if href not in changed_hrefs
              for uid in (row.uids or [])}

    for obj in changed:
        # NUL bytes: no iCalendar meaning, and PostgreSQL text refuses them.
        text = (obj.data or "").replace("\x00", "")
        parsed = ical.parse_object(text, start, end)
        href = canonical_href(obj.href)
        row = rows.get(href)
        if row is None:
            row = RemoteEvent(doctor_id=doctor_id, href=href)
            db.session.add(row)
            rows[href] = row
        else:
            touched.update(row.uids or [])
            row.href = href
        kept = []
        for uid in parsed.uids:
            other = owners.get(uid)
            if other is not None and other != href:
                log_line(doctor_id, "warning", _t(
                    "Événement « %(uid)s » (ressource « %(res)s ») : UID déjà utilisé par un "
                    "autre événement du calendrier : ignoré.", uid=uid[:80],
                    res=_resource(href)), uid)
                report.skipped += 1
                continue
            owners[uid] = href
            kept.append(uid)
        row.uids = kept
        row.etag = obj.etag
        row.data = text if len(text) <= MAX_STORED_TEXT else None
        row.reexpand = parsed.recurring or bool(parsed.latest_end and parsed.latest_end > end)
        row.expanded_until = end
        row.updated_at = now
        for note in parsed.notes:
            message = note.message
            if note.uid is None:  # name it by its resource in the calendar
                message = _t("%(msg)s (ressource « %(res)s »)", msg=message,
                             res=_resource(href))
            log_line(doctor_id, note.level, message, note.uid)
            if note.level == "error":
                report.skipped += 1
        touched.update(kept)
        for spec in parsed.specs:
            if spec.uid in kept:
                desired.setdefault(spec.key, spec)
                where[spec.uid] = (href, obj.etag)

    # Recurring events whose horizon moved on: expanded again (quietly).
    for row in rows.values():
        if row.href in changed_hrefs or not row.reexpand or row.data is None:
            continue
        if row.expanded_until and row.expanded_until > end - REEXPAND_EVERY:
            continue
        parsed = ical.parse_object(row.data, start, end)
        row.expanded_until = end
        touched.update(row.uids or [])
        for spec in parsed.specs:
            if spec.uid in (row.uids or []):
                desired.setdefault(spec.key, spec)
                where[spec.uid] = (row.href, row.etag)

    if touched:
        _reconcile(account, touched, desired, where, now, report)
    db.session.flush()


def _rows_by_href(query) -> dict[str, RemoteEvent]:
    """The stored objects by canonical href. One resource stored under two spellings
    (``%40`` and ``@``, before hrefs were normalised) is made one row again."""
    rows: dict[str, RemoteEvent] = {}
    merged = False
    for row in db.session.scalars(query):
        key = canonical_href(row.href)
        other = rows.get(key)
        if other is None:
            rows[key] = row
            continue
        keep, drop = (other, row) if other.href == key else (row, other)
        keep.uids = list(dict.fromkeys((keep.uids or []) + (drop.uids or [])))
        db.session.delete(drop)
        rows[key] = keep
        merged = True
    if merged:
        db.session.flush()  # the duplicates gone before any row takes their spelling
    return rows


def _uids_of_slots_at(doctor_id: int, hrefs: set[str]) -> set[str]:
    from agenda.slots.models import Slot

    spelled = sorted({canonical_href(h) for h in hrefs} | set(hrefs))
    found: set[str] = set()
    for i in range(0, len(spelled), 500):
        found.update(db.session.scalars(select(Slot.caldav_uid).where(
            Slot.doctor_id == doctor_id, Slot.caldav_href.in_(spelled[i:i + 500]),
            Slot.caldav_uid.is_not(None), Slot.status.notin_(GONE))))
    return found


def _resource(href: str) -> str:
    return href.rstrip("/").rsplit("/", 1)[-1][:100]


def _slot_input(spec: ical.SlotSpec, doctor=None):
    from agenda.slots.services import SlotInput

    return SlotInput(kind=spec.kind, start=spec.start, end=spec.end, mode=spec.mode,
                     capacity=spec.capacity if spec.kind == "floating" else 1,
                     place_id=place_for_location(doctor, spec.location) if doctor else None)


def place_for_location(doctor, location: str) -> int | None:
    """The doctor's place an event's LOCATION names (its label, commune or address), for a
    doctor who practises at several places; None: the main place."""
    from agenda.territory.services import fold, places_of

    if not (location or "").strip():
        return None
    places = places_of(doctor.id)
    if len(places) < 2:
        return None
    wanted = fold(location)
    for place in sorted(places, key=lambda p: p.is_main):  # secondary places first
        names = [place.label, place.address, place.commune.name if place.commune else ""]
        if any(n and fold(n) in wanted for n in names if len(fold(n)) >= 3):
            return place.id
    return None


def _when(dt: datetime) -> str:
    from agenda.timeutil import to_local

    return to_local(dt).strftime("%d/%m/%Y %H:%M")


def _reconcile(account: CalendarAccount, uids: set[str],
               desired: dict[tuple[str, str | None], ical.SlotSpec],
               where: dict[str, tuple[str, str | None]], now: datetime,
               report: SyncReport) -> None:
    from agenda.slots import services as slots
    from agenda.slots.models import Slot
    from agenda.territory.models import Doctor

    doctor = db.session.get(Doctor, account.doctor_id)
    existing: dict[tuple[str, str | None], Slot] = {}
    uid_list = sorted(uids)
    for i in range(0, len(uid_list), 500):
        for slot in db.session.scalars(select(Slot).where(
                Slot.doctor_id == doctor.id, Slot.caldav_uid.in_(uid_list[i:i + 500]),
                Slot.status.notin_(GONE))):
            existing.setdefault((slot.caldav_uid, slot.recurrence_id), slot)

    for key in sorted(set(existing) | set(desired), key=lambda k: (k[0], k[1] or "")):
        spec = desired.get(key)
        slot = existing.get(key)
        uid = key[0]
        if spec is not None and spec.start < now and slot is None:
            continue  # an event of the past: nothing to publish
        if slot is not None and slot.start < now:
            continue  # the past is not rewritten (nor a booking of the past questioned)
        href, etag = where.get(uid, (None, None))
        savepoint = db.session.begin_nested()
        try:
            if slot is None:
                created = slots.create_slot(doctor, _slot_input(spec, doctor), source="caldav",
                                            caldav_uid=uid, recurrence_id=spec.recurrence_id,
                                            caldav_href=href, caldav_etag=etag,
                                            keep_out_of_charter=True)
                for warning in getattr(created, "warnings", None) or []:
                    log_line(doctor.id, "warning", _t(
                        "Événement « %(uid)s » du %(when)s : %(msg)s", uid=uid[:80],
                        when=_when(spec.start), msg=warning), uid)
                report.created += 1
            elif spec is None:
                if _taken(slot):
                    _conflict(doctor, slot, _t(
                        "L'événement du %(when)s a été supprimé du calendrier alors que le "
                        "créneau est réservé : la réservation est maintenue.",
                        when=_when(slot.start)), report)
                else:
                    slots.withdraw_slot(slot, _t("Événement supprimé du calendrier"))
                    report.withdrawn += 1
            elif _differs(slot, spec):
                if _taken(slot):
                    _conflict(doctor, slot, _t(
                        "L'événement du %(when)s a été modifié dans le calendrier (désormais "
                        "%(new)s) alors que le créneau est réservé : la réservation est "
                        "maintenue à l'heure initiale.", when=_when(slot.start),
                        new=_when(spec.start)), report)
                else:
                    slots.update_slot(slot, _slot_input(spec, doctor), keep_out_of_charter=True)
                    report.updated += 1
                    _follow(slot, href, etag)
                    _resolve_conflict(slot)
            else:
                # The event is (again) where the slot is: any conflict is over.
                _follow(slot, href, etag)
                _resolve_conflict(slot)
            savepoint.commit()
        except DomainError as exc:
            savepoint.rollback()
            if getattr(exc, "rule", None) == "slot_held":
                # A call is holding the slot: applied at a next pass, once the hold ends
                # (a booking then keeps it, with a conflict) — never left behind.
                report.retry = True
                continue
            when = _when(spec.start if spec is not None else slot.start)
            log_line(doctor.id, "error", _t(
                "Événement « %(uid)s » du %(when)s non pris en compte : %(msg)s",
                uid=uid[:80], when=when, msg=exc.message), uid)
            report.skipped += 1


def _taken(slot) -> bool:
    return slot.status in TAKEN or (slot.booked_count or 0) > 0


def _differs(slot, spec: ical.SlotSpec) -> bool:
    return (slot.start != spec.start or slot.end != spec.end or slot.kind != spec.kind
            or slot.mode != spec.mode
            or (spec.kind == "floating" and slot.capacity != spec.capacity))


def _resolve_conflict(slot) -> None:
    from agenda.alerts import Alert

    if not slot.conflict:
        return
    slot.conflict = None
    db.session.execute(update(Alert).where(
        Alert.kind == "event_conflict", Alert.object_type == "slot", Alert.object_id == slot.id,
        Alert.resolved_at.is_(None)).values(resolved_at=clock.now()))


def _follow(slot, href: str | None, etag: str | None) -> None:
    if href and canonical_href(slot.caldav_href or "") != href:
        slot.caldav_href = href
    if etag and slot.caldav_etag != etag:
        slot.caldav_etag = etag


def _conflict(doctor, slot, message: str, report: SyncReport) -> None:
    from agenda.alerts import raise_alert

    message = message[:300]
    report.conflicts += 1
    if slot.conflict == message:
        return
    slot.conflict = message
    log_line(doctor.id, "warning", message, slot.caldav_uid)
    raise_alert("event_conflict", f"{doctor.display_name} : {message}"[:500],
                cpts_id=slot.cpts_id, user_id=doctor.user_id, doctor_id=doctor.id,
                object_type="slot", object_id=slot.id)


def forget_account(account: CalendarAccount) -> None:
    """The doctor changed calendar: forget what was read (slots stay as they are)."""
    db.session.execute(delete(RemoteEvent).where(RemoteEvent.doctor_id == account.doctor_id))
    account.sync_token = None
    account.etags = {}
