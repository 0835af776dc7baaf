"""Helpers shared by the booking pages (form choices, patient data from a form)."""

from __future__ import annotations

import contextlib

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from agenda.booking import services
from agenda.booking.forms import ActionForm
from agenda.booking.services import patients as patient_services
from agenda.errors import DomainError
from agenda.extensions import db
from agenda.accounts.models import Organisation
from agenda.territory.models import Commune, Doctor, Sector, doctor_in_cpts



def treating_choices(cpts_ids: list[int]) -> list[tuple[str, str]]:
    """The volunteers of the CPTS the booker serves (wherever they practise)."""
    doctors = db.session.execute(
        select(Doctor.id, Doctor.first_name, Doctor.last_name, Commune.name)
        .join(Commune, Commune.insee == Doctor.commune_insee)
        .where(doctor_in_cpts(cpts_ids), Doctor.active.is_(True))
        .order_by(Doctor.last_name, Doctor.first_name))
    return ([("unknown", _("Ne sait pas")), ("none", _("Aucun")),
             ("external", _("Hors territoire (nom et RPPS ci-dessous)"))]
            + [(f"doctor:{i}", f"Dr {last} {first} — {commune}")
               for i, first, last, commune in doctors])


def reason_choices(cpts_ids: list[int]) -> list[tuple[int, str]]:
    """The reasons of the CPTS served, one per label (each CPTS keeps its own list)."""
    seen: dict[str, int] = {}
    for r in patient_services.reasons_of(cpts_ids):
        seen.setdefault(r.label.casefold(), r.id)
    labels = {r.id: r.label for r in patient_services.reasons_of(cpts_ids)}
    return [(0, _("— choisir —"))] + sorted(((i, labels[i]) for i in seen.values()),
                                             key=lambda c: c[1].casefold())


def prepare(form) -> None:
    from agenda.booking.services.search import search_scope

    scope = search_scope(current_user)
    form.treating.choices = treating_choices(scope)
    form.reason.choices = reason_choices(scope)
    if hasattr(form, "sector"):
        rows = db.session.execute(select(Sector.id, Sector.name, Organisation.name)
                                  .join(Organisation, Organisation.id == Sector.cpts_id)
                                  .where(Sector.cpts_id.in_(scope))
                                  .order_by(Organisation.name, Sector.name)).all()
        several = len(scope) > 1
        form.sector.choices = [(0, _("Tous les secteurs"))] + [
            (i, f"{name} ({cpts})" if several else name) for i, name, cpts in rows]
    if hasattr(form, "horizon"):
        form.horizon.choices = horizon_choices(scope)
        if not form.horizon.data or form.horizon.data not in dict(form.horizon.choices):
            form.horizon.data = form.horizon.choices[0][0]


def horizon_choices(scope: list[int]) -> list[tuple[str, str]]:
    """The horizons a booker may pick: the charter's own (default), then shorter ones."""
    from agenda.booking.services.common import charter_for

    charters = [charter_for(c) for c in scope]
    same_day = {c.same_day_until for c in charters if c.same_day_until}
    if len(charters) == 1 and same_day:
        label = _("Charte : le jour même jusqu'à %(h)s", h=next(iter(same_day)))
        widest = 24
    else:
        widest = max(c.horizon_hours or 48 for c in charters)
        label = (_("Charte : %(h)s h", h=widest) if len(charters) == 1
                 else _("Charte de chaque CPTS"))
    choices = [("", label)]
    for hours in (4, 12, 24, 48, 72, 168):
        if hours < widest:
            choices.append((str(hours), _("%(h)s h", h=hours)))
    return choices


def communes_datalist() -> list[str]:
    return [patient_services.commune_label(c)
            for c in db.session.scalars(select(Commune).order_by(Commune.name))]


def patient_data(form, commune: Commune) -> services.PatientData:
    treating = form.treating.data or "unknown"
    doctor_id = None
    if treating.startswith("doctor:"):
        doctor_id = int(treating.split(":", 1)[1])
        treating = "doctor"
    return services.PatientData(
        last_name=form.last_name.data or "", first_name=form.first_name.data or "",
        commune_insee=commune.insee, birth_date=form.birth_date.data,
        phone=form.phone.data, treating_kind=treating, treating_doctor_id=doctor_id,
        treating_external_name=getattr(form, "treating_external_name", None)
        and form.treating_external_name.data,
        treating_external_rpps=getattr(form, "treating_external_rpps", None)
        and form.treating_external_rpps.data,
        mobility=form.mobility.data or "mobile")


def treating_id(form) -> int | None:
    value = form.treating.data or ""
    return int(value.split(":", 1)[1]) if value.startswith("doctor:") else None


def origin_of(form) -> str:
    origin = (getattr(form, "origin", None) and form.origin.data) or "web"
    return origin if origin in ("web", "sas") else "web"


def error_status(exc: DomainError) -> int:
    return exc.status


def reorient(endpoint: str):
    """"Réorienté vers le 15": counted at once, no patient identity needed (a vital call)."""
    if not ActionForm().validate():
        abort(400)
    insee = None
    with contextlib.suppress(DomainError):  # the commune is optional here
        insee = services.resolve_commune(request.form.get("commune", "")).insee
    reason = request.form.get("reason", type=int) or None
    services.record_reorientation(current_user, insee, reason)
    flash(_("Appel enregistré comme « réorienté vers le 15 »."), "info")
    return redirect(url_for(endpoint))


