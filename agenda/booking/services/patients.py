"""The minimal patient record and the CPTS protocol reasons."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import select

from agenda import clock
from agenda.booking.models import Mobility, Patient, Reason, TreatingKind
from agenda.errors import NotFound, ValidationError
from agenda.extensions import db
from agenda.territory.models import Commune, Doctor
from agenda.territory.services import INSEE_RE, doctor_cpts_ids, rpps_is_valid, search_communes

PHONE_RE = re.compile(r"^\+?[0-9 .\-]{6,20}$")
_LABEL_RE = re.compile(r"^(?P<name>.+?)\s*\((?P<postcode>\d{5})\)\s*$")

# The protocol list a new CPTS starts with (the coordinator edits it).
DEFAULT_REASONS = ["Infectieux (fièvre, toux, angine…)", "ORL (otite, sinusite…)",
                   "Traumatologie légère (entorse, plaie…)", "Digestif (gastro-entérite…)",
                   "Dermatologie (éruption, brûlure légère…)",
                   "Rhumatologie (lombalgie, douleur articulaire…)",
                   "Urinaire (cystite…)", "Ophtalmologie (conjonctivite…)",
                   "Renouvellement urgent de traitement"]


@dataclass
class PatientData:
    last_name: str
    first_name: str
    commune_insee: str
    birth_date: date | None = None
    phone: str | None = None
    treating_kind: str = TreatingKind.UNKNOWN.value
    treating_doctor_id: int | None = None
    treating_external_name: str | None = None
    treating_external_rpps: str | None = None
    mobility: str = Mobility.MOBILE.value


def commune_label(commune: Commune) -> str:
    first = (commune.postcodes or "").split()
    return f"{commune.name} ({first[0]})" if first else commune.name


def resolve_commune(text: str) -> Commune:
    """A commune from what a booker typed: INSEE code, "Name (postcode)", a postcode or
    a name. Ambiguity is an error listing the candidates."""
    raw = (text or "").strip()
    if not raw:
        raise ValidationError(_("Indiquez la commune du patient."), field="commune")
    if INSEE_RE.match(raw.upper()):
        commune = db.session.get(Commune, raw.upper())
        if commune is not None:
            return commune
    m = _LABEL_RE.match(raw)
    if m:
        rows = list(db.session.scalars(select(Commune).where(
            Commune.name == m.group("name"), Commune.postcodes.contains(m.group("postcode")))))
        if len(rows) == 1:
            return rows[0]
    candidates = search_communes(raw, limit=8)
    exact = [c for c in candidates if c.name.lower() == raw.lower()]
    if len(exact) == 1:
        return exact[0]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise ValidationError(_("Commune inconnue du territoire : %(q)s", q=raw),
                              field="commune")
    raise ValidationError(_("Plusieurs communes correspondent : %(list)s. Précisez.",
                            list=", ".join(commune_label(c) for c in candidates)),
                          field="commune")


def validate_patient(data: PatientData, scope: list[int] | int) -> PatientData:
    """Normalise and check; raises ValidationError with the field at fault. A treating
    doctor named from the list must volunteer in one of the ``scope`` CPTS."""
    scope = [scope] if isinstance(scope, int) else list(scope)
    data.last_name = (data.last_name or "").strip()
    data.first_name = (data.first_name or "").strip()
    if not data.last_name or not data.first_name:
        raise ValidationError(_("Le nom et le prénom du patient sont obligatoires."),
                              field="last_name")
    if len(data.last_name) > 100 or len(data.first_name) > 100:
        raise ValidationError(_("Nom ou prénom trop long."), field="last_name")
    if data.birth_date is not None:
        today = clock.now().date()
        if data.birth_date > today or data.birth_date.year < 1900:
            raise ValidationError(_("Date de naissance invalide."), field="birth_date")
    data.phone = (data.phone or "").strip() or None
    if data.phone and not PHONE_RE.match(data.phone):
        raise ValidationError(_("Numéro de téléphone invalide : %(p)s", p=data.phone),
                              field="phone")
    if db.session.get(Commune, (data.commune_insee or "").upper()) is None:
        raise ValidationError(_("Commune inconnue du territoire (code INSEE %(code)s).",
                                code=data.commune_insee), field="commune")
    data.commune_insee = data.commune_insee.upper()
    if data.mobility not in {m.value for m in Mobility}:
        raise ValidationError(_("Mode de venue inconnu."), field="mobility")
    kinds = {k.value for k in TreatingKind}
    if data.treating_kind not in kinds:
        raise ValidationError(_("Médecin traitant : choix inconnu."), field="treating")
    if data.treating_kind == TreatingKind.DOCTOR.value:
        doctor = db.session.get(Doctor, data.treating_doctor_id or 0)
        if doctor is None or not set(doctor_cpts_ids(doctor.id)) & set(scope):
            raise ValidationError(_("Médecin traitant introuvable dans le territoire."),
                                  field="treating")
    else:
        data.treating_doctor_id = None
    if data.treating_kind == TreatingKind.EXTERNAL.value:
        data.treating_external_name = (data.treating_external_name or "").strip() or None
        data.treating_external_rpps = (data.treating_external_rpps or "").strip() or None
        if not data.treating_external_name:
            raise ValidationError(_("Indiquez le nom du médecin traitant hors territoire."),
                                  field="treating_external_name")
        if data.treating_external_rpps and not rpps_is_valid(data.treating_external_rpps):
            raise ValidationError(_("Numéro RPPS du médecin traitant invalide."),
                                  field="treating_external_rpps")
    else:
        data.treating_external_name = data.treating_external_rpps = None
    return data


def create_patient(data: PatientData, *, flush: bool = True) -> Patient:
    """Add a validated patient to the session. The caller commits and writes the audit
    entry of the booking or request that carries it (with the patient's id)."""
    patient = Patient(last_name=data.last_name, first_name=data.first_name,
                      birth_date=data.birth_date, phone=data.phone,
                      commune_insee=data.commune_insee, treating_kind=data.treating_kind,
                      treating_doctor_id=data.treating_doctor_id,
                      treating_external_name=data.treating_external_name,
                      treating_external_rpps=data.treating_external_rpps,
                      mobility=data.mobility, created_at=clock.now())
    db.session.add(patient)
    if flush:
        db.session.flush()
    return patient


# --- reasons ------------------------------------------------------------------------------

def reasons_of(cpts_id: int | list[int], *, active_only: bool = True) -> list[Reason]:
    ids = [cpts_id] if isinstance(cpts_id, int) else list(cpts_id)
    stmt = select(Reason).where(Reason.cpts_id.in_(ids))
    if active_only:
        stmt = stmt.where(Reason.active.is_(True))
    return list(db.session.scalars(stmt.order_by(Reason.label)))


def check_reason(reason_id: int | None, scope: list[int] | int) -> int | None:
    """A reason of the protocol list of one of the ``scope`` CPTS (each keeps its own)."""
    if reason_id in (None, "", 0):
        return None
    scope = [scope] if isinstance(scope, int) else list(scope)
    reason = db.session.get(Reason, int(reason_id))
    if reason is None or reason.cpts_id not in scope or not reason.active:
        raise ValidationError(_("Motif inconnu du protocole de la CPTS."), field="reason")
    return reason.id


def add_reason(cpts_id: int, label: str) -> Reason:
    label = (label or "").strip()
    if not label or len(label) > 100:
        raise ValidationError(_("Le libellé du motif est obligatoire (100 caractères au plus)."),
                              field="label")
    clash = db.session.scalar(select(Reason).where(Reason.cpts_id == cpts_id,
                                                   Reason.label == label))
    if clash is not None:
        clash.active = True
        db.session.commit()
        return clash
    reason = Reason(cpts_id=cpts_id, label=label, active=True)
    db.session.add(reason)
    db.session.commit()
    return reason


def set_reason_active(cpts_id: int, reason_id: int, active: bool) -> Reason:
    reason = db.session.get(Reason, reason_id)
    if reason is None or reason.cpts_id != cpts_id:
        raise NotFound(_("Motif introuvable."))
    reason.active = active
    db.session.commit()
    return reason


def ensure_default_reasons(cpts_id: int) -> None:
    if db.session.scalar(select(Reason.id).where(Reason.cpts_id == cpts_id).limit(1)) is None:
        for label in DEFAULT_REASONS:
            db.session.add(Reason(cpts_id=cpts_id, label=label, active=True))
        db.session.flush()
