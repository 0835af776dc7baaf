"""Demo step: a realistic weekly pool for most demo doctors, this week and next.

Two doctors stay under the minimum (one slot), one publishes nothing, and the demo login
doctor (the first) has this week's pool but leaves next week empty to try the phone page.
Doctors 2 to CALDAV_DOCTORS publish from their calendar app (see agenda.sync.demo).
"""

from __future__ import annotations

import random
from datetime import date, time, timedelta

from agenda import clock
from agenda.demo import CALDAV_DOCTORS, Demo, step
from agenda.errors import DomainError
from agenda.extensions import db
from agenda.slots import services
from agenda.timeutil import parse_week, to_local

FIXED_TIMES = [time(8, 40), time(9, 0), time(11, 20), time(12, 0), time(12, 20), time(13, 40),
               time(14, 0), time(17, 20), time(17, 40), time(18, 0), time(18, 40), time(19, 0)]
WINDOWS = [(time(14, 0), time(18, 0)), (time(9, 0), time(12, 0)), (time(16, 0), time(19, 0))]


def _pool(rng: random.Random, doctor, days: list[date], wanted: int, floating_ok: bool) -> int:
    """Publish about ``wanted`` consultations on ``days``; what was published."""
    published = 0
    attempts = 0
    charter = services.charter_for(doctor.cpts_id)
    while published < wanted and attempts < 40:
        attempts += 1
        day = rng.choice(days)
        mode = rng.choices(["AMB", "VR", "HH"], weights=[8, 2, 1])[0]
        if floating_ok and published == 0 and rng.random() < 0.4:
            start, end = rng.choice(WINDOWS)
            capacity = min(rng.choice([1, 1, 2]), wanted - published)
            data = services.local_slot_input("floating", day, start, end, "AMB", capacity)
        else:
            start = rng.choice(FIXED_TIMES)
            end_minutes = start.hour * 60 + start.minute + charter.default_length_min
            data = services.local_slot_input("fixed", day, start,
                                             time(end_minutes // 60, end_minutes % 60), mode)
        try:
            with db.session.begin_nested():
                slot = services.create_slot(doctor, data, source="web")
        except DomainError:  # in the past, overlapping… just try another time
            continue
        published += services.slot_weight(slot.kind, slot.capacity)
    return published


@step
def publish_pools(demo: Demo) -> None:
    rng = random.Random(4903)
    this_week = services.current_week()
    next_week = services.next_week()
    today = to_local(clock.now()).date()
    doctors = demo.doctors
    # The special cases are doctors of the main CPTS (the others publish ordinary pools).
    main = [d for d in doctors if d.cpts_id == demo.cpts.id]
    nothing = {main[-1].id}
    under = {main[-2].id, main[-3].id}
    for i, doctor in enumerate(doctors):
        if doctor.id in nothing or 0 < i < CALDAV_DOCTORS:
            continue  # nothing at all, or published from their calendar app (CalDAV)
        for week in (this_week, next_week):
            if i == 0 and week == next_week:
                continue  # left empty for the demo login doctor to fill from the phone page
            monday = parse_week(week)
            # Monday to Saturday (the charter's Saturday morning): a demo loaded on a Friday
            # evening still has slots within the booking horizon.
            days = [monday + timedelta(days=n) for n in range(6)
                    if monday + timedelta(days=n) >= today]
            if not days:
                continue  # Sunday: nothing left to publish this week
            wanted = 1 if doctor.id in under else rng.randint(2, 6)
            _pool(rng, doctor, days, wanted, doctor.accepts_floating)
    _second_place(demo, today)
    db.session.flush()


def _second_place(demo: Demo, today: date) -> None:
    """The doctor with two places also consults at the second one (another CPTS): two
    slots on each of the next working days, counted by that CPTS's charter."""
    from agenda.territory.services import places_of

    doctor = demo.two_places
    if doctor is None:
        return
    second = [p for p in places_of(doctor.id) if not p.is_main]
    if not second:
        return
    days = [today + timedelta(days=n) for n in range(0, 4)
            if (today + timedelta(days=n)).isoweekday() <= 5][:2]
    for day in days:
        for hour in (time(12, 40), time(19, 20)):
            end = time(hour.hour, hour.minute + 20) if hour.minute < 40 else time(hour.hour + 1, 0)
            data = services.local_slot_input("fixed", day, hour, end, "AMB")
            data.place_id = second[0].id
            try:
                with db.session.begin_nested():
                    services.create_slot(doctor, data, source="web")
            except DomainError:
                continue
