"""Coordinator pages for the volunteer doctors (create, edit, deactivate, import)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from agenda.accounts.access import roles_required
from agenda.errors import DomainError
from agenda.extensions import db
from agenda.territory import services
from agenda.web import commit_or_flash
from agenda.territory.forms import DoctorForm, ImportForm, SectorForm

bp = Blueprint("territory", __name__)


def _commune(form: DoctorForm, ctx: dict) -> str | None:
    """The practice's commune from its name or postcode (the booking pages' commune finder:
    suggestions as you type, the server's candidates when several match); None, with the
    error at the field, when it is unknown or still to be chosen."""
    choice = request.form.get("commune_choice") or form.commune_insee.data or None
    try:
        commune = services.resolve_commune(form.commune.data or "", insee=choice)
    except services.AmbiguousCommune as exc:
        ctx["commune_candidates"] = exc.candidates
        form.commune.errors = [*form.commune.errors, exc.message]
        return None
    except DomainError as exc:
        form.commune.errors = [*form.commune.errors, exc.message]
        return None
    form.commune.data = services.commune_label(commune)
    form.commune_insee.data = commune.insee
    return commune.insee


def _data_from(form: DoctorForm, insee: str) -> services.DoctorData:
    return services.DoctorData(
        rpps=form.rpps.data or "", first_name=form.first_name.data or "",
        last_name=form.last_name.data or "", commune_insee=insee,
        email=form.email.data or None, phone=form.phone.data or None,
        address=form.address.data or "", accepts_floating=bool(form.accepts_floating.data))


@bp.get("/medecins")
@roles_required("coordinator", "admin")
def doctors():
    return render_template("territory/doctors.html",
                           doctors=services.doctors_of(current_user.cpts_id),
                           import_form=ImportForm())


@bp.route("/medecins/nouveau", methods=["GET", "POST"])
@roles_required("coordinator", "admin")
def doctor_new():
    form = DoctorForm()
    status, ctx = 200, {}
    if form.validate_on_submit() and (insee := _commune(form, ctx)):
        done = commit_or_flash(lambda: services.create_doctor(_data_from(form, insee),
                                                              current_user.cpts_id))
        if done.ok:
            flash(_("Médecin ajouté : %(name)s", name=done.value.display_name), "info")
            return redirect(url_for("territory.doctors"))
        status = done.status
    elif request.method == "POST":
        status = 400
    return render_template("territory/doctor_form.html", form=form, doctor=None,
                           **ctx), status


@bp.route("/medecins/<int:doctor_id>", methods=["GET", "POST"])
@roles_required("coordinator", "admin")
def doctor_edit(doctor_id: int):
    doctor = services.get_doctor(doctor_id, current_user.cpts_id)
    form = DoctorForm(obj=doctor)
    if not isinstance(form.commune.data, str):  # the obj's relationship, not a text
        form.commune.data = ""
    if request.method == "GET":
        form.commune.data = services.commune_label(doctor.commune)
        form.commune_insee.data = doctor.commune_insee
    status, ctx = 200, {}
    if form.validate_on_submit() and (insee := _commune(form, ctx)):
        done = commit_or_flash(lambda: services.update_doctor(doctor, _data_from(form, insee)))
        if done.ok:
            flash(_("Fiche enregistrée."), "info")
            return redirect(url_for("territory.doctors"))
        status = done.status
    elif request.method == "POST":
        status = 400
    return render_template("territory/doctor_form.html", form=form, doctor=doctor,
                           **ctx), status


@bp.post("/medecins/<int:doctor_id>/activation")
@roles_required("coordinator", "admin")
def doctor_toggle(doctor_id: int):
    doctor = services.get_doctor(doctor_id, current_user.cpts_id)
    services.set_doctor_active(doctor, not doctor.active)
    db.session.commit()
    flash(_("Médecin réactivé.") if doctor.active else _("Médecin désactivé."), "info")
    return redirect(url_for("territory.doctors"))


@bp.post("/medecins/import")
@roles_required("coordinator", "admin")
def doctors_import():
    form = ImportForm()
    if not form.validate_on_submit():
        flash(_("Choisissez un fichier CSV."), "error")
        return redirect(url_for("territory.doctors")), 303
    raw = form.file.data.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    try:
        report = services.import_doctors_csv(text, current_user.cpts_id)
    except DomainError as exc:
        flash(exc.message, "error")
        return render_template("territory/doctors.html",
                               doctors=services.doctors_of(current_user.cpts_id),
                               import_form=ImportForm()), 400
    flash(_("%(created)s créés, %(updated)s mis à jour, %(errors)s en erreur.",
            created=report.created, updated=report.updated, errors=len(report.errors)),
          "info" if not report.errors else "warning")
    for line, message in report.errors:
        flash(_("Ligne %(line)s : %(message)s", line=line, message=message), "error")
    return redirect(url_for("territory.doctors"))


@bp.get("/communes/recherche")
@roles_required()
def commune_search():
    """Suggestions of the commune fields (static/commune.js): by name, by postcode (every
    commune sharing it), by INSEE code only as "insee:44110"."""
    from flask import jsonify

    found = services.search_communes(request.args.get("q", ""),
                                     limit=request.args.get("limit", 15, type=int) or 15)
    return jsonify([services.commune_dict(c) for c in found])


@bp.route("/secteurs", methods=["GET", "POST"])
@roles_required("coordinator", "admin")
def sectors():
    import re

    form = SectorForm()
    status = 200
    if form.validate_on_submit():
        codes = re.split(r"[\s,;]+", form.communes.data or "")
        done = commit_or_flash(lambda: services.save_sector(current_user.cpts_id,
                                                            form.name.data, codes))
        if done.ok:
            flash(_("Secteur enregistré : %(name)s", name=done.value.name), "info")
            return redirect(url_for("territory.sectors"))
        status = done.status
    elif request.method == "POST":
        status = 400
    return render_template("territory/sectors.html", form=form,
                           sectors=services.sectors_of(current_user.cpts_id)), status


@bp.post("/secteurs/<int:sector_id>/supprimer")
@roles_required("coordinator", "admin")
def sector_delete(sector_id: int):
    services.delete_sector(current_user.cpts_id, sector_id)
    db.session.commit()
    flash(_("Secteur supprimé."), "info")
    return redirect(url_for("territory.sectors"))
