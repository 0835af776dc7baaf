"""A doctor's CalDAV connection and sync state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from agenda import clock
from agenda.extensions import db
from agenda.types import UTCDateTime


class CalendarAccount(db.Model):
    __tablename__ = "calendar_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    doctor_id: Mapped[int] = mapped_column(ForeignKey("doctors.id"), unique=True)
    url: Mapped[str | None] = mapped_column(String(500))
    username: Mapped[str | None] = mapped_column(String(200))
    password_encrypted: Mapped[str | None] = mapped_column(Text)  # Fernet, key from config
    calendar_url: Mapped[str | None] = mapped_column(String(500))  # the SNP calendar
    calendar_name: Mapped[str | None] = mapped_column(String(200))
    # The doctor's main calendar(s), read for free/busy only (agenda.sync.freebusy).
    busy_calendar_urls: Mapped[list] = mapped_column(JSON, default=list)
    # What the server answered to: "free-busy-query" (RFC 4791 7.10) or "calendar-query"
    # (the busy-only fallback); None until the first read.
    freebusy_method: Mapped[str | None] = mapped_column(String(20))
    freebusy_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The time range that read covered (a page's short cache reuses it).
    freebusy_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    freebusy_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    freebusy_error: Mapped[str | None] = mapped_column(Text)
    sync_token: Mapped[str | None] = mapped_column(Text)
    etags: Mapped[dict] = mapped_column(JSON, default=dict)  # href -> etag (fallback mode)
    # ok ("à jour") / pending ("en attente") / error
    state: Mapped[str] = mapped_column(String(10), default="pending")
    last_error: Mapped[str | None] = mapped_column(Text)
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # SHA-256 of the secret feed token (the token itself is shown once, never stored).
    ics_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    doctor = relationship("Doctor")


class SyncLogEntry(db.Model):
    """A line of the sync log: an event skipped or handled, with its reason."""

    __tablename__ = "sync_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    doctor_id: Mapped[int | None] = mapped_column(ForeignKey("doctors.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    level: Mapped[str] = mapped_column(String(10), default="info")
    event_uid: Mapped[str | None] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text)


class RemoteEvent(db.Model):
    """One calendar object (.ics resource) of a doctor's SNP calendar, as last read.

    Keeps the UIDs the object holds (a deleted href tells which slots to withdraw), its
    ETag (fallback sync, ``If-Match`` for the write-back) and its text (re-expansion of
    recurring events as the horizon moves, re-applying a booking after a 412).
    """

    __tablename__ = "sync_remote_events"
    __table_args__ = (UniqueConstraint("doctor_id", "href", name="uq_remote_event_href"),
                      Index("ix_remote_events_reexpand", "reexpand", "expanded_until"))

    id: Mapped[int] = mapped_column(primary_key=True)
    doctor_id: Mapped[int] = mapped_column(ForeignKey("doctors.id"), index=True)
    href: Mapped[str] = mapped_column(String(500))
    uids: Mapped[list] = mapped_column(JSON, default=list)
    etag: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[str | None] = mapped_column(Text)
    # Recurring, or reaching past the horizon: expanded again as the horizon moves.
    reexpand: Mapped[bool] = mapped_column(Boolean, default=False)
    expanded_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class BusyPeriod(db.Model):
    """A busy period of a doctor's main calendar: a start, an end (UTC) and when it was
    read — never a title, a description, a place or an event identifier."""

    __tablename__ = "sync_busy_periods"
    __table_args__ = (Index("ix_busy_periods_doctor_start", "doctor_id", "start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    doctor_id: Mapped[int] = mapped_column(ForeignKey("doctors.id"))
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
