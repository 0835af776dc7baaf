"""Search ranking: the treating doctor first, then distance, then time — in one query."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event

from agenda.booking import services
from agenda.extensions import db
from agenda.territory.models import Commune


class QueryCounter:
    def __init__(self):
        self.count = 0

    def __enter__(self):
        event.listen(db.engine, "before_cursor_execute", self._on)
        return self

    def __exit__(self, *exc):
        event.remove(db.engine, "before_cursor_execute", self._on)

    def _on(self, *args, **kwargs):
        self.count += 1


def _setup(frozen, make_doctor, make_slot):
    now = frozen.set(frozen.advance(minutes=0))
    # Châteaubriant (patient), Soudan ~7 km, Rougé ~8 km, Issé ~11 km, Nantes ~55 km.
    near = make_doctor("44036")       # same commune
    soudan = make_doctor("44180")
    treating = make_doctor("44069")   # Issé: farther, but the treating doctor
    nantes = make_doctor("44109")     # outside the search radius
    slots = {
        "near_late": make_slot(near, now + timedelta(hours=5)),
        "near_early": make_slot(near, now + timedelta(hours=2)),
        "soudan": make_slot(soudan, now + timedelta(hours=1)),
        "treating": make_slot(treating, now + timedelta(hours=6)),
        "nantes": make_slot(nantes, now + timedelta(hours=1)),
    }
    return slots, treating


def test_treating_first_then_earliest(frozen, make_doctor, make_slot, make_user):
    """Issue 12: on the phone, the earliest consultation first (after the treating
    doctor's); "le plus proche" on request."""
    slots, treating = _setup(frozen, make_doctor, make_slot)
    user, _ = make_user("secretary")
    commune = db.session.get(Commune, "44036")
    results = services.search_slots(user, commune, treating_doctor_id=treating.id)
    assert [r.slot_id for r in results] == [slots["treating"].id, slots["soudan"].id,
                                            slots["near_early"].id, slots["near_late"].id]
    assert [r.slot_id for r in services.search_slots(user, commune)] == [
        slots["soudan"].id, slots["near_early"].id, slots["near_late"].id,
        slots["treating"].id]


def test_treating_first_then_distance_then_time(frozen, make_doctor, make_slot, make_user):
    slots, treating = _setup(frozen, make_doctor, make_slot)
    user, _ = make_user("secretary")
    commune = db.session.get(Commune, "44036")
    results = services.search_slots(user, commune, treating_doctor_id=treating.id,
                                    order="nearest")
    order = [r.slot_id for r in results]
    assert order == [slots["treating"].id, slots["near_early"].id, slots["near_late"].id,
                     slots["soudan"].id]
    assert results[0].is_treating and not results[1].is_treating
    assert results[1].distance_km < results[3].distance_km
    assert results[3].distance_km > 3  # real kilometres shown
    # Without a treating doctor: distance then time.
    results = services.search_slots(user, commune, order="nearest")
    assert [r.slot_id for r in results][:3] == [slots["near_early"].id, slots["near_late"].id,
                                                slots["soudan"].id]


def test_search_is_one_query_whatever_the_number_of_slots(frozen, make_doctor, make_slot,
                                                          make_user):
    slots, treating = _setup(frozen, make_doctor, make_slot)
    user, _ = make_user("secretary")
    commune = db.session.get(Commune, "44036")
    q = services.prepare_search(user, commune, treating_doctor_id=treating.id)
    with QueryCounter() as few:
        first = services.run_search(q)
    doctor = make_doctor("44150")
    now = frozen.advance(minutes=0)
    for i in range(30):
        make_slot(doctor, now + timedelta(minutes=30 + 25 * i))
    db.session.expire_all()
    with QueryCounter() as many:
        second = services.run_search(q)
    assert few.count == 1 and many.count == 1
    assert len(second) == len(first) + 30


def test_filters_and_unbookable_slots(frozen, make_doctor, make_slot, make_user):
    now = frozen.advance(minutes=0)
    doctor = make_doctor("44036")
    amb = make_slot(doctor, now + timedelta(hours=1))
    tele = make_slot(doctor, now + timedelta(hours=2), mode="VR")
    tomorrow = make_slot(doctor, now + timedelta(hours=25))
    make_slot(doctor, now + timedelta(hours=3), in_charter=False)       # hors charte
    make_slot(doctor, now + timedelta(hours=4), status="withdrawn")
    make_slot(doctor, now - timedelta(hours=1))                          # past
    make_slot(doctor, now + timedelta(hours=100))                        # beyond horizon
    held = make_slot(doctor, now + timedelta(hours=5))
    other, _ = make_user("secretary")
    services.hold_slot(other, held.id)
    user, _ = make_user("secretary")
    commune = db.session.get(Commune, "44036")
    ids = [r.slot_id for r in services.search_slots(user, commune)]
    assert ids == [amb.id, tele.id, tomorrow.id]
    assert [r.slot_id for r in services.search_slots(user, commune, mode="VR")] == [tele.id]
    day = (now + timedelta(hours=25)).date()
    assert [r.slot_id for r in services.search_slots(user, commune, day=day)] == [tomorrow.id]
    # The holder still sees the slot they hold.
    assert held.id in [r.slot_id for r in services.search_slots(other, commune)]


def test_day_filter_on_the_dst_sundays(frozen, make_doctor, make_slot, make_user):
    """Last Sunday of October (25 h) and of March (23 h): the local day's bounds hold."""
    from datetime import UTC, date, datetime

    user, _ = make_user("secretary")
    doctor = make_doctor("44036")
    commune = db.session.get(Commune, "44036")
    for day, before, first, last, after in [
        # 2026-10-25: UTC+2 until 01:00 UTC, then UTC+1. Local midnight = 22:00 UTC the eve.
        (date(2026, 10, 25), datetime(2026, 10, 24, 21, 30, tzinfo=UTC),
         datetime(2026, 10, 24, 22, 10, tzinfo=UTC), datetime(2026, 10, 25, 22, 40, tzinfo=UTC),
         datetime(2026, 10, 25, 23, 10, tzinfo=UTC)),
        # 2027-03-28: UTC+1 until 01:00 UTC, then UTC+2. Local midnight = 23:00 UTC the eve.
        (date(2027, 3, 28), datetime(2027, 3, 27, 22, 30, tzinfo=UTC),
         datetime(2027, 3, 27, 23, 10, tzinfo=UTC), datetime(2027, 3, 28, 21, 30, tzinfo=UTC),
         datetime(2027, 3, 28, 22, 10, tzinfo=UTC)),
    ]:
        frozen.set(before - timedelta(hours=1))
        ids = {name: make_slot(doctor, at, minutes=15).id
               for name, at in [("before", before), ("first", first), ("last", last),
                                ("after", after)]}
        found = [r.slot_id for r in services.search_slots(user, commune, day=day,
                                                          horizon_hours=24 * 3)]
        assert found == [ids["first"], ids["last"]], day


def test_search_follows_a_same_day_charter(frozen, make_doctor, make_slot, make_user, cpts):
    """A "same day until 19:30" charter: bookers see today's slots up to 19:30 only."""
    from datetime import UTC, datetime

    from agenda.slots.services import charter_for

    now = frozen.set(datetime(2026, 12, 1, 8, 0, tzinfo=UTC))  # Tuesday 09:00 in Paris
    charter = charter_for(cpts.id)
    charter.same_day_until, charter.horizon_hours = "19:30", 24
    db.session.commit()
    doctor = make_doctor("44036")
    today = make_slot(doctor, now + timedelta(hours=9))        # 18:00 Paris
    too_late = make_slot(doctor, now + timedelta(hours=10, minutes=40))  # 19:40 Paris
    tomorrow = make_slot(doctor, now + timedelta(hours=25))    # Wednesday 10:00
    user, _ = make_user("secretary")
    commune = db.session.get(Commune, "44036")
    found = {r.slot_id for r in services.search_slots(user, commune)}
    assert today.id in found and too_late.id not in found and tomorrow.id not in found
    # A booker may narrow the horizon, never widen it past the charter: what the search
    # does not show cannot be booked either.
    found = {r.slot_id for r in services.search_slots(user, commune, horizon_hours=48)}
    assert today.id in found and too_late.id not in found and tomorrow.id not in found
    found = {r.slot_id for r in services.search_slots(user, commune, horizon_hours=4)}
    assert today.id not in found
