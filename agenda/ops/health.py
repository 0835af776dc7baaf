"""Health of a node and of the service: database, sync workers, outbox backlog.

:func:`read_state` reads everything in a few set-based queries on one connection;
``/healthz`` judges it (:func:`check`) and ``/metrics`` exports it as gauges. The database
is read on a helper thread with a short timeout, so that a load balancer's probe gets an
answer in bounded time even when the database hangs (at most one such thread per process
and database: a probe arriving while another is still waiting shares its result).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, insert, select, text, update
from sqlalchemy.engine import Connection, Engine

from agenda import clock
from agenda.extensions import db
from agenda.ops.models import WorkerHeartbeat

log = logging.getLogger(__name__)

#: Heartbeats of workers gone for this long are deleted (each start makes a new row).
HEARTBEAT_RETENTION = timedelta(days=7)


# --- the worker's side -----------------------------------------------------------------------


def record_heartbeat(worker_id: str) -> None:
    """Stamp this worker's row (called by ``sync worker`` after every pass)."""
    now = clock.now()
    table = WorkerHeartbeat.__table__
    done = db.session.execute(update(table).where(table.c.worker_id == worker_id)
                              .values(seen_at=now)).rowcount
    if not done:
        db.session.execute(delete(table).where(table.c.seen_at < now - HEARTBEAT_RETENTION))
        db.session.execute(insert(table).values(
            worker_id=worker_id[:64], host=socket.gethostname()[:64], pid=os.getpid(),
            started_at=now, seen_at=now))
    db.session.commit()


# --- reading the state -----------------------------------------------------------------------


@dataclass
class State:
    """What the database says about the service; ages in seconds (None: nothing there)."""

    heartbeat_age: float | None = None
    workers_recent: int = 0
    outbox_pending: dict[str, int] = field(default_factory=dict)  # by kind
    outbox_failed: int = 0
    oldest_pending_age: float | None = None
    # Pending rows whose time has come (not waiting for a retry), and how late the most
    # overdue one is: the worker is not keeping up when this grows.
    outbox_due: int = 0
    oldest_due_delay: float | None = None
    accounts: dict[str, int] = field(default_factory=dict)  # connected calendars by state

    @property
    def pending_total(self) -> int:
        return sum(self.outbox_pending.values())


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else max(0.0, (now - then).total_seconds())


def read_state(conn: Connection, *, recent: timedelta) -> State:
    from agenda.outbox import OutboxItem
    from agenda.sync.models import CalendarAccount

    now = clock.now()
    state = State()
    hb = WorkerHeartbeat.__table__
    newest, recent_count = conn.execute(select(
        func.max(hb.c.seen_at),
        func.coalesce(func.sum(case((hb.c.seen_at >= now - recent, 1), else_=0)), 0))).one()
    state.heartbeat_age = _age(now, newest)
    state.workers_recent = int(recent_count or 0)

    ob = OutboxItem.__table__
    oldest_created = oldest_next = None
    for status, kind, count, created, next_at, due in conn.execute(select(
            ob.c.status, ob.c.kind, func.count(), func.min(ob.c.created_at),
            func.min(ob.c.next_attempt_at),
            func.sum(case((ob.c.next_attempt_at <= now, 1), else_=0)))
            .where(ob.c.status.in_(("pending", "failed"))).group_by(ob.c.status, ob.c.kind)):
        if status == "failed":
            state.outbox_failed += count
            continue
        state.outbox_pending[kind] = count
        state.outbox_due += int(due or 0)
        oldest_created = created if oldest_created is None else min(oldest_created, created)
        oldest_next = next_at if oldest_next is None else min(oldest_next, next_at)
    state.oldest_pending_age = _age(now, oldest_created)
    if oldest_next is not None and oldest_next <= now:
        state.oldest_due_delay = _age(now, oldest_next)

    ca = CalendarAccount.__table__
    state.accounts = {s: n for s, n in conn.execute(
        select(ca.c.state, func.count()).where(ca.c.calendar_url.is_not(None))
        .group_by(ca.c.state))}
    return state


# --- reading it with a timeout ---------------------------------------------------------------


@dataclass
class Probe:
    ok: bool
    state: State | None = None
    latency_ms: float | None = None
    error: str | None = None  # "timeout" / "unreachable": never the driver's text


_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="healthz")
_inflight: dict[int, Future] = {}
_lock = threading.Lock()


def _probe(engine: Engine, recent: timedelta) -> Probe:
    started = time.perf_counter()
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SET LOCAL statement_timeout = 5000"))
            conn.execute(text("SELECT 1"))
            latency = (time.perf_counter() - started) * 1000
            state = read_state(conn, recent=recent)
            conn.rollback()
    except Exception:  # any driver error means "not reachable" to a load balancer
        log.warning("health check: database unreachable", exc_info=True)
        return Probe(ok=False, error="unreachable")
    return Probe(ok=True, state=state, latency_ms=round(latency, 1))


def probe(engine: Engine, limits: Limits) -> Probe:
    """Read the state on a helper thread; gives up after ``limits.timeout`` seconds."""
    key = id(engine)
    with _lock:
        future = _inflight.get(key)
        if future is None or future.done():
            future = _pool.submit(_probe, engine,
                                  timedelta(seconds=limits.max_heartbeat_age))
            _inflight[key] = future
    try:
        return future.result(timeout=limits.timeout)
    except FutureTimeout:
        log.warning("health check: database did not answer within %.1f s", limits.timeout)
        return Probe(ok=False, error="timeout")


# --- judging it ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    max_heartbeat_age: float
    require_worker: bool
    max_outbox_delay: float
    timeout: float

    @classmethod
    def from_config(cls, config) -> Limits:
        return cls(max_heartbeat_age=float(config.get("HEALTH_MAX_HEARTBEAT_AGE_SECONDS", 300)),
                   require_worker=bool(config.get("HEALTH_REQUIRE_WORKER", True)),
                   max_outbox_delay=float(config.get("HEALTH_MAX_OUTBOX_DELAY_SECONDS", 600)),
                   timeout=float(config.get("HEALTH_TIMEOUT_SECONDS", 2)))


def check(engine: Engine, limits: Limits, *, node_only: bool = False) -> tuple[bool, dict]:
    """(healthy, JSON body). ``node_only``: the database check alone (what differs from one
    node to another), for a load balancer that must not drop every node at once."""
    result = probe(engine, limits)
    checks: dict[str, dict] = {}
    if not result.ok:
        checks["database"] = {"ok": False, "error": result.error}
        return False, {"status": "unhealthy", "checks": checks}
    checks["database"] = {"ok": True, "latency_ms": result.latency_ms}
    if not node_only:
        checks["worker"] = _worker_check(result.state, limits)
        checks["outbox"] = _outbox_check(result.state, limits)
    healthy = all(c["ok"] for c in checks.values())
    return healthy, {"status": "ok" if healthy else "unhealthy", "checks": checks}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _worker_check(state: State, limits: Limits) -> dict:
    age = state.heartbeat_age
    body = {"last_seen_seconds": _round(age), "workers_recent": state.workers_recent,
            "max_age_seconds": limits.max_heartbeat_age, "required": limits.require_worker}
    if age is None:
        body.update(ok=not limits.require_worker, error="never_seen")
    elif age > limits.max_heartbeat_age:
        body.update(ok=False, error="stale")
    else:
        body["ok"] = True
    return body


def _outbox_check(state: State, limits: Limits) -> dict:
    delay = state.oldest_due_delay
    body = {"pending": state.pending_total, "due": state.outbox_due,
            "failed": state.outbox_failed,
            "oldest_pending_seconds": _round(state.oldest_pending_age),
            "oldest_due_delay_seconds": _round(delay),
            "max_delay_seconds": limits.max_outbox_delay}
    if delay is not None and delay > limits.max_outbox_delay:
        body.update(ok=False, error="backlog")
    else:
        body["ok"] = True
    return body
