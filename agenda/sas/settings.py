"""What a CPTS must record for the SAS platform, and what is still missing.

The FINESS, SIRET and phone of the CPTS (``organisations``) and the visibility of its slots
(``sas_settings``) are set on the page ``/sas/cpts``; the same page lists the data that
keeps slots away from the platform ("données incomplètes pour le SAS"): the rules are
those of the resource builders (:func:`agenda.sas.resources.place_problems`,
:func:`~agenda.sas.resources.cpts_problems`), so the list and the search cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from agenda import audit
from agenda.accounts.models import Organisation
from agenda.errors import ValidationError
from agenda.extensions import db
from agenda.sas import resources as R
from agenda.sas.models import SasSettings
from agenda.territory.models import Doctor, Place


@dataclass
class CptsIdentity:
    finess: str | None
    siret: str | None
    phone: str | None
    visibility: list[str]


@dataclass
class Missing:
    """One line of the "données incomplètes pour le SAS" list."""

    what: str  # "cpts" or "doctor"
    name: str
    problems: list[str]
    blocking: bool  # True: its slots are not exposed


def visibility_of(cpts_id: int) -> list[str]:
    row = db.session.get(SasSettings, cpts_id)
    chosen = row.slot_visibility if row is not None else " ".join(R.DEFAULT_VISIBILITY)
    return [c for c in chosen.split() if c in R.VISIBILITY_CODES]


def _digits(value: str | None) -> str | None:
    value = "".join((value or "").split())
    return value or None


def update_identity(cpts: Organisation, data: CptsIdentity) -> None:
    """Record the CPTS's national identifiers, phone and slot visibility (the caller
    commits)."""
    finess, siret, phone = _digits(data.finess), _digits(data.siret), (data.phone or "").strip()
    if finess and not R.FINESS_RE.match(finess):
        raise ValidationError(_("Le FINESS compte 9 chiffres."), field="finess")
    if siret and not R.SIRET_RE.match(siret):
        raise ValidationError(_("Le SIRET compte 14 chiffres."), field="siret")
    if phone and R.international_phone(phone) is None:
        raise ValidationError(_("Numéro de téléphone illisible : %(p)s", p=phone[:30]),
                              field="phone")
    if not data.visibility:
        raise ValidationError(_("Choisissez au moins une visibilité des créneaux."),
                              field="visibility")
    unknown = [c for c in data.visibility if c not in R.VISIBILITY_CODES]
    if unknown:
        raise ValidationError(_("Visibilité inconnue : %(v)s", v=", ".join(unknown)[:40]),
                              field="visibility")
    cpts.finess, cpts.siret, cpts.phone = finess, siret, phone or None
    row = db.session.get(SasSettings, cpts.id)
    if row is None:
        row = SasSettings(cpts_id=cpts.id)
        db.session.add(row)
    row.slot_visibility = " ".join(c for c in R.VISIBILITY_CODES if c in data.visibility)
    audit.record("sas.cpts_settings", "organisation", cpts.id)
    db.session.flush()


def missing_data(cpts: Organisation) -> list[Missing]:
    """What keeps the CPTS's slots (or some doctors' slots) away from the SAS platform,
    and what the platform would lack (warnings)."""
    out = []
    blocking = R.cpts_problems(cpts)
    if blocking or R.cpts_warnings(cpts):
        out.append(Missing("cpts", cpts.name, blocking + R.cpts_warnings(cpts), bool(blocking)))
    places = db.session.execute(
        select(Place, Doctor).join(Doctor, Doctor.id == Place.doctor_id)
        .where(Place.cpts_id == cpts.id, Place.active.is_(True), Doctor.active.is_(True))
        .options(joinedload(Place.commune)).order_by(Doctor.last_name, Doctor.first_name))
    for place, doctor in places:
        problems = R.place_problems(place)
        if problems:
            label = doctor.display_name + (f" — {place.label}" if place.label else "")
            out.append(Missing("doctor", label, problems, True))
    return out
