"""Dashboard panels: the doctor's calendar state; the coordinator's view of every doctor."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from agenda.dashboard import panel
from agenda.errors import Forbidden
from agenda.extensions import db
from agenda.sync import services


@panel("doctor")
def doctor_calendar_panel(user) -> dict | None:
    from agenda.slots.services import doctor_for_user

    try:
        doctor = doctor_for_user(user)
    except Forbidden:
        return None
    from agenda.slots.models import Slot
    from agenda.sync.freebusy import flagged_slots, main_calendars

    account = services.account_of(doctor)
    flags = flagged_slots(doctor.id) if main_calendars(account) else {}
    slots = db.session.scalars(select(Slot).where(Slot.id.in_(list(flags)))
                               .order_by(Slot.start)).all() if flags else []
    return {"title": _("Mon calendrier"), "template": "sync/_panel_doctor.html",
            "state": services.state_of(account), "account": account,
            "busy_slots": [(slot, flags[slot.id]) for slot in slots]}


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
