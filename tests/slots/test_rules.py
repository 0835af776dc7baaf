"""The slot rules of agenda.slots.services (one service for pages, API and CalDAV)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from agenda import clock
from agenda.errors import Conflict, Forbidden, RuleViolation, ValidationError
from agenda.extensions import db
from agenda.slots import lifecycle
from agenda.slots import services as slots
from agenda.slots.models import Slot
from agenda.timeutil import to_local

# The ``frozen`` fixture starts at Tuesday 2026-12-01 09:00 Paris (week 2026-W49).
NEXT_MONDAY = date(2026, 12, 7)  # 2026-W50


def fixed(day: date, hh: int, mm: int = 0, minutes: int = 20, mode: str = "AMB"):
    start = datetime.combine(day, time(hh, mm))
    return slots.local_slot_input("fixed", day, start.time(),
                                  (start + timedelta(minutes=minutes)).time(), mode)


def floating(day: date, a: int, b: int, capacity: int = 1):
    return slots.local_slot_input("floating", day, time(a), time(b), capacity=capacity)


@pytest.fixture()
def doctor(make_doctor, frozen):
    return make_doctor()


def test_charter_defaults_created_once(app, cpts):
    charter = slots.charter_for(cpts.id)
    assert (charter.min_per_week, charter.max_per_week, charter.default_length_min) == (2, 6, 20)
    assert slots.charter_for(cpts.id) is charter


def test_create_fixed_sets_week_and_paris_time(doctor):
    slot = slots.create_slot(doctor, fixed(NEXT_MONDAY, 14))
    db.session.commit()
    assert slot.week == "2026-W50"
    assert slot.status == "open" and slot.in_charter and slot.source == "web"
    assert to_local(slot.start).strftime("%H:%M") == "14:00"
    assert slot.start.tzinfo is not None and slot.start.utcoffset() == timedelta(0)


def test_end_before_start_refused(doctor):
    data = fixed(NEXT_MONDAY, 14)
    data.end = data.start - timedelta(minutes=5)
    with pytest.raises(ValidationError):
        slots.create_slot(doctor, data)
    assert db.session.query(Slot).count() == 0


def test_past_refused(doctor, frozen):
    with pytest.raises(RuleViolation) as exc:
        slots.create_slot(doctor, fixed(date(2026, 11, 30), 14))
    assert exc.value.rule == "past"
    assert "passé" in exc.value.message


def test_overlap_refused_and_adjacent_allowed(doctor):
    slots.create_slot(doctor, fixed(NEXT_MONDAY, 14))
    with pytest.raises(RuleViolation) as exc:
        slots.create_slot(doctor, fixed(NEXT_MONDAY, 14, 10))
    assert exc.value.rule == "overlap"
    assert "chevauche" in exc.value.message
    slots.create_slot(doctor, fixed(NEXT_MONDAY, 14, 20))  # adjacent: fine
    with pytest.raises(RuleViolation):
        slots.create_slot(doctor, floating(NEXT_MONDAY, 13, 15))


def test_other_doctor_may_overlap(doctor, make_doctor):
    other = make_doctor()
    slots.create_slot(doctor, fixed(NEXT_MONDAY, 14))
    slots.create_slot(other, fixed(NEXT_MONDAY, 14))


def test_withdrawn_slot_frees_the_time(doctor):
    slot = slots.create_slot(doctor, fixed(NEXT_MONDAY, 14))
    slots.withdraw_slot(slot, "imprévu")
    assert slot.status == "withdrawn" and slot.withdraw_reason == "imprévu"
    slots.create_slot(doctor, fixed(NEXT_MONDAY, 14))


def test_seventh_refused_naming_the_charter(doctor, cpts):
    for hour in range(9, 15):
        slots.create_slot(doctor, fixed(NEXT_MONDAY, hour))
    with pytest.raises(RuleViolation) as exc:
        slots.create_slot(doctor, fixed(NEXT_MONDAY, 16))
    assert exc.value.rule == "charter_max"
    assert "charte SNP de la CPTS de test" in exc.value.message
    assert "6" in exc.value.message
    assert slots.weekly_counts(cpts.id, "2026-W50") == {doctor.id: 6}


def test_floating_counts_as_capacity(doctor, cpts):
    slots.create_slot(doctor, floating(NEXT_MONDAY + timedelta(days=3), 14, 18, capacity=4))
    slots.create_slot(doctor, fixed(NEXT_MONDAY, 9))
    slots.create_slot(doctor, fixed(NEXT_MONDAY, 10))
    assert slots.weekly_counts(cpts.id, "2026-W50") == {doctor.id: 6}
    with pytest.raises(RuleViolation) as exc:
        slots.create_slot(doctor, fixed(NEXT_MONDAY, 11))
    assert exc.value.rule == "charter_max"


def test_caldav_import_over_max_kept_hors_charte(doctor, cpts):
    for hour in range(9, 15):
        slots.create_slot(doctor, fixed(NEXT_MONDAY, hour), source="caldav")
    kept = slots.create_slot(doctor, fixed(NEXT_MONDAY, 16), source="caldav", caldav_uid="u-7",
                             caldav_href="/cal/u-7.ics", caldav_etag='"1"',
                             keep_out_of_charter=True)
    assert kept.in_charter is False
    assert "Hors charte" in kept.charter_note and "charte SNP" in kept.charter_note
    assert kept.caldav_uid == "u-7"
    assert slots.weekly_counts(cpts.id, "2026-W50") == {doctor.id: 6}
    report = slots.charter_report(cpts.id, "2026-W50")
    assert [r["doctor"].id for r in report["hors_charte"]] == [doctor.id]
    # Withdrawing one in-charter slot brings the kept one back into the charter.
    first = slots.week_pool(doctor, "2026-W50")[0]
    slots.withdraw_slot(first)
    db.session.refresh(kept)
    assert kept.in_charter is True and kept.charter_note is None


def test_publication_hours_refused_or_warned(doctor, cpts):
    with pytest.raises(RuleViolation) as exc:
        slots.create_slot(doctor, fixed(NEXT_MONDAY, 21))
    assert exc.value.rule == "charter_hours"
    with pytest.raises(RuleViolation):  # Sunday
        slots.create_slot(doctor, fixed(NEXT_MONDAY + timedelta(days=6), 10))
    slots.create_slot(doctor, fixed(NEXT_MONDAY + timedelta(days=5), 10))  # Saturday morning
    with pytest.raises(RuleViolation):  # Saturday afternoon
        slots.create_slot(doctor, fixed(NEXT_MONDAY + timedelta(days=5), 14))
    slots.charter_for(cpts.id).hours_policy = "warn"
    slot = slots.create_slot(doctor, fixed(NEXT_MONDAY, 21))
    assert slot.in_charter and slot.warnings and "heures de publication" in slot.warnings[0]


def test_public_holiday_warns_or_refuses(make_doctor, frozen, cpts):
    frozen.set(datetime(2026, 12, 21, 8, 0, tzinfo=UTC))
    doctor = make_doctor()
    christmas = date(2026, 12, 25)  # a Friday
    slot = slots.create_slot(doctor, fixed(christmas, 10))
    assert slot.in_charter
    assert any("férié" in w for w in slot.warnings)
    slots.charter_for(cpts.id).holidays_policy = "refuse"
    with pytest.raises(RuleViolation) as exc:
        slots.create_slot(doctor, fixed(christmas, 11))
    assert exc.value.rule == "holiday"
    kept = slots.create_slot(doctor, fixed(christmas, 11), source="caldav",
                             keep_out_of_charter=True)
    assert kept.in_charter is False and "férié" in kept.charter_note


def test_update_moves_open_slot_and_refuses_booked(doctor):
    slot = slots.create_slot(doctor, fixed(NEXT_MONDAY, 14))
    slots.update_slot(slot, fixed(NEXT_MONDAY, 15, mode="VR"))
    assert to_local(slot.start).hour == 15 and slot.mode == "VR"
    slot.status = "booked"
    slot.booked_count = 1
    db.session.flush()
    with pytest.raises(Conflict):
        slots.update_slot(slot, fixed(NEXT_MONDAY, 16))
    with pytest.raises(Conflict) as exc:
        slots.withdraw_slot(slot)
    assert "Annulez la réservation" in exc.value.message


def test_update_excludes_itself_from_overlap_and_count(doctor):
    made = [slots.create_slot(doctor, fixed(NEXT_MONDAY, h)) for h in range(9, 15)]
    slots.update_slot(made[0], fixed(NEXT_MONDAY, 9, 5))


def test_floating_shape(doctor):
    with pytest.raises(ValidationError):
        slots.create_slot(doctor, floating(NEXT_MONDAY, 14, 15, capacity=4))  # too short
    slot = slots.create_slot(doctor, floating(NEXT_MONDAY, 14, 18, capacity=2))
    assert slot.kind == "floating" and slot.capacity == 2
    data = fixed(NEXT_MONDAY, 9)
    data.capacity = 3
    with pytest.raises(ValidationError):
        slots.create_slot(doctor, data)


def test_inactive_doctor_refused(doctor):
    doctor.active = False
    with pytest.raises(Forbidden):
        slots.create_slot(doctor, fixed(NEXT_MONDAY, 14))


def test_copy_week_keeps_wall_clock_and_reports_refusals(doctor):
    slots.create_slot(doctor, fixed(NEXT_MONDAY, 9))
    slots.create_slot(doctor, floating(NEXT_MONDAY + timedelta(days=2), 14, 18))
    gone = slots.create_slot(doctor, fixed(NEXT_MONDAY, 11))
    slots.withdraw_slot(gone)
    report = slots.copy_week(doctor, "2026-W50", "2026-W51")
    assert len(report.created) == 2 and not report.skipped
    times = [(to_local(s.start).date(), to_local(s.start).strftime("%H:%M"))
             for s in slots.week_pool(doctor, "2026-W51")]
    assert times == [(date(2026, 12, 14), "09:00"), (date(2026, 12, 16), "14:00")]
    again = slots.copy_week(doctor, "2026-W50", "2026-W51")
    assert not again.created and len(again.skipped) == 2
    assert all("chevauche" in why for _, why in again.skipped)


def test_charter_report_lists_under_minimum(make_doctor, frozen, cpts):
    one, four, none = make_doctor(), make_doctor(), make_doctor()
    slots.create_slot(one, fixed(NEXT_MONDAY, 9))
    for hour in (9, 10, 11):
        slots.create_slot(four, fixed(NEXT_MONDAY, hour))
    slots.create_slot(four, floating(NEXT_MONDAY + timedelta(days=1), 14, 18))
    report = slots.charter_report(cpts.id, "2026-W50")
    by_id = {r["doctor"].id: r for r in report["rows"]}
    assert by_id[four.id]["count"] == 4 and by_id[four.id]["state"] == "ok"
    assert by_id[one.id]["state"] == "under" and by_id[none.id]["state"] == "none"
    assert {r["doctor"].id for r in report["under_minimum"]} == {one.id, none.id}


def test_lifecycle_table():
    assert lifecycle.can_transition("open", "held")
    assert lifecycle.can_transition("booked", "seen")
    assert not lifecycle.can_transition("withdrawn", "open")
    assert not lifecycle.can_transition("booked", "withdrawn")
    assert {"seen", "no_show", "cancelled", "withdrawn", "past"} == lifecycle.TERMINAL


def test_mark_past(doctor, frozen):
    slot = slots.create_slot(doctor, fixed(date(2026, 12, 1), 10))
    frozen.set(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    assert slots.mark_past() == 1
    db.session.refresh(slot)
    assert slot.status == "past"


def test_concurrent_publications_never_pass_the_maximum(app, make_doctor, frozen, cpts):
    """Eight writers race for the last places of one doctor's week: exactly six win."""
    import threading

    from agenda.territory.models import Doctor

    doctor_id = make_doctor().id
    db.session.commit()
    results: list[str] = []
    barrier = threading.Barrier(8)

    def publish(hour: int, minute: int) -> None:
        with app.app_context():
            doctor = db.session.get(Doctor, doctor_id)
            barrier.wait()
            try:
                slots.create_slot(doctor, fixed(NEXT_MONDAY, hour, minute))
                db.session.commit()
                results.append("ok")
            except RuleViolation as exc:
                db.session.rollback()
                results.append(exc.rule)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=publish, args=(9 + i // 2, 30 * (i % 2)))
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["charter_max"] * 2 + ["ok"] * 6
    assert slots.weekly_counts(cpts.id, "2026-W50") == {doctor_id: 6}


def test_booking_horizon_hours_or_same_day(app, cpts, frozen):
    charter = slots.charter_for(cpts.id)
    now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # 09:00 Paris
    assert slots.booking_horizon_end(charter, now) == now + timedelta(hours=48)
    data = slots.CharterInput(min_per_week=2, max_per_week=6, default_length_min=20,
                              horizon_hours=0, weekday_start="08:00", weekday_end="20:00",
                              saturday_morning=True, saturday_end="12:00",
                              holidays_policy="warn", hours_policy="refuse",
                              same_day_until="19:30")
    slots.update_charter(cpts.id, data)
    assert charter.same_day_until == "19:30" and charter.horizon_hours == 24
    assert to_local(slots.booking_horizon_end(charter, now)).isoformat() == \
        "2026-12-01T19:30:00+01:00"
    late = datetime(2026, 12, 1, 19, 0, tzinfo=UTC)  # 20:00 Paris: tomorrow's 19:30
    assert to_local(slots.booking_horizon_end(charter, late)).isoformat() == \
        "2026-12-02T19:30:00+01:00"
    data.same_day_until = "25:00"
    with pytest.raises(ValidationError):
        slots.update_charter(cpts.id, data)


def test_slot_held_during_a_call_cannot_be_moved_or_withdrawn(doctor, make_user, frozen):
    secretary, _ = make_user("secretary")
    slot = slots.create_slot(doctor, fixed(NEXT_MONDAY, 14))
    slot.held_by_user_id, slot.held_until = secretary.id, clock.now() + timedelta(minutes=5)
    db.session.commit()
    with pytest.raises(Conflict) as exc:
        slots.withdraw_slot(slot)
    assert exc.value.rule == "slot_held" and "appel en cours" in exc.value.message
    with pytest.raises(Conflict) as exc:
        slots.update_slot(slot, fixed(NEXT_MONDAY, 15))
    assert exc.value.rule == "slot_held"
    db.session.rollback()
    frozen.advance(minutes=6)  # the hold has expired
    slots.withdraw_slot(slot)
    assert slot.status == "withdrawn"


def test_floating_window_with_a_booking_cannot_be_withdrawn(doctor):
    slot = slots.create_slot(doctor, floating(NEXT_MONDAY, 14, 18, capacity=2))
    slot.booked_count = 1  # one of two places taken: still open
    db.session.commit()
    with pytest.raises(Conflict) as exc:
        slots.withdraw_slot(slot)
    assert exc.value.rule == "slot_booked"


def test_charter_created_once_when_two_sessions_race(app, cpts, monkeypatch):
    """Another worker inserts the default charter between our read and our insert: our
    insert loses, and we use the winner's row (no error, one row)."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from agenda.extensions import db
    from agenda.slots.models import CharterSettings
    from agenda.slots.services import charter_for

    real_get = db.session.get
    raced = []

    def get_after_the_other_worker(entity, ident, **kwargs):
        if entity is CharterSettings and not raced:
            raced.append(True)
            other = Session(db.engine)
            other.add(CharterSettings(cpts_id=cpts.id, min_per_week=3, max_per_week=5,
                                      default_length_min=20, horizon_hours=48,
                                      publication_hours={}, saturday_morning=True,
                                      holidays_policy="warn", hours_policy="refuse"))
            other.commit()
            other.close()
            return None  # what we read just before the other worker committed
        return real_get(entity, ident, **kwargs)

    monkeypatch.setattr(db.session, "get", get_after_the_other_worker)
    charter = charter_for(cpts.id)
    assert raced and charter.max_per_week == 5
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(CharterSettings)) == 1
