"""A booking's page and its changes (cancel, outcome, synthesis, letter); reasons."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from agenda import clock
from agenda.accounts.access import roles_required
from agenda.booking import services
from agenda.booking.forms import (ActionForm, CancelForm, OutcomeForm, ReasonForm,
                                  SynthesisForm)
from agenda.booking.services import patients as patient_services
from agenda.booking.services.common import doctor_of
from agenda.web import commit_or_flash, safe_next
from agenda.errors import DomainError
from agenda.extensions import db
from agenda.territory.models import Doctor
from agenda.booking.views import BOOKERS, bp


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


@bp.get("/reservations/<int:booking_id>/fiche")
@roles_required(*BOOKERS)
def slip(booking_id: int):
    """The printable A5 slip handed to the patient (the emergency department's desk)."""
    booking, identity = services.get_booking(current_user, booking_id)
    if not identity:
        abort(404)
    db.session.commit()  # the audit entry of the read
    back = (url_for("booking.ed_quick") if current_user.role == "ed_nurse"
            else url_for("booking.detail", booking_id=booking.id))
    return render_template("booking/slip.html", booking=booking,
                           doctor=db.session.get(Doctor, booking.doctor_id), back=back,
                           booking_org_name=current_user.organisation.name)


@bp.route("/reservations/<int:booking_id>/annuler", methods=["GET", "POST"])
@roles_required(*BOOKERS, "doctor")
def cancel(booking_id: int):
    if request.method == "GET":  # a link (e.g. from "Ma semaine SNP"): the form with a reason
        services.get_booking(current_user, booking_id, audit_view=False)  # 404 if not theirs
        return redirect(url_for("booking.detail", booking_id=booking_id) + "#annuler")
    reason = request.form.get("c-reason") or request.form.get("reason") or ""
    form = ActionForm()
    if not form.validate():
        abort(400)
    if commit_or_flash(lambda: services.cancel_booking(current_user, booking_id, reason)).ok:
        flash(_("Réservation annulée ; l'autre partie est prévenue."), "info")
    target = safe_next(request.form.get("next"))
    if target:
        return redirect(target)
    return redirect(url_for("booking.detail", booking_id=booking_id))


@bp.post("/reservations/<int:booking_id>/issue")
@roles_required("doctor")
def outcome(booking_id: int):
    form = OutcomeForm(prefix="o")
    if not form.validate():
        abort(400)
    if commit_or_flash(lambda: services.record_outcome(current_user, booking_id,
                                                        form.outcome.data,
                                                        form.synthesis.data)).ok:
        flash(_("Issue enregistrée."), "info")
    return redirect(safe_next(request.form.get("next"))
                    or url_for("booking.detail", booking_id=booking_id))


@bp.post("/reservations/<int:booking_id>/synthese")
@roles_required("doctor")
def synthesis(booking_id: int):
    form = SynthesisForm(prefix="s")
    services.get_booking(current_user, booking_id, audit_view=False)  # 404 if not theirs
    if not form.validate():
        flash(_("La synthèse est vide."), "error")
        return redirect(url_for("booking.detail", booking_id=booking_id))
    if commit_or_flash(lambda: services.write_synthesis(current_user, booking_id,
                                                         form.synthesis.data)).ok:
        flash(_("Synthèse enregistrée."), "info")
    return redirect(safe_next(request.form.get("next"))
                    or url_for("booking.detail", booking_id=booking_id))


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


