"""Inbound sync against real Radicale and Xandikos servers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from agenda.extensions import db
from agenda.slots.models import Slot
from agenda.sync.inbound import sync_account
from agenda.sync.models import RemoteEvent, SyncLogEntry
from tests.sync.conftest import paris, vevent

TOMORROW = date(2026, 12, 2)  # the frozen clock is Tuesday 2026-12-01 09:00 Paris

VTIMEZONE_PARIS = (
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\n"
    "BEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\n"
    "DTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n"
    "BEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\n"
    "DTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\n"
    "END:VTIMEZONE\r\n")


def slots_of(doctor, *statuses):
    query = select(Slot).where(Slot.doctor_id == doctor.id)
    if statuses:
        query = query.where(Slot.status.in_(statuses))
    return list(db.session.scalars(query.order_by(Slot.start)))


def test_created_moved_deleted_event_follows_slot(frozen, dav, make_doctor, connect):
    doctor = make_doctor()
    account, cal = connect(doctor, dav)
    href = dav.put(cal, "evt-1", vevent("evt-1", paris(TOMORROW, 14), paris(TOMORROW, 14, 20)))

    report = sync_account(account)
    assert report.error is None, report.error
    [slot] = slots_of(doctor)
    assert (slot.status, slot.kind, slot.source) == ("open", "fixed", "caldav")
    assert slot.start == datetime(2026, 12, 2, 13, 0, tzinfo=UTC)
    assert slot.end == datetime(2026, 12, 2, 13, 20, tzinfo=UTC)
    assert slot.caldav_uid == "evt-1" and slot.caldav_href == href
    assert account.sync_token and account.state == "ok"

    # Nothing changed: nothing read, nothing created.
    again = sync_account(account)
    assert again.read == 0 and again.created == 0

    dav.put(cal, "evt-1", vevent("evt-1", paris(TOMORROW, 16), paris(TOMORROW, 16, 30)))
    report = sync_account(account)
    assert report.updated == 1
    [slot] = slots_of(doctor)
    assert slot.start == paris(TOMORROW, 16) and slot.end == paris(TOMORROW, 16, 30)

    dav.delete(href)
    report = sync_account(account)
    assert report.withdrawn == 1
    [slot] = slots_of(doctor)
    assert slot.status == "withdrawn"
    assert db.session.scalar(select(RemoteEvent).where(RemoteEvent.href == href)) is None


def test_floating_window_and_capacity(frozen, dav, make_doctor, connect):
    doctor = make_doctor()
    account, cal = connect(doctor, dav)
    dav.put(cal, "f-1", vevent("f-1", paris(TOMORROW, 14), paris(TOMORROW, 17),
                               summary="SNP Flottant ×2"))
    dav.put(cal, "f-2", vevent("f-2", paris(TOMORROW + timedelta(days=1), 9),
                               paris(TOMORROW + timedelta(days=1), 12), summary="créneau FLOTTANT"))
    sync_account(account)
    first, second = slots_of(doctor)
    assert (first.kind, first.capacity) == ("floating", 2)
    assert (second.kind, second.capacity) == ("floating", 1)


def test_weekly_recurring_event_with_one_exception(frozen, dav, make_doctor, connect):
    doctor = make_doctor()
    account, cal = connect(doctor, dav)
    # Every Wednesday 14:00–14:20 Paris from 2 Dec, 4 times; the 9 Dec instance is moved to
    # 16:00 and the 16 Dec one is removed.
    ics = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Tests//FR\r\n" + VTIMEZONE_PARIS +
           "BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTAMP:20261101T000000Z\r\n"
           "DTSTART;TZID=Europe/Paris:20261202T140000\r\n"
           "DTEND;TZID=Europe/Paris:20261202T142000\r\n"
           "RRULE:FREQ=WEEKLY;COUNT=4\r\nEXDATE;TZID=Europe/Paris:20261216T140000\r\n"
           "SUMMARY:SNP\r\nEND:VEVENT\r\n"
           "BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTAMP:20261101T000000Z\r\n"
           "RECURRENCE-ID;TZID=Europe/Paris:20261209T140000\r\n"
           "DTSTART;TZID=Europe/Paris:20261209T160000\r\n"
           "DTEND;TZID=Europe/Paris:20261209T162000\r\nSUMMARY:SNP\r\nEND:VEVENT\r\n"
           "END:VCALENDAR\r\n")
    dav.put(cal, "weekly-1", ics)
    report = sync_account(account)
    assert report.error is None
    starts = [s.start for s in slots_of(doctor, "open")]
    assert starts == [paris(date(2026, 12, 2), 14), paris(date(2026, 12, 9), 16),
                      paris(date(2026, 12, 23), 14)]
    ids = {s.recurrence_id for s in slots_of(doctor)}
    assert ids == {"20261202T130000Z", "20261209T130000Z", "20261223T130000Z"}

    # The doctor removes the exception: the 9 Dec instance goes back to 14:00 (same slot).
    moved = next(s for s in slots_of(doctor) if s.recurrence_id == "20261209T130000Z")
    plain = ics.split("BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTAMP:20261101T000000Z\r\nRECURRENCE")[0]
    dav.put(cal, "weekly-1", plain + "END:VCALENDAR\r\n")
    sync_account(account)
    db.session.refresh(moved)
    assert moved.start == paris(date(2026, 12, 9), 14) and moved.status == "open"
    assert len(slots_of(doctor, "open")) == 3


@pytest.mark.parametrize("friday, utc_hours", [
    # Spring change (Sunday 28 March 2027): 10:00 Paris is 09:00 UTC, then 08:00 UTC.
    (date(2027, 3, 26), {26: 9, 27: 9, 28: 8, 29: 8, 30: 8}),
    # Autumn change (Sunday 25 October 2026): 10:00 Paris is 08:00 UTC, then 09:00 UTC.
    (date(2026, 10, 23), {23: 8, 24: 8, 25: 9, 26: 9, 27: 9}),
])
def test_dst_week_recurring_daily_event(frozen, dav, make_doctor, connect, friday, utc_hours):
    frozen.set(datetime.combine(friday - timedelta(days=4), datetime.min.time(), tzinfo=UTC))
    doctor = make_doctor()
    account, cal = connect(doctor, dav)
    ics = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Tests//FR\r\n" + VTIMEZONE_PARIS +
           "BEGIN:VEVENT\r\nUID:dst-1\r\nDTSTAMP:20260901T000000Z\r\n"
           f"DTSTART;TZID=Europe/Paris:{friday:%Y%m%d}T100000\r\n"
           f"DTEND;TZID=Europe/Paris:{friday:%Y%m%d}T102000\r\n"
           "RRULE:FREQ=DAILY;COUNT=5\r\nSUMMARY:SNP\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    dav.put(cal, "dst-1", ics)
    sync_account(account)
    got = {s.start.day: s.start.hour for s in slots_of(doctor, "open")}
    assert got == utc_hours
    assert all(s.end - s.start == timedelta(minutes=20) for s in slots_of(doctor))


def test_floating_times_and_x_wr_timezone(frozen, dav, make_doctor, connect):
    doctor = make_doctor()
    account, cal = connect(doctor, dav)
    dav.put(cal, "float-time", vevent("float-time", raw="DTSTART:20261202T100000\r\n"
                                      "DTEND:20261202T102000\r\nSUMMARY:SNP\r\n"))
    ics = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Google//FR\r\n"
           "X-WR-TIMEZONE:America/Martinique\r\n"
           "BEGIN:VEVENT\r\nUID:google-1\r\nDTSTAMP:20261101T000000Z\r\n"
           "DTSTART:20261203T080000\r\nDTEND:20261203T082000\r\nSUMMARY:SNP\r\n"
           "END:VEVENT\r\nEND:VCALENDAR\r\n")
    dav.put(cal, "google-1", ics)
    sync_account(account)
    by_uid = {s.caldav_uid: s for s in slots_of(doctor)}
    assert by_uid["float-time"].start == paris(TOMORROW, 10)
    assert by_uid["google-1"].start == datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_all_day_event_is_ignored_with_a_note(frozen, dav, make_doctor, connect):
    doctor = make_doctor()
    account, cal = connect(doctor, dav)
    dav.put(cal, "allday", vevent("allday", raw="DTSTART;VALUE=DATE:20261203\r\n"
                                  "DTEND;VALUE=DATE:20261204\r\nSUMMARY:SNP\r\n"))
    sync_account(account)
    assert slots_of(doctor) == []
    [entry] = db.session.scalars(select(SyncLogEntry).where(
        SyncLogEntry.event_uid == "allday")).all()
    assert "journée entière" in entry.message


def test_invalid_sync_token_means_full_resync_without_duplicates(frozen, dav, make_doctor,
                                                                 connect):
    doctor = make_doctor()
    account, cal = connect(doctor, dav)
    for i in range(3):
        dav.put(cal, f"tok-{i}", vevent(f"tok-{i}", paris(TOMORROW, 10 + i),
                                        paris(TOMORROW, 10 + i, 20)))
    sync_account(account)
    assert len(slots_of(doctor)) == 3
    dav.put(cal, "tok-3", vevent("tok-3", paris(TOMORROW, 15), paris(TOMORROW, 15, 20)))
    account.sync_token = account.sync_token[:-6] + "ffffff" if account.sync_token else "x"
    db.session.commit()
    report = sync_account(account)
    assert report.error is None and report.full
    assert sorted(s.caldav_uid for s in slots_of(doctor)) == ["tok-0", "tok-1", "tok-2", "tok-3"]
    assert all(s.status == "open" for s in slots_of(doctor))
    assert db.session.scalar(select(SyncLogEntry).where(
        SyncLogEntry.message.like("%resynchronisation complète%"))) is not None


def test_booked_slot_never_moves_silently(frozen, dav, make_doctor, connect, book):
    from agenda.alerts import Alert
    from agenda.booking.models import Booking

    doctor = make_doctor(with_user=True)
    account, cal = connect(doctor, dav)
    href = dav.put(cal, "b-1", vevent("b-1", paris(TOMORROW, 14), paris(TOMORROW, 14, 20)))
    sync_account(account)
    [slot] = slots_of(doctor)
    booking = book(slot)
    dav.put(cal, "b-1", vevent("b-1", paris(TOMORROW, 17), paris(TOMORROW, 17, 20)))
    report = sync_account(account)
    assert report.conflicts == 1
    db.session.refresh(slot)
    assert slot.start == paris(TOMORROW, 14) and slot.status == "booked"
    assert "maintenue" in slot.conflict
    assert db.session.get(Booking, booking.id).status == "booked"
    alert = db.session.scalar(select(Alert).where(Alert.kind == "event_conflict"))
    assert alert.doctor_id == doctor.id and alert.user_id == doctor.user_id
    assert alert.cpts_id == doctor.cpts_id
    assert "Dupontel" not in alert.message

    dav.delete(href)
    sync_account(account)
    db.session.refresh(slot)
    assert slot.status == "booked" and "supprimé" in slot.conflict


def test_etag_fallback_for_servers_without_sync_collection(frozen, radicale_dav, make_doctor,
                                                           connect, monkeypatch):
    from agenda.sync import adapter as adapter_mod

    class NoSync(adapter_mod.CaldavAdapter):
        def sync(self, calendar_url, token):
            raise adapter_mod.SyncUnsupported("pas de sync-collection")

    monkeypatch.setattr(adapter_mod, "ADAPTER_CLASS", NoSync)
    doctor = make_doctor()
    account, cal = connect(doctor, radicale_dav)
    href = radicale_dav.put(cal, "e-1", vevent("e-1", paris(TOMORROW, 9), paris(TOMORROW, 9, 20)))
    radicale_dav.put(cal, "e-2", vevent("e-2", paris(TOMORROW, 11), paris(TOMORROW, 11, 20)))
    assert sync_account(account).created == 2
    assert sync_account(account).read == 0  # same ETags: nothing fetched
    radicale_dav.delete(href)
    radicale_dav.put(cal, "e-2", vevent("e-2", paris(TOMORROW, 12), paris(TOMORROW, 12, 20)))
    report = sync_account(account)
    assert (report.read, report.updated, report.withdrawn) == (1, 1, 1)


def test_server_errors_end_up_in_the_account_state(frozen, radicale_dav, make_doctor, connect):
    doctor = make_doctor()
    account, cal = connect(doctor, radicale_dav)
    account.password_encrypted = __import__("agenda.sync.crypto", fromlist=["x"]).encrypt("faux")
    db.session.commit()
    report = sync_account(account)
    assert report.error and "refusé" in report.error
    assert account.state == "error" and "mot de passe" in account.last_error


def test_a_booked_instance_in_the_past_raises_no_conflict(frozen, radicale_dav, make_doctor,
                                                          connect, book):
    doctor = make_doctor(with_user=True)
    account, cal = connect(doctor, radicale_dav)
    ics = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Tests//FR\r\n"
           "BEGIN:VEVENT\r\nUID:past-1\r\nDTSTAMP:20261101T000000Z\r\n"
           "DTSTART;TZID=Europe/Paris:20261202T140000\r\n"
           "DTEND;TZID=Europe/Paris:20261202T142000\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\n"
           "SUMMARY:SNP\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    dav = radicale_dav
    dav.put(cal, "past-1", ics)
    sync_account(account)
    first = slots_of(doctor)[0]
    book(first)
    frozen.advance(days=3)  # the booked instance is now in the past
    dav.put(cal, "past-1", ics.replace("SUMMARY:SNP", "SUMMARY:SNP cabinet"))
    report = sync_account(account)
    assert report.conflicts == 0
    db.session.refresh(first)
    assert first.conflict is None


def test_event_location_chooses_the_place_and_its_cpts(frozen, dav, make_doctor, connect):
    """A doctor practising at two places (in two CPTS) says where in the event's LOCATION:
    the slot belongs to that place, and to that CPTS's charter; without one, the main."""
    from agenda.accounts.services import create_organisation
    from agenda.territory.models import Commune
    from agenda.territory.services import add_place

    doctor = make_doctor("44036")
    other = create_organisation("CPTS Erdre et Gesvres", "cpts")
    second = add_place(doctor, other.id, address="2 rue du Port", label="Cabinet de Nantes",
                       commune=db.session.get(Commune, "44109"))
    db.session.commit()
    account, cal = connect(doctor, dav)
    dav.put(cal, "at-nantes", vevent("at-nantes", paris(TOMORROW, 9), paris(TOMORROW, 9, 20),
                                     extra="LOCATION:2 rue du Port\\, 44000 Nantes\r\n"))
    dav.put(cal, "at-home", vevent("at-home", paris(TOMORROW, 14), paris(TOMORROW, 14, 20)))
    report = sync_account(account)
    assert report.error is None, report.error
    by_uid = {s.caldav_uid: s for s in slots_of(doctor)}
    assert by_uid["at-nantes"].place_id == second.id
    assert by_uid["at-nantes"].cpts_id == other.id
    assert by_uid["at-home"].cpts_id == doctor.cpts_id and by_uid["at-home"].place_id != second.id
    assert db.session.scalars(select(RemoteEvent)).first() is not None
