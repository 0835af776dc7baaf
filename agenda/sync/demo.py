"""Demo: the demo doctors' SNP calendars on a local Radicale, pre-filled with events for
this week and next, so that a newcomer sees slots arrive through CalDAV and bookings
written back.

The demo step (run by ``flask --app agenda demo``) writes the Radicale users file and the
events into ``instance/radicale`` (Radicale's storage is plain files), and connects the
first demo doctors to it. ``scripts/run-sync.sh`` (or ``make run``) then starts Radicale
and the worker beside the server.
"""

from __future__ import annotations

import os
import secrets
from datetime import date, datetime, time, timedelta
from pathlib import Path

from flask import current_app

from agenda import clock, demo
from agenda.extensions import db
from agenda.sync import crypto
from agenda.sync.models import CalendarAccount

DEMO_PORT = int(os.environ.get("AGENDA_DEMO_RADICALE_PORT", "5232"))
# (weekday 0=Monday, start hh:mm, minutes, title)
PATTERN = [(1, "14:00", 20, "SNP"), (3, "17:40", 20, "SNP"),
           (4, "09:00", 180, "SNP flottant x2"), (2, "12:00", 20, "SNP visio")]


def radicale_folder() -> Path:
    return Path(current_app.instance_path) / "radicale"


def _event(uid: str, start: datetime, end: datetime, title: str) -> str:
    fmt = "%Y%m%dT%H%M%SZ"
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//CPTS//Demo//FR\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:{clock.now():{fmt}}\r\nDTSTART:{start:{fmt}}\r\n"
            f"DTEND:{end:{fmt}}\r\nSUMMARY:{title}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def write_calendars(folder: Path, doctors: list, today: date,
                    empty: frozenset[int] = frozenset()) -> dict[str, str]:
    """Radicale's file storage, filled directly: users file, one "SNP" calendar per
    doctor with events this week and next (none for the doctors whose index is in
    ``empty``). Returns username -> password."""
    from agenda.timeutil import local_to_utc

    users: dict[str, str] = {}
    users_file = folder / "users"
    if users_file.exists():
        users = dict(line.split(":", 1) for line in users_file.read_text().split() if ":" in line)
    monday = today - timedelta(days=today.weekday())
    for i in range(len(doctors)):
        username = f"medecin{i + 1}"
        users.setdefault(username, secrets.token_urlsafe(12))
        cal = folder / "collections" / "collection-root" / username / "snp"
        cal.mkdir(parents=True, exist_ok=True)
        (cal / ".Radicale.props").write_text(
            '{"C:supported-calendar-component-set": "VEVENT", "D:displayname": "SNP", '
            '"tag": "VCALENDAR"}')
        for week in (() if i in empty else (0, 1)):
            for n, (weekday, hhmm, minutes, title) in enumerate(PATTERN):
                day = monday + timedelta(days=7 * week + weekday)
                hh, mm = map(int, hhmm.split(":"))
                start = local_to_utc(day, time(hh, (mm + 20 * (i % 3)) % 60))
                if start <= clock.now():
                    continue
                uid = f"demo-{username}-{week}-{n}@agenda-snp"
                (cal / f"{uid}.ics").write_text(
                    _event(uid, start, start + timedelta(minutes=minutes), title))
    folder.mkdir(parents=True, exist_ok=True)
    users_file.write_text("".join(f"{u}:{p}\n" for u, p in users.items()))
    return users


@demo.step
def demo_calendars(built) -> None:
    if os.environ.get("AGENDA_DEMO_CALDAV", "1") in ("0", "false", "non"):
        return
    folder = radicale_folder()
    doctors = built.doctors[:demo.CALDAV_DOCTORS]
    # The login doctor's calendar is connected but empty: theirs to fill (web or CalDAV).
    users = write_calendars(folder, doctors, clock.now().date(), empty=frozenset({0}))
    url = f"http://127.0.0.1:{DEMO_PORT}/"
    for i, doctor in enumerate(doctors):
        username = f"medecin{i + 1}"
        db.session.add(CalendarAccount(
            doctor_id=doctor.id, url=url, username=username,
            password_encrypted=crypto.encrypt(users[username]),
            calendar_url=f"{url}{username}/snp/", calendar_name="SNP", busy_calendar_urls=[],
            etags={}, state="pending"))
    db.session.flush()
    built.logins.append(("caldav", f"{url} (medecin1…medecin{len(doctors)})",
                         "voir instance/radicale/users"))
