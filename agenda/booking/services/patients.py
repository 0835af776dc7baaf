"""The minimal patient record and the CPTS protocol reasons."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from types import SimpleNamespace
from datetime import date, datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import bindparam, case, func, literal, null, or_, select, true, union_all
from sqlalchemy.sql.expression import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from agenda import clock
from agenda.accounts.scope import in_cpts
from agenda.booking.models import Mobility, Patient, Reason, TreatingKind, phone_key
from agenda.errors import Conflict, NotFound, ValidationError
from agenda.extensions import db
from agenda.sms import to_e164
from agenda.slots.models import Slot
from agenda.territory.models import Commune, Doctor
from agenda.territory.services import (  # noqa: F401  (re-exported for the booking views)
    INSEE_RE, POSTCODE_RE, AmbiguousCommune, commune_label, communes_by_postcode, doctor_cpts_ids,
    fold_name, one_commune, resolve_commune, rpps_is_valid)

PHONE_RE = re.compile(r"^\+?[0-9 .\-]{6,20}$")

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
    # The commune already resolved by the caller (``resolve_commune``): not read again.
    commune: Commune | None = field(default=None, repr=False, compare=False)
    # An INSEE code a query of the caller found among the communes (the booking's slot
    # read): not read again either.
    known_insee: str | None = field(default=None, repr=False, compare=False)
    # The patient agrees to text messages about the booking (confirmation, reminder, link).
    sms_consent: bool = False


def resolve_legacy_commune(text: str) -> Commune:
    """The API's former ``commune`` field (an INSEE code, a name or a postcode), kept for
    the clients that send it: a 5-character code counts as both a postcode and an INSEE
    code, and is taken only if that designates a single commune (44036: Châteaubriant;
    44110: refused, a postcode of several communes and Nort-sur-Erdre's INSEE code)."""
    raw = (text or "").strip()
    if INSEE_RE.match(raw.upper()):
        # One read: the communes of the postcode (most populated first), then the commune
        # of the INSEE code.
        candidates = list(db.session.scalars(_legacy_read(bool(POSTCODE_RE.match(raw))),
                                             {"code": raw.upper(), "postcode": raw}))
        if candidates:
            return one_commune(candidates, raw)
    return resolve_commune(raw)


@functools.cache
def _legacy_read(with_postcode: bool):
    from agenda.territory.models import commune_postcodes

    if not with_postcode:
        return select(Commune).where(Commune.insee == bindparam("code"))
    by_postcode = Commune.insee.in_(select(commune_postcodes.c.insee).where(
        commune_postcodes.c.postcode == bindparam("postcode")))
    return (select(Commune).where(or_(by_postcode, Commune.insee == bindparam("code")))
            .order_by(case((by_postcode, 0), else_=1), Commune.population.desc().nulls_last(),
                      Commune.name))


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
    data.sms_consent = bool(data.sms_consent)
    if data.sms_consent and to_e164(data.phone) is None:
        raise ValidationError(_("Pour envoyer les SMS, indiquez le numéro de portable du "
                                "patient (06 ou 07), ou décochez l'accord pour les SMS."),
                              field="phone")
    code = (data.commune_insee or "").strip().upper()
    if code != data.known_insee and (data.commune is None or data.commune.insee != code):
        data.commune = db.session.get(Commune, code)
        if data.commune is None:
            raise ValidationError(_("Commune inconnue du territoire (code INSEE %(code)s).",
                                    code=data.commune_insee), field="commune")
    data.commune_insee = code
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
                      mobility=data.mobility, sms_consent=data.sms_consent,
                      created_at=clock.now())
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


# --- duplicates -----------------------------------------------------------------------------

DUPLICATE_WINDOW_HOURS = 48


@dataclass
class DuplicateMatch:
    """A live booking or request of (probably) the same patient: when, where, which
    channel — never the identity of the patient or of another organisation's booker."""

    kind: str  # "booking" / "request"
    start: datetime
    end: datetime
    place: str
    channel: str
    same_organisation: bool
    reference: str | None = None

    def to_dict(self) -> dict:
        return {"kind": self.kind, "start": self.start.isoformat(),
                "end": self.end.isoformat(), "place": self.place, "channel": self.channel,
                "same_organisation": self.same_organisation,
                "reference": self.reference if self.same_organisation else None}


class PossibleDuplicate(Conflict):
    """The patient seems already booked: the booker confirms with a reason (audited)."""

    code = "possible_duplicate"

    def __init__(self, message: str, matches: list[DuplicateMatch]):
        super().__init__(message, field="duplicate_reason")
        self.matches = matches

    def to_dict(self) -> dict:
        data = super().to_dict()
        data["duplicates"] = [m.to_dict() for m in self.matches]
        data["resend_with"] = "duplicate_reason"
        return data


def _same_patient(data: PatientData, patient: Patient) -> bool:
    phone = phone_key(data.phone)
    if phone and phone == phone_key(patient.phone):
        return True
    return (data.birth_date is not None and patient.birth_date == data.birth_date
            and fold_name(patient.last_name) == fold_name(data.last_name))


def find_duplicates(user, data: PatientData, scope: list[int],
                    candidates: list | None = None) -> list[DuplicateMatch]:
    """Live bookings and pending requests of the same patient (same last name and birth
    date, or same phone) in the coming 48 hours, in the CPTS ``user`` serves. One query
    reads the candidates (the same birth date, or the same ``phone_key``: the last nine
    digits); the rule is then applied here (names folded). ``candidates``: those rows
    already read with another query (:func:`duplicates_column`)."""
    phone = phone_key(data.phone)
    if not phone and data.birth_date is None:
        return []
    rows = candidates
    if rows is None:
        rows = db.session.execute(_duplicates_read(db.session.get_bind().dialect.name),
                                  duplicates_params(data, scope))
    matches: list[DuplicateMatch] = []
    for row in rows:
        if not _same_patient(data, row):
            continue
        if row.kind == "booking":
            where = row.place_label or f"{row.address}, {row.commune or row.insee}".strip(", ")
            where = f"Dr {row.doctor_first} {row.doctor_last} — {where}"
        else:
            where = _("demande en attente")
        matches.append(DuplicateMatch(row.kind, row.start, row.end, where, row.channel,
                                      row.booker_org_id == user.organisation_id,
                                      row.reference))
    return matches


def duplicates_params(data: PatientData, scope: list[int]) -> dict:
    """The parameters of the candidates' read (:func:`_duplicates_read`,
    :func:`duplicates_column`) and of :func:`commune_column`."""
    now = clock.now()
    return {"now": now, "until": now + timedelta(hours=DUPLICATE_WINDOW_HOURS),
            "scope": scope, "phone_key": phone_key(data.phone), "birth_date": data.birth_date,
            "patient_insee": (data.commune_insee or "").strip().upper()}


def commune_column():
    """The patient's INSEE code if it names a commune (else NULL), to add to a read the
    booking makes anyway: :func:`validate_patient` then reads nothing more."""
    return (select(Commune.insee).where(Commune.insee == bindparam("patient_insee"))
            .scalar_subquery().label("known_insee"))


def duplicates_column():
    """PostgreSQL: the candidates of :func:`find_duplicates` as one JSON column
    (``json_agg`` of the rows), to add to a read the booking makes anyway — one round trip
    less; :func:`duplicate_candidates` turns it back into rows."""
    both = _duplicates_union(postgresql=True)
    return (select(func.json_agg(both.table_valued())).select_from(both)
            .scalar_subquery().label("duplicate_candidates"))


def duplicate_candidates(value: list | None) -> list:
    """The rows of :func:`duplicates_column`'s JSON, typed as the query's."""
    rows = []
    for item in value or ():
        item = dict(item)
        item["start"] = datetime.fromisoformat(item["start"])
        item["end"] = datetime.fromisoformat(item["end"])
        if item.get("birth_date"):
            item["birth_date"] = date.fromisoformat(item["birth_date"])
        rows.append(SimpleNamespace(**item))
    rows.sort(key=lambda r: (r.kind, r.start))
    return rows


@functools.cache
def _duplicates_read(dialect: str):
    """Candidates of :func:`find_duplicates`, bookings then requests (built once)."""
    both = _duplicates_union(postgresql=dialect == "postgresql")
    return select(both).order_by(both.c.kind, both.c.start)


def _duplicates_union(*, postgresql: bool):
    """The candidates' rows: the live bookings, then the pending requests."""
    from agenda.booking.models import Booking, BookingStatus, FloatingRequest, RequestStatus
    from agenda.territory.models import Place

    # The patients who may be the same one, each key through its index (a few rows
    # whatever the number of patients and bookings), then each one's records through
    # ``(patient_id, status, start)``, whatever the statistics say: on PostgreSQL a LATERAL subquery
    # per candidate (OFFSET 0: kept as written, the window's conditions applied after it),
    # on SQLite the IN list of the candidates, the window's terms written ``+column`` so that
    # no index may serve them (SQLite's documented way). (A generic plan made while
    # ``bookings`` looked empty, and SQLite without statistics in some runs, walked
    # ``(status, start)`` over every live booking and compared each with the candidates.)
    candidates = (select(Patient.id, Patient.last_name, Patient.birth_date, Patient.phone)
                  .where(or_(Patient.phone_key == bindparam("phone_key"),
                             Patient.birth_date == bindparam("birth_date")))
                  .cte("candidates").prefix_with("MATERIALIZED", dialect="postgresql"))
    patient = (candidates.c.last_name, candidates.c.birth_date, candidates.c.phone)

    def records_of_candidates(model, *columns):
        """``model``'s rows of the candidates (``columns`` of them), joined to their
        candidate."""
        records = select(model.patient_id, model.status, model.cpts_id, *columns)
        if postgresql:
            sub = records.where(model.patient_id == candidates.c.id).offset(0).lateral()
            return sub, candidates.join(sub, true())
        sub = records.where(model.patient_id.in_(select(candidates.c.id))).subquery()
        return sub, candidates.join(sub, sub.c.patient_id == candidates.c.id)

    def window(column):
        """``column`` as a term no index serves, on SQLite (PostgreSQL: the fence above)."""
        if postgresql:
            return column
        return UnaryExpression(column, operator=custom_op("+"), type_=column.type)

    live, joined = records_of_candidates(
        Booking, Booking.slot_id, Booking.doctor_id, Booking.start, Booking.end,
        Booking.channel, Booking.booker_org_id, Booking.reference)
    bookings = (
        select(literal("booking").label("kind"), live.c.start, live.c.end, live.c.channel,
               live.c.booker_org_id, live.c.reference, *patient,
               Doctor.first_name.label("doctor_first"), Doctor.last_name.label("doctor_last"),
               Place.label.label("place_label"), Place.address,
               Commune.name.label("commune"), Place.commune_insee.label("insee"))
        .select_from(joined).join(Slot, Slot.id == live.c.slot_id)
        .join(Place, Place.id == Slot.place_id).join(Doctor, Doctor.id == live.c.doctor_id)
        .outerjoin(Commune, Commune.insee == Place.commune_insee)
        .where(window(live.c.status) == BookingStatus.BOOKED.value,
               window(live.c.end) > bindparam("now"), window(live.c.start) < bindparam("until"),
               in_cpts(window(live.c.cpts_id), "scope", postgresql)))
    pending, joined = records_of_candidates(
        FloatingRequest, FloatingRequest.window_start, FloatingRequest.window_end,
        FloatingRequest.channel, FloatingRequest.booker_org_id, FloatingRequest.reference)
    requests = (
        select(literal("request"), pending.c.window_start, pending.c.window_end,
               pending.c.channel, pending.c.booker_org_id, pending.c.reference, *patient,
               *[null()] * 6)
        .select_from(joined)
        .where(window(pending.c.status) == RequestStatus.PENDING.value,
               window(pending.c.window_end) > bindparam("now"),
               window(pending.c.window_start) < bindparam("until"),
               in_cpts(window(pending.c.cpts_id), "scope", postgresql)))
    return union_all(bookings, requests).subquery("duplicate_rows")


def check_duplicates(user, data: PatientData, scope: list[int],
                     reason: str | None, candidates: list | None = None) -> list[DuplicateMatch]:
    """Refuse (409 ``possible_duplicate``) a booking of a patient who already has one in
    the coming 48 h, unless the booker gives a reason — recorded in the audit log."""
    matches = find_duplicates(user, data, scope, candidates)
    if not matches:
        return []
    reason = (reason or "").strip()
    if not reason:
        first = matches[0]
        raise PossibleDuplicate(
            _("Ce patient a peut-être déjà un rendez-vous : %(what)s le %(when)s, %(where)s "
              "(%(channel)s). Pour réserver quand même, indiquez la raison.",
              what=_("réservation") if first.kind == "booking" else _("demande"),
              when=_when(first.start), where=first.place,
              channel=channel_name(first.channel)), matches)
    if len(reason) > 300:
        raise ValidationError(_("Raison trop longue (300 caractères au plus)."),
                              field="duplicate_reason")
    return matches


def channel_name(channel: str) -> str:
    return {"secretariat": _("Télésecrétariat"), "samu": _("SAMU / SAS"),
            "ed": _("Urgences")}.get(channel, channel)


def _when(at: datetime) -> str:
    from agenda.booking.services.notify import when

    return when(at)
