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
    """Appointments sent to the SAS platform, those that fail or were refused (INT_R03),
    and how much data keeps slots away from it (link to the CPTS's SAS page)."""
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
    from agenda.accounts.models import Organisation
    from agenda.booking.models import Booking
    from agenda.sas.settings import missing_data

    rejected = list(db.session.execute(
        select(Booking.id, Booking.reference, SasAppointment.last_error)
        .join(Booking, Booking.id == SasAppointment.booking_id)
        .where(SasAppointment.last_status == "rejected", Booking.cpts_id == cpts_id)
        .order_by(SasAppointment.id.desc()).limit(20)))
    ids = [item.payload.get("booking_id") for item in failing]
    references = dict(db.session.execute(select(Booking.id, Booking.reference)
                                         .where(Booking.id.in_(ids))).all()) if ids else {}
    missing = missing_data(db.session.get(Organisation, cpts_id))
    return {"title": _("Plateforme numérique SAS"), "template": "sas/_panel_coordinator.html",
            "failing": failing, "references": references, "sent": sent, "accounts": accounts,
            "rejected": rejected, "missing": len(missing)}
