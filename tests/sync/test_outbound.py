"""Bookings written back to the doctor's calendar; the worker, its retries and leases."""

from __future__ import annotations

from datetime import date, timedelta

import icalendar
import pytest
from sqlalchemy import select

from agenda.extensions import db
from agenda.outbox import OutboxItem
from agenda.slots.models import Slot
from agenda.sync import adapter as adapter_mod
from agenda.sync import worker
from agenda.sync.demo_server import LocalServer
from agenda.sync.inbound import sync_account
from agenda.sync.models import CalendarAccount
from tests.sync.conftest import dav_for, paris, vevent

TOMORROW = date(2026, 12, 2)
PATIENT_DATA = ("Dupontel", "Gisèle", "06 12 34 56 78", "0612345678", "1961", "thoracique")


def event_of(dav, href):
    remote = dav.get(href)
    cal = icalendar.Calendar.from_ical(remote.data)
    return remote, [c for c in cal.walk("VEVENT")]


def assert_no_patient_data(text: str) -> None:
    for secret in PATIENT_DATA:
        assert secret not in text, secret


class CountingAdapter(adapter_mod.CaldavAdapter):
    puts: list[tuple[str, str | None]] = []

    def put(self, href, data, *, etag):
        CountingAdapter.puts.append((href, etag))
        return super().put(href, data, etag=etag)


@pytest.fixture()
def counting(monkeypatch):
    CountingAdapter.puts = []
    monkeypatch.setattr(adapter_mod, "ADAPTER_CLASS", CountingAdapter)
    return CountingAdapter.puts


def test_booking_is_written_back_with_if_match_and_no_patient_data(app, frozen, dav,
                                                                   make_doctor, connect, book,
                                                                   counting):
    doctor = make_doctor(with_user=True)
    account, cal = connect(doctor, dav)
    href = dav.put(cal, "w-1", vevent("w-1", paris(TOMORROW, 14), paris(TOMORROW, 14, 20)))
    worker.run_pass(app, threads=1)
    [slot] = db.session.scalars(select(Slot).where(Slot.doctor_id == doctor.id)).all()
    stored_etag = slot.caldav_etag
    assert stored_etag

    booking = book(slot)
    item = db.session.scalar(select(OutboxItem).where(OutboxItem.kind == "caldav.booking"))
    assert item.payload["booking_id"] == booking.id and item.status == "pending"

    report = worker.run_pass(app, threads=1)
    assert report.events_written >= 1
    assert counting == [(href, stored_etag)]  # one conditional write, If-Match stored ETag
    remote, [event] = event_of(dav, href)
    assert str(event["SUMMARY"]) == "SNP – réservé (Télésecrétariat)"
    assert booking.reference in str(event["DESCRIPTION"])
    assert f"http://localhost/reservations/{booking.id}" in str(event["DESCRIPTION"])
    assert str(event["STATUS"]) == "CONFIRMED" and str(event["TRANSP"]) == "OPAQUE"
    assert_no_patient_data(remote.data)
    db.session.refresh(item)
    assert item.status == "done"
    db.session.refresh(slot)
    assert slot.caldav_etag == remote.etag
    db.session.refresh(account)
    assert account.state == "ok"

    # Our own write read back: no conflict, no change to the slot.
    report = sync_account(account)
    db.session.refresh(slot)
    assert slot.conflict is None and slot.start == paris(TOMORROW, 14)
    assert report.conflicts == 0

    # Cancellation: the event says so (a fixed slot open again shows its title again).
    from agenda.booking.services.bookings import cancel_booking
    cancel_booking(booking.booker_user if hasattr(booking, "booker_user") else
                   db.session.get(__import__("agenda.accounts.models", fromlist=["User"]).User,
                                  booking.booker_user_id), booking.id, "Le patient a rappelé")
    worker.run_pass(app, threads=1)
    remote, [event] = event_of(dav, href)
    assert "annulée" in str(event["DESCRIPTION"])
    assert_no_patient_data(remote.data)


def test_412_race_refetch_reapply_retry(app, frozen, dav, make_doctor, connect, book, counting):
    doctor = make_doctor(with_user=True)
    account, cal = connect(doctor, dav)
    href = dav.put(cal, "race-1", vevent("race-1", paris(TOMORROW, 15), paris(TOMORROW, 15, 20)))
    sync_account(account)
    [slot] = db.session.scalars(select(Slot).where(Slot.doctor_id == doctor.id)).all()
    stale = slot.caldav_etag
    # The doctor edits the event (a location) between our read and our write.
    dav.put(cal, "race-1", vevent("race-1", paris(TOMORROW, 15), paris(TOMORROW, 15, 20),
                                  extra="LOCATION:Cabinet du Dr Test\r\n"))
    booking = book(slot)
    worker.drain_outbox(doctor_id=doctor.id)
    assert [etag for _h, etag in counting][0] == stale  # first try: the stored ETag -> 412
    assert len(counting) == 2 and counting[1][1] != stale
    remote, [event] = event_of(dav, href)
    assert str(event["LOCATION"]) == "Cabinet du Dr Test"  # the doctor's change kept
    assert str(event["SUMMARY"]).startswith("SNP – réservé")
    assert booking.reference in str(event["DESCRIPTION"])
    item = db.session.scalar(select(OutboxItem).where(OutboxItem.kind == "caldav.booking"))
    assert item.status == "done" and item.attempts == 0


@pytest.mark.parametrize("kind", ["radicale", "xandikos"])
def test_server_down_during_ten_bookings(app, frozen, kind, make_doctor, connect, book,
                                         tmp_path, counting):
    from agenda.sync.demo_server import free_port

    users = {"docteur": "mot-de-passe-app"} if kind == "radicale" else {"user": ""}
    server = LocalServer(kind, tmp_path / kind, free_port(), users).start()
    try:
        dav = dav_for(server)
        doctor = make_doctor(with_user=True)
        account, cal = connect(doctor, dav)
        hrefs = {}
        for i in range(10):
            day = TOMORROW + timedelta(days=7 * (i // 5))  # charter: at most 6 a week
            uid = f"down-{i}"
            hrefs[uid] = dav.put(cal, uid, vevent(uid, paris(day, 9 + i % 5),
                                                  paris(day, 9 + i % 5, 20)))
        worker.run_pass(app, threads=2)
        slots = db.session.scalars(select(Slot).where(Slot.doctor_id == doctor.id)).all()
        assert len(slots) == 10 and all(s.status == "open" for s in slots)

        server.stop()
        bookings = [book(s) for s in slots]  # never waits on the calendar server
        assert len(bookings) == 10
        report = worker.run_pass(app, threads=2)
        assert report.retried >= 1 and report.delivered == 0
        db.session.expire_all()
        account = db.session.get(CalendarAccount, account.id)
        assert account.state == "error" and "injoignable" in account.last_error
        items = db.session.scalars(select(OutboxItem).where(
            OutboxItem.kind == "caldav.booking")).all()
        assert all(i.status == "pending" for i in items)
        # Backoff: nothing is tried again before its time.
        assert worker.run_pass(app, threads=2).retried == 0
        frozen.advance(seconds=31)
        worker.run_pass(app, threads=2)  # still down: second attempt, longer wait
        first = max(i.attempts for i in db.session.scalars(select(OutboxItem)))
        assert first >= 1

        server.start()
        for _ in range(8):
            frozen.advance(minutes=5)
            worker.run_pass(app, threads=2)
        db.session.expire_all()
        items = db.session.scalars(select(OutboxItem).where(
            OutboxItem.kind == "caldav.booking")).all()
        assert all(i.status == "done" for i in items), [(i.status, i.last_error) for i in items]
        account = db.session.get(CalendarAccount, account.id)
        assert account.state == "ok" and account.last_error is None
        from agenda.alerts import Alert

        alerts = db.session.scalars(select(Alert).where(Alert.kind == "sync_error")).all()
        assert len(alerts) == 1 and alerts[0].resolved_at is not None  # raised once, closed
        assert alerts[0].doctor_id == doctor.id and alerts[0].cpts_id == doctor.cpts_id

        # Exactly one successful write per event (failed attempts never reached the server).
        written = [h for h, _e in counting]
        for booking in bookings:
            slot = db.session.get(Slot, booking.slot_id)
            remote, [event] = event_of(dav, slot.caldav_href)
            assert int(str(event["SEQUENCE"])) == 1, slot.caldav_uid
            assert booking.reference in str(event["DESCRIPTION"])
            assert_no_patient_data(remote.data)
        assert len(set(written)) == 10
    finally:
        server.stop()


def test_floating_acceptance_creates_an_event_once(app, frozen, dav, make_doctor, connect,
                                                   book):
    from agenda.booking.models import Booking
    from agenda.outbox import enqueue
    from agenda.slots.services import SlotInput, create_slot
    from agenda.sync.writer import our_uid
    from agenda.sync.adapter import new_event_href

    doctor = make_doctor(with_user=True)
    account, cal = connect(doctor, dav)
    slot = create_slot(doctor, SlotInput("fixed", paris(TOMORROW, 10), paris(TOMORROW, 10, 20)))
    db.session.commit()
    booking = book(slot)  # a slot made on the web: the doctor's calendar gets our event
    enqueue("caldav.floating", {"booking_id": booking.id}, doctor_id=doctor.id)
    db.session.commit()
    worker.drain_outbox(doctor_id=doctor.id)
    href = new_event_href(cal, our_uid(booking.reference))
    remote, [event] = event_of(dav, href)
    assert str(event["SUMMARY"]).startswith("SNP – réservé")
    assert int(str(event["SEQUENCE"])) == 1  # two rows, one write (idempotent)
    assert_no_patient_data(remote.data)
    # Read back by the inbound sync: our event is not a new slot.
    sync_account(account)
    assert db.session.scalar(select(Slot).where(Slot.caldav_uid == our_uid(booking.reference))) \
        is None
    assert db.session.get(Booking, booking.id).status == "booked"


def test_claims_keep_two_workers_off_the_same_doctor(app, frozen, make_doctor, connect,
                                                     radicale_dav):
    doctor = make_doctor()
    connect(doctor, radicale_dav)
    first = worker.claim_accounts("worker-a")
    second = worker.claim_accounts("worker-b")
    assert len(first) == 1 and second == []
    frozen.advance(minutes=6)  # a crashed worker's lease runs out
    assert worker.claim_accounts("worker-b") == first


def test_backoff_grows_and_is_capped():
    delays = [worker.backoff(n).total_seconds() for n in range(1, 12)]
    assert delays[:4] == [30, 60, 120, 240]
    assert delays == sorted(delays) and delays[-1] == 3600


def test_handler_bugs_are_retried_not_fatal(app, frozen):
    from agenda import outbox

    calls = []

    def broken(item):
        calls.append(item.id)
        raise KeyError("boom")

    outbox.HANDLERS["test.broken"] = broken
    try:
        outbox.enqueue("test.broken", {})
        db.session.commit()
        report = worker.run_pass(app, threads=1)
        assert report.retried == 1 and calls
        item = db.session.scalar(select(OutboxItem).where(OutboxItem.kind == "test.broken"))
        assert item.status == "pending" and item.attempts == 1
        assert "inattendue" in item.last_error
    finally:
        outbox.HANDLERS.pop("test.broken", None)


def test_acceptance_sync_run_then_booking_written_back(app, frozen, dav, make_doctor, connect,
                                                       book):
    """The issue's acceptance loop, through the CLI: an "SNP" event tomorrow 14:00–14:20,
    one `sync run`, the slot is bookable; once booked and after the next `sync run`, the
    event reads "SNP – réservé" and holds no patient data."""
    doctor = make_doctor(with_user=True)
    account, cal = connect(doctor, dav)
    href = dav.put(cal, "accept-1", vevent("accept-1", paris(TOMORROW, 14),
                                           paris(TOMORROW, 14, 20)))
    runner = app.test_cli_runner()
    assert runner.invoke(args=["sync", "run"]).exit_code == 0
    slot = db.session.scalar(select(Slot).where(Slot.caldav_uid == "accept-1"))
    assert slot.status == "open" and slot.in_charter
    booking = book(slot)
    result = runner.invoke(args=["sync", "run"])
    assert "1 écrits" in result.output, result.output
    remote, [event] = event_of(dav, href)
    assert str(event["SUMMARY"]).startswith("SNP – réservé")
    assert booking.reference in remote.data
    assert_no_patient_data(remote.data)


def test_booking_of_one_instance_of_a_recurring_event(app, frozen, dav, make_doctor, connect,
                                                      book):
    doctor = make_doctor(with_user=True)
    account, cal = connect(doctor, dav)
    ics = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Tests//FR\r\n"
           "BEGIN:VEVENT\r\nUID:rec-1\r\nDTSTAMP:20261101T000000Z\r\n"
           "DTSTART;TZID=Europe/Paris:20261202T140000\r\n"
           "DTEND;TZID=Europe/Paris:20261202T142000\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\n"
           "SUMMARY:SNP visio\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    href = dav.put(cal, "rec-1", ics)
    sync_account(account)
    slots = db.session.scalars(select(Slot).where(Slot.caldav_uid == "rec-1")
                               .order_by(Slot.start)).all()
    assert len(slots) == 3 and all(s.mode == "VR" for s in slots)
    booking = book(slots[1])
    worker.drain_outbox(doctor_id=doctor.id)
    remote, events = event_of(dav, href)
    override = [e for e in events if e.get("RECURRENCE-ID") is not None]
    master = [e for e in events if e.get("RECURRENCE-ID") is None]
    assert len(override) == 1 and len(master) == 1
    assert str(override[0]["SUMMARY"]).startswith("SNP – réservé")
    assert str(master[0]["SUMMARY"]) == "SNP visio"  # the other weeks untouched
    assert booking.reference in str(override[0]["DESCRIPTION"])
    # Read back: same times, same mode (the doctor's title is kept aside): no conflict.
    report = sync_account(account)
    assert report.conflicts == 0 and report.withdrawn == 0
    for slot in slots:
        db.session.refresh(slot)
    assert [s.status for s in slots] == ["open", "booked", "open"]
    assert all(s.conflict is None for s in slots)


def test_two_workers_at_once_never_sync_the_same_doctor(app, frozen, make_doctor, connect,
                                                        radicale_dav, monkeypatch):
    import threading
    from collections import Counter

    seen: Counter = Counter()
    guard = threading.Lock()

    class Counting(adapter_mod.CaldavAdapter):
        def sync(self, calendar_url, token):
            with guard:
                seen[calendar_url] += 1
            return super().sync(calendar_url, token)

    monkeypatch.setattr(adapter_mod, "ADAPTER_CLASS", Counting)
    calendars = []
    for i in range(8):
        doctor = make_doctor()
        _account, cal = connect(doctor, radicale_dav)
        radicale_dav.put(cal, f"two-{i}", vevent(f"two-{i}", paris(TOMORROW, 9 + i % 8),
                                                 paris(TOMORROW, 9 + i % 8, 20)))
        calendars.append(cal)
    reports, crashes = [], []

    def run(owner):
        with app.app_context():
            try:
                reports.append(worker.run_pass(app, threads=3, owner=owner, periodic=False))
            except Exception as exc:  # noqa: BLE001 - reported below
                crashes.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(f"w{n}",)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert crashes == []
    assert sum(r.doctors for r in reports) == 8
    assert all(seen[cal] == 1 for cal in calendars), seen
    assert db.session.scalar(select(Slot.id).where(Slot.caldav_uid == "two-7")) is not None


def test_a_failing_mail_does_not_mark_the_calendar_in_error(app, frozen, make_doctor, connect,
                                                            radicale_dav):
    from agenda import outbox

    doctor = make_doctor()
    account, _cal = connect(doctor, radicale_dav)

    def smtp_down(item):
        raise outbox.RetryLater("Serveur de messagerie injoignable.")

    outbox.HANDLERS["test.mail"] = smtp_down
    try:
        outbox.enqueue("test.mail", {"to": "x@example.org"}, doctor_id=doctor.id)
        db.session.commit()
        report = worker.run_pass(app, threads=1)
        assert report.retried == 1
        db.session.refresh(account)
        assert account.state == "ok" and account.last_error is None
    finally:
        outbox.HANDLERS.pop("test.mail", None)
