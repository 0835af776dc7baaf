"""Pages of agenda.booking: thin — parse, call a service, render.

- :mod:`.bookers` — search (4 screens), slot page (SAS link), emergency page, lists
- :mod:`.records` — a booking: detail, cancel, outcome, synthesis, letter; reasons
- :mod:`.doctors` — the doctor's "Demandes" (phone first)
"""

from __future__ import annotations

from flask import Blueprint
from flask_babel import gettext as _

from agenda import labels
from agenda.labels import label

bp = Blueprint("booking", __name__)

BOOKERS = ("secretary", "regulator", "ed_nurse")

@bp.app_context_processor
def _helpers() -> dict:
    return {"booking_status_label": booking_status_label,
            "channel_label": lambda c: label(c, "channel"),
            "booking_mode_label": lambda m: label(m, "slot_mode"),
            "cpts_name": _cpts_name, "age_of": age_of, "sms_enabled": _sms_enabled}


def _sms_enabled() -> bool:
    """The consent to text messages is asked only when a gateway is configured."""
    from agenda import sms

    return sms.configured()


def booking_status_label(status: str) -> str:
    """A booking's or a floating request's status in words (both feminine: "annulée")."""
    if status in labels.BOOKING_STATUS:
        return label(status, "booking_status")
    return label(status, "request_status")


def age_of(birth_date) -> str:
    """"34 ans", "8 mois": what a doctor needs before accepting (not the birth date)."""
    from agenda import clock
    from agenda.timeutil import to_local

    today = to_local(clock.now()).date()
    months = (today.year - birth_date.year) * 12 + today.month - birth_date.month
    if today.day < birth_date.day:
        months -= 1
    if months < 24:
        return _("%(n)s mois", n=max(months, 0))
    return _("%(n)s ans", n=months // 12)


def _cpts_name(cpts_id: int | None) -> str:
    from agenda.accounts.models import Organisation
    from agenda.extensions import db

    org = db.session.get(Organisation, cpts_id) if cpts_id else None
    return org.name if org is not None else ""


from agenda.booking.views import bookers, doctors, patient_link, records  # noqa: E402,F401
from agenda.booking import demo as _demo  # noqa: E402,F401
from agenda.booking import panels as _panels  # noqa: E402,F401
