"""Tables of the SAS interop: regulator accounts (INT_R02) and appointment feedback (INT_R03)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from agenda import clock
from agenda.extensions import db
from agenda.types import UTCDateTime


class SasAccount(db.Model):
    """A regulator account managed by the national SAS platform (INT_R02).

    The national identifier lives in ``users.national_id``; the SAS technical identifier
    (regulators without a national one) here. ``habilitated`` follows ``Practitioner.active``.
    """

    __tablename__ = "sas_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    technical_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    habilitated: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now,
                                                 onupdate=clock.now)

    user = relationship("User")


class SasAppointment(db.Model):
    """What the SAS platform knows of one booking (INT_R03): our identifier of the
    Appointment, whether it was created there, and the last version sent."""

    __tablename__ = "sas_appointments"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"), unique=True)
    identifier: Mapped[str] = mapped_column(String(64), unique=True)
    # The identifier system the Appointment was first sent with, kept for its updates even
    # if the setting changes (NULL: sent before it was recorded, see client.identifier_system).
    identifier_system: Mapped[str | None] = mapped_column(String(200))
    created_remote: Mapped[bool] = mapped_column(Boolean, default=False)
    remote_location: Mapped[str | None] = mapped_column(String(500))
    last_status: Mapped[str | None] = mapped_column(String(12))
    last_digest: Mapped[str | None] = mapped_column(String(64))
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class SasSettings(db.Model):
    """What a CPTS tells the SAS platform about its slots, beside its charter.

    ``slot_visibility``: the TRE_R314 codes (space-separated) its Slots carry in
    ``meta.security`` besides ``CPTS``, which every CPTS slot carries (guide 1.2.0,
    FrSlotAgregateurCPTS, value set sas-cpts-valueset-typecreneau).
    """

    __tablename__ = "sas_settings"

    cpts_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    slot_visibility: Mapped[str] = mapped_column(String(40), default="SNP")
