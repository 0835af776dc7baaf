"""Demo step: the CPTS protocol reasons and a few past bookings (seen, no-show, with a
synthesis for a treating doctor who is a user)."""

from __future__ import annotations

from datetime import date, timedelta

from agenda import clock
from agenda.booking.models import Booking, CallLog, Patient, Reason, Reorientation
from agenda.booking.services.common import new_reference
from agenda.booking.services.patients import ensure_default_reasons
from agenda.demo import Demo, step
from agenda.extensions import db
from agenda.slots.models import Slot
from agenda.timeutil import iso_week

PAST = [  # (days ago, hour UTC, doctor index, treating index, status, channel)
    (2, 9, 1, 0, "seen", "secretariat"),
    (3, 15, 2, 0, "seen", "samu"),
    (3, 16, 3, None, "no_show", "ed"),
    (6, 10, 1, 4, "seen", "secretariat"),
]
NAMES = [("Durand", "Lucie"), ("Morin", "Paul"), ("Lefèvre", "Anaïs"), ("Guillou", "Bruno")]


@step
def booking_demo(demo: Demo) -> None:
    for org in [demo.cpts, *demo.neighbours]:
        ensure_default_reasons(org.id)
    reasons = db.session.query(Reason).filter_by(cpts_id=demo.cpts.id).all()
    orgs = {"secretariat": demo.secretariat, "samu": demo.samu, "ed": demo.ed}
    users = {"secretariat": demo.users.get("secretary"), "samu": demo.users.get("regulator"),
             "ed": demo.users.get("ed_nurse")}
    now = clock.now().replace(minute=0, second=0, microsecond=0)
    for i, (days, hour, doc_i, treating_i, status, channel) in enumerate(PAST):
        doctor = demo.doctors[doc_i]
        start = (now - timedelta(days=days)).replace(hour=hour)
        end = start + timedelta(minutes=20)
        slot = Slot(doctor_id=doctor.id, kind="fixed", start=start, end=end,
                    week=iso_week(start), capacity=1, booked_count=1, mode="AMB",
                    status=status, in_charter=True, source="web", created_at=start)
        db.session.add(slot)
        treating = demo.doctors[treating_i] if treating_i is not None else None
        last, first = NAMES[i]
        patient = Patient(last_name=last, first_name=first, birth_date=date(1980 + i * 7, 3, 14),
                          phone=f"06 12 34 56 {10 + i}", commune_insee=doctor.commune_insee,
                          treating_kind="doctor" if treating else "unknown",
                          treating_doctor_id=treating.id if treating else None,
                          mobility="mobile", created_at=start - timedelta(hours=3))
        db.session.add(patient)
        db.session.flush()
        user = users[channel]
        booking = Booking(
            reference=new_reference("R"), slot_id=slot.id, doctor_id=doctor.id,
            patient_id=patient.id, booker_user_id=user[0].id if user else None,
            booker_org_id=orgs[channel].id, channel=channel, origin="web", status=status,
            start=start, end=end, reason_id=reasons[i % len(reasons)].id if reasons else None,
            created_at=start - timedelta(hours=3), outcome_at=end,
            synthesis=("Consultation SNP : examen rassurant, traitement symptomatique, "
                       "réévaluation si aggravation.") if status == "seen" else None)
        db.session.add(booking)
        db.session.add(CallLog(booker_org_id=orgs[channel].id, channel=channel,
                               outcome="booked", created_at=start - timedelta(hours=3)))
    db.session.add(Reorientation(booker_org_id=demo.samu.id, channel="samu",
                                 commune_insee=demo.doctors[0].commune_insee,
                                 created_at=now - timedelta(days=1)))
    db.session.flush()
