"""Dashboard panels: bookers (recent bookings, request alerts), doctors (pending requests)."""

from __future__ import annotations

from sqlalchemy import func, select

from agenda.accounts.models import Organisation

from agenda import clock
from agenda.alerts import Alert
from agenda.booking.models import Booking, FloatingRequest, RequestStatus
from agenda.booking.services import requests as cascade
from agenda.booking.services.common import doctor_of
from agenda.dashboard import panel
from agenda.extensions import db


@panel("secretary", "regulator", "ed_nurse")
def booker_panel(user) -> dict:
    from flask_babel import gettext as _

    recent = list(db.session.scalars(
        select(Booking).where(Booking.booker_org_id == user.organisation_id)
        .order_by(Booking.created_at.desc()).limit(5)))
    pending = list(db.session.scalars(
        select(FloatingRequest).where(FloatingRequest.booker_org_id == user.organisation_id,
                                      FloatingRequest.status == RequestStatus.PENDING.value)
        .order_by(FloatingRequest.deadline_at).limit(10)))
    accepted = list(db.session.scalars(
        select(FloatingRequest).where(FloatingRequest.booker_org_id == user.organisation_id,
                                      FloatingRequest.status == RequestStatus.ACCEPTED.value,
                                      FloatingRequest.accepted_at > clock.now().replace(
                                          hour=0, minute=0, second=0, microsecond=0))
        .order_by(FloatingRequest.accepted_at.desc()).limit(10)))
    alerts = list(db.session.scalars(
        select(Alert).where(Alert.organisation_id == user.organisation_id,
                            Alert.resolved_at.is_(None),
                            Alert.kind.in_(["request_expired", "booking_cancelled"]))
        .order_by(Alert.created_at.desc()).limit(10)))
    from agenda.booking.forms import QuickCallForm

    # The call starts here: name and commune, then the slots at the first page load.
    quick = QuickCallForm()
    return {"title": _("Réservations et demandes"), "template": "booking/_panel_booker.html",
            "quick": quick, "recent": recent, "pending": pending, "accepted": accepted,
            "alerts": alerts,
            "booking_of": cascade.booking_of_request, "now": clock.now()}


@panel("doctor")
def doctor_panel(user) -> dict | None:
    from flask_babel import gettext as _

    from agenda.booking.services.bookings import audit_list
    from agenda.booking.views.doctors import doctor_day

    doctor = doctor_of(user)
    offers = cascade.offers_for(user) if doctor else []
    day = doctor_day(doctor) if doctor else {"awaiting": [], "today": [], "later": []}
    audit_list(user, day["awaiting"] + day["today"])
    return {"title": _("Mes rendez-vous et demandes"), "template": "booking/_panel_doctor.html",
            "offers": offers, "awaiting": day["awaiting"], "today": day["today"],
            "later_count": len(day["later"])}


@panel("coordinator")
def coordinator_panel(user) -> dict:
    """Counts and statuses, never a patient's identity."""
    from flask_babel import gettext as _

    from agenda.booking.services.bookings import status_counts

    pending = db.session.scalar(
        select(func.count()).select_from(FloatingRequest)
        .join(Organisation, Organisation.id == FloatingRequest.booker_org_id)
        .where(Organisation.cpts_id == user.cpts_id,
               FloatingRequest.status == RequestStatus.PENDING.value)) or 0
    return {"title": _("Réservations SNP"), "template": "booking/_panel_coordinator.html",
            "counts": status_counts(user), "pending": pending}
