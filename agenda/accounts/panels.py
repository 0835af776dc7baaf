"""Dashboard panels of the administration: the CPTS an administrator (or the operator)
acts on, who books for them, and their accounts."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import func, select

from agenda.accounts.models import Organisation, OrgKind, ServiceLink, User
from agenda.accounts.scope import active_link_clause, all_cpts_ids, is_operator
from agenda.dashboard import panel
from agenda.extensions import db
from agenda.territory.models import Place


@panel("admin", "operator")
def administration_panel(user) -> dict | None:
    """One row per CPTS in the user's scope: volunteers, booking organisations, accounts."""
    cpts_ids = all_cpts_ids() if is_operator(user) else ([user.cpts_id] if user.cpts_id else [])
    if not cpts_ids:
        return None
    names = dict(db.session.execute(select(Organisation.id, Organisation.name).where(
        Organisation.id.in_(cpts_ids))).all())
    doctors = dict(db.session.execute(
        select(Place.cpts_id, func.count(func.distinct(Place.doctor_id)))
        .where(Place.cpts_id.in_(cpts_ids), Place.active.is_(True))
        .group_by(Place.cpts_id)).all())
    bookers = dict(db.session.execute(
        select(ServiceLink.cpts_id, func.count(ServiceLink.id))
        .where(ServiceLink.cpts_id.in_(cpts_ids), active_link_clause())
        .group_by(ServiceLink.cpts_id)).all())
    accounts = dict(db.session.execute(
        select(func.coalesce(Organisation.cpts_id, Organisation.id), func.count(User.id))
        .join(User, User.organisation_id == Organisation.id)
        .where(func.coalesce(Organisation.cpts_id, Organisation.id).in_(cpts_ids),
               User.active.is_(True))
        .group_by(func.coalesce(Organisation.cpts_id, Organisation.id))).all())
    rows = [{"name": names.get(c, ""), "doctors": doctors.get(c, 0),
             "bookers": bookers.get(c, 0), "accounts": accounts.get(c, 0)}
            for c in sorted(cpts_ids, key=lambda c: names.get(c, ""))]
    shared = None
    if is_operator(user):
        shared = db.session.scalar(select(func.count(Organisation.id)).where(
            Organisation.cpts_id.is_(None),
            Organisation.kind.not_in((OrgKind.CPTS.value, OrgKind.PLATFORM.value))))
    title = _("Plateforme : les CPTS de l'instance") if is_operator(user) else \
        _("Votre CPTS")
    return {"title": title, "template": "accounts/_panel_admin.html", "rows": rows,
            "shared": shared}
