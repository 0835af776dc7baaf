"""A generated year of activity, calibrated on the seeds (one CPTS, 25 volunteers: ~3,750
calls, ~2,000 slots made available, ~62 % consulted, ~16 % no-shows), inserted directly
into the tables, with the generator's own ground truth counted as it goes.

Used by the tests (statistics must equal the ground truth, on the page and in the CSV)
and by ``bench/``. It writes only into an empty CPTS of a test or bench database.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from agenda.accounts.models import Organisation
from agenda.booking.models import (Booking, CallLog, FloatingRequest, Patient, Reason,
                                   Reorientation)
from agenda.extensions import db
from agenda.slots.models import Slot
from agenda.territory.models import Commune, Doctor
from agenda.territory.services import rpps_with_check_digit
from agenda.timeutil import iso_week, local_to_utc

CHANNELS = {"secretariat": 0.6, "samu": 0.25, "ed": 0.15}
REASONS = ["Fièvre", "Douleur abdominale", "Infection ORL", "Traumatisme bénin",
           "Lombalgie", "Éruption cutanée"]


@dataclass
class GroundTruth:
    year: int
    summary: dict = field(default_factory=lambda: defaultdict(int))
    channels: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    doctors: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(float)))
    reasons: dict = field(default_factory=lambda: defaultdict(int))
    months: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    delays: list = field(default_factory=list)


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    x, acc = rng.random(), 0.0
    for key, w in weights.items():
        acc += w
        if x < acc:
            return key
    return next(reversed(weights))


def generate_year(cpts: Organisation, communes: list[Commune], *, year: int = 2025,
                  seed: int = 2023, doctors: int = 25, slots_target: int = 2000,
                  book_rate: float = 0.76, cancel_rate: float = 0.03,
                  no_show_rate: float = 0.16, treating_rate: float = 0.2,
                  floating_share: float = 0.12, expired_share: float = 0.1,
                  calls_target: int = 3748, reorientations: int = 60) -> GroundTruth:
    rng = random.Random(seed)
    gt = GroundTruth(year=year)
    s = gt.summary
    partners = {}
    for channel, kind in (("secretariat", "secretariat"), ("samu", "samu"), ("ed", "ed")):
        org = Organisation(name=f"{kind} {year}", kind=kind, cpts_id=cpts.id)
        db.session.add(org)
        partners[channel] = org
    reasons = [Reason(cpts_id=cpts.id, label=label) for label in REASONS]
    db.session.add_all(reasons)
    docs = []
    for i in range(doctors):
        c = communes[i % len(communes)]
        d = Doctor(rpps=rpps_with_check_digit(f"{9000000000 + seed * 100 + i}"),
                   first_name="Gen", last_name=f"Médecin{i:02d}", commune_insee=c.insee,
                   lat=c.lat + rng.uniform(-0.01, 0.01), lon=c.lon + rng.uniform(-0.01, 0.01),
                   cpts_id=cpts.id, accepts_floating=True)
        docs.append(d)
    db.session.add_all(docs)
    db.session.flush()
    patients = [Patient(last_name="X", first_name="Y", commune_insee=rng.choice(communes).insee,
                        treating_kind="unknown") for _ in range(300)]
    db.session.add_all(patients)
    db.session.flush()

    # Slots: spread over the year's working days, 08:00-20:00 local.
    days = [date(year, 1, 2) + timedelta(days=i) for i in range(360)]
    days = [d for d in days if d.weekday() < 6 and d.year == year]
    slots: list[Slot] = []
    made = 0
    while made < slots_target:
        doc = rng.choice(docs)
        day = rng.choice(days)
        if rng.random() < floating_share:
            hour = rng.choice([8, 10, 14, 16])
            length = rng.choice([2, 3])
            cap = rng.choice([2, 3])
            start = local_to_utc(day, time(hour))
            slot = Slot(doctor_id=doc.id, kind="floating", start=start,
                        end=start + timedelta(hours=length), week=iso_week(day), capacity=cap,
                        booked_count=0, status="open", in_charter=True)
            s["floating_capacity"] += cap
            s["floating_hours"] += length
            gt.doctors[doc.id]["floating_capacity"] += cap
            gt.doctors[doc.id]["floating_hours"] += length
        else:
            cap = 1
            start = local_to_utc(day, time(rng.randint(8, 19), rng.choice([0, 20, 40])))
            slot = Slot(doctor_id=doc.id, kind="fixed", start=start,
                        end=start + timedelta(minutes=20), week=iso_week(day), capacity=1,
                        booked_count=0, status="open", in_charter=True)
            s["fixed_slots"] += 1
            gt.doctors[doc.id]["fixed_slots"] += 1
        gt.months[local_month(start)]["slots"] += cap
        made += cap
        slots.append(slot)
    # A withdrawn slot and a hors-charte one: never counted.
    slots.append(Slot(doctor_id=docs[0].id, kind="fixed", start=local_to_utc(days[5], time(9)),
                      end=local_to_utc(days[5], time(9, 20)), week=iso_week(days[5]),
                      capacity=1, booked_count=0, status="withdrawn", in_charter=True))
    slots.append(Slot(doctor_id=docs[1].id, kind="fixed", start=local_to_utc(days[6], time(9)),
                      end=local_to_utc(days[6], time(9, 20)), week=iso_week(days[6]),
                      capacity=1, booked_count=0, status="open", in_charter=False))
    s["slots_made_available"] = made
    db.session.add_all(slots)
    db.session.flush()

    seq = 0

    def ref() -> str:
        nonlocal seq
        seq += 1
        return f"G{seed % 1000:03d}{seq:07d}"

    bookings, requests = [], []
    for slot in slots[:-2]:
        for unit in range(slot.capacity):
            if rng.random() >= book_rate:
                continue
            channel = _pick(rng, CHANNELS)
            org = partners[channel]
            patient = rng.choice(patients)
            reason = rng.choice(reasons + [None])
            at = slot.start + timedelta(minutes=20 * unit)
            created = slot.start - timedelta(hours=rng.randint(1, 20))
            request = None
            if slot.kind == "floating":
                delay = rng.randint(2, 90)
                request = FloatingRequest(
                    reference=ref(), patient_id=patient.id, booker_org_id=org.id,
                    channel=channel, reason_id=reason.id if reason else None,
                    window_start=slot.start, window_end=slot.end, status="accepted",
                    created_at=created, t1_at=created + timedelta(minutes=60),
                    deadline_at=created + timedelta(minutes=120),
                    accepted_at=created + timedelta(minutes=delay),
                    accepted_doctor_id=slot.doctor_id, accepted_slot_id=slot.id)
                requests.append(request)
                s["requests"] += 1
                s["requests_accepted"] += 1
                gt.channels[channel]["requests"] += 1
                gt.channels[channel]["requests_accepted"] += 1
                gt.doctors[slot.doctor_id]["requests_accepted"] += 1
                gt.delays.append(delay)
                if reason:
                    gt.reasons[reason.label] += 1
                else:
                    gt.reasons[None] += 1
            x = rng.random()
            if x < cancel_rate:
                status = "cancelled"
            elif rng.random() < no_show_rate:
                status = "no_show"
            else:
                status = "seen"
            treating = status != "cancelled" and rng.random() < treating_rate
            b = Booking(reference=ref(), slot_id=slot.id, doctor_id=slot.doctor_id,
                        patient_id=patient.id, booker_org_id=org.id, channel=channel,
                        status=status, start=at, end=at + timedelta(minutes=20),
                        reason_id=reason.id if reason else None, treating_seen=treating,
                        created_at=created)
            bookings.append((b, request))
            if status == "cancelled":
                s["cancelled_bookings"] += 1
                continue
            slot.booked_count += 1
            s["bookings"] += 1
            gt.channels[channel]["bookings"] += 1
            gt.doctors[slot.doctor_id]["bookings"] += 1
            gt.months[local_month(at)]["bookings"] += 1
            if reason:
                gt.reasons[reason.label] += 1
            else:
                gt.reasons[None] += 1
            if treating:
                s["treating_seen"] += 1
                gt.channels[channel]["treating_seen"] += 1
            key = "consultations" if status == "seen" else "no_shows"
            s[key] += 1
            gt.channels[channel][key] += 1
            gt.doctors[slot.doctor_id][key] += 1
            gt.months[local_month(at)][key] += 1
        if slot.booked_count:
            slot.status = "seen"
    # Requests nobody accepted in time.
    n_expired = int(s["requests"] * expired_share) + 3
    for _ in range(n_expired):
        channel = _pick(rng, CHANNELS)
        day = rng.choice(days)
        created = local_to_utc(day, time(rng.randint(8, 18)))
        requests.append(FloatingRequest(
            reference=ref(), patient_id=rng.choice(patients).id,
            booker_org_id=partners[channel].id, channel=channel, reason_id=None,
            window_start=created, window_end=created + timedelta(hours=3), status="expired",
            created_at=created, t1_at=created + timedelta(minutes=60),
            deadline_at=created + timedelta(minutes=120),
            expired_at=created + timedelta(minutes=120)))
        s["requests"] += 1
        s["requests_expired"] += 1
        gt.channels[channel]["requests"] += 1
        gt.channels[channel]["requests_expired"] += 1
        gt.reasons[None] += 1
    for _ in range(reorientations):
        channel = _pick(rng, CHANNELS)
        day = rng.choice(days)
        db.session.add(Reorientation(booker_org_id=partners[channel].id, channel=channel,
                                     commune_insee=rng.choice(communes).insee,
                                     created_at=local_to_utc(day, time(rng.randint(8, 19)))))
        s["reorientations"] += 1
        gt.channels[channel]["reorientations"] += 1
    # Calls: one log row per working day and channel, counts summing to the target.
    per_row = calls_target / (len(days) * len(CHANNELS))
    remaining = calls_target
    rows = [(d, c) for d in days for c in CHANNELS]
    for i, (day, channel) in enumerate(rows):
        n = remaining if i == len(rows) - 1 else max(0, round(per_row * rng.uniform(0.5, 1.5)))
        n = min(n, remaining)
        remaining -= n
        if n:
            db.session.add(CallLog(booker_org_id=partners[channel].id, channel=channel,
                                   outcome="booked", count=n,
                                   created_at=local_to_utc(day, time(12))))
            gt.channels[channel]["calls"] += n
    s["calls"] = calls_target - remaining
    db.session.add_all(requests)
    db.session.flush()
    for b, request in bookings:
        if request is not None:
            b.request_id = request.id
        db.session.add(b)
    db.session.commit()
    return gt


def local_month(dt: datetime) -> str:
    from agenda.timeutil import to_local

    return to_local(dt).strftime("%Y-%m")
