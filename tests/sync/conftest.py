"""Real CalDAV servers for the sync tests: Radicale and Xandikos, started once per session
on free localhost ports in temporary folders. Every test gets a calendar of its own."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest

from agenda.extensions import db
from agenda.sync import crypto
from agenda.sync.adapter import CaldavAdapter, new_event_href
from agenda.sync.demo_server import LocalServer, start_radicale, start_xandikos
from agenda.sync.models import CalendarAccount

RADICALE_USER, RADICALE_PASSWORD = "docteur", "mot-de-passe-app"
_seq = itertools.count(1)


@pytest.fixture(scope="session")
def radicale_server(tmp_path_factory):
    server = start_radicale(tmp_path_factory.mktemp("radicale"),
                            users={RADICALE_USER: RADICALE_PASSWORD})
    yield server
    server.stop()


@pytest.fixture(scope="session")
def xandikos_server(tmp_path_factory):
    server = start_xandikos(tmp_path_factory.mktemp("xandikos"))
    yield server
    server.stop()


@dataclass
class Dav:
    """One CalDAV account on a running server, with helpers to play the doctor's app."""

    server: LocalServer
    username: str
    password: str

    @property
    def url(self) -> str:
        return self.server.url

    def adapter(self) -> CaldavAdapter:
        return CaldavAdapter(self.url, self.username, self.password,
                             allowed_hosts="127.0.0.1")

    def new_calendar(self, name: str | None = None) -> str:
        return self.adapter().ensure_calendar(name or f"snp-{next(_seq)}-{uuid.uuid4().hex[:6]}")

    def put(self, calendar_url: str, uid: str, ics: str) -> str:
        """Create or replace the event (as the doctor's app would); returns its href."""
        href = new_event_href(calendar_url, uid)
        adapter = self.adapter()
        current = adapter.get(href)
        adapter.put(href, ics, etag=current.etag if current else None)
        return href

    def get(self, href: str):
        return self.adapter().get(href)

    def delete(self, href: str) -> None:
        self.adapter()._http("DELETE", href)


def dav_for(server: LocalServer) -> Dav:
    if server.kind == "radicale":
        return Dav(server, RADICALE_USER, RADICALE_PASSWORD)
    return Dav(server, "user", "")


@pytest.fixture(params=["radicale", "xandikos"])
def dav(request) -> Dav:
    return dav_for(request.getfixturevalue(f"{request.param}_server"))


@pytest.fixture()
def radicale_dav(radicale_server) -> Dav:
    return dav_for(radicale_server)


def _fmt(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def vevent(uid: str, start: datetime | None = None, end: datetime | None = None,
           summary: str = "SNP", extra: str = "", raw: str | None = None) -> str:
    """A one-event calendar object (UTC times unless ``raw`` gives the event lines)."""
    lines = raw if raw is not None else (
        f"DTSTART:{_fmt(start)}\r\nDTEND:{_fmt(end)}\r\nSUMMARY:{summary}\r\n")
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Tests//Agenda SNP//FR\r\n"
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T000000Z\r\n{lines}{extra}"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")


def paris(day: date, hh: int, mm: int = 0) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(day.year, day.month, day.day, hh, mm,
                    tzinfo=ZoneInfo("Europe/Paris")).astimezone(UTC)


@pytest.fixture()
def connect():
    """``connect(doctor, dav)`` -> (account, calendar_url): the doctor's SNP calendar."""

    def _connect(doctor, dav: Dav, calendar_url: str | None = None):
        calendar_url = calendar_url or dav.new_calendar()
        account = CalendarAccount(doctor_id=doctor.id, url=dav.url, username=dav.username,
                                  password_encrypted=crypto.encrypt(dav.password or "-"),
                                  calendar_url=calendar_url, calendar_name="SNP",
                                  busy_calendar_urls=[], etags={}, state="pending")
        db.session.add(account)
        db.session.commit()
        return account, calendar_url

    return _connect


@pytest.fixture()
def booker(make_user):
    user, _ = make_user("secretary")
    return user


@pytest.fixture()
def book(booker, communes, cpts):
    """``book(slot)`` -> a Booking through the booking services (patient data included).

    The sync tests book slots a week or two ahead: their CPTS's charter opens bookings
    three weeks ahead (a booking outside the charter's horizon is refused)."""
    from agenda.booking.services.bookings import BookingInput, book as book_service
    from agenda.booking.services.patients import PatientData
    from agenda.slots.services import charter_for

    charter_for(cpts.id).horizon_hours = 24 * 21
    db.session.commit()

    def _book(slot, last_name: str = "Dupontel", phone: str = "06 12 34 56 78"):
        return book_service(booker, BookingInput(
            slot_id=slot.id, patient=PatientData(last_name=last_name, first_name="Gisèle",
                                                 commune_insee="44036",
                                                 birth_date=date(1961, 4, 2), phone=phone),
            note="douleur thoracique atypique",
            # The same patient booked again and again: said once, as a booker would.
            duplicate_reason="plusieurs consultations du même patient (test)"))

    return _book
