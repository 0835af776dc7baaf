"""Booker pages: search (4 screens), the slot page (SAS link), the emergency page, lists."""

from __future__ import annotations

import contextlib

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
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
from agenda.booking.views.support import (booking_input, commune_problem, day_note,
                                          duplicates_for, error_status, form_commune,
                                          group_by_day, horizon_lines, origin_of,
                                          patient_data, prepare, reorient, treating_id)


# --- secretary / regulator: search -> hold -> confirm -> booked (4 screens) ---------------

@bp.route("/reservations/recherche", methods=["GET", "POST"])
@roles_required(*BOOKERS)
def search():
    """One call: the patient (name, commune…) -> the slots -> hold and confirm -> booked.
    The dashboard's quick form posts here directly (results at the first page load)."""
    form = SearchForm()
    prepare(form)
    action = request.form.get("action", "search")
    ctx = {"form": form, "results": None, "slot": None, "regulator": _regulates()}
    if request.method == "GET":
        return render_template("booking/search.html", **ctx)
    if action == "reorient":
        return reorient("booking.search")
    if action == "edit" or not form.validate():
        if action != "edit":
            flash(_("Vérifiez les champs signalés."), "error")
        return render_template("booking/search.html", **ctx), 200 if action == "edit" else 400
    try:
        commune = form_commune(form)
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
            ctx.update(_slot_context(slot))
            ctx["duplicates"] = duplicates_for(form, commune)
            return render_template("booking/confirm.html", **ctx)
        if action == "book":
            slot_id = request.form.get("slot_id", type=int) or 0
            return _after_booking(services.book(current_user, booking_input(
                form, commune, slot_id, origin_of(form))))
        _search_into(ctx, form, commune)
        return render_template("booking/search.html", **ctx)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        commune_problem(ctx, exc)
        if isinstance(exc, patient_services.PossibleDuplicate):
            slot = db.session.get(Slot, request.form.get("slot_id", type=int) or 0)
            if slot is not None:
                ctx.update(_slot_context(slot))
                ctx["duplicates"] = exc.matches
                return render_template("booking/confirm.html", **ctx), exc.status
        return render_template("booking/search.html", **ctx), error_status(exc)


def _regulates() -> bool:
    """The regulation file number is asked of the SAMU / SAS regulators."""
    return current_user.role == "regulator"


def _slot_context(slot: Slot) -> dict:
    from agenda.territory.models import Place

    return {"slot": slot, "doctor": db.session.get(Doctor, slot.doctor_id),
            "place": db.session.get(Place, slot.place_id) if slot.place_id else None,
            "charter": charter_for(slot.cpts_id)}


def _search_into(ctx: dict, form, commune) -> None:
    query = services.prepare_search(
        current_user, commune, treating_doctor_id=treating_id(form),
        horizon_hours=int(form.horizon.data) if form.horizon.data else None,
        mode=form.mode.data or None, day=form.day.data, sector_id=form.sector.data or None,
        order=form.order.data or "earliest")
    results = services.run_search(query)
    ctx.update(results=results, days=group_by_day(results), horizons=horizon_lines(query),
               day_note=day_note(query, form.day.data), several_cpts=len(query.cpts_ids) > 1,
               order=query.order)


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
    form = PatientForm()
    prepare(form)
    if request.method == "GET":
        form.origin.data = "sas" if request.args.get("origin") == "sas" else "web"
    ctx = {"form": form, **_slot_context(slot), "regulator": _regulates() or
           form.origin.data == "sas"}
    if request.method == "POST":
        if not form.validate():
            flash(_("Vérifiez les champs signalés."), "error")
            return render_template("booking/book_slot.html", **ctx), 400
        try:
            commune = form_commune(form)
            return _after_booking(services.book(current_user, booking_input(
                form, commune, slot.id, _slot_origin(form, slot.id))))
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
            commune_problem(ctx, exc)
            if isinstance(exc, patient_services.PossibleDuplicate):
                ctx["duplicates"] = exc.matches
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
    from agenda.labels import label

    return label(outcome, "call_outcome")


# --- emergency department: one screen ----------------------------------------------------

@bp.route("/urgences", methods=["GET", "POST"])
@roles_required(*BOOKERS)
def ed_quick():
    form = EDForm()
    prepare(form)
    ctx = {"form": form, "results": None, "booking": None, "request_obj": None}
    if request.method == "GET":
        return render_template("booking/ed_quick.html", **ctx)
    if request.form.get("action") == "reorient":
        return reorient("booking.ed_quick")
    if not form.validate():
        flash(_("Vérifiez les champs signalés."), "error")
        return render_template("booking/ed_quick.html", **ctx), 400
    mode = {"mobile": "AMB", "tele": "VR", "home": "HH"}.get(form.mobility.data)
    commune = None
    try:
        commune = form_commune(form)
        slot_id = request.form.get("slot_id", type=int)
        if slot_id:
            result = services.book(current_user, booking_input(form, commune, slot_id, "web"))
            if isinstance(result, Booking):
                ctx["booking"] = result
                ctx.update(_slot_context(result.slot))
            else:
                ctx["request_obj"] = result
            return render_template("booking/ed_quick.html", **ctx)
        ctx["results"] = services.search_slots(current_user, commune,
                                               treating_doctor_id=treating_id(form), mode=mode,
                                               limit=6)
        return render_template("booking/ed_quick.html", **ctx)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        commune_problem(ctx, exc)
        if isinstance(exc, patient_services.PossibleDuplicate):
            ctx["duplicates"] = exc.matches
        if commune is not None:
            with contextlib.suppress(DomainError):
                ctx["results"] = services.search_slots(current_user, commune,
                                                       treating_doctor_id=treating_id(form),
                                                       mode=mode, limit=6)
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
    """Communes matching a name or postcode (the same finder as /communes/recherche)."""
    from flask import jsonify

    from agenda.territory.services import commune_dict, search_communes

    return jsonify([commune_dict(c) for c in search_communes(request.args.get("q", ""),
                                                             limit=10)])




@bp.get("/reservations/export.csv")
@roles_required(*BOOKERS)
def bookings_csv():
    """The organisation's bookings as CSV (";", UTF-8 with BOM, local times), with the
    regulation file number; each row's identity read is audited."""
    import csv
    import io

    from flask import Response

    from agenda.booking.services.bookings import audit_list
    from agenda.coverage.csvexport import technical
    from agenda.labels import label
    from agenda.timeutil import to_local

    items = services.bookings_for(current_user, limit=5000)
    audit_list(current_user, items)
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    codes = technical()  # "technique" export: machine headers and codes
    writer.writerow(BOOKING_CSV_CODES if codes else [str(h) for h in BOOKING_CSV_HEADERS])
    for b in items:
        p = b.patient
        writer.writerow([b.reference, to_local(b.start).strftime("%Y-%m-%d %H:%M"),
                         to_local(b.end).strftime("%Y-%m-%d %H:%M"),
                         b.status if codes else label(b.status, "booking_status"),
                         b.channel if codes else label(b.channel, "channel"),
                         b.doctor.display_name, _cpts(b.cpts_id), p.last_name, p.first_name,
                         p.birth_date.isoformat() if p.birth_date else "", p.phone or "",
                         p.commune_insee, b.regulation_number or ""])
    name = "reservations-technique.csv" if codes else "reservations.csv"
    return Response("\ufeff" + buf.getvalue(), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


BOOKING_CSV_CODES = ["reference", "debut", "fin", "statut", "canal", "medecin", "cpts", "nom",
                     "prenom", "naissance", "telephone", "commune_insee", "dossier_regulation"]
BOOKING_CSV_HEADERS = [_l("Référence"), _l("Début"), _l("Fin"), _l("Statut"), _l("Canal"),
                       _l("Médecin"), _l("CPTS"), _l("Nom"), _l("Prénom"),
                       _l("Date de naissance"), _l("Téléphone"), _l("Code INSEE de la commune"),
                       _l("N° de dossier de régulation")]


def _cpts(cpts_id: int) -> str:
    from agenda.booking.views import _cpts_name

    return _cpts_name(cpts_id)
