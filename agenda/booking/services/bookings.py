"""Holds, fixed bookings, cancellation, outcomes, synthesis, reorientation and the reads
that show patient data (with their access rules and audit entries)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import SimpleNamespace
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import bindparam, case, func, or_, select, update
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value

from agenda import alerts, audit, clock, driver
from agenda.accounts.models import Organisation, Role, User
from agenda.accounts.scope import in_cpts
from agenda.booking.models import (Booking, BookingStatus, CallOutcome, CancelledBy,
                                   FloatingRequest, Patient, Reorientation)
from agenda.booking import reminders
from agenda.booking.services import batch, notify
from agenda.booking.services.calls import call_cpts, log_call
from agenda.booking.services.common import (BOOKER_ROLE_VALUES, absolute_url, channel_of,
                                            charter_for, commit_keeping_state, doctor_of,
                                            new_reference, require_booker, require_doctor)
from agenda.booking.services.patients import (PatientData, check_duplicates, check_reason,
                                              commune_column, create_patient,
                                              duplicate_candidates,
                                              duplicates_column, duplicates_params,
                                              validate_patient)
from agenda.errors import Conflict, Forbidden, NotFound, RuleViolation, ValidationError
from agenda.extensions import db
from agenda.slots.models import CharterSettings, Slot, SlotKind, SlotStatus
from agenda.booking.services.search import horizon_ends, search_scope
from agenda.territory.models import Doctor, Place
from agenda.types import UTCDateTime

ORIGINS = {"web", "api", "sas"}
OUTCOMES = {BookingStatus.SEEN.value, BookingStatus.NO_SHOW.value,
            BookingStatus.CANCELLED.value}


@dataclass
class BookingInput:
    """What a booker sends to book a slot (a fixed one, or a floating window)."""

    slot_id: int
    patient: PatientData
    reason_id: int | None = None
    note: str | None = None
    origin: str = "web"
    # Why the booker books although the patient seems already booked (audited).
    duplicate_reason: str | None = None
    # The SAMU / SAS regulation file number (optional).
    regulation_number: str | None = None


def _bookable_slot(user: User, slot_id: int, *, reserve: tuple = (),
                   patient: PatientData | None = None
                   ) -> tuple[Slot, datetime, tuple[int, ...], list | None]:
    """The slot ``user`` may book, with its doctor loaded, the end of its CPTS's booking
    horizon, and (PostgreSQL) the ids drawn for the ``reserve`` models, the duplicate
    check's candidates for ``patient`` (None: not read here) and whether its commune
    exists (``patient.known_insee``) — one query.
    Exactly the search's rules (``search.bookable_conditions``): a slot of a CPTS
    the booker does not serve is not found (404); one the search would hide for a rule of
    the charter (horizon, hors charte, inactive doctor or place) is refused naming the rule
    (422); what a race can change (taken, held) is decided by the conditional UPDATE (409).
    """
    scope = search_scope(user)
    dialect = db.session.get_bind().dialect.name
    with_duplicates = patient is not None and dialect == "postgresql"
    with_commune = with_duplicates and patient.commune is None
    params = {"slot_id": slot_id, "scope": scope}
    if with_duplicates:
        params.update(duplicates_params(patient, scope))
    found = driver.rows(_slot_read(reserve, dialect, with_duplicates, with_commune), params)
    if not found:
        raise NotFound(_("Créneau introuvable."))
    row = found[0]
    n_slot, n_doctor = len(_SLOT_COLUMNS), len(_DOCTOR_COLUMNS)
    slot = driver.attach_row(Slot, _SLOT_COLUMNS, row)
    set_committed_value(slot, "doctor", driver.attach_row(Doctor, _DOCTOR_COLUMNS, row, n_slot))
    place_active, charter_cpts, horizon_hours, same_day_until, *ids = row[n_slot + n_doctor:]
    candidates = duplicate_candidates(ids.pop()) if with_duplicates else None
    if with_commune:
        patient.known_insee = ids.pop()
    # The charter's horizon, read with the slot (the whole row is not needed here).
    charters = ({slot.cpts_id: SimpleNamespace(horizon_hours=horizon_hours,
                                               same_day_until=same_day_until)}
                if charter_cpts is not None else None)
    horizon = horizon_ends([slot.cpts_id], charters=charters)[slot.cpts_id]
    if slot.start >= horizon:
        raise RuleViolation(
            _("Ce créneau est au-delà de l'horizon de réservation de la charte de sa CPTS "
              "(réservable jusqu'au %(until)s) : il n'est pas encore proposé.",
              until=notify.when(horizon)), rule="horizon", field="slot_id")
    if not slot.in_charter:
        raise RuleViolation(_("Ce créneau est hors charte : il n'est pas réservable."),
                            rule="charter", field="slot_id")
    if not slot.doctor.active or not place_active:
        raise RuleViolation(_("Ce médecin ne reçoit plus de patients SNP à ce lieu."),
                            rule="doctor_inactive", field="slot_id")
    return slot, horizon, tuple(ids), candidates


@functools.cache
def _slot_read(reserve: tuple, _dialect: str, with_duplicates: bool = False,
               with_commune: bool = False):
    """The slot's and its doctor's columns, its place's state and its CPTS's charter
    (built once, run by :func:`agenda.driver.rows`); the ids drawn for ``reserve``,
    whether the patient's commune exists and the duplicate check's candidates when asked
    (in that order, last)."""
    extra = ([commune_column()] if with_commune else []) + \
        ([duplicates_column()] if with_duplicates else [])
    # The columns the booking paths use (the sync's and the import's are not read).
    return (select(*_SLOT_COLUMNS, *_DOCTOR_COLUMNS, Place.active, CharterSettings.cpts_id,
                   CharterSettings.horizon_hours, CharterSettings.same_day_until,
                   *batch.next_id_columns(*reserve), *extra)
            .select_from(Slot)
            .join(Doctor, Doctor.id == Slot.doctor_id)
            .join(Place, Place.id == Slot.place_id)
            .outerjoin(CharterSettings, CharterSettings.cpts_id == Slot.cpts_id)
            .where(Slot.id == bindparam("slot_id"),
                   in_cpts(Slot.cpts_id, "scope", _dialect == "postgresql")))


_SLOT_COLUMNS = (Slot.id, Slot.doctor_id, Slot.place_id, Slot.cpts_id, Slot.kind, Slot.start,
                 Slot.end, Slot.capacity, Slot.booked_count, Slot.mode, Slot.status,
                 Slot.in_charter, Slot.held_by_user_id, Slot.held_until, Slot.held_since)
_DOCTOR_COLUMNS = (Doctor.id, Doctor.first_name, Doctor.last_name, Doctor.email,
                   Doctor.phone, Doctor.address, Doctor.active, Doctor.cpts_id)


def _hold_free(user_id: int, now):
    return or_(Slot.held_until.is_(None), Slot.held_until <= now, Slot.held_by_user_id == user_id)


# --- hold ---------------------------------------------------------------------------------

def hold_slot(user: User, slot_id: int) -> Slot:
    """Hold a fixed slot for ``user`` for the charter's few minutes (one conditional UPDATE).

    Capped by the charter: a user and an organisation hold at most ``hold_max_per_user`` /
    ``hold_max_per_org`` slots at once, and a renewed hold ends ``hold_max_total_min`` after
    it began. The caps are counted inside the UPDATE (SQLite: one writer at a time;
    PostgreSQL: the organisation's holds are taken one at a time under a row lock).
    """
    require_booker(user)
    slot, horizon, _ids, _candidates = _bookable_slot(user, slot_id)
    if slot.kind != SlotKind.FIXED.value:
        raise ValidationError(_("Un créneau flottant ne se bloque pas : envoyez la demande."),
                              field="slot_id")
    now = clock.now()
    charter = charter_for(slot.cpts_id)
    until = now + timedelta(minutes=charter.hold_minutes)
    renewal = slot.held_by_user_id == user.id and slot.held_until and slot.held_until > now
    if renewal:
        since = slot.held_since or now
        end_of_all = since + timedelta(minutes=charter.hold_max_total_min)
        if end_of_all <= now:
            raise RuleViolation(_("Ce créneau est bloqué depuis %(n)s minutes : réservez-le "
                                  "ou libérez-le.", n=charter.hold_max_total_min),
                                rule="hold_max_total")
        until = min(until, end_of_all)
        mine = (Slot.held_by_user_id == user.id, Slot.held_until > now,
                Slot.held_since == since if slot.held_since else Slot.held_since.is_(None))
    else:
        since = now
        mine = (_hold_free(user.id, now), *_hold_caps(user, slot_id, now, charter))
    result = db.session.execute(
        update(Slot)
        .where(Slot.id == slot_id, Slot.kind == SlotKind.FIXED.value,
               Slot.status == SlotStatus.OPEN.value, Slot.in_charter.is_(True),
               Slot.booked_count < Slot.capacity, Slot.start > now, Slot.start < horizon,
               *mine)
        .values(held_by_user_id=user.id, held_until=until, held_since=since)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        db.session.rollback()
        _explain_refused_hold(user, slot_id, now, charter)
    db.session.commit()
    db.session.refresh(slot)
    return slot


def _live_holds(now, exclude_slot_id: int):
    other = aliased(Slot)
    return other, select(func.count()).select_from(other).where(
        other.held_until > now, other.id != exclude_slot_id)


def _hold_caps(user: User, slot_id: int, now, charter) -> tuple:
    if db.engine.dialect.name == "postgresql":
        # Serialise the holds of one organisation so the counts below see every hold.
        db.session.execute(select(Organisation.id).where(Organisation.id == user.organisation_id)
                           .with_for_update(key_share=True))
    other, live = _live_holds(now, slot_id)
    by_user = live.where(other.held_by_user_id == user.id).scalar_subquery()
    by_org = (live.join(User, User.id == other.held_by_user_id)
              .where(User.organisation_id == user.organisation_id).scalar_subquery())
    return by_user < charter.hold_max_per_user, by_org < charter.hold_max_per_org


def _explain_refused_hold(user: User, slot_id: int, now, charter) -> None:
    """Raise the reason a hold was refused (read after the UPDATE decided)."""
    other, live = _live_holds(now, slot_id)
    if db.session.scalar(live.where(other.held_by_user_id == user.id)) >= \
            charter.hold_max_per_user:
        raise RuleViolation(_("Vous bloquez déjà %(n)s créneaux : réservez ou libérez-en un "
                              "avant d'en bloquer un autre.", n=charter.hold_max_per_user),
                            rule="hold_max_per_user")
    by_org = db.session.scalar(live.join(User, User.id == other.held_by_user_id)
                               .where(User.organisation_id == user.organisation_id))
    if by_org >= charter.hold_max_per_org:
        raise RuleViolation(_("Votre organisation bloque déjà %(n)s créneaux : réessayez dans "
                              "quelques minutes.", n=charter.hold_max_per_org),
                            rule="hold_max_per_org")
    raise Conflict(_("Ce créneau vient d'être pris ou bloqué par un autre utilisateur : "
                     "choisissez-en un autre."))


def release_hold(user: User, slot_id: int) -> None:
    db.session.execute(update(Slot).where(Slot.id == slot_id, Slot.held_by_user_id == user.id)
                       .values(held_by_user_id=None, held_until=None, held_since=None)
                       .execution_options(synchronize_session=False))
    db.session.commit()


# --- book ---------------------------------------------------------------------------------

def book(user: User, data: BookingInput) -> Booking | FloatingRequest:
    """Book a fixed slot (a Booking) or send a floating request (a FloatingRequest)."""
    require_booker(user)
    if data.origin not in ORIGINS:
        raise ValidationError(_("Origine inconnue."), field="origin")
    # The slot, the ids to write and the duplicate check's candidates: one read.
    slot, horizon, ids, candidates = _bookable_slot(user, data.slot_id,
                                                    reserve=(Patient, Booking),
                                                    patient=data.patient)
    scope = search_scope(user)
    patient = validate_patient(data.patient, scope)
    reason_id = check_reason(data.reason_id, scope)
    note = (data.note or "").strip()[:1000] or None
    regulation = _regulation_number(data.regulation_number)
    duplicates = check_duplicates(user, patient, scope, data.duplicate_reason, candidates)
    if slot.kind == SlotKind.FLOATING.value:
        from agenda.booking.services.requests import create_request

        req = create_request(user, slot, patient, reason_id=reason_id, note=note,
                             origin=data.origin)
        if duplicates:
            audit.record("duplicate_override", "request", req.id, patient_id=req.patient_id,
                         user_id=user.id, cpts_id=req.cpts_id,
                         detail=(data.duplicate_reason or "").strip()[:300])
            db.session.commit()
        return req
    return _book_fixed(user, slot, horizon, patient, reason_id, note, data.origin,
                       regulation, duplicates and data.duplicate_reason, ids=ids)


def _regulation_number(value: str | None) -> str | None:
    value = (value or "").strip()
    if len(value) > 40:
        raise ValidationError(_("Numéro de dossier de régulation trop long (40 caractères au "
                                "plus)."), field="regulation_number")
    return value or None


def _book_fixed(user: User, slot: Slot, horizon, patient_data: PatientData, reason_id, note,
                origin: str, regulation: str | None = None,
                duplicate_reason: str | None = None, *, ids: tuple = ()) -> Booking:
    """THE take: one conditional UPDATE, its row count decides; nothing is written unless
    it took the slot. On PostgreSQL the UPDATE and every row of the booking are one
    statement (:mod:`.batch`, with the ``ids`` drawn for the patient and the booking);
    elsewhere the UPDATE comes first, then one flush."""
    now = clock.now()
    slot_id, doctor_id, start, end = slot.id, slot.doctor_id, slot.start, slot.end
    cpts_id = slot.cpts_id
    doctor = slot.doctor
    take = _take_statement()
    params = {"take_slot": slot_id, "take_start": start, "take_now": now,
              "take_horizon": horizon, "take_user": user.id}
    single = bool(ids)
    if not single and db.session.execute(take, params).rowcount != 1:
        _lost_race()
    with db.session.no_autoflush:  # nothing reaches the database before the take
        patient = create_patient(patient_data, flush=False)
        booking = Booking(reference=new_reference("R"), slot_id=slot_id, doctor_id=doctor_id,
                          cpts_id=cpts_id, patient=patient, booker_user_id=user.id,
                          booker_org_id=user.organisation_id, channel=channel_of(user),
                          origin=origin, status=BookingStatus.BOOKED.value, start=start,
                          end=end, reason_id=reason_id, note=note, created_at=now,
                          regulation_number=regulation)
        db.session.add(booking)
        if single:
            patient.id, booking.id = ids
        else:
            db.session.flush()
        log_call(user, CallOutcome.BOOKED.value, cpts_id, commune_insee=patient.commune_insee,
                 reason_id=reason_id, booking_id=booking.id, now=now)
        audit.record("create", "booking", booking.id, patient_id=patient.id, user_id=user.id,
                     cpts_id=cpts_id)
        if duplicate_reason:
            audit.record("duplicate_override", "booking", booking.id, patient_id=patient.id,
                         user_id=user.id, cpts_id=cpts_id,
                         detail=duplicate_reason.strip()[:300])
        notify.booking_events(booking, "booked")
        notify.mail_doctor_booked(doctor.email, booking,
                                  absolute_url("booking.detail", booking_id=booking.id))
        if patient.sms_consent:
            reminders.confirm(booking)
    if single and not batch.take_and_insert(take, params):
        _lost_race()
    # Shown at once (the API's booking_dict): kept loaded, nothing read after the commit.
    set_committed_value(booking, "doctor", doctor)
    commit_keeping_state(slot)
    return booking


@functools.cache
def _take_statement():
    """THE take (built once): the slot is still open, in the charter, with room, at the
    time read, ahead, within the horizon, and not held by somebody else.

    The row is found by its primary key alone. "At the time read" is written ``IS NOT
    DISTINCT FROM`` (the same test on a NOT NULL column) because PostgreSQL's plan for the
    prepared statement otherwise took ``status = 'open' AND start = …`` to the
    ``(status, start)`` index and read every open slot starting at that minute (doctors
    publish at the same hours: 45 of them in the bench's department) before filtering on
    the id. ``test_search_plan`` checks the plan."""
    # (Parameters not named after a column: those would be read as values to SET.)
    now = bindparam("take_now", type_=UTCDateTime)
    return (update(Slot)
            .where(Slot.id == bindparam("take_slot"), Slot.kind == SlotKind.FIXED.value,
                   Slot.status == SlotStatus.OPEN.value, Slot.in_charter.is_(True),
                   Slot.booked_count < Slot.capacity,
                   Slot.start.is_not_distinct_from(bindparam("take_start", type_=UTCDateTime)),
                   Slot.start > now,
                   Slot.start < bindparam("take_horizon", type_=UTCDateTime),
                   _hold_free(bindparam("take_user"), now))
            .values(booked_count=Slot.booked_count + 1,
                    status=case((Slot.booked_count + 1 >= Slot.capacity,
                                 SlotStatus.BOOKED.value), else_=SlotStatus.OPEN.value),
                    held_by_user_id=None, held_until=None, updated_at=now)
            .execution_options(synchronize_session=False))


def _lost_race() -> None:
    db.session.rollback()
    raise Conflict(_("Ce créneau n'est plus disponible (réservé ou bloqué entre-temps) : "
                     "choisissez-en un autre."))


# --- access and reads ---------------------------------------------------------------------

def can_see_identity(user: User, booking: Booking) -> bool:
    """Booker: own organisation; doctor: own patient or treating doctor; nobody else."""
    if user.role in BOOKER_ROLE_VALUES:
        return booking.booker_org_id == user.organisation_id
    if user.role == Role.DOCTOR.value:
        doctor = doctor_of(user)
        if doctor is None:
            return False
        if booking.doctor_id == doctor.id:
            return True
        return (booking.patient is not None and booking.patient.treating_doctor_id == doctor.id
                and booking.status == BookingStatus.SEEN.value)
    return False


def get_booking(user: User, booking_id: int, *, audit_view: bool = True
                ) -> tuple[Booking, bool]:
    """The booking and whether ``user`` may see the patient's identity (audited)."""
    booking = db.session.get(Booking, booking_id)
    if booking is None:
        raise NotFound(_("Réservation introuvable."))
    identity = can_see_identity(user, booking)
    if not identity:
        same_cpts = booking.cpts_id == user.cpts_id
        if not (user.role in (Role.COORDINATOR.value, Role.ADMIN.value) and same_cpts):
            raise NotFound(_("Réservation introuvable."))
    if identity and audit_view:
        audit.record("view", "booking", booking.id, patient_id=booking.patient_id, user_id=user.id)
        db.session.commit()
    return booking, identity


def bookings_for(user: User, *, limit: int = 100, upcoming_only: bool = False
                 ) -> list[Booking]:
    """Bookers: their organisation's; doctors: their own; coordinator: the CPTS's (the
    caller must not show identity to a coordinator)."""
    stmt = select(Booking)
    if user.role in BOOKER_ROLE_VALUES:
        stmt = stmt.where(Booking.booker_org_id == user.organisation_id)
    elif user.role == Role.DOCTOR.value:
        doctor = require_doctor(user)
        stmt = stmt.where(Booking.doctor_id == doctor.id)
    elif user.role in (Role.COORDINATOR.value, Role.ADMIN.value):
        stmt = stmt.where(Booking.cpts_id == user.cpts_id)
    else:
        raise Forbidden(_("Accès refusé."))
    if upcoming_only:
        stmt = stmt.where(Booking.end > clock.now())
    return list(db.session.scalars(stmt.order_by(Booking.start.desc()).limit(limit)))


def audit_list(user: User, bookings: list[Booking], requests=()) -> None:
    """One audit entry per list call, naming the bookings (and requests) it shows."""
    entries = [audit.record_list("booking", bookings, user_id=user.id),
               audit.record_list("request", requests, user_id=user.id)]
    if any(entries):
        db.session.commit()


def status_counts(user: User) -> dict[str, int]:
    from sqlalchemy import func

    rows = db.session.execute(
        select(Booking.status, func.count())
        .where(Booking.cpts_id == user.cpts_id).group_by(Booking.status))
    counts = {s.value: 0 for s in BookingStatus}
    counts.update({status: n for status, n in rows})
    counts["reoriented"] = reorientation_count(user)
    return counts


# --- cancel -------------------------------------------------------------------------------

def cancel_booking(user: User, booking_id: int, reason: str) -> Booking:
    booking = db.session.get(Booking, booking_id)
    if booking is None:
        raise NotFound(_("Réservation introuvable."))
    doctor = doctor_of(user)
    by_doctor = doctor is not None and booking.doctor_id == doctor.id
    by_booker = user.role in BOOKER_ROLE_VALUES and booking.booker_org_id == user.organisation_id
    if not (by_doctor or by_booker):
        raise NotFound(_("Réservation introuvable."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("Indiquez le motif de l'annulation."), field="reason")
    now = clock.now()
    by = CancelledBy.DOCTOR if by_doctor else CancelledBy.BOOKER
    if not _cancel(booking, user, now, reason=reason[:300], by=by):
        db.session.rollback()
        raise Conflict(_("Cette réservation n'est plus active (déjà annulée ou close)."))
    db.session.refresh(booking)
    # The reason is free text (it may name the patient): on the booking, purged with it,
    # never in the append-only audit log.
    audit.record("cancel", "booking", booking.id, patient_id=booking.patient_id,
                 user_id=user.id)
    _tell_cancelled(booking, by)
    db.session.commit()
    return booking


def cancel_by_patient(booking: Booking, now: datetime) -> bool:
    """"Annulé par le patient": the one-tap link of a text message (the caller,
    :mod:`agenda.booking.reminders`, checked the link). The same cancellation as
    "Annuler"; the doctor and the booker are told. False when the booking was no longer
    booked. The caller commits."""
    if not _cancel(booking, None, now, reason=None, by=CancelledBy.PATIENT):
        return False
    db.session.refresh(booking)
    audit.record("cancel", "booking", booking.id, patient_id=booking.patient_id,
                 detail="patient")
    _tell_cancelled(booking, CancelledBy.PATIENT)
    return True


def _tell_cancelled(booking: Booking, by: CancelledBy) -> None:
    """Calendar, national platform, alerts and mails of a cancellation (no patient
    identity): the booker when the doctor cancelled, the doctor when the booker did, both
    when the patient did."""
    notify.booking_events(booking, "cancelled")
    link = absolute_url("booking.detail", booking_id=booking.id)
    when = notify.when(booking)
    if by in (CancelledBy.DOCTOR, CancelledBy.PATIENT):
        message = (_("Le patient a annulé la réservation %(ref)s du %(when)s (lien du SMS) : "
                     "inutile de le rappeler.", ref=booking.reference, when=when)
                   if by == CancelledBy.PATIENT else
                   _("Le médecin a annulé la réservation %(ref)s du %(when)s : "
                     "trouvez une autre solution pour le patient.",
                     ref=booking.reference, when=when))
        alerts.raise_alert("booking_cancelled", message,
                           cpts_id=booking.cpts_id, organisation_id=booking.booker_org_id,
                           user_id=booking.booker_user_id, object_type="booking",
                           object_id=booking.id)
        booker = db.session.get(User, booking.booker_user_id) if booking.booker_user_id else None
        notify.mail_cancelled(booker.email if booker else None, booking, link, by.value)
    if by in (CancelledBy.BOOKER, CancelledBy.PATIENT):
        doc = db.session.get(Doctor, booking.doctor_id)
        message = (_("Le patient a annulé la réservation %(ref)s du %(when)s : le créneau "
                     "est de nouveau réservable.", ref=booking.reference, when=when)
                   if by == CancelledBy.PATIENT else
                   _("La réservation %(ref)s du %(when)s a été annulée.",
                     ref=booking.reference, when=when))
        alerts.raise_alert("booking_cancelled", message,
                           cpts_id=booking.cpts_id, doctor_id=doc.id, object_type="booking",
                           object_id=booking.id)
        notify.mail_cancelled(doc.email, booking, link, by.value)


def _cancel(booking: Booking, user: User | None, now: datetime, *, reason: str | None,
            by: CancelledBy, outcome_at: datetime | None = None) -> bool:
    """The one path of a cancellation, whether through "Annuler" (booker or doctor), the
    outcome "annulé" or the patient's link (``by`` says which): the booking is cancelled
    (one conditional UPDATE, False when it was no longer booked); a slot still ahead gets
    its capacity back (bookable again, or a floating window its place), a past one is left
    as it was. Either way the slot stays offered (in the supply, the statistics and
    the indemnities: only the doctor's withdrawal takes a slot back). A floating request
    the booking came from stays accepted (a doctor did accept it); the booking's
    cancellation is counted among the bookings."""
    result = db.session.execute(
        update(Booking).where(Booking.id == booking.id,
                              Booking.status == BookingStatus.BOOKED.value)
        .values(status=BookingStatus.CANCELLED.value, cancelled_at=now,
                cancelled_by_user_id=user.id if user is not None else None,
                cancelled_by=by.value, cancel_reason=reason, outcome_at=outcome_at)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    if booking.start <= now:
        return True
    # A future slot gets its capacity back — unless its calendar event moved or vanished
    # meanwhile (``conflict``): then it is withdrawn once empty, and the calendar sync
    # offers the event's new time, if any.
    db.session.execute(
        update(Slot).where(Slot.id == booking.slot_id, Slot.booked_count > 0,
                           Slot.status.in_([SlotStatus.OPEN.value, SlotStatus.BOOKED.value]))
        .values(booked_count=Slot.booked_count - 1, updated_at=now,
                status=case((Slot.conflict.is_(None), SlotStatus.OPEN.value),
                            (Slot.booked_count > 1, SlotStatus.BOOKED.value),
                            else_=SlotStatus.WITHDRAWN.value),
                withdraw_reason=case((Slot.conflict.is_(None), Slot.withdraw_reason),
                                     else_=Slot.conflict))
        .execution_options(synchronize_session=False))
    return True


# --- outcome and synthesis ----------------------------------------------------------------

_SLOT_STATUS_BY_OUTCOME = {BookingStatus.SEEN.value: SlotStatus.SEEN.value,
                           BookingStatus.NO_SHOW.value: SlotStatus.NO_SHOW.value}


def record_outcome(user: User, booking_id: int, outcome: str,
                   synthesis: str | None = None) -> Booking:
    """The doctor records vu / non venu / annulé once the time has come."""
    doctor = require_doctor(user)
    booking = db.session.get(Booking, booking_id)
    if booking is None or booking.doctor_id != doctor.id:
        raise NotFound(_("Réservation introuvable."))
    if outcome not in OUTCOMES:
        raise ValidationError(_("Issue inconnue (vu, non venu ou annulé)."), field="outcome")
    now = clock.now()
    if booking.start > now:
        raise RuleViolation(_("L'issue se saisit après l'heure du rendez-vous."),
                            rule="outcome_after_start")
    synthesis = (synthesis or "").strip() or None
    if synthesis and outcome != BookingStatus.SEEN.value:
        raise ValidationError(_("Une synthèse ne s'écrit que pour un patient vu."),
                              field="synthesis")
    if outcome == BookingStatus.CANCELLED.value:
        won = _cancel(booking, user, now, reason=None, by=CancelledBy.OUTCOME, outcome_at=now)
    else:
        won = db.session.execute(
            update(Booking).where(Booking.id == booking.id,
                                  Booking.status == BookingStatus.BOOKED.value)
            .values(status=outcome, outcome_at=now, synthesis=synthesis)
            .execution_options(synchronize_session=False)).rowcount == 1
    if not won:
        db.session.rollback()
        raise Conflict(_("L'issue de cette réservation est déjà enregistrée."))
    slot = db.session.get(Slot, booking.slot_id)
    if (slot is not None and slot.kind == SlotKind.FIXED.value
            and outcome != BookingStatus.CANCELLED.value):
        db.session.execute(update(Slot).where(Slot.id == slot.id,
                                              Slot.status == SlotStatus.BOOKED.value)
                           .values(status=_SLOT_STATUS_BY_OUTCOME[outcome], updated_at=now)
                           .execution_options(synchronize_session=False))
    db.session.refresh(booking)
    audit.record("outcome", "booking", booking.id, patient_id=booking.patient_id,
                 detail=outcome, user_id=user.id)
    notify.booking_events(booking, "outcome")
    db.session.commit()
    return booking


def write_synthesis(user: User, booking_id: int, text: str) -> Booking:
    doctor = require_doctor(user)
    booking = db.session.get(Booking, booking_id)
    if booking is None or booking.doctor_id != doctor.id:
        raise NotFound(_("Réservation introuvable."))
    if booking.status != BookingStatus.SEEN.value:
        raise RuleViolation(_("La synthèse suit une consultation marquée « vu »."),
                            rule="synthesis_after_seen")
    text = (text or "").strip()
    if not text:
        raise ValidationError(_("La synthèse est vide."), field="synthesis")
    booking.synthesis = text[:4000]
    booking.treating_seen = False
    audit.record("update", "booking", booking.id, patient_id=booking.patient_id,
                 detail="synthèse", user_id=user.id)
    db.session.commit()
    return booking


def treated_patients(user: User) -> list[Booking]:
    """"Mes patients vus par la CPTS": syntheses written for my patients by colleagues."""
    doctor = require_doctor(user)
    from agenda.booking.models import Patient

    rows = list(db.session.scalars(
        select(Booking).join(Patient, Patient.id == Booking.patient_id)
        .where(Patient.treating_doctor_id == doctor.id,
               Booking.status == BookingStatus.SEEN.value, Booking.doctor_id != doctor.id,
               Patient.anonymised_at.is_(None))
        .order_by(Booking.start.desc()).limit(200)))
    audit.record_list("booking", rows, user_id=user.id)
    for b in rows:
        if b.synthesis:
            b.treating_seen = True
    db.session.commit()
    return rows


def letter_booking(user: User, booking_id: int) -> Booking:
    """The printable letter to a treating doctor who is not a user (the consulting doctor)."""
    doctor = require_doctor(user)
    booking = db.session.get(Booking, booking_id)
    if booking is None or booking.doctor_id != doctor.id:
        raise NotFound(_("Réservation introuvable."))
    if booking.status != BookingStatus.SEEN.value or not booking.synthesis:
        raise RuleViolation(_("Écrivez d'abord la synthèse de la consultation."),
                            rule="synthesis_missing")
    audit.record("view", "booking", booking.id, patient_id=booking.patient_id,
                 detail="courrier", user_id=user.id)
    db.session.commit()
    return booking


# --- reorientation --------------------------------------------------------------------------

def record_reorientation(user: User, commune_insee: str | None = None,
                         reason_id: int | None = None) -> Reorientation:
    """A call judged a vital emergency: "réorienté vers le 15", no booking, counted for the
    CPTS of the patient's commune (among those the booker serves)."""
    require_booker(user)
    cpts_id, commune_insee = call_cpts(user, commune_insee)
    now = clock.now()
    item = Reorientation(booker_user_id=user.id, booker_org_id=user.organisation_id,
                         cpts_id=cpts_id, channel=channel_of(user), commune_insee=commune_insee,
                         reason_id=check_reason(reason_id, search_scope(user)), created_at=now)
    db.session.add(item)
    log_call(user, CallOutcome.REORIENTED.value, cpts_id, commune_insee=commune_insee,
             reason_id=item.reason_id, now=now)
    db.session.commit()
    return item


def reorientation_count(user: User) -> int:
    from sqlalchemy import func

    return db.session.scalar(
        select(func.count()).select_from(Reorientation)
        .where(Reorientation.cpts_id == user.cpts_id)) or 0


__all__ = ["BookingInput", "book", "hold_slot", "release_hold", "cancel_booking",
           "cancel_by_patient",
           "record_outcome", "write_synthesis", "get_booking", "bookings_for",
           "record_reorientation", "treated_patients", "letter_booking"]
