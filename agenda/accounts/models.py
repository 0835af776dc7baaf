"""Organisations, users, API tokens and login attempts."""

from __future__ import annotations

import enum
from datetime import date, datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, event
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from agenda import clock
from agenda.extensions import db
from agenda.types import UTCDateTime


class OrgKind(str, enum.Enum):
    CPTS = "cpts"
    SECRETARIAT = "secretariat"
    SAMU = "samu"
    ED = "ed"
    # The organisation that runs the instance (its users are platform operators).
    PLATFORM = "platform"


# Organisations that book for patients: they serve one or more CPTS through ServiceLinks.
BOOKING_ORG_KINDS = (OrgKind.SECRETARIAT.value, OrgKind.SAMU.value, OrgKind.ED.value,
                     OrgKind.CPTS.value)


class Role(str, enum.Enum):
    DOCTOR = "doctor"
    SECRETARY = "secretary"
    REGULATOR = "regulator"
    ED_NURSE = "ed_nurse"
    COORDINATOR = "coordinator"
    # Administrator of one CPTS: its organisations, users, doctors, links and audit log.
    ADMIN = "admin"
    # Platform operator: instance-wide (creates CPTS and cross-CPTS organisations).
    OPERATOR = "operator"


BOOKER_ROLES = (Role.SECRETARY, Role.REGULATOR, Role.ED_NURSE)

# The booking channel follows the booker's organisation; any other kind is "other".
CHANNEL_BY_ORG_KIND = {
    OrgKind.SECRETARIAT: "secretariat",
    OrgKind.SAMU: "samu",
    OrgKind.ED: "ed",
    OrgKind.CPTS: "cpts",
}


class Organisation(db.Model):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    # The CPTS that administers this organisation (its own secretariat, say); NULL for a
    # CPTS itself and for cross-CPTS organisations run by the platform operator (a
    # departmental SAMU, an emergency department, a shared call centre). Which CPTS an
    # organisation *serves* is said by its ServiceLinks, not by this column.
    cpts_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    finess: Mapped[str | None] = mapped_column(String(9))
    siret: Mapped[str | None] = mapped_column(String(14))
    phone: Mapped[str | None] = mapped_column(String(30))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    cpts: Mapped[Organisation | None] = relationship(remote_side=[id])

    @property
    def home_cpts_id(self) -> int | None:
        """The CPTS this organisation belongs to (itself for a CPTS), or None."""
        if self.kind == OrgKind.CPTS.value:
            return self.id
        return self.cpts_id


class ServiceLink(db.Model):
    """A booking organisation serves a CPTS from ``started_on`` (until ``ended_on``).

    Granted and ended by the CPTS's administrator or the platform operator. A link with
    ``ended_on`` set is kept for the history (statistics of past bookings).
    """

    __tablename__ = "service_links"
    __table_args__ = (Index("ix_service_links_org", "organisation_id", "cpts_id"),
                      Index("ix_service_links_cpts", "cpts_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    cpts_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    started_on: Mapped[date] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    ended_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    organisation: Mapped[Organisation] = relationship(foreign_keys=[organisation_id])
    cpts: Mapped[Organisation] = relationship(foreign_keys=[cpts_id])

    def active_on(self, day: date) -> bool:
        return self.started_on <= day and (self.ended_on is None or self.ended_on > day)


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Identifiers for accounts created by the national platform (SAS regulators).
    national_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Part of the session cookie's user id: raising it ends every session of the account
    # server-side (logout, password change, deactivation).
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    organisation: Mapped[Organisation] = relationship()

    @property
    def is_active(self) -> bool:  # flask-login
        return bool(self.active)

    def get_id(self) -> str:  # flask-login: what the session cookie holds
        return f"{self.id}.{self.session_version or 0}"

    def has_role(self, *roles: str | Role) -> bool:
        return self.role in {r.value if isinstance(r, Role) else r for r in roles}

    @property
    def cpts_id(self) -> int | None:
        """The user's home CPTS (their organisation's), None for cross-CPTS organisations and
        the platform. What a user may *book* is :func:`agenda.accounts.scope.booking_scope`."""
        return self.organisation.home_cpts_id


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(12))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class LoginAttempt(db.Model):
    """Failed logins, counted per account and per address for the rate limit."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_at", "email", "at"),
        Index("ix_login_attempts_ip_at", "ip", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class LoginThrottle(db.Model):
    """Failed-login counters (per account and address pair, per account, per address).

    ``key`` is a SHA-256 of the counted thing, so an over-long e-mail address cannot
    overflow the column; the count is raised by one conditional UPDATE (exact under
    concurrency).
    """

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


@event.listens_for(Session, "before_flush")
def _a_new_booking_organisation_serves_its_cpts(session, flush_context, instances) -> None:
    """A booking organisation written with an owner CPTS and no link (generators, the SAS
    accounts' organisation) serves that CPTS, as the migration of 0002 assumed."""
    linked = {id(obj.organisation) for obj in session.new
              if isinstance(obj, ServiceLink) and obj.organisation is not None}
    for org in [obj for obj in session.new if isinstance(obj, Organisation)]:
        if (org.cpts_id is None and org.cpts is None) or id(org) in linked \
                or org.kind in (OrgKind.CPTS.value, OrgKind.PLATFORM.value):
            continue
        link = ServiceLink(organisation=org, started_on=clock.now().date(),
                           created_at=clock.now())
        if org.cpts_id is not None:
            link.cpts_id = org.cpts_id
        else:
            link.cpts = org.cpts
        session.add(link)
