"""The floating request cascade: the treating doctor alone for T1, then every doctor with
a suitable window within the charter radius; the first to accept wins (one conditional
UPDATE); at the deadline an unaccepted request expires and its booker is alerted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import case, select, update

from agenda import alerts, audit, clock
from agenda.accounts.models import User
from agenda.booking.models import (Booking, BookingStatus, CallOutcome, FloatingRequest,
                                   RequestOffer, RequestStatus, TreatingKind)
from agenda.booking import reminders
from agenda.booking.services import notify
from agenda.booking.services.calls import log_call
from agenda.booking.services.common import (absolute_url, channel_of, charter_for,
                                            new_reference, require_booker, require_doctor)
from agenda.booking.services.patients import PatientData, create_patient
from agenda.errors import Conflict, NotFound, RuleViolation, ValidationError
from agenda.extensions import db
from agenda.mail import notify as send_mail
from agenda.slots.models import Slot, SlotKind, SlotStatus
from agenda.territory.geo import bounding_box, distance_km
from agenda.booking.services.search import search_scope
from agenda.territory.models import Commune, Doctor, Place, Sector, sector_communes
from agenda.territory.services import cpts_for_commune


@dataclass
class Window:
    slot_id: int
    doctor_id: int
    email: str | None
    distance_km: float | None


def _suitable_windows(cpts_ids: list[int] | None, start: datetime, end: datetime, mode: str, *,
                      doctor_id: int | None = None, commune: Commune | None = None,
                      radius_km: float | None = None) -> list[Window]:
    """Floating windows with room overlapping [start, end) in ``cpts_ids`` (None: any CPTS):
    one per doctor (the earliest), either of one doctor or within ``radius_km`` of
    ``commune`` (the window's place). One query."""
    now = clock.now()
    stmt = (select(Slot.id, Slot.doctor_id, Doctor.email, Place.lat, Place.lon)
            .join(Doctor, Doctor.id == Slot.doctor_id)
            .join(Place, Place.id == Slot.place_id)
            .where(Slot.kind == SlotKind.FLOATING.value, Slot.status == SlotStatus.OPEN.value,
                   Slot.in_charter.is_(True), Slot.booked_count < Slot.capacity,
                   Slot.start < end, Slot.end > start, Slot.end > now, Slot.mode == mode,
                   Doctor.active.is_(True), Doctor.accepts_floating.is_(True),
                   Place.active.is_(True))
            .order_by(Slot.start, Slot.id))
    if cpts_ids is not None:
        stmt = stmt.where(Slot.cpts_id.in_(cpts_ids))
    if doctor_id is not None:
        stmt = stmt.where(Slot.doctor_id == doctor_id)
    elif commune is not None and radius_km is not None:
        min_lat, max_lat, min_lon, max_lon = bounding_box(commune.lat, commune.lon, radius_km)
        stmt = stmt.where(Place.lat.between(min_lat, max_lat),
                          Place.lon.between(min_lon, max_lon))
    out: dict[int, Window] = {}
    for slot_id, doc_id, email, lat, lon in db.session.execute(stmt):
        if doc_id in out:
            continue
        dist = None
        if commune is not None and lat is not None and commune.lat is not None:
            dist = distance_km(commune.lat, commune.lon, lat, lon)
            if radius_km is not None and doctor_id is None and dist > radius_km:
                continue
        out[doc_id] = Window(slot_id, doc_id, email, round(dist, 1) if dist is not None else None)
    return list(out.values())


def _area_label(commune_insee: str) -> str:
    """The sector of the patient's commune (or the commune), for non-identifying mails."""
    name = db.session.scalar(select(Sector.name).join(
        sector_communes, sector_communes.c.sector_id == Sector.id)
        .where(sector_communes.c.insee == commune_insee).limit(1))
    if name:
        return name
    return db.session.scalar(select(Commune.name).where(Commune.insee == commune_insee)) or ""


def _offer(req: FloatingRequest, windows: list[Window], phase: str) -> int:
    """Offer ``req`` to the doctors of ``windows`` who have no offer yet; mail each."""
    existing = set(db.session.scalars(select(RequestOffer.doctor_id).where(
        RequestOffer.request_id == req.id)))
    now = clock.now()
    link = absolute_url("booking.my_requests")
    area = _area_label(req.patient.commune_insee)
    count = 0
    for w in windows:
        if w.doctor_id in existing:
            continue
        db.session.add(RequestOffer(request_id=req.id, doctor_id=w.doctor_id, slot_id=w.slot_id,
                                    phase=phase, offered_at=now, distance_km=w.distance_km,
                                    notified=bool(w.email)))
        if w.email:
            send_mail(w.email, _("SNP : demande de consultation à accepter (%(ref)s)",
                                 ref=req.reference),
                      _("Une demande de consultation SNP vous est proposée.\n"
                        "Fenêtre : %(window)s\nSecteur : %(area)s\n"
                        "Réponse attendue avant : %(deadline)s\n"
                        "Accepter ou refuser : %(link)s\n",
                        window=notify.when(req.window_start, req.window_end), area=area,
                        deadline=notify.when(req.deadline_at), link=link))
        count += 1
    db.session.flush()
    return count


def create_request(user: User, slot: Slot, patient_data: PatientData, *, reason_id=None,
                   note=None, origin="web") -> FloatingRequest:
    """Book into floating capacity: a request offered to the treating doctor first."""
    require_booker(user)
    now = clock.now()
    scope = search_scope(user)
    # The community of the CPTS whose territory holds the patient's commune.
    cpts_id = cpts_for_commune(patient_data.commune_insee, scope)
    charter = charter_for(cpts_id)
    if (slot.status != SlotStatus.OPEN.value or not slot.in_charter
            or slot.booked_count >= slot.capacity or slot.end <= now):
        raise Conflict(_("Cette fenêtre flottante n'a plus de place : choisissez un autre "
                         "créneau."))
    window_start = max(slot.start, now)
    deadline = min(now + timedelta(minutes=charter.request_deadline_min), slot.end)
    commune = db.session.get(Commune, patient_data.commune_insee)
    treating = []
    if (patient_data.treating_kind == TreatingKind.DOCTOR.value
            and patient_data.treating_doctor_id):
        treating = _suitable_windows(scope, window_start, slot.end, slot.mode,
                                     doctor_id=patient_data.treating_doctor_id, commune=commune)
    patient = create_patient(patient_data)
    req = FloatingRequest(
        reference=new_reference("D"), patient_id=patient.id, booker_user_id=user.id,
        booker_org_id=user.organisation_id, cpts_id=cpts_id, channel=channel_of(user),
        origin=origin,
        reason_id=reason_id, note=note, window_start=window_start, window_end=slot.end,
        mode=slot.mode, phase="treating" if treating else "community",
        status=RequestStatus.PENDING.value, created_at=now,
        t1_at=min(now + timedelta(minutes=charter.request_t1_min), deadline) if treating
        else now, deadline_at=deadline)
    db.session.add(req)
    db.session.flush()
    log_call(user, CallOutcome.REQUEST.value, cpts_id, commune_insee=patient.commune_insee,
             reason_id=reason_id, request_id=req.id, now=now)
    audit.record("create", "request", req.id, patient_id=patient.id, user_id=user.id,
                 cpts_id=cpts_id)
    if treating:
        _offer(req, treating, "treating")
    else:
        _offer(req, _community(req, cpts_id, charter.radius_km), "community")
    db.session.commit()
    return req


def _community(req: FloatingRequest, cpts_id: int, radius_km: float) -> list[Window]:
    commune = db.session.get(Commune, req.patient.commune_insee)
    return _suitable_windows([cpts_id], req.window_start, req.window_end, req.mode,
                             commune=commune, radius_km=radius_km)


def _cpts_of_request(req: FloatingRequest) -> int:
    return req.cpts_id


def to_community(req: FloatingRequest) -> bool:
    """Move a request from its treating phase to the community (once: conditional)."""
    result = db.session.execute(
        update(FloatingRequest)
        .where(FloatingRequest.id == req.id, FloatingRequest.phase == "treating",
               FloatingRequest.status == RequestStatus.PENDING.value)
        .values(phase="community")
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    cpts_id = _cpts_of_request(req)
    _offer(req, _community(req, cpts_id, charter_for(cpts_id).radius_km), "community")
    return True


# --- doctor's side --------------------------------------------------------------------------

def _live_offer(doctor: Doctor, request_id: int) -> tuple[FloatingRequest, RequestOffer]:
    req = db.session.get(FloatingRequest, request_id)
    offer = db.session.scalar(select(RequestOffer).where(
        RequestOffer.request_id == request_id, RequestOffer.doctor_id == doctor.id))
    if req is None or offer is None:
        raise NotFound(_("Demande introuvable."))
    return req, offer


def offers_for(user: User, *, include_closed: bool = False) -> list[tuple[FloatingRequest,
                                                                          RequestOffer]]:
    """The requests offered to the doctor of ``user``: pending first."""
    doctor = require_doctor(user)
    stmt = (select(FloatingRequest, RequestOffer)
            .join(RequestOffer, RequestOffer.request_id == FloatingRequest.id)
            .where(RequestOffer.doctor_id == doctor.id))
    if not include_closed:
        stmt = stmt.where(FloatingRequest.status == RequestStatus.PENDING.value,
                          RequestOffer.refused_at.is_(None),
                          FloatingRequest.deadline_at > clock.now())
    else:
        stmt = stmt.where(FloatingRequest.created_at > clock.now() - timedelta(days=2))
    order = case((FloatingRequest.status == RequestStatus.PENDING.value, 0), else_=1)
    return [(r, o) for r, o in db.session.execute(
        stmt.order_by(order, FloatingRequest.deadline_at).limit(100))]


def accept_request(user: User, request_id: int, start: datetime) -> Booking:
    """The first doctor to accept wins; they choose ``start`` inside the window."""
    doctor = require_doctor(user)
    req, offer = _live_offer(doctor, request_id)
    now = clock.now()
    if offer.refused_at is not None:
        raise Conflict(_("Vous avez refusé cette demande."))
    if req.status != RequestStatus.PENDING.value or req.deadline_at <= now:
        # Early answer for the obvious case; the conditional UPDATE below decides races.
        raise Conflict(_("Cette demande a déjà été acceptée par un confrère ou a expiré."))
    if start is None or start.tzinfo is None:
        raise ValidationError(_("Choisissez l'heure de la consultation."), field="start")
    length = timedelta(minutes=charter_for(req.cpts_id).default_length_min)
    end = start + length
    if start < now - timedelta(minutes=1) or start < req.window_start - timedelta(seconds=1) \
            or end > req.window_end:
        raise RuleViolation(_("L'heure choisie doit être dans la fenêtre de la demande et à "
                              "venir."), rule="time_in_window")
    # The doctor's own windows, in whichever CPTS they practise (the offer says which).
    windows = _suitable_windows(None, start, end, req.mode, doctor_id=doctor.id)
    slot_id = None
    slot_cpts = None
    for w in windows:
        s = db.session.get(Slot, w.slot_id)
        if s.start <= start and s.end >= end:
            slot_id, slot_cpts = s.id, s.cpts_id
            break
    if slot_id is None:
        raise RuleViolation(_("Aucune de vos fenêtres flottantes libres ne contient cette "
                              "heure."), rule="time_in_own_window")
    # The race: the first conditional UPDATE wins the request…
    won = db.session.execute(
        update(FloatingRequest)
        .where(FloatingRequest.id == req.id, FloatingRequest.status == RequestStatus.PENDING.value,
               FloatingRequest.deadline_at > now)
        .values(status=RequestStatus.ACCEPTED.value, accepted_at=now,
                accepted_doctor_id=doctor.id, accepted_slot_id=slot_id)
        .execution_options(synchronize_session=False))
    if won.rowcount != 1:
        db.session.rollback()
        raise Conflict(_("Cette demande a déjà été acceptée par un confrère ou a expiré."))
    # …and the capacity of the doctor's window is taken the same way.
    took = db.session.execute(
        update(Slot)
        .where(Slot.id == slot_id, Slot.status == SlotStatus.OPEN.value,
               Slot.in_charter.is_(True), Slot.booked_count < Slot.capacity)
        .values(booked_count=Slot.booked_count + 1,
                status=case((Slot.booked_count + 1 >= Slot.capacity, SlotStatus.BOOKED.value),
                            else_=SlotStatus.OPEN.value), updated_at=now)
        .execution_options(synchronize_session=False))
    if took.rowcount != 1:
        db.session.rollback()
        raise Conflict(_("Votre fenêtre flottante vient d'être remplie."))
    db.session.refresh(req)
    booking = Booking(reference=new_reference("R"), slot_id=slot_id, doctor_id=doctor.id,
                      cpts_id=slot_cpts, patient_id=req.patient_id,
                      booker_user_id=req.booker_user_id,
                      booker_org_id=req.booker_org_id, channel=req.channel, origin=req.origin,
                      status=BookingStatus.BOOKED.value, start=start, end=end,
                      reason_id=req.reason_id, note=req.note, request_id=req.id,
                      created_at=now)
    db.session.add(booking)
    db.session.flush()
    audit.record("accept", "request", req.id, patient_id=req.patient_id, user_id=user.id)
    notify.booking_events(booking, "booked", floating_accepted=True)
    if req.patient.sms_consent:
        reminders.confirm(booking)
    booker = db.session.get(User, req.booker_user_id) if req.booker_user_id else None
    if booker is not None:
        send_mail(booker.email, _("SNP : demande %(ref)s acceptée", ref=req.reference),
                  _("La demande %(ref)s a été acceptée : consultation le %(when)s.\n"
                    "Détails (connexion requise) : %(link)s\n", ref=req.reference,
                    when=notify.when(booking),
                    link=absolute_url("booking.detail", booking_id=booking.id)))
    db.session.commit()
    return booking


def refuse_request(user: User, request_id: int) -> FloatingRequest:
    doctor = require_doctor(user)
    req, offer = _live_offer(doctor, request_id)
    result = db.session.execute(
        update(RequestOffer).where(RequestOffer.id == offer.id, RequestOffer.refused_at.is_(None))
        .values(refused_at=clock.now()).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        db.session.rollback()
        raise Conflict(_("Vous avez déjà refusé cette demande."))
    if offer.phase == "treating" and req.status == RequestStatus.PENDING.value:
        to_community(req)  # no need to wait for T1
    db.session.commit()
    return req


# --- booker's side ------------------------------------------------------------------------

def requests_for(user: User, *, limit: int = 50) -> list[FloatingRequest]:
    require_booker(user)
    return list(db.session.scalars(
        select(FloatingRequest).where(FloatingRequest.booker_org_id == user.organisation_id)
        .order_by(FloatingRequest.created_at.desc()).limit(limit)))


def extension_choices(user: User, req: FloatingRequest) -> list[tuple[int, str]]:
    """The other CPTS the booker serves, nearest to the patient's commune first."""
    from agenda.accounts.models import Organisation

    scope = [c for c in search_scope(user) if c != req.cpts_id]
    if not scope:
        return []
    commune = db.session.get(Commune, req.patient.commune_insee)
    names = dict(db.session.execute(select(Organisation.id, Organisation.name)
                                    .where(Organisation.id.in_(scope))).all())

    def distance(cpts_id: int) -> float:
        if commune is None or commune.lat is None:
            return 0.0
        rows = db.session.execute(select(Place.lat, Place.lon).where(
            Place.cpts_id == cpts_id, Place.active.is_(True), Place.lat.is_not(None))).all()
        return min((distance_km(commune.lat, commune.lon, lat, lon) for lat, lon in rows),
                   default=float("inf"))

    return [(c, names.get(c, str(c))) for c in sorted(scope, key=distance)]


def extend_request(user: User, request_id: int, cpts_id: int) -> FloatingRequest:
    """An expired request offered again, to the community of another CPTS the booker
    serves (one action, audited): a new deadline from that CPTS's charter."""
    require_booker(user)
    req = db.session.get(FloatingRequest, request_id)
    if req is None or req.booker_org_id != user.organisation_id:
        raise NotFound(_("Demande introuvable."))
    scope = search_scope(user)
    if cpts_id not in scope or cpts_id == req.cpts_id:
        raise ValidationError(_("Choisissez une autre CPTS que votre organisation sert."),
                              field="cpts_id")
    now = clock.now()
    if req.status != RequestStatus.EXPIRED.value:
        raise RuleViolation(_("Seule une demande expirée s'étend à une CPTS voisine."),
                            rule="extend_expired_only")
    if req.window_end <= now + timedelta(minutes=5):
        raise RuleViolation(_("La fenêtre de cette demande est passée : faites une nouvelle "
                              "recherche."), rule="window_over")
    charter = charter_for(cpts_id)
    deadline = min(now + timedelta(minutes=charter.request_deadline_min), req.window_end)
    previous = req.cpts_id
    result = db.session.execute(
        update(FloatingRequest).where(FloatingRequest.id == req.id,
                                      FloatingRequest.status == RequestStatus.EXPIRED.value)
        .values(status=RequestStatus.PENDING.value, cpts_id=cpts_id,
                extended_from_cpts_id=previous, phase="community",
                window_start=max(req.window_start, now), t1_at=now, deadline_at=deadline,
                expired_at=None)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        db.session.rollback()
        raise Conflict(_("Cette demande vient de changer : rechargez la page."))
    db.session.refresh(req)
    audit.record("extend", "request", req.id, patient_id=req.patient_id, user_id=user.id,
                 cpts_id=cpts_id, detail=f"cpts {previous}->{cpts_id}")
    # Further than the usual community: the booker chose to look beyond the patient's
    # CPTS, so twice that CPTS's radius (as the search does).
    _offer(req, _community(req, cpts_id, 2 * charter.radius_km), "community")
    db.session.commit()
    return req


def cancel_request(user: User, request_id: int) -> FloatingRequest:
    require_booker(user)
    req = db.session.get(FloatingRequest, request_id)
    if req is None or req.booker_org_id != user.organisation_id:
        raise NotFound(_("Demande introuvable."))
    result = db.session.execute(
        update(FloatingRequest).where(FloatingRequest.id == req.id,
                                      FloatingRequest.status == RequestStatus.PENDING.value)
        .values(status=RequestStatus.CANCELLED.value, cancelled_at=clock.now())
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        db.session.rollback()
        raise Conflict(_("Cette demande n'est plus en attente."))
    audit.record("cancel", "request", req.id, patient_id=req.patient_id, user_id=user.id)
    db.session.commit()
    db.session.refresh(req)
    return req


def booking_of_request(req: FloatingRequest) -> Booking | None:
    return db.session.scalar(select(Booking).where(Booking.request_id == req.id))


# --- timers (run by the worker through agenda.booking.tasks) ------------------------------

def escalate_due() -> int:
    """Requests whose T1 passed with no answer from the treating doctor -> community."""
    now = clock.now()
    ids = list(db.session.scalars(select(FloatingRequest.id).where(
        FloatingRequest.status == RequestStatus.PENDING.value,
        FloatingRequest.phase == "treating", FloatingRequest.t1_at <= now)))
    moved = 0
    for rid in ids:
        req = db.session.get(FloatingRequest, rid)
        if to_community(req):
            moved += 1
        db.session.commit()
    return moved


def expire_due() -> int:
    """Requests past their deadline: expired, and the booker alerted (dashboard + email)."""
    now = clock.now()
    ids = list(db.session.scalars(select(FloatingRequest.id).where(
        FloatingRequest.status == RequestStatus.PENDING.value,
        FloatingRequest.deadline_at <= now)))
    expired = 0
    for rid in ids:
        result = db.session.execute(
            update(FloatingRequest)
            .where(FloatingRequest.id == rid, FloatingRequest.status == RequestStatus.PENDING.value,
                   FloatingRequest.deadline_at <= now)
            .values(status=RequestStatus.EXPIRED.value, expired_at=now, booker_alerted_at=now)
            .execution_options(synchronize_session=False))
        if result.rowcount != 1:
            db.session.rollback()
            continue
        req = db.session.get(FloatingRequest, rid)
        message = _("Demande %(ref)s sans réponse à l'échéance (%(when)s) : aucun médecin ne "
                    "l'a acceptée. Trouvez une autre solution pour le patient.",
                    ref=req.reference, when=notify.when(req.deadline_at))
        alerts.raise_alert("request_expired", message, cpts_id=_cpts_of_request(req),
                           organisation_id=req.booker_org_id, user_id=req.booker_user_id,
                           object_type="request", object_id=req.id)
        booker = db.session.get(User, req.booker_user_id) if req.booker_user_id else None
        if booker is not None:
            send_mail(booker.email, _("SNP : demande %(ref)s expirée", ref=req.reference),
                      message + "\n" + absolute_url("booking.request_detail", request_id=req.id)
                      + "\n")
        db.session.commit()
        expired += 1
    return expired


__all__ = ["create_request", "accept_request", "refuse_request", "offers_for", "requests_for",
           "cancel_request", "extend_request", "extension_choices", "escalate_due",
           "expire_due", "to_community"]
