"""Patients (minimal), reasons, bookings, floating requests and their offers."""

from __future__ import annotations

import enum
import re
from datetime import date, datetime

from sqlalchemy import (Boolean, Date, ForeignKey, Index, Integer, String, Text, false,
                        UniqueConstraint, event)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, validates

from agenda import clock
from agenda.extensions import db
from agenda.types import UTCDateTime


class TreatingKind(str, enum.Enum):
    DOCTOR = "doctor"  # a doctor of the territory (treating_doctor_id)
    NONE = "none"  # "aucun"
    UNKNOWN = "unknown"  # "ne sait pas"
    EXTERNAL = "external"  # a name + RPPS outside the territory


class Mobility(str, enum.Enum):
    MOBILE = "mobile"  # se déplace
    TELE = "tele"  # téléconsultation
    HOME = "home"  # visite à domicile


class BookingStatus(str, enum.Enum):
    BOOKED = "booked"
    SEEN = "seen"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"


class CancelledBy(str, enum.Enum):
    """Who cancelled a booking (``Booking.cancelled_by``)."""

    BOOKER = "booker"  # "Annuler" by the organisation that booked
    DOCTOR = "doctor"  # "Annuler" by the doctor
    OUTCOME = "outcome"  # the outcome "annulé" recorded by the doctor
    PATIENT = "patient"  # "annulé par le patient": the link of a text message


class RequestStatus(str, enum.Enum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class Patient(db.Model):
    """The minimum needed to orient a patient; anonymised by the purge."""

    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_name: Mapped[str] = mapped_column(String(100))
    first_name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[date | None] = mapped_column(Date, index=True)
    phone: Mapped[str | None] = mapped_column(String(30))
    # The phone's last nine digits ("06 12 34 56 78" and "+33 6 12 34 56 78" are one
    # phone), set with the phone: the duplicate check finds a patient by it (and by the
    # birth date) through an index, whatever the number of bookings.
    phone_key: Mapped[str | None] = mapped_column(String(9), index=True)
    commune_insee: Mapped[str] = mapped_column(ForeignKey("communes.insee"))
    treating_kind: Mapped[str] = mapped_column(String(10), default=TreatingKind.UNKNOWN.value)
    treating_doctor_id: Mapped[int | None] = mapped_column(ForeignKey("doctors.id"))
    treating_external_name: Mapped[str | None] = mapped_column(String(200))
    treating_external_rpps: Mapped[str | None] = mapped_column(String(11))
    mobility: Mapped[str] = mapped_column(String(10), default=Mobility.MOBILE.value)
    # The patient agreed to text messages (confirmation, reminder, cancel link) at booking.
    sms_consent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    commune = relationship("Commune")
    treating_doctor = relationship("Doctor")

    @validates("phone")
    def _keep_phone_key(self, _key: str, phone: str | None) -> str | None:
        self.phone_key = phone_key(phone)
        return phone


def phone_key(phone: str | None) -> str | None:
    """The last nine digits of a phone, or None when it has fewer."""
    digits = re.sub(r"\D", "", phone or "")
    return digits[-9:] if len(digits) >= 9 else None


class Reason(db.Model):
    """A reason of the CPTS protocol list (editable by the coordinator)."""

    __tablename__ = "reasons"

    id: Mapped[int] = mapped_column(primary_key=True)
    cpts_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    label: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Booking(db.Model):
    __tablename__ = "bookings"
    __table_args__ = (
        Index("ix_bookings_status_start", "status", "start"),
        Index("ix_bookings_org_created", "booker_org_id", "created_at"),
        # A patient's bookings: the duplicate check, the foreign key.
        Index("ix_bookings_patient_status_start", "patient_id", "status", "start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(12), unique=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slots.id"), index=True)
    doctor_id: Mapped[int] = mapped_column(ForeignKey("doctors.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    booker_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    booker_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    # The CPTS of the slot (counted in its statistics and indemnities).
    cpts_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    channel: Mapped[str] = mapped_column(String(12))  # secretariat / samu / ed
    origin: Mapped[str] = mapped_column(String(10), default="web")  # web / api / sas
    status: Mapped[str] = mapped_column(String(10), default=BookingStatus.BOOKED.value)
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    reason_id: Mapped[int | None] = mapped_column(ForeignKey("reasons.id"))
    note: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id"))
    treating_seen: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    cancel_reason: Mapped[str | None] = mapped_column(String(300))
    cancelled_by: Mapped[str | None] = mapped_column(String(10))  # CancelledBy
    outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the doctor was reminded (once) of an outcome still missing 48 h after the start.
    outcome_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    synthesis: Mapped[str | None] = mapped_column(Text)
    # The SAMU / SAS regulation file number, when the regulator gives one.
    regulation_number: Mapped[str | None] = mapped_column(String(40))

    slot = relationship("Slot")
    doctor = relationship("Doctor")
    patient = relationship(Patient)
    reason = relationship(Reason)


class SmsMessage(db.Model):
    """A text message to a consenting patient about a booking (``kind``: "confirmation" at
    booking, "reminder" before the consultation), with the hash of its one-tap cancel
    link (the link itself is only in the message). Unique per booking and kind: a message
    is never written, so never sent, twice. See agenda.booking.reminders."""

    __tablename__ = "sms_messages"
    __table_args__ = (UniqueConstraint("booking_id", "kind", name="uq_sms_booking_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    # SHA-256 of the random token of the cancel link; the link works until ``expires_at``
    # (the end of the consultation) and cancels once.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # When the gateway accepted it (set by the outbox handler).
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When its link cancelled the booking.
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FloatingRequest(db.Model):
    """A booking into floating capacity: offered to the treating doctor, then the community."""

    __tablename__ = "requests"
    __table_args__ = (
        Index("ix_requests_status_deadline", "status", "deadline_at"),
        # A patient's requests: the duplicate check, the foreign key.
        Index("ix_requests_patient_status_window", "patient_id", "status", "window_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(12), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    booker_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    booker_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    # The CPTS whose community the request is offered to: the one whose territory holds
    # the patient's commune (among those the booker serves), else the window's.
    cpts_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    # Set when the booker extended an expired request to a neighbouring CPTS.
    extended_from_cpts_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    channel: Mapped[str] = mapped_column(String(12))
    origin: Mapped[str] = mapped_column(String(10), default="web")
    reason_id: Mapped[int | None] = mapped_column(ForeignKey("reasons.id"))
    note: Mapped[str | None] = mapped_column(Text)
    # The window asked for (usually the one of the floating slot chosen).
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    mode: Mapped[str] = mapped_column(String(3), default="AMB")
    phase: Mapped[str] = mapped_column(String(10), default="treating")  # treating / community
    status: Mapped[str] = mapped_column(String(10), default=RequestStatus.PENDING.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    t1_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_doctor_id: Mapped[int | None] = mapped_column(ForeignKey("doctors.id"))
    accepted_slot_id: Mapped[int | None] = mapped_column(ForeignKey("slots.id"))
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    booker_alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    patient = relationship(Patient)
    reason = relationship(Reason)


class RequestOffer(db.Model):
    """A request offered to one doctor; refusing closes the offer for that doctor."""

    __tablename__ = "request_offers"
    __table_args__ = (UniqueConstraint("request_id", "doctor_id", name="uq_offer_request_doctor"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    doctor_id: Mapped[int] = mapped_column(ForeignKey("doctors.id"), index=True)
    slot_id: Mapped[int | None] = mapped_column(ForeignKey("slots.id"))
    phase: Mapped[str] = mapped_column(String(10))
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    refused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    distance_km: Mapped[float | None] = mapped_column()
    notified: Mapped[bool] = mapped_column(Boolean, default=False)


class Reorientation(db.Model):
    """A call judged a vital emergency: "réorienté vers le 15" (no booking), counted."""

    __tablename__ = "reorientations"

    id: Mapped[int] = mapped_column(primary_key=True)
    booker_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    booker_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    # The CPTS the call is counted for (the patient's commune's, else the booker's).
    cpts_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    channel: Mapped[str] = mapped_column(String(12))
    commune_insee: Mapped[str | None] = mapped_column(ForeignKey("communes.insee"))
    reason_id: Mapped[int | None] = mapped_column(ForeignKey("reasons.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class CallOutcome(str, enum.Enum):
    """How a call for unscheduled care ended (one call, one outcome)."""

    BOOKED = "booked"  # a fixed slot booked
    REQUEST = "request"  # a floating request sent (its end: the request's status)
    NO_SLOT = "no_slot"  # "Aucun créneau ne convient": nothing suitable was offered
    REORIENTED = "reoriented"  # a vital emergency: redirected to the 15
    DECLINED = "declined"  # the patient declined what was offered
    OTHER = "other"


# Outcomes a booker closes a call with, without booking ("Aucun créneau ne convient").
CLOSING_OUTCOMES = (CallOutcome.NO_SLOT.value, CallOutcome.DECLINED.value,
                    CallOutcome.OTHER.value)


class CallLog(db.Model):
    """One call for unscheduled care, whatever its end: the first figure of the yearly
    "calls → slots → consultations" report (see docs/statistics.md).

    Written by the service that ends the call, in the same transaction: a booking
    (``booking_id``), a floating request (``request_id``), a reorientation, or
    :func:`agenda.booking.services.calls.close_call`. ``count`` > 1 only in imported
    aggregates (a day's tally from before the calls were recorded one by one)."""

    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_cpts_created", "cpts_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    booker_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    booker_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Indexed by ix_calls_cpts_created (its leading column): no index of its own to update
    # on every call.
    cpts_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    # secretariat / samu / ed / cpts / other (agenda.accounts.models.CHANNEL_BY_ORG_KIND).
    channel: Mapped[str] = mapped_column(String(12))
    outcome: Mapped[str] = mapped_column(String(20))  # CallOutcome
    commune_insee: Mapped[str | None] = mapped_column(ForeignKey("communes.insee"))
    reason_id: Mapped[int | None] = mapped_column(ForeignKey("reasons.id"))
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"), index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    count: Mapped[int] = mapped_column(Integer, default=1)


@event.listens_for(Session, "before_flush")
def _every_record_has_its_cpts(session, flush_context, instances) -> None:
    """A booking belongs to the CPTS of its slot; a request or a call written without a
    CPTS (demo data, generators) to the first CPTS its booking organisation serves. The
    services always say it; this only completes rows written by hand."""
    from sqlalchemy import select

    from agenda.accounts.scope import served_cpts_ids
    from agenda.slots.models import Slot

    for obj in list(session.new):
        if isinstance(obj, Booking) and obj.cpts_id is None and obj.slot_id is not None:
            with session.no_autoflush:
                obj.cpts_id = session.scalar(select(Slot.cpts_id).where(Slot.id == obj.slot_id))
        elif (isinstance(obj, (FloatingRequest, Reorientation, CallLog)) and obj.cpts_id is None
              and obj.booker_org_id is not None):
            with session.no_autoflush:
                served = served_cpts_ids(obj.booker_org_id)
            if served:
                obj.cpts_id = served[0]
