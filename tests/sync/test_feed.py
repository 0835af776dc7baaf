"""The read-only ICS feed (issue 16 point 9, issue 11 "feed tokens"): the whole publishing
horizon, accepted floating times as events, host-free stable UIDs, stable DTSTAMP, ETag and
Last-Modified with 304; tokens stored hashed, out of the access log, dead with the account."""

from __future__ import annotations

import hashlib
import logging
import threading
from datetime import date, timedelta

import icalendar
import niquests
from sqlalchemy import select

from agenda.accounts.models import User
from agenda.extensions import db
from agenda.slots.services import SlotInput, create_slot
from agenda.sync.models import CalendarAccount
from agenda.sync.services import new_ics_token
from tests.sync.conftest import paris

TOMORROW = date(2026, 12, 2)


def events(body: str) -> dict[str, icalendar.Event]:
    return {str(e["UID"]): e for e in icalendar.Calendar.from_ical(body).walk("VEVENT")}


def _slot(doctor, day, hh, kind="fixed", hours=0, minutes=20, capacity=1):
    start = paris(day, hh)
    slot = create_slot(doctor, SlotInput(kind, start, start + timedelta(hours=hours,
                                                                         minutes=minutes),
                                         capacity=capacity), keep_out_of_charter=True)
    db.session.commit()
    return slot


def test_feed_horizon_floating_times_uids_and_dtstamp(app, frozen, make_doctor, book):
    from agenda.booking.services.requests import accept_request

    doctor = make_doctor(with_user=True)
    token = new_ics_token(doctor)
    near = _slot(doctor, TOMORROW, 9)
    far = _slot(doctor, TOMORROW + timedelta(weeks=25), 9)  # doctors publish 26 weeks ahead
    window = _slot(doctor, TOMORROW + timedelta(days=1), 14, kind="floating", hours=3,
                   minutes=0, capacity=2)
    request = book(window)  # a floating request…
    accepted = accept_request(db.session.get(User, doctor.user_id), request.id,
                              paris(TOMORROW + timedelta(days=1), 15, 20))  # …accepted
    db.session.commit()
    client = app.test_client()
    first = client.get(f"/calendrier/{token}.ics")
    assert first.status_code == 200
    got = events(first.get_data(as_text=True))
    assert {f"slot-{near.id}@agenda-snp", f"slot-{far.id}@agenda-snp",
            f"slot-{window.id}@agenda-snp",
            f"booking-{accepted.reference}@agenda-snp"} == set(got)
    own = got[f"booking-{accepted.reference}@agenda-snp"]
    assert own.decoded("DTSTART") == paris(TOMORROW + timedelta(days=1), 15, 20)
    assert str(own["SUMMARY"]).startswith("SNP – réservé")
    assert "Dupontel" not in first.get_data(as_text=True)

    # Fetched again later, with another public address: the same bytes (UIDs, DTSTAMP).
    frozen.advance(minutes=30)
    app.config["BASE_URL"] = "https://snp.example.org"
    again = client.get(f"/calendrier/{token}.ics")
    assert set(events(again.get_data(as_text=True))) == set(got)
    assert [str(e["DTSTAMP"].to_ical()) for e in events(again.get_data(as_text=True)).values()
            ] == [str(e["DTSTAMP"].to_ical()) for e in got.values()]


def test_feed_etag_and_last_modified_give_304(app, frozen, make_doctor):
    doctor = make_doctor(with_user=True)
    token = new_ics_token(doctor)
    _slot(doctor, TOMORROW, 9)
    client = app.test_client()
    first = client.get(f"/calendrier/{token}.ics")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag and modified
    again = client.get(f"/calendrier/{token}.ics", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    since = client.get(f"/calendrier/{token}.ics", headers={"If-Modified-Since": modified})
    assert since.status_code == 304
    frozen.advance(minutes=5)
    _slot(doctor, TOMORROW, 11)  # something new: the whole feed again
    changed = client.get(f"/calendrier/{token}.ics", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert client.get(f"/calendrier/{token}.ics", headers={
        "If-Modified-Since": modified}).status_code == 200


def test_feed_token_hashed_renewed_and_dead_with_the_account(app, frozen, make_doctor):
    doctor = make_doctor(with_user=True)
    token = new_ics_token(doctor)
    account = db.session.scalar(select(CalendarAccount).where(
        CalendarAccount.doctor_id == doctor.id))
    assert account.ics_token == hashlib.sha256(token.encode()).hexdigest() != token
    client = app.test_client()
    assert client.get(f"/calendrier/{token}.ics").status_code == 200
    assert client.get(f"/calendrier/{account.ics_token}.ics").status_code == 404  # digest
    renewed = new_ics_token(doctor)
    assert client.get(f"/calendrier/{token}.ics").status_code == 404
    assert client.get(f"/calendrier/{renewed}.ics").status_code == 200
    db.session.get(User, doctor.user_id).active = False
    db.session.commit()
    assert client.get(f"/calendrier/{renewed}.ics").status_code == 404
    db.session.get(User, doctor.user_id).active = True
    doctor.active = False
    db.session.commit()
    assert client.get(f"/calendrier/{renewed}.ics").status_code == 404


def test_settings_page_shows_the_feed_link_once(frozen, login_as, make_doctor):
    from tests.sync.test_pages_cli import _csrf, doctor_client

    client, doctor = doctor_client(login_as, make_doctor)
    resp = client.post("/mon-calendrier/nouveau-lien",
                       data={"csrf_token": _csrf(client, "/mon-calendrier")})
    assert resp.status_code == 302
    page = client.get("/mon-calendrier").get_data(as_text=True)
    import re

    [link] = re.findall(r"/calendrier/([A-Za-z0-9_-]{20,})\.ics", page)
    assert client.get(f"/calendrier/{link}.ics").status_code == 200
    assert link not in client.get("/mon-calendrier").get_data(as_text=True)  # once only


def test_access_log_never_shows_a_feed_token(app, frozen, make_doctor, caplog):
    from werkzeug.serving import make_server

    doctor = make_doctor(with_user=True)
    token = new_ics_token(doctor)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            resp = niquests.get(f"http://127.0.0.1:{server.server_port}/calendrier/{token}.ics")
            assert resp.status_code == 200
    finally:
        server.shutdown()
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any("/calendrier/***.ics" in line for line in lines), lines
    assert not any(token in line for line in lines)


def test_gunicorn_access_line_never_shows_a_feed_token(app):
    from agenda.sync.views import _HideFeedTokens

    class SafeAtoms(dict):  # gunicorn's atoms: unknown keys read as "-"
        def __getitem__(self, key):
            return super().get(key, "-")

    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1,
                               '%(h)s "%(r)s" %(s)s %(U)s %({x-forwarded-for}i)s', (), None)
    record.args = SafeAtoms(h="203.0.113.9", s="200",
                            r="GET /calendrier/Zq3-secret_token_value_1234.ics HTTP/1.1",
                            U="/calendrier/Zq3-secret_token_value_1234.ics")
    assert any(isinstance(f, _HideFeedTokens)
               for f in logging.getLogger("gunicorn.access").filters)
    _HideFeedTokens().filter(record)
    line = record.getMessage()
    assert "secret_token" not in line
    assert line == '203.0.113.9 "GET /calendrier/***.ics HTTP/1.1" 200 /calendrier/***.ics -'
