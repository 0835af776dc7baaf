"""Floating times that fit the doctor's day, without reading it (issue 18, point 2).

Against real Radicale and Xandikos: a busy event of the doctor's main calendar takes its
times off the top of the accept page and flags an open fixed slot it overlaps; the
service's database never holds its title, description or place (every column of every
table is searched, SQLite or PostgreSQL alike)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import inspect, select, text

from agenda.alerts import Alert
from agenda.booking.models import FloatingRequest
from agenda.extensions import db
from agenda.outbox import OutboxItem
from agenda.slots.models import Slot
from agenda.sync import adapter as adapter_mod
from agenda.sync import crypto, freebusy, worker
from agenda.sync.models import BusyPeriod, CalendarAccount, SyncLogEntry
from agenda.timeutil import iso_week
from tests.conftest import csrf_token
from tests.sync.conftest import RADICALE_PASSWORD, RADICALE_USER, paris, vevent
from tests.sync.doubles import ServerDouble
from tests.sync.test_credentials import Listener
from tests.sync.test_field import through

TODAY = date(2026, 12, 1)  # the frozen clock: Tuesday 09:00 in Paris
TOMORROW = date(2026, 12, 2)
TITLE = "Rendez-vous notaire Zorglub"
DESCRIPTION = "Succession de tante Berthe-Xylophone"
LOCATION = "Étude Maître Quincampoix"
SECRETS = ("Zorglub", "Berthe-Xylophone", "Quincampoix")
PRIVATE = f"DESCRIPTION:{DESCRIPTION}\r\nLOCATION:{LOCATION}\r\n"


def private_event(uid: str, start: datetime, end: datetime, extra: str = "") -> str:
    return vevent(uid, start, end, summary=TITLE, extra=PRIVATE + extra)


def whole_database() -> str:
    """Every value of every column of every table, as text (what a dump would show)."""
    out = []
    with db.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        value = bytes(value).decode("utf-8", "replace")
                    out.append(str(value))
    return "\n".join(out)


def assert_nothing_private() -> None:
    db.session.commit()
    dump = whole_database()
    assert dump  # the dump did read the tables
    for secret in SECRETS:
        assert secret not in dump, f"{secret!r} found in the database"


def with_main_calendar(doctor, dav, connect) -> tuple[CalendarAccount, str, str]:
    account, cal = connect(doctor, dav)
    main = dav.new_calendar()
    account.busy_calendar_urls = [main]
    db.session.commit()
    return account, cal, main


def fixed_slot(doctor, start: datetime, minutes: int = 20) -> Slot:
    slot = Slot(doctor_id=doctor.id, kind="fixed", start=start,
                end=start + timedelta(minutes=minutes), week=iso_week(start), capacity=1,
                booked_count=0, mode="AMB", status="open", in_charter=True, source="web")
    db.session.add(slot)
    db.session.commit()
    return slot


def options(html: str) -> list[tuple[str, str, str]]:
    """(optgroup label, value, text) of every option of the accept form, in order."""
    out = []
    group = ""
    for m in re.finditer(r'<optgroup label="([^"]*)">|<option[^>]*value="([^"]+)"[^>]*>([^<]*)',
                         html):
        if m.group(1) is not None:
            group = m.group(1)
        else:
            out.append((group, m.group(2), m.group(3)))
    return out


def utc(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)


# --- the accept page --------------------------------------------------------------------------


def test_accept_page_offers_free_times_first(frozen, dav, login_as, connect, book):
    client = login_as("doctor")
    doctor = client.doctor
    account, _cal, main = with_main_calendar(doctor, dav, connect)
    window = fixed_slot(doctor, paris(TODAY, 14), minutes=180)  # 14:00–17:00
    window.kind, window.capacity = "floating", 2
    db.session.commit()
    busy_start, busy_end = paris(TODAY, 15), paris(TODAY, 15, 45)
    dav.put(main, "fb-page", private_event("fb-page", busy_start, busy_end))
    # A transparent and a cancelled event are not busy.
    dav.put(main, "fb-transp", vevent("fb-transp", paris(TODAY, 14), paris(TODAY, 14, 30),
                                      summary=TITLE, extra="TRANSP:TRANSPARENT\r\n"))
    dav.put(main, "fb-cancel", vevent("fb-cancel", paris(TODAY, 16), paris(TODAY, 16, 30),
                                      summary=TITLE, extra="STATUS:CANCELLED\r\n"))
    book(window)
    req = db.session.scalar(select(FloatingRequest))
    assert req is not None

    before = adapter_mod.REQUESTS["REPORT"]
    html = client.get("/demandes").get_data(as_text=True)
    assert adapter_mod.REQUESTS["REPORT"] - before == 1  # one free-busy-query
    assert f'data-request="{req.id}"' in html and 'data-testid="busy-note"' in html
    found = options(html)
    groups = [g for g, _v, _t in found]
    free = [utc(v) for g, v, _t in found if g == "Libres dans votre agenda"]
    taken = [(utc(v), t) for g, v, t in found if g == "Occupées dans votre agenda"]
    assert groups.index("Occupées dans votre agenda") > groups.index("Libres dans votre agenda")
    assert groups[-1] == "Occupées dans votre agenda"  # free first, busy after
    length = timedelta(minutes=20)
    assert free and taken
    for t in free:
        assert not (t < busy_end and t + length > busy_start), t
    for t, label in taken:
        assert t < busy_end and t + length > busy_start and "occupé" in label
    assert paris(TODAY, 14) in free and paris(TODAY, 16) in free  # transparent, cancelled
    assert busy_end in free  # the end of a busy period is offered as a start
    assert paris(TODAY, 15, 10) in [t for t, _l in taken]  # still selectable
    assert "Zorglub" not in html

    # Opened again a moment later: the short cache, no new REPORT.
    frozen.advance(seconds=30)
    before = adapter_mod.REQUESTS["REPORT"]
    client.get("/demandes")
    assert adapter_mod.REQUESTS["REPORT"] == before

    # A busy time can still be chosen.
    resp = client.post(f"/demandes/{req.id}/accepter", data={
        "csrf_token": csrf_token(client, "/demandes"),
        f"r{req.id}-time": paris(TODAY, 15, 10).strftime("%Y-%m-%dT%H:%MZ")})
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(FloatingRequest, req.id).status != "pending"
    periods = db.session.scalars(select(BusyPeriod).where(BusyPeriod.doctor_id == doctor.id)).all()
    assert [(p.start, p.end) for p in periods] == [(busy_start, busy_end)]
    assert all(p.fetched_at is not None for p in periods)
    assert_nothing_private()


def test_accept_page_without_the_calendar_keeps_every_time(frozen, radicale_dav, login_as,
                                                           connect, book):
    client = login_as("doctor")
    doctor = client.doctor
    account, _cal = connect(doctor, radicale_dav)
    account.busy_calendar_urls = [radicale_dav.url + RADICALE_USER + "/disparu/"]
    db.session.commit()
    window = fixed_slot(doctor, paris(TODAY, 14), minutes=60)
    window.kind = "floating"
    db.session.commit()
    book(window)
    html = client.get("/demandes").get_data(as_text=True)
    assert "pas pu être lu" in html
    found = options(html)
    assert [g for g, _v, _t in found] == [""] * len(found)  # today's plain list
    assert len(found) == 5 and found[0][1] == paris(TODAY, 14).strftime("%Y-%m-%dT%H:%MZ")
    db.session.expire_all()
    assert "n'existe plus" in db.session.get(CalendarAccount, account.id).freebusy_error


# --- the worker's pass: fixed slots flagged, never withdrawn ------------------------------------


def test_worker_flags_a_fixed_slot_the_day_fills(app, frozen, dav, login_as, connect):
    client = login_as("doctor")
    doctor = client.doctor
    account, cal, main = with_main_calendar(doctor, dav, connect)
    dav.put(cal, "snp-1", vevent("snp-1", paris(TOMORROW, 14), paris(TOMORROW, 14, 20)))
    dav.put(cal, "snp-2", vevent("snp-2", paris(TOMORROW, 16), paris(TOMORROW, 16, 20)))
    href = dav.put(main, "fb-day", private_event("fb-day", paris(TOMORROW, 13, 30),
                                                 paris(TOMORROW, 14, 10)))
    worker.run_pass(app, threads=1)
    db.session.expire_all()
    hit = db.session.scalar(select(Slot).where(Slot.caldav_uid == "snp-1"))
    clear = db.session.scalar(select(Slot).where(Slot.caldav_uid == "snp-2"))
    assert hit.status == "open" and clear.status == "open"  # flagged, not withdrawn
    alerts = db.session.scalars(select(Alert).where(Alert.kind == "busy_overlap")).all()
    assert [(a.object_id, a.user_id, a.cpts_id) for a in alerts] == [
        (hit.id, doctor.user_id, None)]
    mails = db.session.scalars(select(OutboxItem).where(OutboxItem.kind == "mail")).all()
    assert len(mails) == 1 and "occupé" in mails[0].payload["subject"]

    week = client.get("/ma-semaine?semaine=2026-W49").get_data(as_text=True)
    flags = re.findall(r'data-slot="(\d+)"(?:(?!data-slot=).)*?data-testid="busy-flag"', week,
                       re.S)
    assert flags == [str(hit.id)]
    dash = client.get("/").get_data(as_text=True)
    assert 'data-testid="busy-flags"' in dash and "14:00" in dash

    # A settled pass: one REPORT for the SNP calendar, one for the main calendar; the
    # flag is not raised again.
    worker.run_pass(app, threads=1)
    before = adapter_mod.REQUESTS["REPORT"]
    worker.run_pass(app, threads=1)
    assert adapter_mod.REQUESTS["REPORT"] - before == 2
    assert db.session.scalar(select(Alert.id).where(Alert.kind == "busy_overlap").offset(1)) \
        is None
    assert len(db.session.scalars(select(OutboxItem).where(OutboxItem.kind == "mail")).all()) == 1
    assert_nothing_private()

    # The doctor moves the appointment: the flag goes.
    dav.delete(href)
    worker.run_pass(app, threads=1)
    db.session.expire_all()
    assert db.session.scalar(select(Alert).where(Alert.kind == "busy_overlap")).resolved_at
    week = client.get("/ma-semaine?semaine=2026-W49").get_data(as_text=True)
    assert 'data-testid="busy-flag"' not in week


def test_a_doctor_publishing_from_the_pages_is_flagged_too(app, frozen, dav, make_doctor):
    doctor = make_doctor(with_user=True)
    main = dav.new_calendar()
    account = CalendarAccount(doctor_id=doctor.id, url=dav.url, username=dav.username,
                              password_encrypted=crypto.encrypt(dav.password or "-"),
                              busy_calendar_urls=[main], etags={}, state="pending")
    db.session.add(account)
    db.session.commit()
    dav.put(main, "fb-web", private_event("fb-web", paris(TOMORROW, 10), paris(TOMORROW, 11)))
    hit = fixed_slot(doctor, paris(TOMORROW, 10, 40))
    fixed_slot(doctor, paris(TOMORROW, 11))  # touches the end: not flagged
    report = worker.run_pass(app, threads=1)
    assert report.errors == []
    assert set(freebusy.flagged_slots(doctor.id)) == {hit.id}
    db.session.expire_all()
    account = db.session.get(CalendarAccount, account.id)
    assert account.lease_owner is None and account.freebusy_method == "free-busy-query"
    assert_nothing_private()


def test_no_report_without_a_main_calendar_or_a_fixed_slot_ahead(app, frozen, radicale_dav,
                                                                  make_doctor, connect):
    doctor = make_doctor()
    account, cal, main = with_main_calendar(doctor, radicale_dav, connect)
    radicale_dav.put(main, "fb-none", private_event("fb-none", paris(TOMORROW, 9),
                                                    paris(TOMORROW, 10)))
    worker.run_pass(app, threads=1)
    worker.run_pass(app, threads=1)
    before = adapter_mod.REQUESTS["REPORT"]
    worker.run_pass(app, threads=1)
    assert adapter_mod.REQUESTS["REPORT"] - before == 1  # the SNP calendar only
    assert db.session.scalar(select(BusyPeriod.id)) is None


# --- the DST week -------------------------------------------------------------------------------

VTIMEZONE = (
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\n"
    "BEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\n"
    "DTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n"
    "BEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\n"
    "DTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\n"
    "END:VTIMEZONE\r\n")


def local_event(uid: str, start: str, end: str, extra: str = "") -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Tests//Agenda SNP//FR\r\n" + VTIMEZONE
            + f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261001T000000Z\r\n"
            f"DTSTART;TZID=Europe/Paris:{start}\r\nDTEND;TZID=Europe/Paris:{end}\r\n"
            f"SUMMARY:{TITLE}\r\n{PRIVATE}{extra}END:VEVENT\r\nEND:VCALENDAR\r\n")


@pytest.mark.parametrize("method", ["free-busy-query", "calendar-query"])
def test_busy_periods_across_the_autumn_change(app, frozen, dav, make_doctor, connect, method):
    frozen.set(datetime(2026, 10, 20, 5, 0, tzinfo=UTC))  # Tuesday 07:00 in Paris (CEST)
    doctor = make_doctor()
    account, _cal, main = with_main_calendar(doctor, dav, connect)
    account.freebusy_method = None if method == "free-busy-query" else method
    db.session.commit()
    # Every Tuesday 09:00–10:00 Paris: 07:00Z before the change, 08:00Z after.
    dav.put(main, "fb-weekly", local_event("fb-weekly", "20261020T090000", "20261020T100000",
                                           "RRULE:FREQ=WEEKLY;COUNT=3\r\n"))
    # Sunday of the change, 10:00–11:00 Paris (CET): 09:00Z.
    dav.put(main, "fb-sunday", local_event("fb-sunday", "20261025T100000", "20261025T110000"))
    hit = fixed_slot(doctor, datetime(2026, 10, 27, 8, 0, tzinfo=UTC))  # 09:00 Paris
    miss = fixed_slot(doctor, datetime(2026, 10, 27, 7, 0, tzinfo=UTC))  # 08:00 Paris
    fixed_slot(doctor, datetime(2026, 11, 5, 7, 0, tzinfo=UTC))  # the published horizon

    assert freebusy.refresh_account(account) is None
    db.session.expire_all()
    account = db.session.get(CalendarAccount, account.id)
    assert account.freebusy_method == method
    got = [(p.start, p.end) for p in db.session.scalars(
        select(BusyPeriod).where(BusyPeriod.doctor_id == doctor.id).order_by(BusyPeriod.start))]
    z = lambda d, h: datetime(2026, 10, d, h, 0, tzinfo=UTC)  # noqa: E731
    assert got == [(z(20, 7), z(20, 8)), (z(25, 9), z(25, 10)), (z(27, 8), z(27, 9)),
                   (datetime(2026, 11, 3, 8, tzinfo=UTC), datetime(2026, 11, 3, 9, tzinfo=UTC))]
    assert set(freebusy.flagged_slots(doctor.id)) == {hit.id}
    assert miss.id not in freebusy.flagged_slots(doctor.id)
    assert_nothing_private()


# --- servers without free-busy-query; bad answers -----------------------------------------------


@pytest.fixture()
def no_freebusy(radicale_server):
    d = ServerDouble(radicale_server.port, "davical", refuse_freebusy=True).start()
    yield d
    d.stop()


def test_fallback_asks_for_times_only_and_names_a_bad_event(frozen, radicale_dav, make_doctor,
                                                            connect, no_freebusy):
    d = no_freebusy
    doctor = make_doctor()
    account, _cal, main = with_main_calendar(doctor, radicale_dav, connect)
    account.url = d.url(d.prefix + "/")
    account.calendar_url = through(d, account.calendar_url)
    account.busy_calendar_urls = [through(d, main)]
    db.session.commit()
    radicale_dav.put(main, "fb-good", private_event("fb-good", paris(TOMORROW, 9),
                                                    paris(TOMORROW, 10)))
    radicale_dav.put(main, "fb-bad", private_event("fb-bad", paris(TOMORROW, 15),
                                                   paris(TOMORROW, 16)))
    fixed_slot(doctor, paris(TOMORROW, 15, 20))
    fixed_slot(doctor, paris(TOMORROW, 18))
    assert freebusy.refresh_account(account) is None
    db.session.expire_all()
    account = db.session.get(CalendarAccount, account.id)
    assert account.freebusy_method == "calendar-query"
    query = [b for b in d.bodies if b"calendar-query" in b][0]
    assert b'<C:prop name="DTSTART"/>' in query and b"SUMMARY" not in query
    assert b"DESCRIPTION" not in query and b"LOCATION" not in query
    stored = [(p.start, p.end) for p in db.session.scalars(select(BusyPeriod)
                                                           .order_by(BusyPeriod.start))]
    assert stored == [(paris(TOMORROW, 9), paris(TOMORROW, 10)),
                      (paris(TOMORROW, 15), paris(TOMORROW, 16))]

    # The next pass goes straight to the fallback (one REPORT), and an event the answer
    # garbles is named in the log; what was known of its time stays (nothing lost).
    d.break_marker = b"fb-bad"
    d.bodies.clear()
    assert freebusy.refresh_account(account) is None
    assert len(d.bodies) == 1 and b"calendar-query" in d.bodies[0]
    notes = [e.message for e in db.session.scalars(select(SyncLogEntry).where(
        SyncLogEntry.doctor_id == doctor.id))]
    assert [n for n in notes if "fb-bad.ics" in n and "illisible" in n]
    stored = [(p.start, p.end) for p in db.session.scalars(select(BusyPeriod)
                                                           .order_by(BusyPeriod.start))]
    assert (paris(TOMORROW, 15), paris(TOMORROW, 16)) in stored
    assert (paris(TOMORROW, 9), paris(TOMORROW, 10)) in stored
    assert len(freebusy.flagged_slots(doctor.id)) == 1
    assert_nothing_private()


def test_free_busy_answer_read_tolerantly():
    answer = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VFREEBUSY\r\n"
              "DTSTART:20261202T000000Z\r\nDTEND:20261203T000000Z\r\n"
              "FREEBUSY:20261202T080000Z/20261202T090000Z,20261202T100000Z/PT30M\r\n"
              "FREEBUSY;FBTYPE=FREE:20261202T110000Z/20261202T120000Z\r\n"
              "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20261202T130000Z/20261202T14\r\n"
              " 0000Z\r\n"
              "FREEBUSY:20261202T150000Z/pas-une-heure\r\n"
              "END:VFREEBUSY\r\nEND:VCALENDAR\r\n")
    read = freebusy.parse_freebusy(answer)
    h = lambda hh, mm=0: datetime(2026, 12, 2, hh, mm, tzinfo=UTC)  # noqa: E731
    assert read.periods == [(h(8), h(9)), (h(10), h(10, 30)), (h(13), h(14))]
    assert read.unreadable == ["20261202T150000Z/pas-une-heure"]
    assert freebusy.merge([(h(8), h(9)), (h(9), h(10)), (h(12), h(13)), (h(8), h(8, 30))]) \
        == [(h(8), h(10)), (h(12), h(13))]


# --- settings: a main calendar of the same account only -----------------------------------------


def test_main_calendar_only_on_the_accounts_server(frozen, login_as, connect, radicale_dav):
    client = login_as("doctor")
    doctor = client.doctor
    account, _cal = connect(doctor, radicale_dav)
    main = radicale_dav.new_calendar()
    listener = Listener()
    try:
        resp = client.post("/mon-calendrier/agenda-principal", data={
            "main_url": listener.url + "agenda/", "action": "save",
            "csrf_token": csrf_token(client, "/mon-calendrier")}, follow_redirects=True)
        assert "envoyé qu&#39;à l&#39;adresse" in resp.get_data(as_text=True)
        db.session.expire_all()
        assert db.session.get(CalendarAccount, account.id).busy_calendar_urls == []

        resp = client.post("/mon-calendrier/agenda-principal", data={
            "main_url": radicale_dav.url + RADICALE_USER + "/inexistant/", "action": "save",
            "csrf_token": csrf_token(client, "/mon-calendrier")}, follow_redirects=True)
        assert "Lecture de l&#39;agenda principal impossible" in resp.get_data(as_text=True)
        db.session.expire_all()
        assert db.session.get(CalendarAccount, account.id).busy_calendar_urls == []

        resp = client.post("/mon-calendrier/agenda-principal", data={
            "main_url": main, "action": "save",
            "csrf_token": csrf_token(client, "/mon-calendrier")}, follow_redirects=True)
        html = resp.get_data(as_text=True)
        assert "seules ses heures occupées" in html
        db.session.expire_all()
        account = db.session.get(CalendarAccount, account.id)
        assert account.busy_calendar_urls == [main]
        assert account.freebusy_method == "free-busy-query"

        # Even stored by other means, a main calendar elsewhere never gets the password.
        account.busy_calendar_urls = [listener.url + "agenda/"]
        db.session.commit()
        with pytest.raises(adapter_mod.AdapterError):
            freebusy.read_busy(account, paris(TOMORROW, 0), paris(TOMORROW, 23))
        assert listener.received and not listener.saw_password(RADICALE_PASSWORD)
        assert crypto.decrypt(account.password_encrypted) == RADICALE_PASSWORD

        resp = client.post("/mon-calendrier/agenda-principal", data={
            "main_url": "", "action": "clear",
            "csrf_token": csrf_token(client, "/mon-calendrier")}, follow_redirects=True)
        db.session.expire_all()
        assert db.session.get(CalendarAccount, account.id).busy_calendar_urls == []
    finally:
        listener.stop()
