"""Scopes: which CPTS a user may act on.

- a **booker** (secretary, regulator, ED nurse) books and searches in every CPTS that their
  organisation serves through an active :class:`ServiceLink` (a departmental SAMU serves
  all the CPTS of the department, an emergency department those around its hospital);
- a **coordinator** and a **CPTS administrator** act on their home CPTS only;
- a **doctor** acts on their own slots and patients, in every CPTS where they practise;
- the **platform operator** runs the instance (every CPTS).

Services check these scopes, so that pages, the JSON API, the SAS link and the CLI cannot
disagree; ``tests/foundation/test_matrix.py`` replays every route against them.
"""

from __future__ import annotations

from flask import g, has_request_context
from sqlalchemy import Integer, String, any_, bindparam, cast, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY

from agenda import clock
from agenda.accounts.models import Organisation, OrgKind, Role, ServiceLink, User
from agenda.extensions import db
from agenda.timeutil import to_local


def active_link_clause(today=None):
    """A link serves from its creation until the day it is ended (``started_on`` is the
    history of when it began, not a schedule)."""
    today = today if today is not None else to_local(clock.now()).date()
    return or_(ServiceLink.ended_on.is_(None), ServiceLink.ended_on > today)


def served_cpts_ids(organisation_id: int) -> list[int]:
    """The CPTS an organisation serves today (sorted ids); a CPTS serves itself."""
    org = db.session.get(Organisation, organisation_id)
    if org is None:
        return []
    if org.kind == OrgKind.CPTS.value:
        return [org.id]
    return sorted(set(db.session.scalars(
        select(ServiceLink.cpts_id).where(ServiceLink.organisation_id == organisation_id,
                                          active_link_clause()))))


def served_cpts_column(organisation=Organisation):
    """What :func:`served_cpts_ids` reads, as a column to read with ``organisation`` (an
    entity or an alias) in the same query: its active links' CPTS, comma-separated.
    Execute with :func:`served_cpts_params`; give the value to :func:`remember_booking_scope`."""
    return (select(func.aggregate_strings(cast(ServiceLink.cpts_id, String), ","))
            .where(ServiceLink.organisation_id == organisation.id,
                   active_link_clause(bindparam("scope_today")))
            .scalar_subquery().label("served_cpts"))


def in_cpts(column, name: str, postgresql: bool):
    """``column`` is one of the CPTS ids given as the list parameter ``name``. PostgreSQL:
    ``= ANY(array)``, one statement text whatever the number of CPTS (a SAMU's dozen, a
    secretariat's one), prepared once, and no rewriting of the SQL at each execution;
    elsewhere an expanding ``IN``."""
    if postgresql:
        return column == any_(bindparam(name, type_=ARRAY(Integer)))
    return column.in_(bindparam(name, expanding=True))


def served_cpts_params() -> dict:
    return {"scope_today": to_local(clock.now()).date()}


def remember_booking_scope(user: User, served: str | None) -> None:
    """Keep for the request the booking scope read by :func:`served_cpts_column` with the
    user's organisation (:func:`booking_scope` then reads nothing)."""
    org = user.organisation
    if org.kind == OrgKind.CPTS.value:
        ids = [org.id]
    else:
        ids = sorted({int(x) for x in (served or "").split(",") if x})
    if has_request_context():
        g.setdefault("_scopes", {})[("booking_scope", user.id)] = ids


def all_cpts_ids() -> list[int]:
    return list(db.session.scalars(select(Organisation.id).where(
        Organisation.kind == OrgKind.CPTS.value, Organisation.active.is_(True))
        .order_by(Organisation.id)))


def is_operator(user: User) -> bool:
    return user.role == Role.OPERATOR.value


def booking_scope(user: User) -> list[int]:
    """The CPTS whose slots ``user`` may search and book (cached for the request)."""
    key = ("booking_scope", user.id)
    cache = g.setdefault("_scopes", {}) if has_request_context() else {}
    if key not in cache:
        cache[key] = served_cpts_ids(user.organisation_id)
    return cache[key]


def doctor_cpts_ids(doctor_id: int) -> list[int]:
    """The CPTS where a doctor volunteers: those of their active places."""
    from agenda.territory.models import Place

    return sorted(set(db.session.scalars(select(Place.cpts_id).where(
        Place.doctor_id == doctor_id, Place.active.is_(True)))))


def supervision_scope(user: User) -> list[int]:
    """The CPTS whose (identity-free) figures ``user`` may read: coordinators and CPTS
    admins their own; bookers those they serve (department view); the operator all."""
    if is_operator(user):
        return all_cpts_ids()
    if user.role in (Role.COORDINATOR.value, Role.ADMIN.value):
        return [user.cpts_id] if user.cpts_id else []
    if user.role in (Role.SECRETARY.value, Role.REGULATOR.value, Role.ED_NURSE.value):
        return booking_scope(user)
    return []


def managed_org_clause(cpts_id: int):
    """Organisations a CPTS administrator manages: the CPTS and those it owns."""
    return or_(Organisation.id == cpts_id, Organisation.cpts_id == cpts_id)


def may_manage_org(user: User, org: Organisation) -> bool:
    if is_operator(user):
        return True
    if user.role != Role.ADMIN.value or not user.cpts_id:
        return False
    return org.id == user.cpts_id or org.cpts_id == user.cpts_id


def may_manage_user(actor: User, target: User) -> bool:
    if is_operator(actor):
        return True
    if target.role == Role.OPERATOR.value:
        return False
    return may_manage_org(actor, target.organisation)
