"""Dashboard panels: the doctor's pool this week and next, the coordinator's charter."""

from __future__ import annotations

from flask_babel import gettext as _

from agenda.dashboard import panel
from agenda.errors import Forbidden
from agenda.slots import services
from agenda.territory.models import Doctor


@panel("doctor")
def doctor_week_panel(user) -> dict | None:
    try:
        doctor: Doctor = services.doctor_for_user(user)
    except Forbidden:
        return None
    weeks = [(_("Cette semaine"), services.pool_summary(doctor, services.current_week())),
             (_("Semaine prochaine"), services.pool_summary(doctor, services.next_week()))]
    return {"title": _("Ma semaine SNP"), "template": "slots/_panel_doctor.html",
            "weeks": weeks}


@panel("coordinator")
def coordinator_charter_panel(user) -> dict | None:
    reports = [(_("Cette semaine"), services.charter_report(user.cpts_id,
                                                             services.current_week())),
               (_("Semaine prochaine"), services.charter_report(user.cpts_id,
                                                                 services.next_week()))]
    return {"title": _("Charte SNP"), "template": "slots/_panel_coordinator.html",
            "reports": reports}
