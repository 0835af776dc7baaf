"""The outbox: what must be told to the outside world, written in the same transaction
as the change that causes it, drained later by the worker (agenda.sync.worker).

Kinds: ``caldav.booking`` (write a booking back to the doctor's calendar),
``caldav.floating`` (create the event of an accepted floating request), ``mail``
(a notification), ``sas.appointment`` (INT_R03 to the national platform), ``sms`` (a
text message to a consenting patient: agenda.booking.reminders; its key, written in the
payload, is sent to the gateway as an idempotency key).
A booking never waits on a remote server and nothing is lost while one is down.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from agenda import clock
from agenda.extensions import db
from agenda.types import UTCDateTime


class OutboxItem(db.Model):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    doctor_id: Mapped[int | None] = mapped_column(ForeignKey("doctors.id"), index=True)
    # Opaque to the writer; never holds a patient's identity.
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending/done/failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def enqueue(kind: str, payload: dict, *, doctor_id: int | None = None) -> OutboxItem:
    """Add an outbox row to the current session (committed with the caller's change)."""
    item = OutboxItem(kind=kind, payload=payload, doctor_id=doctor_id,
                      next_attempt_at=clock.now())
    db.session.add(item)
    return item


# --- handlers and periodic tasks, run by the worker (agenda.sync.worker) ----------------

HANDLERS: dict[str, Callable[[OutboxItem], None]] = {}
PERIODIC: list[Callable[[], None]] = []

# Modules that register handlers or periodic tasks; the worker imports them all.
HANDLER_MODULES = ("agenda.sync.writer", "agenda.mail", "agenda.booking.tasks",
                   "agenda.sas.client", "agenda.booking.reminders")


class RetryLater(Exception):
    """Raised by a handler for a passing failure (server down, 412 race…): retried with
    exponential backoff; the message is shown to the doctor and the coordinator."""


def handler(kind: str):
    """Register the function that delivers outbox rows of ``kind``.

    It must be idempotent (a row may be delivered again after a crash) and raise
    :class:`RetryLater` (or any exception) to be retried.
    """

    def decorator(func):
        HANDLERS[kind] = func
        return func

    return decorator


def periodic(func):
    """Register a task the worker runs at every pass (timers: holds, request cascade…)."""
    PERIODIC.append(func)
    return func


def load_handlers() -> None:
    import importlib

    for name in HANDLER_MODULES:
        importlib.import_module(name)
