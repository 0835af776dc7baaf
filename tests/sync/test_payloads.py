"""Fifty malformed or odd calendar objects: each is imported, or skipped with a logged
reason naming it; the good events around them are imported; nothing crashes. Plus
property-based tests of the iCalendar mapping."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from agenda.extensions import db
from agenda.slots.models import Slot
from agenda.sync import ical
from agenda.sync.adapter import RemoteObject
from agenda.sync.inbound import apply_changes
from agenda.sync.models import CalendarAccount, SyncLogEntry
from tests.sync.conftest import vevent

HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Odd//FR\r\n"
TAIL = "END:VCALENDAR\r\n"


def ev(uid: str, body: str, stamp: bool = True) -> str:
    return (f"BEGIN:VEVENT\r\nUID:{uid}\r\n" + ("DTSTAMP:20261101T000000Z\r\n" if stamp else "")
            + body + "END:VEVENT\r\n")


def times(day: int, hh: int, mm: int = 0, minutes: int = 20) -> str:
    start = datetime(2026, 12, day, hh, mm, tzinfo=UTC)
    end = start + timedelta(minutes=minutes)
    return f"DTSTART:{start:%Y%m%dT%H%M%SZ}\r\nDTEND:{end:%Y%m%dT%H%M%SZ}\r\n"


def odd_payloads() -> list[tuple[str, str]]:
    """(name used to find the log line or the slot, iCalendar text)."""
    big = "x" * (1024 * 1024)
    folded_big = "DESCRIPTION:" + "\r\n ".join(big[i:i + 70] for i in range(0, len(big), 70))
    p: list[tuple[str, str]] = [
        ("odd-no-dtend", HEAD + ev("odd-no-dtend", "DTSTART:20261202T090000Z\r\nSUMMARY:SNP\r\n")
         + TAIL),
        ("odd-duration", HEAD + ev("odd-duration", "DTSTART:20261202T091000Z\r\nDURATION:PT20M\r\n"
                                   "SUMMARY:SNP\r\n") + TAIL),
        ("odd-unknown-tz", HEAD + ev("odd-unknown-tz", "DTSTART;TZID=Mars/Olympus:20261202T110000"
                                     "\r\nDTEND;TZID=Mars/Olympus:20261202T112000\r\n") + TAIL),
        ("odd-dup-same", HEAD + ev("odd-dup-same", times(3, 8)) + ev("odd-dup-same", times(3, 9))
         + TAIL),
        ("odd-1mb", HEAD + ev("odd-1mb", times(3, 10) + folded_big + "\r\n") + TAIL),
        ("odd-broken-fold", HEAD + "BEGIN:VEVENT\r\nUID:odd-broken-fold\r\n"
         "DTSTAMP:20261101T000000Z\r\n" + times(3, 11) +
         "DESCRIPTION:une ligne coupée\r\nsans espace de continuation\r\nEND:VEVENT\r\n" + TAIL),
        ("odd-end-before", HEAD + ev("odd-end-before", "DTSTART:20261203T130000Z\r\n"
                                     "DTEND:20261203T120000Z\r\n") + TAIL),
        ("odd-zero", HEAD + ev("odd-zero", "DTSTART:20261203T130000Z\r\n"
                               "DTEND:20261203T130000Z\r\n") + TAIL),
        ("odd-all-day", HEAD + ev("odd-all-day", "DTSTART;VALUE=DATE:20261204\r\n"
                                  "DTEND;VALUE=DATE:20261205\r\n") + TAIL),
        ("odd-two-days", HEAD + ev("odd-two-days", "DTSTART:20261204T080000Z\r\n"
                                   "DTEND:20261206T080000Z\r\n") + TAIL),
        ("odd-garbage.ics", "ceci n'est pas un calendrier\r\n"),
        ("odd-empty.ics", ""),
        ("odd-no-uid.ics", HEAD + "BEGIN:VEVENT\r\nDTSTAMP:20261101T000000Z\r\n" + times(4, 9)
         + "END:VEVENT\r\n" + TAIL),
        ("odd-todo.ics", HEAD + "BEGIN:VTODO\r\nUID:todo-1\r\nSUMMARY:courses\r\nEND:VTODO\r\n"
         + TAIL),
        ("odd-bad-date", HEAD + ev("odd-bad-date", "DTSTART:2026-12-04 10:00\r\n"
                                   "DTEND:20261204T102000Z\r\n") + TAIL),
        ("odd-bad-rrule", HEAD + ev("odd-bad-rrule", times(4, 10) + "RRULE:FREQ=SOMETIMES\r\n")
         + TAIL),
        ("odd-minutely", HEAD + ev("odd-minutely", "DTSTART:20261204T110000Z\r\n"
                                   "DTEND:20261204T110500Z\r\nRRULE:FREQ=MINUTELY\r\n") + TAIL),
        ("odd-cancelled", HEAD + ev("odd-cancelled", times(4, 12) + "STATUS:CANCELLED\r\n")
         + TAIL),
        ("odd-latin1.ics", (HEAD + ev("odd-latin1", times(4, 13) + "SUMMARY:SNP créneau\r\n")
                            + TAIL).encode("latin-1").decode("utf-8", errors="replace")),
        ("odd-" + "u" * 296, HEAD + ev("odd-" + "u" * 296, times(4, 14)) + TAIL),
        ("odd-emoji", HEAD + ev("odd-emoji", times(4, 15) + "SUMMARY:SNP 🩺\r\n") + TAIL),
        ("odd-sunday", HEAD + ev("odd-sunday", times(6, 10)) + TAIL),
        ("odd-night", HEAD + ev("odd-night", times(7, 2)) + TAIL),
        ("odd-four-hours", HEAD + ev("odd-four-hours", times(7, 8, minutes=240)) + TAIL),
        ("odd-overlap-a", HEAD + ev("odd-overlap-a", times(8, 9)) + TAIL),
        ("odd-overlap-b", HEAD + ev("odd-overlap-b", times(8, 9, 10)) + TAIL),
        ("odd-missing-end-cal", HEAD + ev("odd-missing-end-cal", times(8, 10))),
        ("odd-lowercase", HEAD.lower() + "begin:vevent\r\nuid:odd-lowercase\r\n"
         "dtstamp:20261101T000000Z\r\ndtstart:20261208T110000Z\r\ndtend:20261208T112000Z\r\n"
         "end:vevent\r\n" + TAIL.lower()),
        ("odd-lf-only", (HEAD + ev("odd-lf-only", times(8, 12)) + TAIL).replace("\r\n", "\n")),
        ("odd-custom-tz", HEAD + "BEGIN:VTIMEZONE\r\nTZID:Mon fuseau\r\nBEGIN:STANDARD\r\n"
         "DTSTART:19700101T000000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\n"
         "END:VTIMEZONE\r\n" + ev("odd-custom-tz", "DTSTART;TZID=Mon fuseau:20261208T140000\r\n"
                                  "DTEND;TZID=Mon fuseau:20261208T142000\r\n") + TAIL),
        ("odd-rdate", HEAD + ev("odd-rdate", times(9, 9) + "RDATE:20261210T090000Z\r\n") + TAIL),
        ("odd-exdate-all", HEAD + ev("odd-exdate-all", times(9, 10) + "RRULE:FREQ=DAILY;COUNT=1"
                                     "\r\nEXDATE:20261209T100000Z\r\n") + TAIL),
        ("odd-orphan-override", HEAD + ev("odd-orphan-override", times(9, 11) +
                                          "RECURRENCE-ID:20261209T080000Z\r\n") + TAIL),
        ("odd-negative-duration", HEAD + ev("odd-negative-duration", "DTSTART:20261209T120000Z"
                                            "\r\nDURATION:-PT20M\r\n") + TAIL),
        ("odd-bad-duration", HEAD + ev("odd-bad-duration", "DTSTART:20261209T130000Z\r\n"
                                       "DURATION:PT\r\n") + TAIL),
        ("odd-huge-capacity", HEAD + ev("odd-huge-capacity", times(9, 14) +
                                        "SUMMARY:SNP flottant x99\r\n") + TAIL),
        ("odd-two-uids-a", HEAD + ev("odd-two-uids-a", times(10, 8)) + ev("odd-two-uids-b",
                                                                           times(10, 9)) + TAIL),
        ("odd-attendees", HEAD + ev("odd-attendees", times(10, 10) +
                                    "ORGANIZER:mailto:doc@example.org\r\n"
                                    "ATTENDEE;CN=Quelqu'un:mailto:x@example.org\r\n") + TAIL),
        ("odd-no-summary", HEAD + ev("odd-no-summary", times(10, 11)) + TAIL),
        ("odd-past", HEAD + ev("odd-past", "DTSTART:20261120T090000Z\r\n"
                               "DTEND:20261120T092000Z\r\n") + TAIL),
        ("odd-mixed-types", HEAD + ev("odd-mixed-types", "DTSTART:20261210T120000Z\r\n"
                                      "DTEND;VALUE=DATE:20261211\r\n") + TAIL),
        ("odd-no-dtstart", HEAD + ev("odd-no-dtstart", "DTEND:20261210T130000Z\r\n") + TAIL),
        ("odd-no-dtstamp", HEAD + ev("odd-no-dtstamp", times(10, 14), stamp=False) + TAIL),
        ("odd-two-calendars", HEAD + ev("odd-two-calendars", times(10, 15)) + TAIL + HEAD +
         ev("odd-two-calendars-x", times(10, 16)) + TAIL),
        ("odd-xwr-bad", HEAD + "X-WR-TIMEZONE:Nulle/Part\r\n" + ev(
            "odd-xwr-bad", "DTSTART:20261211T090000\r\nDTEND:20261211T092000\r\n") + TAIL),
        ("odd-html-summary", HEAD + ev("odd-html-summary", times(11, 10) +
                                       "SUMMARY:<script>alert(1)</script>\r\n") + TAIL),
        ("odd-null-byte", HEAD + ev("odd-null-byte", times(11, 11) + "SUMMARY:SNP\x00\r\n")
         + TAIL),
        ("odd-transparent", HEAD + ev("odd-transparent", times(11, 12) + "TRANSP:TRANSPARENT\r\n")
         + TAIL),
        ("odd-duplicate-other-object", HEAD + ev("good-1", times(11, 14)) + TAIL),
        ("odd-valarm", HEAD + "BEGIN:VEVENT\r\nUID:odd-valarm\r\nDTSTAMP:20261101T000000Z\r\n"
         + times(11, 15) + "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT10M\r\nEND:VALARM\r\n"
         "END:VEVENT\r\n" + TAIL),
    ]
    return p


GOOD = [("good-1", times(2, 15)), ("good-2", times(3, 15)), ("good-3", times(7, 15))]


def test_fifty_odd_payloads_are_imported_or_logged(app, frozen, make_doctor):
    payloads = odd_payloads()
    assert len(payloads) == 50
    doctor = make_doctor()
    account = CalendarAccount(doctor_id=doctor.id, calendar_url="http://cal.invalid/snp/",
                              url="http://cal.invalid/", username="x", etags={},
                              busy_calendar_urls=[])
    db.session.add(account)
    db.session.commit()
    objects = [RemoteObject(f"http://cal.invalid/snp/{uid}.ics", '"1"', vevent(uid, raw=body))
               for uid, body in GOOD]
    objects += [RemoteObject(f"http://cal.invalid/snp/{name[:60].removesuffix('.ics')}.ics",
                             f'"{i}"', text) for i, (name, text) in enumerate(payloads)]
    apply_changes(account, objects, set())
    db.session.commit()

    slots = {s.caldav_uid: s for s in db.session.scalars(select(Slot))}
    logs = db.session.scalars(select(SyncLogEntry)).all()
    for uid, _body in GOOD:
        assert uid in slots and slots[uid].status == "open", uid
    unexplained = []
    for name, _text in payloads:
        key = name[:60].removesuffix(".ics")
        if any(uid and uid.startswith(key) for uid in slots):
            continue
        if any(key in (e.message + " " + (e.event_uid or "")) for e in logs):
            continue
        if name in ("odd-past", "odd-cancelled", "odd-exdate-all"):
            continue  # nothing to publish, by design
        unexplained.append(name)
    assert unexplained == [], unexplained
    # A sample of the expected outcomes.
    assert "odd-duration" in slots and "odd-1mb" in slots and "odd-unknown-tz" in slots
    assert slots["odd-unknown-tz"].start == datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    assert "odd-no-dtend" not in slots and "odd-end-before" not in slots
    assert any("odd-no-dtend" in e.message and "sans fin" in e.message for e in logs)
    assert any(e.event_uid == "odd-1mb" for e in logs) or "odd-1mb" in slots
    minutely = [u for u in slots if u == "odd-minutely"]
    assert len(minutely) <= 1
    # The UID already used by another object is refused, not duplicated.
    assert sum(1 for s in db.session.scalars(select(Slot)) if s.caldav_uid == "good-1") == 1
    # No log line carries a description.
    assert all("xxxxxxxxxx" not in e.message for e in logs)


# --- property-based -------------------------------------------------------------------------

H_START = datetime(2026, 12, 1, tzinfo=UTC)
H_END = datetime(2027, 2, 1, tzinfo=UTC)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_any_text_never_raises(text):
    parsed = ical.parse_object(HEAD + text + TAIL, H_START, H_END)
    assert isinstance(parsed, ical.ParsedObject)
    parsed = ical.parse_object(text, H_START, H_END)
    assert isinstance(parsed, ical.ParsedObject)


@settings(max_examples=150, deadline=None)
@given(day=st.dates(min_value=date(2026, 12, 2), max_value=date(2027, 1, 30)),
       minute=st.integers(min_value=0, max_value=23 * 60), length=st.integers(1, 600),
       tzname=st.sampled_from(["Europe/Paris", "UTC", "America/Martinique", "Indian/Reunion"]))
def test_times_are_kept_exactly(day, minute, length, tzname):
    from zoneinfo import ZoneInfo

    start = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tzname)) + \
        timedelta(minutes=minute)
    end = start + timedelta(minutes=length)
    body = (f"DTSTART;TZID={tzname}:{start:%Y%m%dT%H%M%S}\r\n"
            f"DTEND;TZID={tzname}:{end:%Y%m%dT%H%M%S}\r\n")
    parsed = ical.parse_object(HEAD + ev("p-1", body) + TAIL, H_START, H_END)
    [spec] = parsed.specs
    assert spec.start == start.astimezone(UTC) and spec.end == end.astimezone(UTC)
    assert spec.end - spec.start == end.astimezone(UTC) - start.astimezone(UTC)


@given(st.sampled_from(["flottant", "FLOTTANT", "Flottant", "flóttant", "créneau flottant x3",
                        "SNP flottant ×2", "Flottant (x4)", "flottant 2x"]))
def test_floating_titles(title):
    kind, capacity, _mode = ical.classify_title(title)
    assert kind == "floating"
    expected = {"créneau flottant x3": 3, "SNP flottant ×2": 2, "Flottant (x4)": 4,
                "flottant 2x": 2}.get(title, 1)
    assert capacity == expected


def test_fixed_titles_and_modes():
    assert ical.classify_title("SNP") == ("fixed", 1, "AMB")
    assert ical.classify_title("SNP visio x2") == ("fixed", 1, "VR")
    assert ical.classify_title("SNP visite à domicile")[2] == "HH"
