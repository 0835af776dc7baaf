"""Dashboard panels: the doctor's calendar state; the coordinator's view of every doctor."""

from __future__ import annotations

from flask_babel import gettext as _

from agenda.dashboard import panel
from agenda.errors import Forbidden
from agenda.sync import services


@panel("doctor")
def doctor_calendar_panel(user) -> dict | None:
    from agenda.slots.services import doctor_for_user

    try:
        doctor = doctor_for_user(user)
    except Forbidden:
        return None
    account = services.account_of(doctor)
    return {"title": _("Mon calendrier"), "template": "sync/_panel_doctor.html",
            "state": services.state_of(account), "account": account}


@panel("coordinator")
def coordinator_sync_panel(user) -> dict | None:
    rows = services.states_for_cpts(user.cpts_id)
    if not rows:
        return None
    counts = {"ok": 0, "pending": 0, "error": 0}
    for _doctor, state in rows:
        counts[state.code] = counts.get(state.code, 0) + 1
    errors = [(d, s) for d, s in rows if s.code == "error"][:5]
    return {"title": _("Calendriers des médecins"), "template": "sync/_panel_coordinator.html",
            "counts": counts, "errors": errors, "total": len(rows)}
