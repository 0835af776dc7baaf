"""Alerts: something a person must act on (expired request, sync error, lost event…)."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from agenda import clock
from agenda.errors import Conflict
from agenda.extensions import db
from agenda.types import UTCDateTime


class AlertKind(str, enum.Enum):
    """What an alert is about (named in French by :mod:`agenda.labels`)."""

    REQUEST_EXPIRED = "request_expired"
    BOOKING_CANCELLED = "booking_cancelled"
    SYNC_ERROR = "sync_error"
    EVENT_CONFLICT = "event_conflict"
    SAS_ERROR = "sas_error"


class Alert(db.Model):
    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_open", "resolved_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # An AlertKind value.
    kind: Mapped[str] = mapped_column(String(30))
    cpts_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    # Who must act: a user, an organisation (bookers), and/or the coordinator (always sees).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    doctor_id: Mapped[int | None] = mapped_column(ForeignKey("doctors.id"))
    object_type: Mapped[str | None] = mapped_column(String(30))
    object_id: Mapped[int | None] = mapped_column()
    message: Mapped[str] = mapped_column(String(500))  # French, no patient identity
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Handling: somebody said "I am on it" (acknowledged), then "done" (resolved).
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    @property
    def state(self) -> str:
        """``open``, ``acknowledged`` or ``resolved``."""
        if self.resolved_at is not None:
            return "resolved"
        return "acknowledged" if self.acknowledged_at is not None else "open"


def raise_alert(kind: str, message: str, **fields) -> Alert:
    alert = Alert(kind=kind, message=message, created_at=clock.now(), **fields)
    db.session.add(alert)
    return alert


def acknowledge(alert: Alert, user_id: int) -> Alert:
    """Somebody takes the alert in hand (once; a resolved alert stays resolved)."""
    if alert.resolved_at is not None:
        raise Conflict(_("Cette alerte est déjà résolue."))
    if alert.acknowledged_at is None:
        alert.acknowledged_at = clock.now()
        alert.acknowledged_by_id = user_id
    return alert


def resolve(alert: Alert, user_id: int) -> Alert:
    """The alert is handled (acknowledged at the same time if nobody had)."""
    if alert.resolved_at is not None:
        raise Conflict(_("Cette alerte est déjà résolue."))
    now = clock.now()
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by_id = now, user_id
    alert.resolved_at, alert.resolved_by_id = now, user_id
    return alert
