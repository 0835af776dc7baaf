"""CalDAV in the field (issue 16): what real servers do around the loop.

Radicale and Xandikos run for real; what they cannot reproduce (SOGo's surrogate-pair
references, dropped keep-alive connections, DAViCal/Cyrus/SOGo discovery answers, a 403)
comes from :mod:`tests.sync.doubles`, a server in front of Radicale.
"""

from __future__ import annotations

from datetime import date

import niquests
import pytest
from sqlalchemy import select

from agenda.errors import ValidationError
from agenda.extensions import db
from agenda.slots.models import Slot
from agenda.sync import adapter as adapter_mod
from agenda.sync import crypto, worker
from agenda.sync.adapter import canonical_href, parse_multistatus
from agenda.sync.freebusy import refresh_account
from agenda.sync.inbound import sync_account
from agenda.sync.models import CalendarAccount, RemoteEvent, SyncLogEntry
from agenda.sync.services import discover
from tests.sync.conftest import RADICALE_PASSWORD, RADICALE_USER, dav_for, paris, vevent
from tests.sync.doubles import ServerDouble

TOMORROW = date(2026, 12, 2)
EMOJI = "\U0001FA7A"  # 🩺: SOGo writes it &#55358;&#56954;


@pytest.fixture()
def double(radicale_server):
    """``double(flavour, **options)``: a DAViCal/Cyrus/SOGo double in front of Radicale."""
    started = []

    def _make(flavour: str, **options) -> ServerDouble:
        d = ServerDouble(radicale_server.port, flavour, **options).start()
        started.append(d)
        return d

    yield _make
    for d in started:
        d.stop()


def through(d: ServerDouble, radicale_url: str) -> str:
    """The URL, on the double, of a Radicale URL."""
    path = radicale_url.split("/", 3)[3]
    return d.url(d.prefix + "/" + path)


def connect_through(d: ServerDouble, doctor, cal: str) -> CalendarAccount:
    account = CalendarAccount(doctor_id=doctor.id, url=d.url(d.prefix + "/"),
                              username=RADICALE_USER,
                              password_encrypted=crypto.encrypt(RADICALE_PASSWORD),
                              calendar_url=through(d, cal), calendar_name="SNP",
                              busy_calendar_urls=[], etags={}, state="pending")
    db.session.add(account)
    db.session.commit()
    return account


def slots_of(doctor):
    return list(db.session.scalars(select(Slot).where(Slot.doctor_id == doctor.id)
                                   .order_by(Slot.start)))


def notes_of(doctor) -> list[str]:
    return [e.message for e in db.session.scalars(select(SyncLogEntry).where(
        SyncLogEntry.doctor_id == doctor.id))]


# --- 1. SOGo's surrogate pairs; one bad event skipped and named ------------------------------


def test_sogo_surrogate_references_do_not_stop_the_calendar(frozen, double, radicale_dav,
                                                             make_doctor):
    d = double("sogo")
    cal = radicale_dav.new_calendar()
    radicale_dav.put(cal, "emoji-1", vevent("emoji-1", paris(TOMORROW, 14),
                                            paris(TOMORROW, 17),
                                            summary=f"SNP {EMOJI} flottant x2"))
    radicale_dav.put(cal, "plain-1", vevent("plain-1", paris(TOMORROW, 18),
                                            paris(TOMORROW, 18, 20)))
    # The double answers as SOGo does (checked here, so the test proves something).
    raw = niquests.request("REPORT", through(d, cal), auth=(RADICALE_USER, RADICALE_PASSWORD),
                           headers={"Depth": "1"}, data=(
                               '<D:sync-collection xmlns:D="DAV:" xmlns:C="urn:ietf:params:'
                               'xml:ns:caldav"><D:sync-token/><D:sync-level>1</D:sync-level>'
                               "<D:prop><C:calendar-data/></D:prop></D:sync-collection>"))
    assert b"&#55358;&#56954;" in raw.content
    doctor = make_doctor()
    account = connect_through(d, doctor, cal)
    report = sync_account(account)
    assert report.error is None, report.error
    floating, fixed = slots_of(doctor)
    assert (floating.kind, floating.capacity) == ("floating", 2)
    assert fixed.caldav_uid == "plain-1"
    row = db.session.scalar(select(RemoteEvent).where(RemoteEvent.href.like("%emoji-1.ics")))
    assert EMOJI in row.data


def test_one_unreadable_event_is_named_and_the_rest_synced(frozen, double, radicale_dav,
                                                            make_doctor):
    # Both events' parts of the REPORT answer are broken XML; the first reads fine with a
    # plain GET, the second not at all.
    d = double("sogo", break_marker=b"BROKEN", hide_marker=b"BROKEN-2")
    cal = radicale_dav.new_calendar()
    radicale_dav.put(cal, "ok-1", vevent("ok-1", paris(TOMORROW, 9), paris(TOMORROW, 9, 20)))
    radicale_dav.put(cal, "BROKEN-1", vevent("BROKEN-1", paris(TOMORROW, 10),
                                             paris(TOMORROW, 10, 20)))
    radicale_dav.put(cal, "BROKEN-2", vevent("BROKEN-2", paris(TOMORROW, 11),
                                             paris(TOMORROW, 11, 20)))
    doctor = make_doctor()
    account = connect_through(d, doctor, cal)
    report = sync_account(account)
    assert report.error is None, report.error
    assert [s.caldav_uid for s in slots_of(doctor)] == ["ok-1", "BROKEN-1"]
    assert account.state == "ok"
    [note] = [n for n in notes_of(doctor) if "illisible" in n]
    assert "BROKEN-2.ics" in note and "le reste du calendrier est synchronisé" in note


def test_parse_multistatus_repairs_surrogates_and_isolates_a_broken_response():
    body = (b'<?xml version="1.0"?><d:multistatus xmlns:d="DAV:">'
            b"<d:response><d:href>/c/a.ics</d:href><d:propstat><d:prop><d:displayname>"
            b"A &#55358;&#56954; &#55358;</d:displayname></d:prop>"
            b"<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
            b"<d:response><d:href>/c/b%40x.ics</d:href><d:propstat><d:prop><d:displayname>"
            b"&#1;</d:displayname></d:prop></d:propstat></d:response>"
            b"<d:sync-token>http://x/sync/7</d:sync-token></d:multistatus>")
    answer = parse_multistatus(body)
    assert answer.token == "http://x/sync/7"
    assert answer.unreadable == ["/c/b%40x.ics"]
    [ok] = answer.responses
    assert ok.find("{DAV:}propstat/{DAV:}prop/{DAV:}displayname").text == f"A {EMOJI} \ufffd"


# --- 2. dropped keep-alive connections ----------------------------------------------------------


def test_dropped_keepalive_connections_are_retried_not_errors(app, frozen, double, radicale_dav,
                                                              make_doctor, book):
    d = double("sogo", drop_every=3)
    cal = radicale_dav.new_calendar()
    for i in range(4):
        radicale_dav.put(cal, f"ka-{i}", vevent(f"ka-{i}", paris(TOMORROW, 9 + i),
                                                paris(TOMORROW, 9 + i, 20)))
    doctor = make_doctor(with_user=True)
    account = connect_through(d, doctor, cal)
    for _ in range(3):
        worker.run_pass(app, threads=1)
        db.session.refresh(account)
        assert account.state == "ok", account.last_error
    slots = slots_of(doctor)
    assert len(slots) == 4
    book(slots[0])
    for _ in range(3):
        worker.run_pass(app, threads=1)
        db.session.refresh(account)
        assert account.state != "error", account.last_error
    assert d.dropped >= 2
    from agenda.alerts import Alert
    assert db.session.scalar(select(Alert).where(Alert.kind == "sync_error")) is None
    remote = radicale_dav.get(slots[0].caldav_href.replace(through(d, cal), cal))
    assert "SNP – réservé" in remote.data


# --- 4. discovery as people type it ---------------------------------------------------------


@pytest.fixture()
def snp_calendar(radicale_dav):
    return radicale_dav.adapter().ensure_calendar("SNP")


@pytest.mark.parametrize("flavour", ["davical", "cyrus", "sogo"])
@pytest.mark.parametrize("typed", ["root", "well-known", "base", "principal", "calendar"])
def test_discovery_from_what_people_type(app, double, snp_calendar, flavour, typed):
    d = double(flavour)
    url = {"root": d.url("/"), "well-known": d.url("/.well-known/caldav"),
           "base": d.url(d.prefix + "/"), "principal": d.url(d.prefix + f"/{RADICALE_USER}/"),
           "calendar": through(d, snp_calendar)}[typed]
    calendars = discover(url, RADICALE_USER, RADICALE_PASSWORD)
    assert through(d, snp_calendar) in {c.url for c in calendars}
    assert "SNP" in {c.name for c in calendars}


@pytest.mark.parametrize("typed", ["root", "well-known", "principal", "calendar"])
def test_discovery_on_real_servers(app, dav, typed):
    cal = dav.adapter().ensure_calendar("SNP")
    principal = cal.rstrip("/").rsplit("/", 1)[0] + "/"
    url = {"root": dav.url, "well-known": dav.url + ".well-known/caldav",
           "principal": principal, "calendar": cal}[typed]
    calendars = discover(url, dav.username, dav.password)
    assert canonical_href(cal) in {c.url for c in calendars}


def test_discovery_messages_are_precise(app, double, radicale_dav, snp_calendar, tmp_path):
    with pytest.raises(ValidationError) as wrong:
        discover(radicale_dav.url, RADICALE_USER, "pas-le-bon")
    assert "mot de passe" in wrong.value.message and "refusé" in wrong.value.message

    d = double("sogo", forbidden_users={RADICALE_USER})
    with pytest.raises(ValidationError) as forbidden:
        discover(d.url("/"), RADICALE_USER, RADICALE_PASSWORD)
    assert "refuse l'accès à ce compte" in forbidden.value.message
    assert "mot de passe d'application refusé" not in forbidden.value.message

    # Cyrus at its root without credentials: the anonymous principal is not "no calendar".
    c = double("cyrus")
    with pytest.raises(ValidationError) as anonymous:
        discover(c.url("/"), "", "")
    assert "refusé" in anonymous.value.message

    # A web server that is no CalDAV server.
    import http.server
    import threading

    (tmp_path / "index.html").write_text("<html>Bienvenue</html>")
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(  # noqa: E731
        *a, directory=str(tmp_path), **k)
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        with pytest.raises(ValidationError) as not_dav:
            discover(f"http://127.0.0.1:{web.server_address[1]}/", "x", "y")
        assert "ne se présente pas comme un serveur CalDAV" in not_dav.value.message
    finally:
        web.shutdown()
        web.server_close()


def test_no_snp_calendar_lists_the_account_calendars(app, make_doctor, xandikos_server):
    from agenda.sync.services import CaldavSettings, save_settings

    dav = dav_for(xandikos_server)
    dav.adapter().ensure_calendar("Perso")
    with pytest.raises(ValidationError) as missing:
        save_settings(make_doctor(), CaldavSettings(url=dav.url, username=dav.username,
                                                    password="-", calendar="Introuvable"))
    assert "Calendrier « Introuvable » introuvable" in missing.value.message
    assert "Perso" in missing.value.message


def test_cli_set_caldav_from_a_davical_root_url(app, frozen, double, snp_calendar, make_doctor):
    d = double("davical")
    doctor = make_doctor()
    result = app.test_cli_runner().invoke(args=[
        "doctors", "set-caldav", "--rpps", doctor.rpps, "--url", d.url("/"),
        "--username", RADICALE_USER], input=RADICALE_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    account = db.session.scalar(select(CalendarAccount).where(
        CalendarAccount.doctor_id == doctor.id))
    assert account.calendar_url == through(d, snp_calendar)
    # Nothing listening: a French message, exit code 1, no traceback.
    result = app.test_cli_runner().invoke(args=[
        "doctors", "set-caldav", "--rpps", doctor.rpps, "--url", "http://127.0.0.1:1/",
        "--username", RADICALE_USER], input=RADICALE_PASSWORD + "\n")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "injoignable" in result.output


# --- 5. our own events are not duplicate UIDs (%40 against @) ---------------------------------


def test_our_own_events_are_not_reported_as_duplicate_uids(app, frozen, dav, make_doctor,
                                                           connect, book):
    from agenda.slots.services import SlotInput, create_slot

    doctor = make_doctor(with_user=True)
    account, cal = connect(doctor, dav)
    sync_account(account)
    slot = create_slot(doctor, SlotInput("fixed", paris(TOMORROW, 10), paris(TOMORROW, 10, 20)))
    db.session.commit()
    book(slot)  # a web slot: our own event "agenda-snp-…@agenda-snp" is written
    worker.run_pass(app, threads=1)
    for _ in range(2):
        sync_account(account)
    assert not [n for n in notes_of(doctor) if "UID déjà utilisé" in n]
    [row] = db.session.scalars(select(RemoteEvent).where(RemoteEvent.doctor_id == doctor.id))
    assert "@" in row.href and "%40" not in row.href


def test_canonical_href():
    assert canonical_href("http://H:1/c/a%40b.ics") == canonical_href("http://h:1/c/a@b.ics")
    assert canonical_href("http://h/c/a%20b.ics") == "http://h/c/a%20b.ics"


# --- 6. busy-only calendars, Xandikos included ---------------------------------------------


def test_busy_only_calendar_read_on_both_servers(frozen, dav, make_doctor, connect):
    doctor = make_doctor()
    account, cal = connect(doctor, dav)
    busy = dav.new_calendar()
    dav.put(cal, "b-slot", vevent("b-slot", paris(TOMORROW, 14), paris(TOMORROW, 14, 20)))
    dav.put(busy, "b-busy", vevent("b-busy", paris(TOMORROW, 13, 30), paris(TOMORROW, 15),
                                   summary="Réunion privée"))
    account.busy_calendar_urls = [busy]
    db.session.commit()
    report = sync_account(account)
    assert report.error is None
    assert refresh_account(account) is None
    assert [n for n in notes_of(doctor) if "agenda principal est occupé" in n]


# --- 7. one REPORT per change ---------------------------------------------------------------


def test_a_change_costs_one_report(app, frozen, dav, make_doctor, connect):
    doctor = make_doctor()
    account, cal = connect(doctor, dav)
    dav.put(cal, "r-1", vevent("r-1", paris(TOMORROW, 9), paris(TOMORROW, 9, 20)))
    worker.run_pass(app, threads=1)
    worker.run_pass(app, threads=1)  # settled
    before = adapter_mod.REQUESTS["REPORT"]
    worker.run_pass(app, threads=1)
    assert adapter_mod.REQUESTS["REPORT"] - before == 1  # an idle pass: one REPORT
    dav.put(cal, "r-2", vevent("r-2", paris(TOMORROW, 10), paris(TOMORROW, 10, 20)))
    before = adapter_mod.REQUESTS["REPORT"]
    worker.run_pass(app, threads=1)
    # A change: one REPORT (was two); on Xandikos, whose sync-collection answer carries no
    # calendar-data (404 in its propstat), one multiget more (was four in all).
    assert adapter_mod.REQUESTS["REPORT"] - before == (2 if dav.server.kind == "xandikos" else 1)
    assert len(slots_of(doctor)) == 2


# --- 8. lines folded inside a multi-byte character ------------------------------------------


def _folded_in_the_middle(uid: str, start, end) -> bytes:
    title = "SUMMARY:SNP flottant ×2 domicile".encode()
    cut = title.index("×".encode()) + 1  # between the two bytes of "×"
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Naive//Export//FR\r\n"
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T000000Z\r\n"
            f"DTSTART:{start:%Y%m%dT%H%M%SZ}\r\nDTEND:{end:%Y%m%dT%H%M%SZ}\r\n").encode() \
        + title[:cut] + b"\r\n " + title[cut:] + b"\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"


def test_line_folded_inside_a_character_keeps_the_capacity(frozen, radicale_dav, make_doctor,
                                                           connect):
    # Radicale stores such a body read as Latin-1 ("×" becomes "Ã\x97"), the title is
    # mended; Xandikos refuses it (412); a server that keeps the bytes is read by unfolding
    # them first (the two tests below).
    dav = radicale_dav
    doctor = make_doctor()
    account, cal = connect(doctor, dav)
    start, end = paris(TOMORROW, 14), paris(TOMORROW, 17)
    href = cal.rstrip("/") + "/fold-1.ics"
    resp = niquests.put(href, data=_folded_in_the_middle("fold-1", start, end),
                        auth=(dav.username, dav.password) if dav.password else None,
                        headers={"Content-Type": "text/calendar; charset=utf-8"})
    assert resp.status_code in (200, 201, 204), resp.status_code
    report = sync_account(account)
    assert report.error is None, report.error
    [slot] = slots_of(doctor)
    assert (slot.kind, slot.capacity, slot.mode) == ("floating", 2, "HH")


def test_unreadable_capacity_is_told_to_the_doctor(frozen, dav, make_doctor, connect):
    doctor = make_doctor()
    account, cal = connect(doctor, dav)
    dav.put(cal, "cap-1", vevent("cap-1", paris(TOMORROW, 14), paris(TOMORROW, 17),
                                 summary="SNP flottant \ufffd\ufffd2"))
    sync_account(account)
    [slot] = slots_of(doctor)
    assert slot.capacity == 1
    [note] = [n for n in notes_of(doctor) if "capacité illisible" in n]
    assert "cap-1" in note


def test_report_with_a_line_folded_inside_a_character():
    from agenda.sync.ical import parse_object

    ics = _folded_in_the_middle("fold-2", paris(TOMORROW, 14), paris(TOMORROW, 17))
    body = (b'<?xml version="1.0" encoding="utf-8"?><D:multistatus xmlns:D="DAV:" '
            b'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:response><D:href>/c/fold-2.ics'
            b"</D:href><D:propstat><D:prop><C:calendar-data>" + ics.replace(b"\r", b"&#13;")
            + b"</C:calendar-data></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>"
            b"</D:response></D:multistatus>")
    [response] = parse_multistatus(body).responses
    text = response.find("{DAV:}propstat/{DAV:}prop/"
                         "{urn:ietf:params:xml:ns:caldav}calendar-data").text
    [spec] = parse_object(text, paris(TOMORROW, 0), paris(TOMORROW, 23)).specs
    assert (spec.kind, spec.capacity, spec.mode) == ("floating", 2, "HH")


def test_decode_ics_unfolds_bytes_first():
    from agenda.sync.ical import decode_ics

    raw = "SUMMARY:×2".encode()
    assert decode_ics(raw[:9] + b"\r\n " + raw[9:]) == "SUMMARY:×2"



def test_settings_page_from_root_urls_never_a_500(frozen, login_as, make_doctor, double,
                                                  snp_calendar):
    from tests.sync.test_pages_cli import _csrf, doctor_client

    client, _doctor = doctor_client(login_as, make_doctor)
    for flavour, expected in (("davical", "Connexion réussie"), ("cyrus", "Connexion réussie"),
                              ("sogo", "Connexion réussie")):
        d = double(flavour)
        resp = client.post("/mon-calendrier/tester", data={
            "url": d.url("/"), "username": RADICALE_USER, "password": RADICALE_PASSWORD,
            "csrf_token": _csrf(client, "/mon-calendrier")})
        assert resp.status_code == 302
        page = client.get("/mon-calendrier").get_data(as_text=True)
        assert expected in page and "SNP" in page
    forbidden = double("sogo", forbidden_users={RADICALE_USER})
    client.post("/mon-calendrier/tester", data={
        "url": forbidden.url("/"), "username": RADICALE_USER, "password": RADICALE_PASSWORD,
        "csrf_token": _csrf(client, "/mon-calendrier")})
    page = client.get("/mon-calendrier").get_data(as_text=True)
    assert "refuse l&#39;accès à ce compte" in page or "refuse l'accès à ce compte" in page


def test_rows_stored_under_two_spellings_are_merged(frozen, radicale_dav, make_doctor,
                                                    connect):
    doctor = make_doctor()
    account, cal = connect(doctor, radicale_dav)
    href = radicale_dav.put(cal, "twice@host", vevent("twice@host", paris(TOMORROW, 9),
                                                      paris(TOMORROW, 9, 20)))
    assert "@" in href
    # What the old code left behind: our spelling, and the server's spelling (%40).
    db.session.add_all([
        RemoteEvent(doctor_id=doctor.id, href=href, uids=["twice@host"], etag="old"),
        RemoteEvent(doctor_id=doctor.id, href=href.replace("@", "%40"), uids=[], etag="x")])
    db.session.commit()
    report = sync_account(account)
    assert report.error is None, report.error
    [row] = db.session.scalars(select(RemoteEvent).where(RemoteEvent.doctor_id == doctor.id))
    assert row.href == href and row.uids == ["twice@host"]
    assert len(slots_of(doctor)) == 1
    assert not [n for n in notes_of(doctor) if "UID déjà utilisé" in n]
