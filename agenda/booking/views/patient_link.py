"""The patient's one-tap cancellation link (public, no login) and the coordinator's
text-message settings.

``GET /a/<token>`` only shows the appointment and one button (link previewers fetch GETs:
nothing changes on a GET); ``POST`` cancels. A wrong, forged or expired link gets one and
the same page and status, and too many of them from one address a pause.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from agenda.accounts.access import roles_required
from agenda.booking import reminders
from agenda.booking.forms import ActionForm, SmsSettingsForm
from agenda.booking.views import bp
from agenda.web import commit_or_flash

_STATUS = {"unknown": 404, "active": 200, "cancelled": 200, "closed": 200, "done": 200}


def _answer(found: reminders.LinkState, status: int | None = None):
    html = render_template("booking/patient_link.html", found=found, form=ActionForm())
    return html, status or _STATUS[found.state], {"Referrer-Policy": "no-referrer",
                                                   "X-Robots-Tag": "noindex"}


@bp.route("/a/<token>", methods=["GET", "POST"])
def patient_cancel(token: str):
    ip = request.remote_addr or "?"
    if reminders.throttled(ip):
        return _answer(reminders.LinkState("throttled"), 429)
    if request.method == "POST":
        if not ActionForm().validate():
            abort(400)
        found = reminders.cancel_with_token(token)
    else:
        found = reminders.link_state(token)
    if found.state == "unknown":
        reminders.count_wrong_link(ip)
    return _answer(found)


@bp.route("/coordination/sms", methods=["GET", "POST"])
@roles_required("coordinator")
def sms_settings():
    from agenda import sms
    from agenda.booking.services.common import charter_for

    charter = charter_for(current_user.cpts_id)
    form = SmsSettingsForm()
    status = 200
    if request.method == "GET":
        form.sms_reminder_minutes.data = charter.sms_reminder_minutes
        form.sms_booking_text.data = charter.sms_booking_text or ""
        form.sms_reminder_text.data = charter.sms_reminder_text or ""
    elif form.validate_on_submit():
        done = commit_or_flash(lambda: reminders.update_settings(
            current_user.cpts_id, form.sms_reminder_minutes.data, form.sms_booking_text.data,
            form.sms_reminder_text.data))
        status = done.status
        if done.ok:
            flash(_("Réglages des SMS enregistrés."), "info")
            return redirect(url_for("booking.sms_settings"))
    else:
        status = 400
    return render_template("booking/sms_settings.html", form=form, enabled=sms.configured(),
                           defaults=reminders.DEFAULT_TEXTS,
                           placeholders=reminders.PLACEHOLDERS), status
