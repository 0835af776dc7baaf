"""Pages of agenda.booking: thin — parse, call a service, render."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from agenda import clock
from agenda.accounts.access import roles_required
from agenda.booking import services
from agenda.booking.forms import (AcceptForm, ActionForm, CancelForm, EDForm, OutcomeForm,
                                  PatientForm, ReasonForm, SearchForm, SynthesisForm)
from agenda.booking.models import Booking, FloatingRequest
from agenda.booking.services import patients as patient_services
from agenda.booking.services import requests as cascade
from agenda.booking.services.common import charter_for, doctor_of
from agenda.errors import DomainError, ValidationError
from agenda.extensions import db
from agenda.slots.models import Slot
from agenda.territory.models import Commune, Doctor, Sector
from agenda.timeutil import local_to_utc, to_local

bp = Blueprint("booking", __name__)

BOOKERS = ("secretary", "regulator", "ed_nurse")

STATUS_LABELS = {"booked": "réservé", "seen": "vu", "no_show": "non venu",
                 "cancelled": "annulé", "pending": "en attente", "accepted": "acceptée",
                 "expired": "expirée"}
CHANNEL_LABELS = {"secretariat": "Télésecrétariat", "samu": "SAMU / SAS", "ed": "Urgences"}
MODE_LABELS = {"AMB": "au cabinet", "VR": "téléconsultation", "HH": "visite à domicile"}


@bp.app_context_processor
def _helpers() -> dict:
    return {"booking_status_label": lambda s: _(STATUS_LABELS.get(s, s)),
            "channel_label": lambda c: _(CHANNEL_LABELS.get(c, c)),
            "booking_mode_label": lambda m: _(MODE_LABELS.get(m, m))}


# --- form helpers ----------------------------------------------------------------------------

def _treating_choices(cpts_id: int) -> list[tuple[str, str]]:
    doctors = db.session.execute(
        select(Doctor.id, Doctor.first_name, Doctor.last_name, Commune.name)
        .join(Commune, Commune.insee == Doctor.commune_insee)
        .where(Doctor.cpts_id == cpts_id, Doctor.active.is_(True))
        .order_by(Doctor.last_name, Doctor.first_name))
    return ([("unknown", _("Ne sait pas")), ("none", _("Aucun")),
             ("external", _("Hors territoire (nom et RPPS ci-dessous)"))]
            + [(f"doctor:{i}", f"Dr {last} {first} — {commune}")
               for i, first, last, commune in doctors])


def _reason_choices(cpts_id: int) -> list[tuple[int, str]]:
    return [(0, _("— choisir —"))] + [(r.id, r.label)
                                      for r in patient_services.reasons_of(cpts_id)]


def _prepare(form) -> None:
    cpts_id = current_user.cpts_id
    form.treating.choices = _treating_choices(cpts_id)
    form.reason.choices = _reason_choices(cpts_id)
    if hasattr(form, "sector"):
        sectors = db.session.scalars(select(Sector).where(Sector.cpts_id == cpts_id)
                                     .order_by(Sector.name))
        form.sector.choices = [(0, _("Tous les secteurs"))] + [(s.id, s.name) for s in sectors]


def _communes_datalist() -> list[str]:
    return [patient_services.commune_label(c)
            for c in db.session.scalars(select(Commune).order_by(Commune.name))]


def _patient_data(form, commune: Commune) -> services.PatientData:
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


def _treating_id(form) -> int | None:
    value = form.treating.data or ""
    return int(value.split(":", 1)[1]) if value.startswith("doctor:") else None


def _origin(form) -> str:
    origin = (getattr(form, "origin", None) and form.origin.data) or "web"
    return origin if origin in ("web", "sas") else "web"


def _error_status(exc: DomainError) -> int:
    return exc.status


def _reorient(endpoint: str):
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


# --- secretary / regulator: search -> hold -> confirm -> booked (4 screens) ---------------

@bp.route("/reservations/recherche", methods=["GET", "POST"])
@roles_required(*BOOKERS)
def search():
    form = SearchForm()
    _prepare(form)
    action = request.form.get("action", "search")
    ctx = {"form": form, "communes": _communes_datalist(), "results": None, "slot": None}
    if request.method == "GET":
        return render_template("booking/search.html", **ctx)
    if action == "reorient":
        return _reorient("booking.search")
    if not form.validate():
        flash(_("Vérifiez les champs signalés."), "error")
        return render_template("booking/search.html", **ctx), 400
    try:
        commune = services.resolve_commune(form.commune.data)
        ctx["commune"] = commune
        # The patient's fields are checked before the slots are shown.
        patient_services.validate_patient(_patient_data(form, commune), current_user.cpts_id)
        if action == "hold":
            slot_id = request.form.get("slot_id", type=int)
            slot = db.session.get(Slot, slot_id or 0)
            if slot is None:
                raise ValidationError(_("Choisissez un créneau."))
            if slot.kind == "fixed":
                slot = services.hold_slot(current_user, slot.id)
            ctx["slot"] = slot
            ctx["doctor"] = db.session.get(Doctor, slot.doctor_id)
            ctx["charter"] = charter_for(current_user.cpts_id)
            return render_template("booking/confirm.html", **ctx)
        if action == "book":
            result = services.book(current_user, services.BookingInput(
                slot_id=request.form.get("slot_id", type=int) or 0,
                patient=_patient_data(form, commune), reason_id=form.reason.data or None,
                note=form.note.data, origin=_origin(form)))
            return _after_booking(result)
        ctx["results"] = services.search_slots(
            current_user, commune, treating_doctor_id=_treating_id(form),
            horizon_hours=int(form.horizon.data or 48), mode=form.mode.data or None,
            day=form.day.data, sector_id=form.sector.data or None)
        return render_template("booking/search.html", **ctx)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return render_template("booking/search.html", **ctx), _error_status(exc)


def _after_booking(result):
    if isinstance(result, Booking):
        flash(_("Réservation confirmée (%(ref)s).", ref=result.reference), "info")
        return redirect(url_for("booking.detail", booking_id=result.id))
    flash(_("Demande %(ref)s envoyée.", ref=result.reference), "info")
    return redirect(url_for("booking.request_detail", request_id=result.id))


@bp.route("/reservations/creneau/<int:slot_id>", methods=["GET", "POST"])
@roles_required(*BOOKERS)
def book_slot(slot_id: int):
    """Book one given slot (e.g. from the SAS platform: ``?origin=sas``)."""
    slot = db.session.get(Slot, slot_id)
    doctor = db.session.get(Doctor, slot.doctor_id) if slot else None
    if slot is None or doctor.cpts_id != current_user.cpts_id:
        abort(404)
    form = PatientForm()
    _prepare(form)
    if request.method == "GET":
        form.origin.data = "sas" if request.args.get("origin") == "sas" else "web"
    ctx = {"form": form, "slot": slot, "doctor": doctor, "communes": _communes_datalist()}
    if request.method == "POST":
        if not form.validate():
            flash(_("Vérifiez les champs signalés."), "error")
            return render_template("booking/book_slot.html", **ctx), 400
        try:
            commune = services.resolve_commune(form.commune.data)
            result = services.book(current_user, services.BookingInput(
                slot_id=slot.id, patient=_patient_data(form, commune),
                reason_id=form.reason.data or None, note=form.note.data, origin=_origin(form)))
            return _after_booking(result)
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
            return render_template("booking/book_slot.html", **ctx), exc.status
    return render_template("booking/book_slot.html", **ctx)


# --- emergency department: one screen ----------------------------------------------------

@bp.route("/urgences", methods=["GET", "POST"])
@roles_required(*BOOKERS)
def ed_quick():
    form = EDForm()
    _prepare(form)
    ctx = {"form": form, "communes": _communes_datalist(), "results": None, "booking": None,
           "request_obj": None}
    if request.method == "GET":
        return render_template("booking/ed_quick.html", **ctx)
    if request.form.get("action") == "reorient":
        return _reorient("booking.ed_quick")
    if not form.validate():
        flash(_("Vérifiez les champs signalés."), "error")
        return render_template("booking/ed_quick.html", **ctx), 400
    try:
        commune = services.resolve_commune(form.commune.data)
        slot_id = request.form.get("slot_id", type=int)
        if slot_id:
            result = services.book(current_user, services.BookingInput(
                slot_id=slot_id, patient=_patient_data(form, commune),
                reason_id=form.reason.data or None, note=form.note.data, origin="web"))
            if isinstance(result, Booking):
                ctx["booking"] = result
                ctx["doctor"] = db.session.get(Doctor, result.doctor_id)
            else:
                ctx["request_obj"] = result
            return render_template("booking/ed_quick.html", **ctx)
        mode = {"mobile": "AMB", "tele": "VR", "home": "HH"}.get(form.mobility.data)
        ctx["results"] = services.search_slots(current_user, commune,
                                               treating_doctor_id=_treating_id(form), mode=mode,
                                               limit=6)
        return render_template("booking/ed_quick.html", **ctx)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        try:
            commune = services.resolve_commune(form.commune.data)
            mode = {"mobile": "AMB", "tele": "VR", "home": "HH"}.get(form.mobility.data)
            ctx["results"] = services.search_slots(current_user, commune,
                                                   treating_doctor_id=_treating_id(form),
                                                   mode=mode, limit=6)
        except DomainError:
            pass
        return render_template("booking/ed_quick.html", **ctx), exc.status


# --- lists and details -------------------------------------------------------------------

@bp.get("/reservations")
@roles_required(*BOOKERS, "coordinator", "doctor")
def bookings():
    role = current_user.role
    items = services.bookings_for(current_user, limit=200)
    reqs = cascade.requests_for(current_user) if role in BOOKERS else []
    counts = None
    if role in BOOKERS or role == "doctor":
        from agenda.booking.services.bookings import audit_list

        audit_list(current_user, items)
    else:
        from agenda.booking.services.bookings import status_counts

        counts = status_counts(current_user)
    return render_template("booking/bookings.html", bookings=items, requests=reqs,
                           counts=counts, identity=role in BOOKERS or role == "doctor",
                           booking_of=cascade.booking_of_request)


@bp.get("/reservations/<int:booking_id>")
@roles_required(*BOOKERS, "doctor", "coordinator", "admin")
def detail(booking_id: int):
    booking, identity = services.get_booking(current_user, booking_id)
    doctor = db.session.get(Doctor, booking.doctor_id)
    me = doctor_of(current_user)
    is_doctor = me is not None and me.id == booking.doctor_id
    is_booker = (current_user.role in BOOKERS
                 and booking.booker_org_id == current_user.organisation_id)
    now = clock.now()
    return render_template(
        "booking/detail.html", booking=booking, identity=identity, doctor=doctor,
        is_doctor=is_doctor, is_booker=is_booker, now=now,
        cancel_form=CancelForm(prefix="c"), outcome_form=OutcomeForm(prefix="o"),
        synthesis_form=SynthesisForm(prefix="s"),
        can_cancel=(is_doctor or is_booker) and booking.status == "booked",
        can_outcome=is_doctor and booking.status == "booked" and booking.start <= now,
        can_synthesis=is_doctor and booking.status == "seen")


@bp.route("/reservations/<int:booking_id>/annuler", methods=["GET", "POST"])
@roles_required(*BOOKERS, "doctor")
def cancel(booking_id: int):
    if request.method == "GET":  # a link (e.g. from "Ma semaine SNP"): the form with a reason
        return redirect(url_for("booking.detail", booking_id=booking_id) + "#annuler")
    reason = request.form.get("c-reason") or request.form.get("reason") or ""
    form = ActionForm()
    if not form.validate():
        abort(400)
    try:
        services.cancel_booking(current_user, booking_id, reason)
        flash(_("Réservation annulée ; l'autre partie est prévenue."), "info")
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    if request.form.get("next", "").startswith("/"):
        return redirect(request.form["next"])
    return redirect(url_for("booking.detail", booking_id=booking_id))


@bp.post("/reservations/<int:booking_id>/issue")
@roles_required("doctor")
def outcome(booking_id: int):
    form = OutcomeForm(prefix="o")
    if not form.validate():
        abort(400)
    try:
        services.record_outcome(current_user, booking_id, form.outcome.data,
                                form.synthesis.data)
        flash(_("Issue enregistrée."), "info")
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    return redirect(url_for("booking.detail", booking_id=booking_id))


@bp.post("/reservations/<int:booking_id>/synthese")
@roles_required("doctor")
def synthesis(booking_id: int):
    form = SynthesisForm(prefix="s")
    if not form.validate():
        flash(_("La synthèse est vide."), "error")
        return redirect(url_for("booking.detail", booking_id=booking_id))
    try:
        services.write_synthesis(current_user, booking_id, form.synthesis.data)
        flash(_("Synthèse enregistrée."), "info")
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    return redirect(url_for("booking.detail", booking_id=booking_id))


@bp.get("/reservations/<int:booking_id>/courrier")
@roles_required("doctor")
def letter(booking_id: int):
    booking = services.letter_booking(current_user, booking_id)
    return render_template("booking/letter.html", booking=booking,
                           doctor=db.session.get(Doctor, booking.doctor_id))


@bp.get("/mes-patients-vus")
@roles_required("doctor")
def treated_patients():
    return render_template("booking/treated.html",
                           bookings=services.treated_patients(current_user))


@bp.get("/reservations/demandes/<int:request_id>")
@roles_required(*BOOKERS)
def request_detail(request_id: int):
    req = db.session.get(FloatingRequest, request_id)
    if req is None or req.booker_org_id != current_user.organisation_id:
        abort(404)
    from agenda import audit

    audit.record("view", "request", req.id, patient_id=req.patient_id, user_id=current_user.id)
    db.session.commit()
    return render_template("booking/request_detail.html", req=req,
                           booking=cascade.booking_of_request(req), form=ActionForm())


@bp.post("/reservations/demandes/<int:request_id>/annuler")
@roles_required(*BOOKERS)
def request_cancel(request_id: int):
    if not ActionForm().validate():
        abort(400)
    try:
        services.cancel_request(current_user, request_id)
        flash(_("Demande annulée."), "info")
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    return redirect(url_for("booking.request_detail", request_id=request_id))


# --- doctor: "Demandes" (phone first) ---------------------------------------------------

def _time_choices(req: FloatingRequest, slot: Slot | None, length_min: int) -> list[tuple]:
    start = req.window_start
    end = req.window_end
    if slot is not None:
        start, end = max(start, slot.start), min(end, slot.end)
    now = clock.now()
    if start < now:
        start = now + timedelta(minutes=(5 - now.minute % 5) % 5, seconds=-now.second,
                                microseconds=-now.microsecond)
    out = []
    t = start
    while t + timedelta(minutes=length_min) <= end and len(out) < 60:
        # The value is the UTC instant (unambiguous on the autumn DST night), the label local.
        out.append((t.strftime("%Y-%m-%dT%H:%MZ"), to_local(t).strftime("%H:%M")))
        t += timedelta(minutes=10)
    return out


@bp.get("/demandes")
@roles_required("doctor")
def my_requests():
    offers = cascade.offers_for(current_user)
    doctor = doctor_of(current_user)
    length = charter_for(doctor.cpts_id).default_length_min if doctor else 20
    cards = []
    for req, offer in offers:
        form = AcceptForm(prefix=f"r{req.id}")
        slot = db.session.get(Slot, offer.slot_id) if offer.slot_id else None
        form.time.choices = _time_choices(req, slot, length)
        commune = db.session.get(Commune, req.patient.commune_insee)
        cards.append({"req": req, "offer": offer, "form": form, "commune": commune,
                      "area": cascade._area_label(req.patient.commune_insee)})
    accepted = list(db.session.scalars(
        select(Booking).where(Booking.doctor_id == (doctor.id if doctor else 0),
                              Booking.request_id.is_not(None), Booking.end > clock.now())
        .order_by(Booking.start)))
    return render_template("booking/my_requests.html", cards=cards, accepted=accepted,
                           refuse_form=ActionForm())


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
        booking = services.accept_request(current_user, request_id, _parse_choice(value))
    except DomainError as exc:
        db.session.rollback()
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
    try:
        services.refuse_request(current_user, request_id)
        flash(_("Demande refusée."), "info")
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    return redirect(url_for("booking.my_requests"))


# --- coordinator: the protocol reasons ---------------------------------------------------

@bp.route("/motifs", methods=["GET", "POST"])
@roles_required("coordinator")
def reasons():
    form = ReasonForm()
    if form.validate_on_submit():
        try:
            patient_services.add_reason(current_user.cpts_id, form.label.data)
            flash(_("Motif ajouté."), "info")
            return redirect(url_for("booking.reasons"))
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
    return render_template("booking/reasons.html", form=form, toggle_form=ActionForm(),
                           reasons=patient_services.reasons_of(current_user.cpts_id,
                                                               active_only=False))


@bp.post("/motifs/<int:reason_id>/basculer")
@roles_required("coordinator")
def reason_toggle(reason_id: int):
    if not ActionForm().validate():
        abort(400)
    from agenda.booking.models import Reason

    reason = db.session.get(Reason, reason_id)
    if reason is None:
        abort(404)
    patient_services.set_reason_active(current_user.cpts_id, reason_id, not reason.active)
    return redirect(url_for("booking.reasons"))


@bp.get("/reservations/communes")
@roles_required(*BOOKERS)
def communes_lookup():
    """Communes matching a name or postcode (autocomplete)."""
    from flask import jsonify

    from agenda.territory.services import search_communes

    return jsonify([{"insee": c.insee, "label": patient_services.commune_label(c)}
                    for c in search_communes(request.args.get("q", ""), limit=10)])


from agenda.booking import demo as _demo  # noqa: E402,F401
from agenda.booking import panels as _panels  # noqa: E402,F401
