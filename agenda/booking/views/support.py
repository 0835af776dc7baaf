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
from agenda.territory.models import Commune, Doctor, Sector



def treating_choices(cpts_id: int) -> list[tuple[str, str]]:
    doctors = db.session.execute(
        select(Doctor.id, Doctor.first_name, Doctor.last_name, Commune.name)
        .join(Commune, Commune.insee == Doctor.commune_insee)
        .where(Doctor.cpts_id == cpts_id, Doctor.active.is_(True))
        .order_by(Doctor.last_name, Doctor.first_name))
    return ([("unknown", _("Ne sait pas")), ("none", _("Aucun")),
             ("external", _("Hors territoire (nom et RPPS ci-dessous)"))]
            + [(f"doctor:{i}", f"Dr {last} {first} — {commune}")
               for i, first, last, commune in doctors])


def reason_choices(cpts_id: int) -> list[tuple[int, str]]:
    return [(0, _("— choisir —"))] + [(r.id, r.label)
                                      for r in patient_services.reasons_of(cpts_id)]


def prepare(form) -> None:
    cpts_id = current_user.cpts_id
    form.treating.choices = treating_choices(cpts_id)
    form.reason.choices = reason_choices(cpts_id)
    if hasattr(form, "sector"):
        sectors = db.session.scalars(select(Sector).where(Sector.cpts_id == cpts_id)
                                     .order_by(Sector.name))
        form.sector.choices = [(0, _("Tous les secteurs"))] + [(s.id, s.name) for s in sectors]


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


