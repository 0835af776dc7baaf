"""Coordinator dashboard panel: the SAS platform link (failing deliveries, accounts)."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import func, or_, select

from agenda.dashboard import panel
from agenda.extensions import db
from agenda.outbox import OutboxItem
from agenda.sas.models import SasAccount, SasAppointment
from agenda.territory.models import doctor_in_cpts


@panel("coordinator")
def sas_panel(user) -> dict | None:
    """Appointments sent to the SAS platform and those that fail (INT_R03)."""
    cpts_id = user.cpts_id
    failing = list(db.session.scalars(
        select(OutboxItem)
        .where(OutboxItem.kind == "sas.appointment", doctor_in_cpts(cpts_id, OutboxItem.doctor_id),
               or_(OutboxItem.status == "failed",
                   (OutboxItem.status == "pending") & (OutboxItem.attempts > 0)))
        .order_by(OutboxItem.created_at).limit(20)))
    sent = db.session.scalar(select(func.count()).select_from(SasAppointment)
                             .where(SasAppointment.created_remote.is_(True)))
    accounts = db.session.scalar(select(func.count()).select_from(SasAccount)
                                 .where(SasAccount.habilitated.is_(True)))
    if not failing and not sent and not accounts:
        return None
    from agenda.booking.models import Booking

    ids = [item.payload.get("booking_id") for item in failing]
    references = dict(db.session.execute(select(Booking.id, Booking.reference)
                                         .where(Booking.id.in_(ids))).all()) if ids else {}
    return {"title": _("Plateforme numérique SAS"), "template": "sas/_panel_coordinator.html",
            "failing": failing, "references": references, "sent": sent, "accounts": accounts}
