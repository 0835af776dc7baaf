"""DST weeks keep wall-clock times; hypothesis properties for overlap and counting."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agenda import clock
from agenda.errors import RuleViolation
from agenda.extensions import db
from agenda.slots import services as slots
from agenda.slots.models import Slot
from agenda.timeutil import to_local

# Last Sundays of March and October 2026: the clocks change.
SPRING = date(2026, 3, 29)
AUTUMN = date(2026, 10, 25)


@pytest.mark.parametrize("change_day", [SPRING, AUTUMN])
def test_dst_week_keeps_paris_wall_clock(make_doctor, frozen, change_day):
    frozen.set(datetime.combine(change_day - timedelta(days=10), time(8), tzinfo=UTC))
    doctor = make_doctor()
    before_change = change_day - timedelta(days=3)  # Thursday before
    after_change = change_day + timedelta(days=1)  # Monday after
    a = slots.create_slot(doctor, slots.local_slot_input("fixed", before_change, time(14),
                                                         time(14, 20)))
    b = slots.create_slot(doctor, slots.local_slot_input("fixed", after_change, time(14),
                                                         time(14, 20)))
    db.session.commit()
    db.session.expire_all()
    for slot, day in ((a, before_change), (b, after_change)):
        slot = db.session.get(Slot, slot.id)
        local = to_local(slot.start)
        assert (local.date(), local.strftime("%H:%M")) == (day, "14:00")
        assert to_local(slot.end).strftime("%H:%M") == "14:20"
    # The UTC hour differs by one across the change; the Paris time does not.
    assert a.start.hour != b.start.hour


def test_copy_across_spring_change_keeps_14h(make_doctor, frozen):
    frozen.set(datetime(2026, 3, 16, 8, tzinfo=UTC))
    doctor = make_doctor()
    # Tuesday 24 March (winter time, UTC+1) copied to Tuesday 31 March (summer time, UTC+2).
    slots.create_slot(doctor, slots.local_slot_input("fixed", date(2026, 3, 24), time(14),
                                                     time(14, 20)))
    slots.create_slot(doctor, slots.local_slot_input("floating", date(2026, 3, 26), time(14),
                                                     time(18), capacity=2))
    report = slots.copy_week(doctor, "2026-W13", "2026-W14")
    assert len(report.created) == 2
    fixed, floating = report.created
    assert to_local(fixed.start).isoformat() == "2026-03-31T14:00:00+02:00"
    assert fixed.start.hour == 12  # UTC
    assert (to_local(floating.start).strftime("%H:%M"), to_local(floating.end).strftime(
        "%H:%M")) == ("14:00", "18:00")


def test_copy_across_autumn_change_keeps_14h(make_doctor, frozen):
    frozen.set(datetime(2026, 10, 12, 8, tzinfo=UTC))
    doctor = make_doctor()
    slots.create_slot(doctor, slots.local_slot_input("fixed", date(2026, 10, 20), time(14),
                                                     time(14, 20)))
    report = slots.copy_week(doctor, "2026-W43", "2026-W44")
    (copied,) = report.created
    assert to_local(copied.start).isoformat() == "2026-10-27T14:00:00+01:00"
    assert copied.week == "2026-W44"


def test_week_of_a_sunday_night_slot_is_paris_week(make_doctor, frozen, cpts):
    """A Monday 00:30 Paris slot is in the new ISO week though it is Sunday in UTC."""
    from agenda.slots.models import CharterSettings

    charter = slots.charter_for(cpts.id)
    charter.publication_hours = {str(d): ["00:00", "23:59"] for d in range(1, 8)}
    assert isinstance(charter, CharterSettings)
    doctor = make_doctor()
    slot = slots.create_slot(doctor, slots.local_slot_input("fixed", date(2026, 12, 7),
                                                            time(0, 30), time(0, 50)))
    assert slot.start.date() == date(2026, 12, 6)  # UTC Sunday
    assert slot.week == "2026-W50"


# --------------------------------------------------------------------------- properties

MONDAY = date(2026, 12, 7)  # week 2026-W50, after the frozen "now"
candidate = st.tuples(
    st.integers(min_value=0, max_value=4),  # weekday
    st.integers(min_value=8 * 6, max_value=19 * 6),  # start, in 10-minute steps
    st.integers(min_value=1, max_value=12),  # length, in 10-minute steps
    st.sampled_from(["fixed", "floating"]),
    st.integers(min_value=1, max_value=3),  # capacity of a floating window
)


def _as_input(c) -> slots.SlotInput:
    weekday, start10, length10, kind, capacity = c
    day = MONDAY + timedelta(days=weekday)
    start = datetime.combine(day, time()) + timedelta(minutes=10 * start10)
    length = timedelta(minutes=10 * length10)
    if kind == "fixed":
        length = min(length, timedelta(minutes=60))
        capacity = 1
    else:
        length = max(length, timedelta(minutes=20 * capacity))
    end = start + length
    if end.time() > time(20) or end.date() != day:
        end = datetime.combine(day, time(20))
    if end <= start:
        start = end - timedelta(minutes=20)
    return slots.local_slot_input(kind, day, start.time(), end.time(), capacity=capacity)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(candidates=st.lists(candidate, min_size=1, max_size=14))
def test_property_no_overlap_and_count_within_max(app, make_doctor, cpts, candidates):
    clock.set_now(datetime(2026, 12, 1, 8, tzinfo=UTC))
    try:
        doctor = make_doctor()
        accepted: list[slots.SlotInput] = []
        for c in candidates:
            data = _as_input(c)
            overlaps = any(o.start < data.end and data.start < o.end for o in accepted)
            weight = slots.slot_weight(data.kind, data.capacity)
            over = sum(slots.slot_weight(o.kind, o.capacity) for o in accepted) + weight > 6
            try:
                slots.create_slot(doctor, data)
            except RuleViolation as exc:
                # Refused exactly when a model of the rules says so, for that reason.
                assert overlaps or over, exc.message
                assert exc.rule == ("overlap" if overlaps else "charter_max")
            else:
                assert not overlaps and not over
                accepted.append(data)
        pool = slots.week_pool(doctor, "2026-W50")
        # No two of the doctor's slots overlap.
        for i, a in enumerate(pool):
            for b in pool[i + 1:]:
                assert a.end <= b.start or b.end <= a.start
        # The one-query count equals the sum of weights and stays within the charter.
        expected = sum(slots.slot_weight(s.kind, s.capacity) for s in pool)
        assert slots.weekly_counts(cpts.id, "2026-W50").get(doctor.id, 0) == expected
        assert expected <= 6
    finally:
        db.session.rollback()
        db.session.query(Slot).delete()
        db.session.commit()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(st.tuples(st.sampled_from(["fixed", "floating"]),
                                st.integers(min_value=1, max_value=4)), max_size=10),
       withdrawn=st.sets(st.integers(min_value=0, max_value=9)))
def test_property_counts_ignore_withdrawn_and_hors_charte(app, make_doctor, cpts, kinds,
                                                          withdrawn):
    """weekly_counts == sum of weights of in-charter live slots, whatever the mix (slots
    imported over the maximum are kept hors charte and never counted)."""
    clock.set_now(datetime(2026, 12, 1, 8, tzinfo=UTC))
    try:
        doctor = make_doctor()
        made = []
        for i, (kind, capacity) in enumerate(kinds):
            day = MONDAY + timedelta(days=i % 5)
            hour = 8 + 2 * (i // 5)
            cap = capacity if kind == "floating" else 1
            data = slots.local_slot_input(kind, day, time(hour), time(hour + 1, 30),
                                          capacity=cap)
            made.append(slots.create_slot(doctor, data, source="caldav",
                                          keep_out_of_charter=True))
        for i in sorted(withdrawn):
            if i < len(made) and made[i].status == "open":
                slots.withdraw_slot(made[i])
        db.session.expire_all()
        live = [s for s in db.session.query(Slot).filter_by(doctor_id=doctor.id)
                if s.status != "withdrawn"]
        counted = sum(slots.slot_weight(s.kind, s.capacity) for s in live if s.in_charter)
        assert slots.weekly_counts(cpts.id, "2026-W50").get(doctor.id, 0) == counted
        assert counted <= 6
        assert all(s.charter_note for s in live if not s.in_charter)
    finally:
        db.session.rollback()
        db.session.query(Slot).delete()
        db.session.commit()
