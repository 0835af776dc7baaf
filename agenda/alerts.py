"""Alerts: something a person must act on (expired request, sync error, lost event…)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from agenda import clock
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


def raise_alert(kind: str, message: str, **fields) -> Alert:
    alert = Alert(kind=kind, message=message, created_at=clock.now(), **fields)
    db.session.add(alert)
    return alert
