"""Outbox messages written by booking operations (never any patient identity)."""

from __future__ import annotations

from flask_babel import gettext as _

from agenda import outbox
from agenda.booking.models import Booking
from agenda.i18n import format_local_datetime, format_local_time
from agenda.mail import notify


def booking_events(booking: Booking, action: str, *, floating_accepted: bool = False) -> None:
    """The calendar and national-platform messages of a booking change."""
    if floating_accepted:
        outbox.enqueue("caldav.floating", {"booking_id": booking.id},
                       doctor_id=booking.doctor_id)
    else:
        outbox.enqueue("caldav.booking", {"booking_id": booking.id, "action": action},
                       doctor_id=booking.doctor_id)
    if booking.origin == "sas":
        outbox.enqueue("sas.appointment", {"booking_id": booking.id, "action": action},
                       doctor_id=booking.doctor_id)


def when(booking_or_start, end=None) -> str:
    start = getattr(booking_or_start, "start", booking_or_start)
    end = getattr(booking_or_start, "end", end)
    text = format_local_datetime(start, "EEEE d MMMM HH:mm")
    if end is not None:
        text += "–" + format_local_time(end)
    return text


def mail_doctor_booked(email: str | None, booking: Booking, link: str) -> None:
    if not email:
        return
    notify(email, _("SNP : nouvelle réservation %(ref)s", ref=booking.reference),
           _("Un patient a été orienté vers votre créneau SNP du %(when)s.\n"
             "Détails (connexion requise) : %(link)s\n", when=when(booking), link=link))


def mail_cancelled(email: str | None, booking: Booking, link: str, by: str) -> None:
    """``by``: "doctor", "booker" or "patient" (agenda.booking.models.CancelledBy)."""
    if not email:
        return
    who = {"doctor": _("le médecin"), "patient": _("le patient (lien du SMS)")}.get(
        by, _("l'organisme qui a réservé"))
    notify(email, _("SNP : réservation %(ref)s annulée", ref=booking.reference),
           _("La réservation SNP du %(when)s a été annulée par %(who)s.\n"
             "Détails (connexion requise) : %(link)s\n", when=when(booking), who=who,
             link=link))
