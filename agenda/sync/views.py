"""Pages of agenda.sync: the doctor's calendar settings, the coordinator's overview of
every doctor's sync state, and the secret ICS feed."""

from __future__ import annotations

import logging
import re

from flask import (Blueprint, Response, abort, flash, redirect, render_template, request,
                   session, url_for)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from agenda.accounts.access import roles_required
from agenda.errors import DomainError
from agenda.extensions import db
from agenda.sync import services
from agenda.sync.adapter import RemoteCalendar
from agenda.sync.forms import CalendarChoiceForm, ConnectionForm

bp = Blueprint("sync", __name__)
_SESSION_KEY = "sync_calendars"
_NEW_FEED_KEY = "sync_new_feed"
_FEED_PATH = re.compile(r"/calendrier/[^/\s\"?]+\.ics")


class _HideFeedTokens(logging.Filter):
    """Access log lines (the development server's, gunicorn's) never show a feed token."""

    def filter(self, record: logging.LogRecord) -> bool:
        def hide(value):
            return _FEED_PATH.sub("/calendrier/***.ics", value) if isinstance(value, str) \
                else value

        if isinstance(record.msg, str):
            record.msg = hide(record.msg)
        if isinstance(record.args, dict):  # gunicorn's atoms: changed in place, type kept
            for key, value in list(record.args.items()):
                record.args[key] = hide(value)
        elif isinstance(record.args, tuple):
            record.args = tuple(hide(v) for v in record.args)
        return True


for _name in ("werkzeug", "gunicorn.access"):
    if not any(isinstance(f, _HideFeedTokens) for f in logging.getLogger(_name).filters):
        logging.getLogger(_name).addFilter(_HideFeedTokens())


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
    new_feed = session.pop(_NEW_FEED_KEY, None)  # shown once, right after its creation
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
                           ics_url=(url_for("sync.ics_feed", token=new_feed, _external=True)
                                    if new_feed else None))


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
    flash(ngettext("Connexion réussie : %(num)d calendrier trouvé. Choisissez celui des "
                   "créneaux SNP.",
                   "Connexion réussie : %(num)d calendriers trouvés. Choisissez celui des "
                   "créneaux SNP.", len(calendars)), "success")
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
    session[_NEW_FEED_KEY] = services.new_ics_token(_doctor())
    flash(_("Nouveau lien d'abonnement créé : l'ancien ne fonctionne plus."), "success")
    return redirect(url_for("sync.settings") + "#abonnement")


@bp.get("/synchronisation")
@roles_required("coordinator", "admin")
def overview():
    rows = services.states_for_cpts(current_user.cpts_id)
    return render_template("sync/overview.html", rows=rows)


@bp.get("/calendrier/<token>.ics")
def ics_feed(token: str):
    """Authenticated by the secret in the URL (a long random token, stored hashed), with
    ETag and Last-Modified: a poll with nothing new is a 304 with no body."""
    from agenda.sync import ics

    account = services.feed_account(token)
    if account is None:
        abort(404)
    feed = ics.feed(account.doctor)
    headers = {"Content-Disposition": "inline; filename=snp.ics",
               "Cache-Control": "private, max-age=300", "X-Robots-Tag": "noindex",
               "ETag": feed.etag}
    if feed.last_modified is not None:
        headers["Last-Modified"] = feed.last_modified_http
    if ics.not_modified(feed, request.headers.get("If-None-Match"),
                        request.headers.get("If-Modified-Since")):
        return Response(status=304, headers=headers)
    return Response(feed.body, mimetype="text/calendar", headers=headers)


from agenda.sync import cli as _cli  # noqa: E402,F401  (registers the CLI commands)
from agenda.sync import demo as _demo  # noqa: E402,F401  (registers the demo step)
from agenda.sync import panels as _panels  # noqa: E402,F401  (dashboard panels)
