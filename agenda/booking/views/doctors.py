"""The doctor's "Demandes" page (phone first): accept choosing the time, or refuse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from agenda import clock
from agenda.accounts.access import roles_required
from agenda.booking import services
from agenda.booking.forms import AcceptForm, ActionForm
from agenda.booking.models import Booking, FloatingRequest
from agenda.booking.services import requests as cascade
from agenda.booking.services.common import charter_for, doctor_of
from agenda.web import commit_or_flash
from agenda.errors import DomainError, ValidationError
from agenda.extensions import db
from agenda.slots.models import Slot
from agenda.territory.models import Commune
from agenda.timeutil import local_to_utc, to_local

from agenda.booking.views import bp


# --- doctor: "Demandes" (phone first) ---------------------------------------------------

def _time_choices(req: FloatingRequest, slot: Slot | None, length_min: int,
                  busy: list | None = None) -> list[tuple] | dict:
    """The start times of the window (every 10 minutes). With the busy periods of the
    doctor's main calendar (``busy``), the free times come first (a busy period's end is
    one of them), then the busy ones, still selectable, marked."""
    start = req.window_start
    end = req.window_end
    if slot is not None:
        start, end = max(start, slot.start), min(end, slot.end)
    now = clock.now()
    if start < now:
        start = now + timedelta(minutes=(5 - now.minute % 5) % 5, seconds=-now.second,
                                microseconds=-now.microsecond)
    length = timedelta(minutes=length_min)
    starts = []
    t = start
    while t + length <= end and len(starts) < 60:
        starts.append(t)
        t += timedelta(minutes=10)
    if busy is None:
        # The value is the UTC instant (unambiguous on the autumn DST night), the label local.
        return [(t.strftime("%Y-%m-%dT%H:%MZ"), to_local(t).strftime("%H:%M")) for t in starts]
    starts = sorted(set(starts) | {e for _s, e in busy if start <= e and e + length <= end})
    free, taken = [], []
    for t in starts:
        value, label = t.strftime("%Y-%m-%dT%H:%MZ"), to_local(t).strftime("%H:%M")
        if any(s < t + length and e > t for s, e in busy):
            taken.append((value, _("%(t)s — occupé dans votre agenda", t=label)))
        else:
            free.append((value, label))
    groups = {}
    if free:
        groups[_("Libres dans votre agenda")] = free
    if taken:
        groups[_("Occupées dans votre agenda")] = taken
    return groups


def _busy_of(doctor, offers) -> tuple:
    """The busy periods of the doctor's main calendar over every offered window, read once
    (None when no main calendar is connected or it could not be read), and a note."""
    from agenda import busy as busy_hook

    if doctor is None or not offers:
        return None, None
    start = max(min(req.window_start for req, _o in offers), clock.now())
    answer = busy_hook.busy_for_page(doctor, start, max(req.window_end for req, _o in offers))
    if answer is None:
        return None, None
    if answer.error:
        return None, _("Votre agenda principal n'a pas pu être lu : toutes les heures de la "
                       "fenêtre sont proposées.")
    return answer.periods, _("Heures libres d'après votre agenda principal (lu à %(t)s).",
                             t=to_local(answer.fetched_at).strftime("%H:%M"))


@bp.get("/demandes")
@roles_required("doctor")
def my_requests():
    offers = cascade.offers_for(current_user)
    doctor = doctor_of(current_user)
    length = charter_for(doctor.cpts_id).default_length_min if doctor else 20
    cards = []
    busy, busy_note = _busy_of(doctor, offers)
    for req, offer in offers:
        form = AcceptForm(prefix=f"r{req.id}")
        slot = db.session.get(Slot, offer.slot_id) if offer.slot_id else None
        form.time.choices = _time_choices(req, slot, length, busy)
        commune = db.session.get(Commune, req.patient.commune_insee)
        cards.append({"req": req, "offer": offer, "form": form, "commune": commune,
                      "area": cascade._area_label(req.patient.commune_insee)})
    accepted = list(db.session.scalars(
        select(Booking).where(Booking.doctor_id == (doctor.id if doctor else 0),
                              Booking.request_id.is_not(None), Booking.end > clock.now())
        .order_by(Booking.start)))
    if cards:
        from agenda import audit

        # The card shows the patient's age, commune and note: each read is audited.
        for card in cards:
            audit.record("view", "request", card["req"].id, patient_id=card["req"].patient_id,
                         detail="offre", user_id=current_user.id)
        db.session.commit()
    return render_template("booking/my_requests.html", cards=cards, accepted=accepted,
                           refuse_form=ActionForm(), busy_note=busy_note)


def _parse_choice(value: str) -> datetime:
    """A time chosen on the "Demandes" page: a UTC instant ("…Z"), or a local wall-clock
    time ("2026-12-01T16:00") from a hand-made form."""
    try:
        if value.endswith("Z"):
            return datetime.strptime(value, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
        local = datetime.strptime(value or "", "%Y-%m-%dT%H:%M")
    except ValueError as exc:
        raise ValidationError(_("Heure invalide."), field="time") from exc
    return local_to_utc(local.date(), local.time())


@bp.post("/demandes/<int:request_id>/accepter")
@roles_required("doctor")
def accept(request_id: int):
    form = ActionForm()
    if not form.validate():
        abort(400)
    value = request.form.get(f"r{request_id}-time") or request.form.get("time") or ""
    try:
        try:
            start = _parse_choice(value)
        except DomainError:
            start = None  # the service says so, once it has found the doctor's offer
        booking = services.accept_request(current_user, request_id, start)
    except DomainError as exc:
        db.session.rollback()
        if exc.status == 404:
            abort(404)
        flash(exc.message, "error")
        return redirect(url_for("booking.my_requests"))
    flash(_("Demande acceptée : le patient est attendu à %(t)s.",
            t=to_local(booking.start).strftime("%H:%M")), "info")
    return redirect(url_for("booking.detail", booking_id=booking.id))


@bp.post("/demandes/<int:request_id>/refuser")
@roles_required("doctor")
def refuse(request_id: int):
    if not ActionForm().validate():
        abort(400)
    if commit_or_flash(lambda: services.refuse_request(current_user, request_id)).ok:
        flash(_("Demande refusée."), "info")
    return redirect(url_for("booking.my_requests"))




# --- doctor: "Mes rendez-vous" (phone first) ---------------------------------------------

OUTCOME_WINDOW_DAYS = 7


def doctor_day(doctor) -> dict:
    """The doctor's consultations: those awaiting an outcome (started, up to a week back),
    today's and the coming ones, and those seen without a synthesis yet."""
    from agenda.booking.models import BookingStatus

    now = clock.now()
    today = local_to_utc(to_local(now).date(), datetime.min.time())
    since = now - timedelta(days=OUTCOME_WINDOW_DAYS)
    rows = list(db.session.scalars(
        select(Booking).where(Booking.doctor_id == doctor.id, Booking.start >= since,
                              Booking.status.in_([BookingStatus.BOOKED.value,
                                                  BookingStatus.SEEN.value]))
        .order_by(Booking.start)))
    awaiting = [b for b in rows if b.status == "booked" and b.start <= now]
    coming = [b for b in rows if b.status == "booked" and b.start > now]
    to_write = [b for b in rows if b.status == "seen" and not b.synthesis and b.start >= today]
    return {"awaiting": awaiting, "today": [b for b in coming if to_local(b.start).date()
                                            == to_local(now).date()],
            "later": [b for b in coming if to_local(b.start).date() != to_local(now).date()],
            "to_write": to_write, "now": now}


@bp.get("/mes-rendez-vous")
@roles_required("doctor")
def my_appointments():
    from agenda.booking.forms import OUTCOME_CHOICES
    from agenda.booking.services.bookings import audit_list
    from agenda.booking.services.common import require_doctor

    doctor = require_doctor(current_user)
    day = doctor_day(doctor)
    audit_list(current_user, day["awaiting"] + day["today"] + day["later"] + day["to_write"])
    return render_template("booking/my_appointments.html", **day, form=ActionForm(),
                           outcomes=OUTCOME_CHOICES)
