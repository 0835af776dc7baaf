"""A slot's life follows its calendar event (issue 16, point 3): a slot whose event is
gone never reopens; a moved booked event's conflict is re-stated or resolved, never stale."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from agenda.alerts import Alert
from agenda.booking.services.bookings import cancel_booking
from agenda.booking.services.search import search_slots
from agenda.extensions import db
from agenda.slots.models import Slot
from agenda.sync import worker
from agenda.territory.models import Commune
from tests.sync.conftest import paris, vevent

TOMORROW = date(2026, 12, 2)


def live_slots(doctor):
    return list(db.session.scalars(select(Slot).where(
        Slot.doctor_id == doctor.id, Slot.status.notin_(["withdrawn", "cancelled"]))
        .order_by(Slot.start)))


def offered(booker, slot_ids) -> set[int]:
    found = {r.slot_id for r in search_slots(booker, db.session.get(Commune, "44036"))}
    return found & set(slot_ids)


def test_deleted_booked_event_never_reopens(app, frozen, dav, make_doctor, connect, book,
                                            booker):
    doctor = make_doctor(with_user=True)
    account, cal = connect(doctor, dav)
    href = dav.put(cal, "gone-1", vevent("gone-1", paris(TOMORROW, 14), paris(TOMORROW, 14, 20)))
    worker.run_pass(app, threads=1)
    [slot] = live_slots(doctor)
    booking = book(slot)
    worker.run_pass(app, threads=1)
    dav.delete(href)
    worker.run_pass(app, threads=1)
    db.session.refresh(slot)
    assert slot.status == "booked" and "supprimé" in slot.conflict  # the booking is kept

    cancel_booking(booker, booking.id, "Le patient a trouvé une autre solution")
    db.session.refresh(slot)
    assert slot.status == "withdrawn"  # at once: never offered in between
    assert not offered(booker, [slot.id])
    for _ in range(2):
        worker.run_pass(app, threads=1)
    assert live_slots(doctor) == []
    db.session.refresh(slot)
    assert slot.status == "withdrawn"


def test_moved_booked_event_conflict_is_restated_resolved_then_follows(app, frozen, dav,
                                                                      make_doctor, connect,
                                                                      book, booker):
    doctor = make_doctor(with_user=True)
    account, cal = connect(doctor, dav)
    dav.put(cal, "move-1", vevent("move-1", paris(TOMORROW, 14), paris(TOMORROW, 14, 20)))
    worker.run_pass(app, threads=1)
    [slot] = live_slots(doctor)
    booking = book(slot)
    worker.run_pass(app, threads=1)

    def move(hh: int) -> None:
        import icalendar

        current = dav.get(slot.caldav_href)
        cal_obj = icalendar.Calendar.from_ical(current.data)
        [event] = cal_obj.walk("VEVENT")
        for name in ("DTSTART", "DTEND"):
            del event[name]
        event.add("DTSTART", paris(TOMORROW, hh))
        event.add("DTEND", paris(TOMORROW, hh, 20))
        text = cal_obj.to_ical().decode()
        dav.adapter().put(slot.caldav_href, text, etag=current.etag)
        worker.run_pass(app, threads=1)
        db.session.refresh(slot)

    move(16)
    assert slot.status == "booked" and slot.start == paris(TOMORROW, 14)
    assert "16:00" in slot.conflict
    move(17)  # moved again: the conflict says where it is now
    assert "17:00" in slot.conflict and "16:00" not in slot.conflict
    move(14)  # back at the booked time: the conflict is over, its alert closed
    assert slot.conflict is None
    assert db.session.scalar(select(Alert).where(
        Alert.kind == "event_conflict", Alert.object_id == slot.id,
        Alert.resolved_at.is_(None))) is None

    move(16)
    assert "16:00" in slot.conflict
    cancel_booking(booker, booking.id, "Le patient a rappelé")
    db.session.refresh(slot)
    assert slot.status == "withdrawn"  # the old time is not offered
    assert not offered(booker, [slot.id])
    for _ in range(2):
        worker.run_pass(app, threads=1)
    [new] = live_slots(doctor)  # the event's time is offered instead
    assert (new.status, new.start, new.conflict) == ("open", paris(TOMORROW, 16), None)
    assert new.caldav_uid == "move-1"
    assert offered(booker, [new.id]) == {new.id}
    remote = dav.get(new.caldav_href)
    assert "SUMMARY:SNP\r\n" in remote.data and "STATUS:CONFIRMED" in remote.data


def test_change_blocked_by_a_hold_is_applied_once_the_hold_ends(app, frozen, dav, make_doctor,
                                                                connect, booker):
    from agenda.booking.services.bookings import hold_slot

    doctor = make_doctor(with_user=True)
    account, cal = connect(doctor, dav)
    gone = dav.put(cal, "held-gone", vevent("held-gone", paris(TOMORROW, 9),
                                            paris(TOMORROW, 9, 20)))
    dav.put(cal, "held-move", vevent("held-move", paris(TOMORROW, 10), paris(TOMORROW, 10, 20)))
    worker.run_pass(app, threads=1)
    first, second = live_slots(doctor)
    hold_slot(booker, first.id)
    hold_slot(booker, second.id)  # two calls in progress
    dav.delete(gone)
    dav.put(cal, "held-move", vevent("held-move", paris(TOMORROW, 11), paris(TOMORROW, 11, 20)))
    for _ in range(2):  # while the calls last, nothing is forced and nothing is lost
        worker.run_pass(app, threads=1)
        db.session.refresh(first)
        db.session.refresh(second)
        assert first.status == "open" and second.start == paris(TOMORROW, 10)
    frozen.advance(minutes=30)  # the holds ended without a booking
    worker.run_pass(app, threads=1)
    [moved] = live_slots(doctor)
    assert moved.caldav_uid == "held-move" and moved.start == paris(TOMORROW, 11)
    db.session.refresh(first)
    assert first.status == "withdrawn"
    assert not offered(booker, [first.id])
    worker.run_pass(app, threads=1)
    db.session.refresh(account)
    assert account.state == "ok"
    assert worker.run_pass(app, threads=1).quiet  # settled: the token moved on
