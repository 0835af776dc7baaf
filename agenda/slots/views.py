"""Pages of agenda.slots: the doctor's "Ma semaine SNP" (phone first), the coordinator's
charter overview and settings. Thin: parse, call a service, render."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from werkzeug.routing import BuildError

from agenda import busy, clock
from agenda.accounts.access import roles_required
from agenda.errors import ValidationError
from agenda.extensions import db
from agenda.slots import lifecycle, services
from agenda.slots.forms import MODE_LABELS, CharterForm, CopyForm, SlotForm, WithdrawForm
from agenda.slots.models import Slot
from agenda.timeutil import parse_week, shift_week, to_local, week_from_arg
from agenda.web import commit_or_flash

bp = Blueprint("slots", __name__)

# "Copier la semaine précédente" works on the weeks "Ma semaine" navigates, up to this far.
COPY_WEEKS_AHEAD = 12


@bp.app_context_processor
def _slot_helpers() -> dict:
    return {"slot_status_label": lifecycle.status_label, "slot_mode_label": _mode_label,
            "booking_cancel_url": _booking_cancel_url}


def _mode_label(mode: str) -> str:
    return str(MODE_LABELS.get(mode, mode))


def _booking_cancel_url(booking_id: int) -> str | None:
    try:
        return url_for("booking.cancel", booking_id=booking_id)
    except BuildError:
        return None


# --------------------------------------------------------------------------- doctor


def _slot_input(form: SlotForm, charter) -> services.SlotInput:
    day: date = form.day.data
    start: time = form.start.data
    end: time | None = form.end.data
    kind = form.kind.data
    if end is None:
        if kind == "floating":
            raise ValidationError(_("Indiquez la fin de la plage flottante."), field="end")
        end_dt = datetime.combine(day, start) + timedelta(minutes=charter.default_length_min)
        if end_dt.date() != day:
            raise ValidationError(_("Un créneau tient dans une seule journée."), field="end")
        end = end_dt.time()
    capacity = (form.capacity.data or 1) if kind == "floating" else 1
    data = services.local_slot_input(kind, day, start, end, form.mode.data, capacity)
    data.place_id = form.place_id.data or None
    return data


def _place_choices(doctor) -> list[tuple[int, str]]:
    """The doctor's active places, when there are several (else no choice to make)."""
    from agenda.territory.services import places_of

    places = places_of(doctor.id)
    if len(places) < 2:
        return []
    return [(p.id, f"{p.display} — {_cpts_label(p.cpts_id)}") for p in places]


def _cpts_label(cpts_id: int) -> str:
    from agenda.accounts.models import Organisation

    org = db.session.get(Organisation, cpts_id)
    return org.name if org is not None else ""


def _week_label(week: str) -> str:
    this_week = services.current_week()
    if week == this_week:
        return _("Cette semaine")
    if week == shift_week(this_week, 1):
        return _("Semaine prochaine")
    return _("Semaine du %(day)s", day=parse_week(week).strftime("%d/%m"))


def _weeks_with_slots(doctor) -> list[str]:
    """The weeks from this one on that hold the doctor's slots (navigation)."""
    from sqlalchemy import select

    from agenda.slots import lifecycle as lc

    return list(db.session.scalars(
        select(Slot.week).where(Slot.doctor_id == doctor.id, Slot.status != lc.WITHDRAWN,
                                Slot.week >= services.current_week())
        .distinct().order_by(Slot.week)))


def _default_day() -> date:
    today = to_local(clock.now()).date()
    return today + timedelta(days=1)


def _shown_week() -> str:
    """The first week shown: ``?semaine=2026-W50`` (any week), else this one."""
    asked = request.args.get("semaine") or request.form.get("semaine") or ""
    try:
        parse_week(asked)
        return asked
    except (ValueError, ValidationError):
        return services.current_week()


def _render_week(form: SlotForm | None = None, status: int = 200):
    doctor = services.doctor_for_user(current_user)
    first = _shown_week()
    weeks = []
    for week in (first, shift_week(first, 1)):
        label = _week_label(week)
        pool = services.week_pool(doctor, week)
        weeks.append({"label": label, "summary": services.pool_summary(doctor, week),
                      "slots": pool, "bookings": services.bookings_for_doctor(doctor, pool),
                      "previous": shift_week(week, -1),
                      "sunday": parse_week(week) + timedelta(days=6)})
    if form is None:
        form = SlotForm()
        form.day.data = _default_day()
    form.place_id.choices = _place_choices(doctor)
    charter = services.charter_for(doctor.cpts_id)
    db.session.commit()  # audit entries of the bookings shown
    return render_template("slots/my_week.html", doctor=doctor, weeks=weeks, form=form,
                           charter=charter, copy_form=CopyForm(),
                           withdraw_form=WithdrawForm(), first_week=first,
                           previous_week=shift_week(first, -1), next_week=shift_week(first, 1),
                           weeks_with_slots=_weeks_with_slots(doctor),
                           week_label=_week_label, busy_flags=busy.flagged_slots(doctor.id),
                           several_places=bool(form.place_id.choices)), status


@bp.get("/ma-semaine")
@roles_required("doctor")
def my_week():
    return _render_week()


@bp.post("/ma-semaine/creneaux")
@roles_required("doctor")
def slot_new():
    doctor = services.doctor_for_user(current_user)
    form = SlotForm()
    if not form.validate_on_submit():
        flash(_("Le formulaire est incomplet : vérifiez les champs signalés."), "error")
        return _render_week(form, 400)
    done = commit_or_flash(lambda: services.create_slot(
        doctor, _slot_input(form, services.charter_for(doctor.cpts_id)), source="web"))
    if not done.ok:
        return _render_week(form, done.status)
    slot = done.value
    _flash_saved(slot, _("Créneau publié : %(when)s.", when=_when(slot)))
    return redirect(url_for("slots.my_week", semaine=slot.week))


def _when(slot: Slot) -> str:
    start, end = to_local(slot.start), to_local(slot.end)
    return f"{start.strftime('%d/%m')} {start.strftime('%H:%M')}–{end.strftime('%H:%M')}"


def _flash_saved(slot: Slot, message: str) -> None:
    flash(message, "info")
    for warning in getattr(slot, "warnings", []) or []:
        flash(warning, "warning")


@bp.route("/ma-semaine/creneaux/<int:slot_id>", methods=["GET", "POST"])
@roles_required("doctor")
def slot_edit(slot_id: int):
    doctor = services.doctor_for_user(current_user)
    slot = services.get_own_slot(doctor, slot_id)
    form = SlotForm()
    status = 200
    if request.method == "GET":
        start, end = to_local(slot.start), to_local(slot.end)
        form.kind.data, form.day.data = slot.kind, start.date()
        form.start.data, form.end.data = start.time(), end.time()
        form.mode.data, form.capacity.data = slot.mode, slot.capacity
    elif form.validate_on_submit():
        done = commit_or_flash(lambda: services.update_slot(
            slot, _slot_input(form, services.charter_for(doctor.cpts_id))))
        status = done.status
        if done.ok:
            _flash_saved(slot, _("Créneau modifié : %(when)s.", when=_when(slot)))
            return redirect(url_for("slots.my_week", semaine=slot.week))
    else:
        status = 400
    return render_template("slots/slot_edit.html", slot=slot, form=form,
                           withdraw_form=WithdrawForm()), status


@bp.post("/ma-semaine/creneaux/<int:slot_id>/retirer")
@roles_required("doctor")
def slot_withdraw(slot_id: int):
    doctor = services.doctor_for_user(current_user)
    slot = services.get_own_slot(doctor, slot_id)
    form = WithdrawForm()
    if not form.validate_on_submit():
        flash(_("Le formulaire a expiré : réessayez."), "error")
        return redirect(url_for("slots.my_week"))
    if commit_or_flash(lambda: services.withdraw_slot(slot, form.reason.data)).ok:
        flash(_("Créneau retiré : %(when)s.", when=_when(slot)), "info")
    return redirect(url_for("slots.my_week", semaine=slot.week))


@bp.post("/ma-semaine/copier")
@roles_required("doctor")
def copy_week():
    doctor = services.doctor_for_user(current_user)
    form = CopyForm()
    if not form.validate_on_submit():
        flash(_("Le formulaire a expiré : réessayez."), "error")
        return redirect(url_for("slots.my_week"))
    target = form.target.data
    try:
        parse_week(target)
    except (ValueError, ValidationError):
        target = ""
    if not target or not services.current_week() <= target <= shift_week(
            services.current_week(), COPY_WEEKS_AHEAD):
        flash(_("Seules cette semaine et les %(n)d suivantes peuvent être remplies ici.",
                n=COPY_WEEKS_AHEAD), "error")
        return redirect(url_for("slots.my_week"))
    source_week = shift_week(target, -1)
    done = commit_or_flash(lambda: services.copy_week(doctor, source_week, target))
    if not done.ok:
        return redirect(url_for("slots.my_week"))
    report = done.value
    # Withdrawn or cancelled slots are not copied either: say so, one by one.
    report.skipped.extend(
        (s, _("créneau retiré ou annulé")) for s in services.week_pool(
            doctor, source_week, include_withdrawn=True)
        if s.status in (lifecycle.CANCELLED, lifecycle.WITHDRAWN))
    report.skipped.sort(key=lambda item: item[0].start)
    n = len(report.created)
    if n:
        flash(ngettext("%(num)d créneau copié depuis la semaine précédente.",
                       "%(num)d créneaux copiés depuis la semaine précédente.", n), "info")
    elif not report.skipped:
        flash(_("La semaine précédente ne contient aucun créneau à copier."), "warning")
    if report.skipped:
        flash(ngettext("%(num)d créneau non copié :", "%(num)d créneaux non copiés :",
                       len(report.skipped)), "warning")
    for source, why in report.skipped:
        flash(_("Non copié (%(when)s) : %(why)s", when=_when(source), why=why), "warning")
    return redirect(url_for("slots.my_week", semaine=target))


# --------------------------------------------------------------------------- coordinator


@bp.get("/charte")
@roles_required("coordinator", "admin")
def charter_overview():
    """The one charter page: the chosen week and the next, each volunteer against the
    charter, and who has published nothing for two weeks (``/coverage/charter`` leads
    here)."""
    value = (request.args.get("week") or "").strip()
    try:
        week = week_from_arg(value) if value else services.current_week()
    except ValueError:
        raise ValidationError(_("Semaine invalide : « %(w)s ». Choisissez-la avec les flèches "
                                "ou une date.", w=value[:20]), field="week") from None
    this_week = services.current_week()

    def title(w: str) -> str:
        if w == this_week:
            return _("Cette semaine")
        return _("Semaine prochaine") if w == shift_week(this_week, 1) else ""

    reports = [(title(w), services.charter_report(current_user.cpts_id, w))
               for w in (week, shift_week(week, 1))]
    db.session.commit()  # the default charter row, if it was just created
    return render_template("slots/charter_overview.html", reports=reports, week=week,
                           silent=services.silent_doctors(current_user.cpts_id, week),
                           charter=services.charter_for(current_user.cpts_id),
                           charter_name=services.charter_name(current_user.cpts_id))


@bp.route("/charte/parametres", methods=["GET", "POST"])
@roles_required("coordinator")
def charter_settings():
    charter = services.charter_for(current_user.cpts_id)
    db.session.commit()
    form = CharterForm()
    hours = services.publication_hours(charter)
    status = 200
    if request.method == "GET":
        form.min_per_week.data = charter.min_per_week
        form.max_per_week.data = charter.max_per_week
        form.default_length_min.data = charter.default_length_min
        form.horizon_hours.data = 0 if charter.same_day_until else charter.horizon_hours
        form.same_day_until.data = charter.same_day_until or "19:30"
        form.weekday_start.data, form.weekday_end.data = hours["1"] or ("08:00", "20:00")
        form.saturday_morning.data = bool(charter.saturday_morning)
        form.saturday_end.data = (hours["6"] or ("08:00", "12:00"))[1]
        form.hours_policy.data = charter.hours_policy or "refuse"
        form.holidays_policy.data = charter.holidays_policy or "warn"
    elif form.validate_on_submit():
        data = services.CharterInput(
            min_per_week=form.min_per_week.data, max_per_week=form.max_per_week.data,
            default_length_min=form.default_length_min.data,
            horizon_hours=form.horizon_hours.data, weekday_start=form.weekday_start.data,
            weekday_end=form.weekday_end.data, saturday_morning=form.saturday_morning.data,
            saturday_end=form.saturday_end.data, holidays_policy=form.holidays_policy.data,
            hours_policy=form.hours_policy.data,
            same_day_until=(form.same_day_until.data or "19:30")
            if form.horizon_hours.data == 0 else None)
        done = commit_or_flash(lambda: services.update_charter(current_user.cpts_id, data))
        status = done.status
        if done.ok:
            flash(_("Charte enregistrée."), "info")
            return redirect(url_for("slots.charter_overview"))
    else:
        status = 400
    return render_template("slots/charter_settings.html", form=form,
                           charter_name=services.charter_name(current_user.cpts_id)), status


# Register the dashboard panels, the demo step and the CLI commands.
from agenda.slots import cli as _cli  # noqa: E402,F401
from agenda.slots import panels as _panels  # noqa: E402,F401
