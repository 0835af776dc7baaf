"""The worker: drains the outbox (every kind, through ``agenda.outbox.HANDLERS``), runs the
periodic tasks and the inbound CalDAV sync of every connected doctor.

One pass (:func:`run_pass`):

1. the periodic tasks (timers of the other packages), each in its own transaction;
2. the doctors: each is **claimed with a lease** (a conditional UPDATE checked by its row
   count; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two workers never handle the same
   doctor at once; for a claimed doctor, its due outbox rows are delivered, then its
   calendar is read; several doctors run in parallel on a bounded thread pool;
3. outbox rows of nobody's calendar (mail, national platform…), each claimed by lease.

A failed delivery is retried with exponential backoff (30 s, 1 min, 2 min… up to one
hour); after :data:`MAX_ATTEMPTS` it is marked failed and an alert is raised.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from agenda import clock
from agenda import outbox
from agenda.extensions import db
from agenda.ops.health import record_heartbeat
from agenda.outbox import OutboxItem, RetryLater
from agenda.sync.inbound import serial_writes
from agenda.sync.models import CalendarAccount
from agenda.sync.text import _t

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600
MAX_ATTEMPTS = 20
BATCH = 200


def worker_id() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def backoff(attempts: int) -> timedelta:
    """Delay before attempt ``attempts + 1`` (attempts >= 1)."""
    seconds = BACKOFF_BASE_SECONDS * (2 ** max(0, attempts - 1))
    return timedelta(seconds=min(seconds, BACKOFF_MAX_SECONDS))


@dataclass
class PassReport:
    doctors: int = 0
    events_read: int = 0
    events_written: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    quiet: list[int] = field(default_factory=list)  # accounts synced with nothing to write

    def add(self, other: PassReport) -> None:
        self.doctors += other.doctors
        self.events_read += other.events_read
        self.events_written += other.events_written
        self.delivered += other.delivered
        self.retried += other.retried
        self.failed += other.failed
        self.errors.extend(other.errors)
        self.quiet.extend(other.quiet)


# --- claims ----------------------------------------------------------------------------------


def _is_pg() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def claim_accounts(owner: str, *, limit: int | None = None,
                   doctor_ids: list[int] | None = None,
                   exclude: set[int] | None = None) -> list[int]:
    """Claim the connected doctors no other worker holds; returns account ids.

    Set-based: the candidates are read (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), then
    leased by one conditional UPDATE; what this worker really got is read back by its
    stamp, so a doctor taken meanwhile by another worker is not processed twice.
    """
    now = clock.now()
    free = or_(CalendarAccount.lease_until.is_(None), CalendarAccount.lease_until < now)
    query = select(CalendarAccount.id).where(CalendarAccount.calendar_url.is_not(None), free)
    if doctor_ids is not None:
        query = query.where(CalendarAccount.doctor_id.in_(doctor_ids))
    if exclude:
        query = query.where(CalendarAccount.id.notin_(sorted(exclude)))
    query = query.order_by(CalendarAccount.last_sync_at.is_not(None),
                           CalendarAccount.last_sync_at, CalendarAccount.id)
    if limit:
        query = query.limit(limit)
    if _is_pg():
        query = query.with_for_update(skip_locked=True)
    candidates = list(db.session.scalars(query))
    if not candidates:
        db.session.commit()
        return []
    stamp = now + LEASE
    db.session.execute(update(CalendarAccount).where(CalendarAccount.id.in_(candidates), free)
                       .values(lease_owner=owner, lease_until=stamp))
    claimed = list(db.session.scalars(select(CalendarAccount.id).where(
        CalendarAccount.id.in_(candidates), CalendarAccount.lease_owner == owner,
        CalendarAccount.lease_until == stamp).order_by(CalendarAccount.id)))
    db.session.commit()
    order = {account_id: i for i, account_id in enumerate(candidates)}
    return sorted(claimed, key=order.__getitem__)


def finish_quiet(account_ids: list[int], owner: str) -> None:
    """Doctors whose calendar had nothing new: stamped and released in one UPDATE per
    chunk (set-based), not one transaction each."""
    now = clock.now()
    for i in range(0, len(account_ids), 500):
        db.session.execute(update(CalendarAccount).where(
            CalendarAccount.id.in_(account_ids[i:i + 500]),
            CalendarAccount.lease_owner == owner)
            .values(last_sync_at=now, lease_owner=None, lease_until=None))
    db.session.commit()


def release_account(account_id: int, owner: str) -> None:
    db.session.execute(update(CalendarAccount).where(
        CalendarAccount.id == account_id, CalendarAccount.lease_owner == owner)
        .values(lease_owner=None, lease_until=None))
    db.session.commit()


def _due(query):
    now = clock.now()
    return query.where(OutboxItem.status == "pending", OutboxItem.next_attempt_at <= now,
                       or_(OutboxItem.lease_until.is_(None), OutboxItem.lease_until < now))


def claim_items(owner: str, *, doctor_id: int | None = None, orphans: bool = False,
                limit: int = BATCH) -> list[int]:
    """Claim due outbox rows: those of one doctor, or those no calendar worker takes
    (no doctor, or a doctor without a connected calendar)."""
    now = clock.now()
    query = _due(select(OutboxItem.id))
    if doctor_id is not None:
        query = query.where(OutboxItem.doctor_id == doctor_id)
    elif orphans:
        connected = select(CalendarAccount.doctor_id).where(
            CalendarAccount.calendar_url.is_not(None))
        query = query.where(or_(OutboxItem.doctor_id.is_(None),
                                OutboxItem.doctor_id.notin_(connected)))
    query = query.order_by(OutboxItem.id).limit(limit)
    if _is_pg():
        query = query.with_for_update(skip_locked=True)
    claimed = []
    for item_id in list(db.session.scalars(query)):
        result = db.session.execute(
            _due(update(OutboxItem).where(OutboxItem.id == item_id))
            .values(lease_owner=owner, lease_until=now + LEASE))
        if result.rowcount == 1:
            claimed.append(item_id)
    db.session.commit()
    return claimed


# --- delivery --------------------------------------------------------------------------------


def deliver(item_id: int, owner: str) -> str:
    """Deliver one claimed outbox row: "done", "retry" or "failed"."""
    item = db.session.get(OutboxItem, item_id)
    if item is None or item.status != "pending" or item.lease_owner != owner:
        return "skipped"
    func = outbox.HANDLERS.get(item.kind)
    error: str | None = None
    try:
        if func is None:
            raise RetryLater(_t("Aucun traitement pour « %(kind)s ».", kind=item.kind))
        func(item)
        with serial_writes():
            item = db.session.get(OutboxItem, item_id)
            item.status = "done"
            item.done_at = clock.now()
            item.last_error = None
            item.lease_owner = item.lease_until = None
            db.session.commit()
        return "done"
    except RetryLater as exc:
        error = str(exc) or _t("Nouvel essai plus tard.")
    except Exception as exc:  # a handler bug must not stop the worker: retried, logged
        log.exception("outbox %s (%s) failed", item_id, getattr(item, "kind", "?"))
        error = _t("Erreur inattendue (%(kind)s) : l'équipe technique est prévenue.",
                   kind=type(exc).__name__)
    db.session.rollback()
    with serial_writes():
        return _record_failure(item_id, error)


def _record_failure(item_id: int, error: str) -> str:
    item = db.session.get(OutboxItem, item_id)
    item.attempts = (item.attempts or 0) + 1
    item.last_error = error[:1000]
    item.lease_owner = item.lease_until = None
    if item.attempts >= MAX_ATTEMPTS:
        item.status = "failed"
        _alert_failed(item)
        outcome = "failed"
    else:
        item.next_attempt_at = clock.now() + backoff(item.attempts)
        outcome = "retry"
    db.session.commit()
    return outcome


def _alert_failed(item: OutboxItem) -> None:
    from agenda.alerts import raise_alert
    from agenda.territory.models import Doctor

    doctor = db.session.get(Doctor, item.doctor_id) if item.doctor_id else None
    raise_alert("sync_error", _t("Envoi abandonné après %(n)d essais (%(kind)s) : %(msg)s",
                                 n=item.attempts, kind=item.kind,
                                 msg=item.last_error or "")[:500],
                cpts_id=doctor.cpts_id if doctor else None,
                user_id=doctor.user_id if doctor else None,
                doctor_id=doctor.id if doctor else None, object_type="outbox",
                object_id=item.id)


def drain_items(item_ids: list[int], owner: str, report: PassReport) -> None:
    for item_id in item_ids:
        outcome = deliver(item_id, owner)
        if outcome == "done":
            report.delivered += 1
            report.events_written += 1
        elif outcome == "retry":
            report.retried += 1
        elif outcome == "failed":
            report.failed += 1


def drain_outbox(owner: str | None = None, *, doctor_id: int | None = None) -> PassReport:
    """Deliver every due row (of one doctor, or all): used by ``sync run`` and tests."""
    _load_handlers()
    owner = owner or worker_id()
    report = PassReport()
    while True:
        ids = claim_items(owner, doctor_id=doctor_id)
        if not ids:
            return report
        drain_items(ids, owner, report)


# --- one doctor ------------------------------------------------------------------------------


def process_account(account_id: int, owner: str, *, inbound: bool = True,
                    prefetched=None) -> PassReport:
    """Outbox then inbound sync of one claimed doctor; releases the claim.
    ``prefetched``: the changes the quick check already read (used, not read again,
    unless this pass wrote to the calendar first)."""
    from agenda.sync.inbound import mark_error, pending_outbox, sync_account

    report = PassReport(doctors=1)
    try:
        account = db.session.get(CalendarAccount, account_id)
        if account is None:
            return report
        doctor_id = account.doctor_id
        # One cheap look first: most doctors have nothing waiting.
        seen_items = db.session.scalar(select(OutboxItem.id).where(
            OutboxItem.doctor_id == doctor_id, OutboxItem.status == "pending").limit(1)) \
            is not None
        while seen_items:
            ids = claim_items(owner, doctor_id=doctor_id)
            if not ids:
                break
            drain_items(ids, owner, report)
            if report.retried:
                break  # the server is unwell: the rest waits for the next pass
        account = db.session.get(CalendarAccount, account_id)
        # A calendar write that failed just now: the calendar is unwell, its state says
        # why, and reading it waits for the next pass. (A mail that failed is not the
        # calendar's business.)
        calendar_error = db.session.scalar(select(OutboxItem.last_error).where(
            OutboxItem.doctor_id == doctor_id, OutboxItem.status == "pending",
            OutboxItem.kind.like("caldav.%"), OutboxItem.attempts > 0,
            OutboxItem.last_error.is_not(None)).order_by(OutboxItem.id.desc()).limit(1)) \
            if report.retried else None
        if calendar_error:
            mark_error(account, calendar_error)
        elif inbound:
            still_pending = db.session.scalar(select(OutboxItem.id).where(
                OutboxItem.doctor_id == doctor_id, OutboxItem.status == "pending",
                OutboxItem.kind.like("caldav.%")).limit(1)) is not None \
                if (report.delivered or seen_items) else False
            result = sync_account(account, has_pending=still_pending, release=owner,
                                  prefetched=None if report.delivered else prefetched)
            if result.quiet:
                report.quiet.append(account_id)
            report.events_read += result.read
            if result.error:
                report.errors.append(result.error)
        if inbound and not calendar_error:
            from agenda.sync.freebusy import refresh_account

            # The main calendar's busy times (one REPORT, only with fixed slots ahead).
            error = refresh_account(db.session.get(CalendarAccount, account_id))
            if error:
                report.errors.append(error)
        if report.delivered and not report.retried:
            account = db.session.get(CalendarAccount, account_id)
            if account.state != "error":
                account.state = "pending" if pending_outbox(doctor_id) else "ok"
                db.session.commit()
    except Exception:  # one doctor's bug must not stop the others
        db.session.rollback()
        log.exception("sync of account %s failed", account_id)
        report.errors.append(_t("Erreur inattendue"))
    finally:
        held = None if report.quiet else db.session.scalar(
            select(CalendarAccount.lease_owner).where(CalendarAccount.id == account_id))
        if held == owner:
            with serial_writes():
                release_account(account_id, owner)
    return report


# --- periodic tasks --------------------------------------------------------------------------


def _load_handlers() -> None:
    import importlib

    for name in outbox.HANDLER_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # A package not written yet (or not installed): its kinds wait in the outbox.
            if exc.name and name.startswith(exc.name):
                log.debug("handler module %s missing", name)
            else:
                raise


def run_periodic() -> list[str]:
    errors = []
    for task in list(outbox.PERIODIC):
        try:
            task()
            db.session.commit()
        except Exception as exc:  # a timer's bug must not stop the worker
            db.session.rollback()
            log.exception("periodic task %s failed", getattr(task, "__name__", task))
            errors.append(f"{getattr(task, '__name__', task)}: {type(exc).__name__}")
    return errors


# --- a pass ----------------------------------------------------------------------------------


def _prepare_charters() -> None:
    """The slot rules create a CPTS's charter row on first use: done here, once, before
    the threads start, so that two threads never race to create it."""
    from agenda.slots.services import charter_for
    from agenda.territory.models import Place

    cpts_ids = db.session.scalars(select(Place.cpts_id).join(
        CalendarAccount, CalendarAccount.doctor_id == Place.doctor_id).where(
        CalendarAccount.calendar_url.is_not(None)).distinct()).all()
    for cpts_id in cpts_ids:
        try:
            charter_for(cpts_id)
            db.session.commit()
        except IntegrityError:  # another worker created it at the same moment
            db.session.rollback()


@dataclass(frozen=True)
class _Snapshot:
    url: str
    username: str | None
    password_encrypted: str | None
    calendar_url: str
    sync_token: str


def _quick_candidates(account_ids: list[int]) -> dict[int, _Snapshot]:
    """Claimed doctors that may be checked with one REPORT and no database work: in a
    settled state, nothing waiting in the outbox, no main calendar read for free/busy, no
    recurring event due for re-expansion. Three set-based queries for the whole pass."""
    from agenda.sync.inbound import REEXPAND_EVERY, horizon
    from agenda.sync.models import RemoteEvent

    if not account_ids:
        return {}
    out: dict[int, _Snapshot] = {}
    _start, end = horizon()
    for i in range(0, len(account_ids), 500):
        chunk = account_ids[i:i + 500]
        rows = db.session.execute(select(
            CalendarAccount.id, CalendarAccount.doctor_id, CalendarAccount.url,
            CalendarAccount.username, CalendarAccount.password_encrypted,
            CalendarAccount.calendar_url, CalendarAccount.sync_token,
            CalendarAccount.busy_calendar_urls).where(
            CalendarAccount.id.in_(chunk), CalendarAccount.state == "ok",
            CalendarAccount.last_error.is_(None), CalendarAccount.last_sync_at.is_not(None),
            CalendarAccount.sync_token.is_not(None))).all()
        doctor_ids = [r.doctor_id for r in rows]
        busy_doctors = set(db.session.scalars(select(OutboxItem.doctor_id).where(
            OutboxItem.doctor_id.in_(doctor_ids), OutboxItem.status == "pending")))
        busy_doctors |= set(db.session.scalars(select(RemoteEvent.doctor_id).where(
            RemoteEvent.doctor_id.in_(doctor_ids), RemoteEvent.reexpand.is_(True),
            or_(RemoteEvent.expanded_until.is_(None),
                RemoteEvent.expanded_until <= end - REEXPAND_EVERY))))
        for r in rows:
            if r.doctor_id in busy_doctors or r.busy_calendar_urls:
                continue
            out[r.id] = _Snapshot(r.url or r.calendar_url, r.username, r.password_encrypted,
                                  r.calendar_url, r.sync_token)
    db.session.commit()
    return out


def _quick_look(snapshot: _Snapshot, config: dict):
    """One sync-collection REPORT: ``(unchanged?, changes)``; the changes found go on to
    the full path, which does not ask the server again (one REPORT per change)."""
    from agenda.sync.adapter import AdapterError, adapter_for
    from agenda.sync.crypto import decrypt

    adapter = adapter_for(snapshot.url, snapshot.username,
                          decrypt(snapshot.password_encrypted, config),
                          allowed_hosts=str(config.get("CALDAV_ALLOWED_HOSTS") or ""),
                          trusted=(snapshot.calendar_url,))
    try:
        changes = adapter.sync(snapshot.calendar_url, snapshot.sync_token)
    except AdapterError:
        return False, None  # the full path records the error
    finally:
        adapter.close()
    quiet = (not changes.changed and not changes.deleted and not changes.unreadable
             and changes.token == snapshot.sync_token)
    return quiet, changes


def run_pass(app: Flask, *, threads: int | None = None, owner: str | None = None,
             inbound: bool = True, periodic: bool = True,
             progress: Callable[[PassReport], None] | None = None,
             on_start: Callable[[int], None] | None = None) -> PassReport:
    """One pass of the worker over every doctor and the outbox (see the module doc)."""
    _load_handlers()
    owner = owner or worker_id()
    threads = max(1, int(threads or app.config.get("SYNC_THREADS", 4)))
    total = PassReport()
    if periodic:
        total.errors.extend(run_periodic())
    if inbound:
        _prepare_charters()
    if on_start:
        on_start(db.session.scalar(select(func.count(CalendarAccount.id)).where(
            CalendarAccount.calendar_url.is_not(None))) or 0)
    lock = threading.Lock()
    config = dict(app.config)
    quick: dict[int, _Snapshot] = {}

    def look(account_id: int):
        snapshot = quick.get(account_id)
        return _quick_look(snapshot, config) if snapshot is not None else (False, None)

    def one(account_id: int) -> PassReport:
        quiet, changes = look(account_id)
        if quiet:
            return PassReport(doctors=1, quiet=[account_id])
        return process_account(account_id, owner, inbound=inbound, prefetched=changes)

    def job(account_id: int) -> PassReport:
        quiet, changes = look(account_id)
        if quiet:
            return PassReport(doctors=1, quiet=[account_id])  # no database work at all
        with app.app_context():
            try:
                return process_account(account_id, owner, inbound=inbound,
                                       prefetched=changes)
            finally:
                db.session.remove()

    # Doctors are claimed batch by batch, so that a lease never runs out before its
    # doctor's turn comes, however many doctors there are.
    done: set[int] = set()
    batch_size = max(200, threads * 50)
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sync") \
        if threads > 1 else None
    try:
        while True:
            account_ids = claim_accounts(owner, limit=batch_size, exclude=done)
            if not account_ids:
                break
            done.update(account_ids)
            quick = _quick_candidates(account_ids) if inbound else {}
            quiet_before = len(total.quiet)
            if pool is None or len(account_ids) <= 1:
                results = (one(a) for a in account_ids)
            else:
                results = (f.result() for f in as_completed(
                    [pool.submit(job, a) for a in account_ids]))
            for result in results:
                with lock:
                    total.add(result)
                if progress:
                    progress(result)
            finish_quiet(total.quiet[quiet_before:], owner)
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    if inbound:
        from agenda.sync.freebusy import refresh_main_only

        # Doctors who publish from the pages but connected their main calendar.
        total.errors.extend(refresh_main_only(owner))
    # Rows nobody's calendar worker takes: mail, national platform, unconnected doctors.
    while True:
        ids = claim_items(owner, orphans=True)
        if not ids:
            break
        before = total.retried
        drain_items(ids, owner, total)
        if total.retried > before and len(ids) < BATCH:
            break
    return total


def run_forever(app: Flask, *, interval: int | None = None, threads: int | None = None,
                stop: threading.Event | None = None,
                echo: Callable[[str], None] | None = None) -> None:
    interval = int(interval or app.config.get("SYNC_INTERVAL_SECONDS", 60))
    stop = stop or threading.Event()
    owner = worker_id()
    while not stop.is_set():
        started = time.monotonic()
        try:
            report = run_pass(app, threads=threads, owner=owner)
            record_heartbeat(owner)  # read by /healthz and /metrics
            if echo and (report.events_read or report.delivered or report.retried
                         or report.errors):
                echo(f"{datetime.now():%H:%M:%S} {report.doctors} médecins, "
                     f"{report.events_read} événements lus, {report.events_written} écrits, "
                     f"{report.retried} en attente, {len(report.errors)} en erreur")
        except Exception:  # the loop survives a database hiccup
            db.session.rollback()
            log.exception("worker pass failed")
        stop.wait(max(0.5, interval - (time.monotonic() - started)))
