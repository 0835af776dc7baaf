"""Helpers shared by the booking operations: charter, actors, references, links."""

from __future__ import annotations

import secrets

from flask import current_app, has_app_context, has_request_context, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from agenda.accounts.models import BOOKER_ROLES, CHANNEL_BY_ORG_KIND, OrgKind, Role, User
from agenda.errors import Forbidden
from agenda.extensions import db
from agenda.slots.models import CharterSettings
from agenda.territory.models import Doctor

_REF_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
BOOKER_ROLE_VALUES = {r.value for r in BOOKER_ROLES}

# Mobility of the patient -> consultation mode of the slot (SAS codes).
MODE_BY_MOBILITY = {"mobile": "AMB", "tele": "VR", "home": "HH"}


def charter_for(cpts_id: int) -> CharterSettings:
    """The CPTS charter (hold length, T1, deadline, radius, horizon, retention…): the one
    row the slots package keeps, created with its defaults when missing."""
    from agenda.slots.services import charter_for as slots_charter_for

    return slots_charter_for(cpts_id)


def new_reference(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_REF_ALPHABET) for _ in range(8))


def require_booker(user: User) -> None:
    if user.role not in BOOKER_ROLE_VALUES:
        raise Forbidden(_("Seuls le télésecrétariat, la régulation et les urgences "
                          "peuvent réserver."))


def channel_of(user: User) -> str:
    kind = user.organisation.kind
    try:
        return CHANNEL_BY_ORG_KIND.get(OrgKind(kind), "other")
    except ValueError:
        return "other"


def doctor_of(user: User) -> Doctor | None:
    """The doctor record of a user with the doctor role (None otherwise)."""
    if user.role != Role.DOCTOR.value:
        return None
    return db.session.scalar(select(Doctor).where(Doctor.user_id == user.id))


def require_doctor(user: User) -> Doctor:
    doctor = doctor_of(user)
    if doctor is None:
        raise Forbidden(_("Ce compte n'est rattaché à aucun médecin."))
    return doctor


def absolute_url(endpoint: str, **values) -> str:
    """A link for an email: BASE_URL + the route (works in the worker too)."""
    base = ""
    if has_app_context():
        base = (current_app.config.get("BASE_URL") or "").rstrip("/")
    if has_request_context():
        return base + url_for(endpoint, **values)
    with current_app.test_request_context("/"):
        return base + url_for(endpoint, **values)


def commit_keeping_state(*stale) -> None:
    """Commit without expiring what was just written (the caller shows it at once);
    ``stale`` objects, changed behind the ORM's back by a Core UPDATE, are expired."""
    session = db.session()
    for obj in stale:
        session.expire(obj)
    previous = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = previous
