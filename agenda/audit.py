"""Append-only audit log of every display or change of a patient's data."""

from __future__ import annotations

import enum
from datetime import datetime

from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy import ForeignKey, Index, String, Text, event, text
from sqlalchemy.orm import Mapped, mapped_column

from agenda import clock
from agenda.extensions import db
from agenda.types import UTCDateTime


class AuditAction(str, enum.Enum):
    """Every action written to the log (named in French by :mod:`agenda.labels`)."""

    VIEW = "view"
    LIST = "list"
    CREATE = "create"
    UPDATE = "update"
    CANCEL = "cancel"
    ACCEPT = "accept"
    EXTEND = "extend"
    OUTCOME = "outcome"
    PURGE = "purge"
    DUPLICATE_OVERRIDE = "duplicate_override"
    LINK_GRANT = "link.grant"
    LINK_END = "link.end"
    USER_ACTIVATE = "user.activate"
    USER_DEACTIVATE = "user.deactivate"
    TOKEN_CREATE = "token.create"
    PASSWORD_RESET_REQUESTED = "password.reset_requested"
    PASSWORD_RESET = "password.reset"
    SAS_ACCOUNT_CREATED = "sas.account.created"
    SAS_ACCOUNT_UPDATED = "sas.account.updated"
    SAS_ACCOUNT_NATIONAL_ID_MOVED = "sas.account.national_id_moved"
    SAS_APPOINTMENT_RESEND = "sas.appointment.resend"
    SAS_CPTS_SETTINGS = "sas.cpts_settings"
    SAS_LANDING = "sas.landing"
    AUDIT_VIEW = "audit.view"  # the access log itself was read
    AUDIT_EXPORT = "audit.export"
    AUDIT_SEARCH = "audit.search"  # patients looked up by name in the access log


class AuditObject(str, enum.Enum):
    """The kinds of object an entry points at."""

    BOOKING = "booking"
    REQUEST = "request"
    CALL = "call"
    PATIENT = "patient"
    USER = "user"
    ORGANISATION = "organisation"
    SLOT = "slot"
    AUDIT = "audit"


class AuditEntry(db.Model):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_patient_at", "patient_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(40))  # view / create / update / cancel / purge…
    object_type: Mapped[str] = mapped_column(String(30))
    object_id: Mapped[int | None] = mapped_column()
    patient_id: Mapped[int | None] = mapped_column()
    ip: Mapped[str | None] = mapped_column(String(64))
    # The CPTS whose data was touched (a booking's, a request's), for the CPTS admin's log.
    cpts_id: Mapped[int | None] = mapped_column(index=True)
    # Ids and codes only, never free text typed by a person (it would outlive the purge).
    detail: Mapped[str | None] = mapped_column(Text)


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _append_only(mapper, connection, target):  # pragma: no cover - guard
    raise RuntimeError("audit log is append-only")


_CPTS_OF = {"booking": "SELECT cpts_id FROM bookings WHERE id = :id",
            "request": "SELECT cpts_id FROM requests WHERE id = :id"}


def record(action: str, object_type: str, object_id: int | None = None, *,
           patient_id: int | None = None, detail: str | None = None,
           user_id: int | None = None, cpts_id: int | None = None) -> AuditEntry:
    """Add an audit entry to the current session (committed with the caller's change)."""
    ip = None
    if has_request_context():
        ip = request.remote_addr
        if user_id is None and getattr(current_user, "is_authenticated", False):
            user_id = current_user.id
    if cpts_id is None and object_id is not None and object_type in _CPTS_OF:
        # The CPTS whose record this is (a booking's slot, a request's community).
        cpts_id = db.session.execute(text(_CPTS_OF[object_type]), {"id": object_id}).scalar()
    entry = AuditEntry(action=action, object_type=object_type, object_id=object_id,
                       patient_id=patient_id, detail=detail, user_id=user_id, ip=ip,
                       cpts_id=cpts_id, at=clock.now())
    db.session.add(entry)
    return entry


def record_list(object_type: str, objects, *, user_id: int | None = None) -> AuditEntry | None:
    """One entry for a list that shows patient data: the ids it showed and their patients'
    (``detail`` = ``booking:12,15;patient:7,9``). Nothing for an empty list."""
    objects = list(objects)
    if not objects:
        return None
    ids = ",".join(str(o.id) for o in objects)
    patients = ",".join(str(p) for p in sorted({o.patient_id for o in objects
                                                if o.patient_id is not None}))
    return record("list", object_type, None, detail=f"{object_type}:{ids};patient:{patients}",
                  user_id=user_id)
