"""Pages of agenda.sync: the doctor's calendar settings, the coordinator's overview of
every doctor's sync state, and the secret ICS feed."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from agenda.accounts.access import roles_required
from agenda.errors import DomainError
from agenda.extensions import db
from agenda.sync import services
from agenda.sync.adapter import RemoteCalendar
from agenda.sync.forms import CalendarChoiceForm, ConnectionForm
from agenda.sync.models import CalendarAccount

bp = Blueprint("sync", __name__)
_SESSION_KEY = "sync_calendars"


def _doctor():
    from agenda.slots.services import doctor_for_user

    return doctor_for_user(current_user)


def _calendars_in_session() -> list[RemoteCalendar]:
    return [RemoteCalendar(url, name) for url, name in session.get(_SESSION_KEY) or []]


@bp.get("/mon-calendrier")
@roles_required("doctor")
def settings():
    doctor = _doctor()
    account = services.account_of(doctor)
    form = ConnectionForm(obj=None)
    if account is not None and not form.is_submitted():
        form.url.data = account.url
        form.username.data = account.username
    calendars = _calendars_in_session()
    choice = CalendarChoiceForm()
    choice.calendar.choices = [(c.url, c.name) for c in calendars]
    choice.busy.choices = [(c.url, c.name) for c in calendars]
    if account is not None:
        choice.calendar.data = account.calendar_url
        choice.busy.data = list(account.busy_calendar_urls or [])
    return render_template("sync/settings.html", doctor=doctor, account=account, form=form,
                           choice=choice, calendars=calendars,
                           state=services.state_of(account),
                           log=services.recent_log(doctor),
                           ics_url=(url_for("sync.ics_feed", token=account.ics_token,
                                            _external=True)
                                    if account is not None and account.ics_token else None))


@bp.post("/mon-calendrier/tester")
@roles_required("doctor")
def test_connection():
    doctor = _doctor()
    form = ConnectionForm()
    if not form.validate():
        for errors in form.errors.values():
            for e in errors:
                flash(e, "error")
        return redirect(url_for("sync.settings"))
    try:
        calendars = services.test_and_store(doctor, form.url.data, form.username.data,
                                            form.password.data)
    except DomainError as exc:
        db.session.rollback()
        flash(_("Connexion impossible : %(msg)s", msg=exc.message), "error")
        return redirect(url_for("sync.settings"))
    session[_SESSION_KEY] = [(c.url, c.name) for c in calendars]
    flash(_("Connexion réussie : %(n)d calendrier(s) trouvé(s). Choisissez celui des "
            "créneaux SNP.", n=len(calendars)), "success")
    return redirect(url_for("sync.settings") + "#choix")


@bp.post("/mon-calendrier/calendrier")
@roles_required("doctor")
def choose_calendar():
    doctor = _doctor()
    account = services.account_of(doctor)
    calendars = _calendars_in_session()
    form = CalendarChoiceForm()
    if account is None or not account.url or not calendars:
        flash(_("Testez d'abord la connexion."), "error")
        return redirect(url_for("sync.settings"))
    if not form.validate() or form.calendar.data not in {c.url for c in calendars}:
        flash(_("Choisissez le calendrier des créneaux SNP."), "error")
        return redirect(url_for("sync.settings") + "#choix")
    try:
        account = services.save_settings(doctor, services.CaldavSettings(
            url=account.url, username=account.username, calendar=form.calendar.data,
            busy_calendars=form.busy.data or []), calendars=calendars)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("sync.settings"))
    flash(_("Calendrier « %(name)s » connecté : ses événements deviendront vos créneaux SNP "
            "à la prochaine synchronisation.", name=account.calendar_name), "success")
    return redirect(url_for("sync.settings"))


@bp.post("/mon-calendrier/deconnecter")
@roles_required("doctor")
def disconnect():
    services.disconnect(_doctor())
    session.pop(_SESSION_KEY, None)
    flash(_("Calendrier déconnecté. Vos créneaux déjà publiés restent en place."), "success")
    return redirect(url_for("sync.settings"))


@bp.post("/mon-calendrier/nouveau-lien")
@roles_required("doctor")
def renew_ics():
    services.ics_token(_doctor(), renew=True)
    flash(_("Nouveau lien d'abonnement créé : l'ancien ne fonctionne plus."), "success")
    return redirect(url_for("sync.settings") + "#abonnement")


@bp.get("/synchronisation")
@roles_required("coordinator", "admin")
def overview():
    rows = services.states_for_cpts(current_user.cpts_id)
    return render_template("sync/overview.html", rows=rows)


@bp.get("/calendrier/<token>.ics")
def ics_feed(token: str):
    """Authenticated by the secret in the URL (a long random token)."""
    from agenda.sync import ics

    if not token or len(token) < 16:
        abort(404)
    account = db.session.scalar(select(CalendarAccount).where(
        CalendarAccount.ics_token == token))
    if account is None:
        abort(404)
    body = ics.feed(account.doctor)
    return Response(body, mimetype="text/calendar",
                    headers={"Content-Disposition": "inline; filename=snp.ics",
                             "Cache-Control": "private, max-age=300",
                             "X-Robots-Tag": "noindex"})


from agenda.sync import cli as _cli  # noqa: E402,F401  (registers the CLI commands)
from agenda.sync import demo as _demo  # noqa: E402,F401  (registers the demo step)
from agenda.sync import panels as _panels  # noqa: E402,F401  (dashboard panels)
