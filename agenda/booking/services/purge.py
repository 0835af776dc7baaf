"""Retention: anonymise patients whose bookings and requests are past the charter's
retention period; the bookings, requests and counts stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import exists, select, text, update

from agenda import audit, clock
from agenda.accounts.models import Organisation
from agenda.booking.models import Booking, FloatingRequest, Patient
from agenda.booking.services.common import charter_for
from agenda.extensions import db

ANONYMOUS = "—"


def purge_expired(batch: int = 500) -> int:
    """Anonymise up to ``batch`` patients past retention; returns how many."""
    now = clock.now()
    total = 0
    cpts_ids = list(db.session.scalars(select(Organisation.id).where(
        Organisation.kind == "cpts")))
    for cpts_id in cpts_ids:
        cutoff = now - timedelta(days=charter_for(cpts_id).retention_days)
        partner_orgs = select(Organisation.id).where(
            (Organisation.cpts_id == cpts_id) | (Organisation.id == cpts_id))
        recent_booking = exists().where(Booking.patient_id == Patient.id, Booking.end > cutoff)
        recent_request = exists().where(FloatingRequest.patient_id == Patient.id,
                                        FloatingRequest.window_end > cutoff)
        of_cpts = (exists().where(Booking.patient_id == Patient.id,
                                  Booking.booker_org_id.in_(partner_orgs))
                   | exists().where(FloatingRequest.patient_id == Patient.id,
                                    FloatingRequest.booker_org_id.in_(partner_orgs)))
        ids = list(db.session.scalars(
            select(Patient.id).where(Patient.anonymised_at.is_(None), Patient.created_at < cutoff,
                                     ~recent_booking, ~recent_request, of_cpts).limit(batch)))
        if not ids:
            continue
        db.session.execute(update(Patient).where(Patient.id.in_(ids)).values(
            last_name=ANONYMOUS, first_name=ANONYMOUS, birth_date=None, phone=None,
            phone_key=None, treating_external_name=None, treating_external_rpps=None,
            anonymised_at=now)
            .execution_options(synchronize_session=False))
        db.session.execute(update(Booking).where(Booking.patient_id.in_(ids)).values(
            note=None, synthesis=None, cancel_reason=None)
            .execution_options(synchronize_session=False))
        db.session.execute(update(FloatingRequest).where(FloatingRequest.patient_id.in_(ids))
                           .values(note=None).execution_options(synchronize_session=False))
        for pid in ids:
            audit.record("purge", "patient", pid, patient_id=pid, detail="rétention")
        db.session.commit()
        total += len(ids)
    if total and db.engine.dialect.name == "sqlite":
        # Old page versions still in the write-ahead log go (secure_delete zeroes the rest).
        db.session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    return total
