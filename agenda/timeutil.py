"""Time helpers: storage is UTC, people see Europe/Paris."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

DEFAULT_TZ = "Europe/Paris"
_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")


def local_tz() -> ZoneInfo:
    """The timezone people see (``AGENDA_TIMEZONE``, default Europe/Paris)."""
    name = DEFAULT_TZ
    if has_app_context():
        name = current_app.config.get("TIMEZONE", DEFAULT_TZ)
    return ZoneInfo(name)


def to_local(dt: datetime) -> datetime:
    """An aware datetime shown in the local timezone."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime")
    return dt.astimezone(local_tz())


def local_to_utc(day: date, at: time) -> datetime:
    """Wall-clock ``day`` ``at`` in the local timezone, as an aware UTC datetime.

    A wall-clock time that does not exist (the spring-forward hour) is moved forward;
    an ambiguous one (the autumn hour seen twice) takes its first occurrence.
    """
    tz = local_tz()
    naive = datetime.combine(day, at)
    aware = naive.replace(tzinfo=tz, fold=0)
    # Round-trip check catches the non-existent hour of the spring change.
    back = aware.astimezone(UTC).astimezone(tz)
    if back.replace(tzinfo=None) != naive:
        aware = (naive + timedelta(hours=1)).replace(tzinfo=tz)
    return aware.astimezone(UTC)


def iso_week(dt: datetime | date) -> str:
    """ISO week label (``2026-W49``) of a datetime seen in the local timezone."""
    if isinstance(dt, datetime):
        dt = to_local(dt).date()
    year, week, _ = dt.isocalendar()
    return f"{year}-W{week:02d}"


# Years the service deals with: anything outside is bad input (year 1 or 9999 would overflow
# the date arithmetic around it).
MIN_YEAR, MAX_YEAR = 2000, 2100


def parse_service_date(value: str) -> date:
    """An ISO date (``2026-12-01``) of the years ``MIN_YEAR``–``MAX_YEAR``; else ValueError."""
    day = date.fromisoformat(value)
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise ValueError(value)
    return day


def parse_week(label: str) -> date:
    """Monday of the ISO week ``label`` (``2026-W49``); ``ValueError`` when malformed or
    outside the years ``MIN_YEAR``–``MAX_YEAR``."""
    m = _WEEK_RE.match(label or "")
    if not m or not MIN_YEAR <= int(m.group(1)) <= MAX_YEAR:
        raise ValueError(label)
    return date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)


def week_from_arg(value: str) -> str:
    """The ISO week a page argument names: an ISO week (``2026-W49``, the links) or any day
    of it (``2026-12-03``, the week chooser's date picker); ``ValueError`` otherwise."""
    value = (value or "").strip()
    if _WEEK_RE.match(value):
        parse_week(value)
        return value.upper()
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError(value) from None
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise ValueError(value)
    return iso_week(day)


def week_bounds(label: str) -> tuple[datetime, datetime]:
    """UTC bounds [start, end) of the local ISO week ``label``."""
    monday = parse_week(label)
    return local_to_utc(monday, time(0)), local_to_utc(monday + timedelta(days=7), time(0))


def shift_week(label: str, weeks: int) -> str:
    return iso_week(parse_week(label) + timedelta(weeks=weeks))
