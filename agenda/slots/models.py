"""Charter settings and SNP slots (fixed and floating).

A doctor's *weekly pool* is the set of their slots of one ISO week (Europe/Paris), kept
in the indexed ``week`` column rather than in a table of its own.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String,
                        event)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from agenda import clock
from agenda.extensions import db
from agenda.types import UTCDateTime


class SlotKind(str, enum.Enum):
    FIXED = "fixed"
    FLOATING = "floating"


class SlotStatus(str, enum.Enum):
    OPEN = "open"
    HELD = "held"
    BOOKED = "booked"
    SEEN = "seen"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"
    WITHDRAWN = "withdrawn"
    PAST = "past"


class SlotMode(str, enum.Enum):
    """Consultation mode, with the SAS codes."""

    AMB = "AMB"  # at the practice
    VR = "VR"  # teleconsultation
    HH = "HH"  # home visit


class SlotSource(str, enum.Enum):
    WEB = "web"
    API = "api"
    CALDAV = "caldav"


class CharterSettings(db.Model):
    """The CPTS charter: one row per CPTS, edited by its coordinator."""

    __tablename__ = "charter_settings"

    cpts_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    min_per_week: Mapped[int] = mapped_column(Integer, default=2)
    max_per_week: Mapped[int] = mapped_column(Integer, default=6)
    default_length_min: Mapped[int] = mapped_column(Integer, default=20)
    # Booking horizon in hours from now (e.g. 24 or 48).
    horizon_hours: Mapped[int] = mapped_column(Integer, default=48)
    # "Same day until HH:MM" horizon (e.g. "19:30"); None: ``horizon_hours`` applies.
    # See agenda.slots.services.booking_horizon_end.
    same_day_until: Mapped[str | None] = mapped_column(String(5))
    # Publication hours per ISO weekday (1=Monday): {"1": ["08:00", "20:00"], …}.
    publication_hours: Mapped[dict] = mapped_column(JSON, default=dict)
    saturday_morning: Mapped[bool] = mapped_column(Boolean, default=True)
    # "warn" (default) or "refuse" for French public holidays.
    holidays_policy: Mapped[str] = mapped_column(String(10), default="warn")
    # Outside the publication hours: "refuse" (default) or "warn".
    hours_policy: Mapped[str] = mapped_column(String(10), default="refuse")
    hold_minutes: Mapped[int] = mapped_column(Integer, default=5)
    # Holds: at most this many at once per user and per organisation, and a hold renewed
    # by its holder never lasts longer than hold_max_total_min in all.
    hold_max_per_user: Mapped[int] = mapped_column(Integer, default=2, server_default="2")
    hold_max_per_org: Mapped[int] = mapped_column(Integer, default=20, server_default="20")
    hold_max_total_min: Mapped[int] = mapped_column(Integer, default=15, server_default="15")
    request_t1_min: Mapped[int] = mapped_column(Integer, default=60)
    request_deadline_min: Mapped[int] = mapped_column(Integer, default=120)
    radius_km: Mapped[int] = mapped_column(Integer, default=15)
    retention_days: Mapped[int] = mapped_column(Integer, default=365)
    # Text messages to consenting patients (agenda.booking.reminders): the reminder is sent
    # this many minutes before the consultation; the wordings (None: the default ones)
    # take the placeholders {date} {heure} {adresse} {telephone} {lien}.
    sms_reminder_minutes: Mapped[int] = mapped_column(Integer, default=120,
                                                      server_default="120")
    sms_booking_text: Mapped[str | None] = mapped_column(String(320))
    sms_reminder_text: Mapped[str | None] = mapped_column(String(320))
    # Indemnity formula, interpreted by agenda.coverage (JSON, see its docs).
    indemnity_formula: Mapped[dict] = mapped_column(JSON, default=dict)


class Slot(db.Model):
    __tablename__ = "slots"
    __table_args__ = (
        Index("ix_slots_status_start", "status", "start"),
        Index("ix_slots_doctor_start", "doctor_id", "start"),
        Index("ix_slots_doctor_week", "doctor_id", "week"),
        Index("ix_slots_caldav_uid", "doctor_id", "caldav_uid", "recurrence_id"),
        Index("ix_slots_cpts_week", "cpts_id", "week"),
        Index("ix_slots_cpts_start", "cpts_id", "start"),
        Index("ix_slots_place_start", "place_id", "start"),
        CheckConstraint("\"end\" > \"start\"", name="end_after_start"),
        CheckConstraint("capacity >= 1", name="capacity_positive"),
        CheckConstraint("booked_count >= 0 AND booked_count <= capacity",
                        name="booked_le_capacity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    doctor_id: Mapped[int] = mapped_column(ForeignKey("doctors.id"))
    # The place of the consultation and its CPTS (whose charter counts the slot).
    place_id: Mapped[int] = mapped_column(ForeignKey("places.id"))
    cpts_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[str] = mapped_column(String(10), default=SlotKind.FIXED.value)
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    week: Mapped[str] = mapped_column(String(8))  # ISO week in Europe/Paris, "2026-W49"
    capacity: Mapped[int] = mapped_column(Integer, default=1)
    booked_count: Mapped[int] = mapped_column(Integer, default=0)
    mode: Mapped[str] = mapped_column(String(3), default=SlotMode.AMB.value)
    status: Mapped[str] = mapped_column(String(12), default=SlotStatus.OPEN.value)
    # False for a slot kept "hors charte" (over the maximum): shown, never bookable.
    in_charter: Mapped[bool] = mapped_column(Boolean, default=True)
    charter_note: Mapped[str | None] = mapped_column(String(300))
    # Temporary hold during a phone call.
    held_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    held_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    held_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Where it came from, and what the CalDAV sync needs to follow its event.
    source: Mapped[str] = mapped_column(String(10), default=SlotSource.WEB.value)
    caldav_uid: Mapped[str | None] = mapped_column(String(255))
    recurrence_id: Mapped[str | None] = mapped_column(String(40))
    caldav_href: Mapped[str | None] = mapped_column(String(500))
    caldav_etag: Mapped[str | None] = mapped_column(String(200))
    # A booked slot whose calendar event moved or vanished: the booking is kept, this says why.
    conflict: Mapped[str | None] = mapped_column(String(300))
    withdraw_reason: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now,
                                                 onupdate=clock.now)

    doctor = relationship("Doctor")
    place = relationship("Place")

    @property
    def is_floating(self) -> bool:
        return self.kind == SlotKind.FLOATING.value

    @property
    def remaining(self) -> int:
        return self.capacity - self.booked_count


@event.listens_for(Session, "before_flush")
def _every_slot_has_a_place(session, flush_context, instances) -> None:
    """A slot written without a place (demo data, generators) belongs to its doctor's main
    place, and every slot carries the CPTS of its place."""
    from sqlalchemy import select

    from agenda.territory.models import Place

    for slot in [obj for obj in session.new if isinstance(obj, Slot)]:
        if slot.place_id is None and slot.place is None and slot.doctor_id is not None:
            with session.no_autoflush:
                row = session.execute(
                    select(Place.id, Place.cpts_id)
                    .where(Place.doctor_id == slot.doctor_id, Place.active.is_(True))
                    .order_by(Place.is_main.desc(), Place.id).limit(1)).first()
            if row is not None:
                slot.place_id, slot.cpts_id = row
        if slot.cpts_id is None and slot.place is not None:
            slot.cpts_id = slot.place.cpts_id
