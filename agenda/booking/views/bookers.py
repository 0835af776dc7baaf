"""Booker pages: search (4 screens), the slot page (SAS link), the emergency page, lists."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from agenda.accounts.access import roles_required
from agenda.booking import services
from agenda.booking.forms import ActionForm, EDForm, PatientForm, SearchForm
from agenda.booking.models import Booking, FloatingRequest
from agenda.booking.services import patients as patient_services
from agenda.booking.services import requests as cascade
from agenda.booking.services.common import charter_for
from agenda.web import commit_or_flash
from agenda.errors import DomainError, ValidationError
from agenda.extensions import db
from agenda.slots.models import Slot
from agenda.territory.models import Doctor
from agenda.booking.views import BOOKERS, bp
from agenda.booking.views.support import (communes_datalist, error_status, origin_of,
                                          patient_data, prepare, reorient, treating_id)


# --- secretary / regulator: search -> hold -> confirm -> booked (4 screens) ---------------

@bp.route("/reservations/recherche", methods=["GET", "POST"])
@roles_required(*BOOKERS)
def search():
    form = SearchForm()
    prepare(form)
    action = request.form.get("action", "search")
    ctx = {"form": form, "communes": communes_datalist(), "results": None, "slot": None}
    if request.method == "GET":
        return render_template("booking/search.html", **ctx)
    if action == "reorient":
        return reorient("booking.search")
    if not form.validate():
        flash(_("Vérifiez les champs signalés."), "error")
        return render_template("booking/search.html", **ctx), 400
    try:
        commune = services.resolve_commune(form.commune.data)
        ctx["commune"] = commune
        # The patient's fields are checked before the slots are shown.
        patient_services.validate_patient(patient_data(form, commune),
                                          services.search_scope(current_user))
        if action == "hold":
            slot_id = request.form.get("slot_id", type=int)
            slot = db.session.get(Slot, slot_id or 0)
            if slot is None:
                raise ValidationError(_("Choisissez un créneau."))
            if slot.kind == "fixed":
                slot = services.hold_slot(current_user, slot.id)
            ctx["slot"] = slot
            ctx["doctor"] = db.session.get(Doctor, slot.doctor_id)
            ctx["charter"] = charter_for(slot.cpts_id)
            return render_template("booking/confirm.html", **ctx)
        if action == "book":
            result = services.book(current_user, services.BookingInput(
                slot_id=request.form.get("slot_id", type=int) or 0,
                patient=patient_data(form, commune), reason_id=form.reason.data or None,
                note=form.note.data, origin=origin_of(form)))
            return _after_booking(result)
        ctx["results"] = services.search_slots(
            current_user, commune, treating_doctor_id=treating_id(form),
            horizon_hours=int(form.horizon.data) if form.horizon.data else None,
            mode=form.mode.data or None,
            day=form.day.data, sector_id=form.sector.data or None)
        return render_template("booking/search.html", **ctx)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return render_template("booking/search.html", **ctx), error_status(exc)


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
    if slot is None or slot.cpts_id not in services.search_scope(current_user):
        abort(404)
    doctor = db.session.get(Doctor, slot.doctor_id)
    form = PatientForm()
    prepare(form)
    if request.method == "GET":
        form.origin.data = "sas" if request.args.get("origin") == "sas" else "web"
    ctx = {"form": form, "slot": slot, "doctor": doctor, "communes": communes_datalist()}
    if request.method == "POST":
        if not form.validate():
            flash(_("Vérifiez les champs signalés."), "error")
            return render_template("booking/book_slot.html", **ctx), 400
        try:
            commune = services.resolve_commune(form.commune.data)
            result = services.book(current_user, services.BookingInput(
                slot_id=slot.id, patient=patient_data(form, commune),
                reason_id=form.reason.data or None, note=form.note.data,
                origin=_slot_origin(form, slot.id)))
            return _after_booking(result)
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
            return render_template("booking/book_slot.html", **ctx), exc.status
    return render_template("booking/book_slot.html", **ctx)


def _slot_origin(form, slot_id: int) -> str:
    """"sas" only while the habilitation opened by the SAS slot link is valid for this slot
    (a hidden form field alone proves nothing)."""
    from agenda.sas.auth import sas_booking_allowed

    if origin_of(form) == "sas" and sas_booking_allowed(slot_id):
        return "sas"
    return "web"


@bp.post("/reservations/appel/clore")
@roles_required(*BOOKERS)
def close_call():
    """"Aucun créneau ne convient": the call is closed with its outcome (no slot found,
    the patient declined, other), counted without any patient identity."""
    import contextlib

    from agenda.booking.services.calls import close_call as close

    if not ActionForm().validate():
        abort(400)
    back = request.form.get("back")
    back = back if back in ("booking.search", "booking.ed_quick") else "booking.search"
    insee = None
    with contextlib.suppress(DomainError):  # the commune is optional here
        insee = services.resolve_commune(request.form.get("commune", "")).insee
    # A DomainError (an unknown outcome) is answered by the app's handler: 4xx, French text.
    call = close(current_user, request.form.get("outcome", ""), insee,
                 request.form.get("reason", type=int) or None)
    flash(_("Appel clos : « %(outcome)s ».", outcome=call_outcome_label(call.outcome)), "info")
    return redirect(url_for(back))


def call_outcome_label(outcome: str) -> str:
    return {"no_slot": _("aucun créneau ne convient"), "declined": _("le patient refuse"),
            "other": _("autre")}.get(outcome, outcome)


# --- emergency department: one screen ----------------------------------------------------

@bp.route("/urgences", methods=["GET", "POST"])
@roles_required(*BOOKERS)
def ed_quick():
    form = EDForm()
    prepare(form)
    ctx = {"form": form, "communes": communes_datalist(), "results": None, "booking": None,
           "request_obj": None}
    if request.method == "GET":
        return render_template("booking/ed_quick.html", **ctx)
    if request.form.get("action") == "reorient":
        return reorient("booking.ed_quick")
    if not form.validate():
        flash(_("Vérifiez les champs signalés."), "error")
        return render_template("booking/ed_quick.html", **ctx), 400
    try:
        commune = services.resolve_commune(form.commune.data)
        slot_id = request.form.get("slot_id", type=int)
        if slot_id:
            result = services.book(current_user, services.BookingInput(
                slot_id=slot_id, patient=patient_data(form, commune),
                reason_id=form.reason.data or None, note=form.note.data, origin="web"))
            if isinstance(result, Booking):
                ctx["booking"] = result
                ctx["doctor"] = db.session.get(Doctor, result.doctor_id)
            else:
                ctx["request_obj"] = result
            return render_template("booking/ed_quick.html", **ctx)
        mode = {"mobile": "AMB", "tele": "VR", "home": "HH"}.get(form.mobility.data)
        ctx["results"] = services.search_slots(current_user, commune,
                                               treating_doctor_id=treating_id(form), mode=mode,
                                               limit=6)
        return render_template("booking/ed_quick.html", **ctx)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        try:
            commune = services.resolve_commune(form.commune.data)
            mode = {"mobile": "AMB", "tele": "VR", "home": "HH"}.get(form.mobility.data)
            ctx["results"] = services.search_slots(current_user, commune,
                                                   treating_doctor_id=treating_id(form),
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

        audit_list(current_user, items, reqs)
    else:
        from agenda.booking.services.bookings import status_counts

        counts = status_counts(current_user)
    return render_template("booking/bookings.html", bookings=items, requests=reqs,
                           counts=counts, identity=role in BOOKERS or role == "doctor",
                           booking_of=cascade.booking_of_request)


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
                           booking=cascade.booking_of_request(req), form=ActionForm(),
                           extend_to=cascade.extension_choices(current_user, req)
                           if req.status == "expired" else [])


@bp.post("/reservations/demandes/<int:request_id>/etendre")
@roles_required(*BOOKERS)
def request_extend(request_id: int):
    """An expired request offered to a neighbouring CPTS the organisation serves."""
    if not ActionForm().validate():
        abort(400)
    cpts_id = request.form.get("cpts_id", type=int) or 0
    outcome = commit_or_flash(lambda: cascade.extend_request(current_user, request_id, cpts_id))
    if outcome.status == 404:
        abort(404)
    if outcome.ok:
        flash(_("Demande étendue à la CPTS voisine : ses médecins ont reçu la proposition."),
              "info")
    return redirect(url_for("booking.request_detail", request_id=request_id))


@bp.post("/reservations/demandes/<int:request_id>/annuler")
@roles_required(*BOOKERS)
def request_cancel(request_id: int):
    if not ActionForm().validate():
        abort(400)
    outcome = commit_or_flash(lambda: services.cancel_request(current_user, request_id))
    if outcome.status == 404:
        abort(404)
    if outcome.ok:
        flash(_("Demande annulée."), "info")
    return redirect(url_for("booking.request_detail", request_id=request_id))


@bp.get("/reservations/communes")
@roles_required(*BOOKERS)
def communes_lookup():
    """Communes matching a name or postcode (autocomplete)."""
    from flask import jsonify

    from agenda.territory.services import search_communes

    return jsonify([{"insee": c.insee, "label": patient_services.commune_label(c)}
                    for c in search_communes(request.args.get("q", ""), limit=10)])


