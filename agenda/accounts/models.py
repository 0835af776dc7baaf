"""Organisations, users, API tokens and login attempts."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from agenda import clock
from agenda.extensions import db
from agenda.types import UTCDateTime


class OrgKind(str, enum.Enum):
    CPTS = "cpts"
    SECRETARIAT = "secretariat"
    SAMU = "samu"
    ED = "ed"


class Role(str, enum.Enum):
    DOCTOR = "doctor"
    SECRETARY = "secretary"
    REGULATOR = "regulator"
    ED_NURSE = "ed_nurse"
    COORDINATOR = "coordinator"
    ADMIN = "admin"


BOOKER_ROLES = (Role.SECRETARY, Role.REGULATOR, Role.ED_NURSE)

# The booking channel follows the booker's organisation.
CHANNEL_BY_ORG_KIND = {
    OrgKind.SECRETARIAT: "secretariat",
    OrgKind.SAMU: "samu",
    OrgKind.ED: "ed",
    OrgKind.CPTS: "secretariat",
}


class Organisation(db.Model):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    # Partner organisations (secretariat, SAMU, ED) serve one CPTS; a CPTS points to itself
    # through NULL.
    cpts_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    finess: Mapped[str | None] = mapped_column(String(9))
    phone: Mapped[str | None] = mapped_column(String(30))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    cpts: Mapped[Organisation | None] = relationship(remote_side=[id])

    @property
    def served_cpts_id(self) -> int:
        return self.cpts_id or self.id


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
    def cpts_id(self) -> int:
        return self.organisation.served_cpts_id


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
