"""What travels for free/busy: the ``free-busy-query`` REPORT (RFC 4791 section 7.10) and
its ``VFREEBUSY`` answer read tolerantly, the busy-only ``calendar-query`` fallback (time
properties only), and interval arithmetic. Nothing here touches the database; see
:mod:`agenda.sync.freebusy`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from agenda.sync.adapter import (NS, AdapterError, CalendarAdapter, CalendarNotFound, _props,
                                 _xml, parse_multistatus)
from agenda.sync.discovery import _XML_HEADERS
from agenda.sync.text import _t

FREE_BUSY_QUERY = "free-busy-query"
CALENDAR_QUERY = "calendar-query"
BUSY_TYPES = {"BUSY", "BUSY-UNAVAILABLE", "BUSY-TENTATIVE"}
_FMT = "%Y%m%dT%H%M%SZ"
_PARIS = ZoneInfo("Europe/Paris")

Interval = tuple[datetime, datetime]


@dataclass
class BusyRead:
    """What one read gave: the busy periods, how, and what could not be read."""

    periods: list[Interval] = field(default_factory=list)
    method: str | None = None
    unreadable: list[str] = field(default_factory=list)  # resource names / bad values


class FreeBusyUnsupported(AdapterError):
    """The server has no free-busy-query REPORT here: the calendar-query fallback."""


# --- intervals -------------------------------------------------------------------------------


def merge(periods: list[Interval]) -> list[Interval]:
    """Sorted, overlapping or touching periods joined."""
    out: list[Interval] = []
    for start, end in sorted(p for p in periods if p[1] > p[0]):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def clip(periods: list[Interval], start: datetime, end: datetime) -> list[Interval]:
    return [(max(s, start), min(e, end)) for s, e in periods if s < end and e > start]


def overlaps(periods: list[Interval], start: datetime, end: datetime) -> bool:
    return any(s < end and e > start for s, e in periods)


# --- reading: free-busy-query ------------------------------------------------------------------


def _utc(value: str) -> datetime:
    value = value.strip()
    if value.endswith("Z"):
        return datetime.strptime(value, _FMT).replace(tzinfo=UTC)
    # RFC 5545 wants UTC; a server giving local times means the calendar's zone.
    return datetime.strptime(value, "%Y%m%dT%H%M%S").replace(tzinfo=_PARIS).astimezone(UTC)


_DURATION = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def _duration(value: str) -> timedelta:
    m = _DURATION.match(value.strip())
    if not m or value.strip() in ("P", "PT"):
        raise ValueError(value)
    weeks, days, hours, minutes, seconds = (int(g or 0) for g in m.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


def _unfold(text: str) -> list[str]:
    return re.sub(r"\r?\n[ \t]", "", text).splitlines()


def parse_freebusy(text: str) -> BusyRead:
    """The busy periods of a free-busy-query answer (``FREEBUSY`` lines of ``VFREEBUSY``);
    a value that does not read is listed in ``unreadable``, the others are kept."""
    if "BEGIN:VCALENDAR" not in text.upper():
        raise FreeBusyUnsupported(_t("Réponse free/busy illisible."))
    out = BusyRead(method=FREE_BUSY_QUERY)
    inside = False
    for line in _unfold(text):
        upper = line.upper()
        if upper.startswith("BEGIN:VFREEBUSY"):
            inside = True
        elif upper.startswith("END:VFREEBUSY"):
            inside = False
        elif inside and upper.startswith("FREEBUSY") and ":" in line:
            head, values = line.split(":", 1)
            params = dict(p.split("=", 1) for p in head.split(";")[1:] if "=" in p)
            fbtype = params.get("FBTYPE", params.get("fbtype", "BUSY")).strip('"').upper()
            if fbtype not in BUSY_TYPES and not fbtype.startswith("X-"):
                continue  # FREE
            for value in values.split(","):
                try:
                    first, second = value.split("/", 1)
                    start = _utc(first)
                    end = (start + _duration(second) if second.strip().upper().startswith("P")
                           else _utc(second))
                    if end <= start:
                        raise ValueError(value)
                    out.periods.append((start, end))
                except ValueError:
                    out.unreadable.append(value.strip()[:60])
    return out


def free_busy_query(adapter: CalendarAdapter, calendar_url: str, start: datetime,
                    end: datetime) -> BusyRead:
    """RFC 4791 section 7.10: the calendar's busy time, as the server computes it."""
    body = _xml('<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">'
                f'<C:time-range start="{start.strftime(_FMT)}" end="{end.strftime(_FMT)}"/>'
                "</C:free-busy-query>")
    resp = adapter._http("REPORT", calendar_url, body, {"Depth": "1", **_XML_HEADERS})
    if resp.status_code == 404:
        raise CalendarNotFound(_t("Le calendrier principal n'existe plus sur le serveur."))
    if resp.status_code >= 300 or resp.status_code == 207:
        # 403 supported-report, 405, 501, a multistatus: not offered here.
        raise FreeBusyUnsupported(_t("Pas de free-busy-query (code %(code)s).",
                                     code=resp.status_code))
    return parse_freebusy(resp.content.decode("utf-8", "replace"))


# --- reading: the calendar-query fallback ------------------------------------------------------

_PARTIAL = (
    '<C:calendar-data><C:comp name="VCALENDAR"><C:comp name="VEVENT">'
    + "".join(f'<C:prop name="{p}"/>' for p in (
        "UID", "DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID",
        "TRANSP", "STATUS"))
    + '</C:comp><C:comp name="VTIMEZONE"/></C:comp></C:calendar-data>')


def object_busy(text: str, start: datetime, end: datetime) -> list[Interval]:
    """Busy intervals of one calendar object (opaque, not cancelled events) over
    ``[start, end)``; only the time properties are read. Raises on unreadable data."""
    import icalendar
    import recurring_ical_events

    cal = icalendar.Calendar.from_ical(text)
    out = []
    for inst in recurring_ical_events.of(cal, skip_bad_series=False).between(start, end):
        if str(inst.get("TRANSP") or "").upper() == "TRANSPARENT":
            continue
        if str(inst.get("STATUS") or "").upper() == "CANCELLED":
            continue
        s = inst.decoded("DTSTART")
        if not isinstance(s, datetime):  # an all-day event: a day off is not a busy hour
            continue
        if inst.get("DTEND") is not None:
            e = inst.decoded("DTEND")
        elif inst.get("DURATION") is not None:
            e = s + inst.decoded("DURATION")
        else:
            continue
        s = s.replace(tzinfo=_PARIS) if s.tzinfo is None else s
        e = e.replace(tzinfo=_PARIS) if e.tzinfo is None else e
        out.append((s.astimezone(UTC), e.astimezone(UTC)))
    return clip(out, start, end)


def resource_name(href: str) -> str:
    """The last part of a resource's path (what names an event or a calendar here)."""
    return unquote(urlsplit(href).path.rstrip("/").rsplit("/", 1)[-1])[:100]


def calendar_query(adapter: CalendarAdapter, calendar_url: str, start: datetime,
                   end: datetime) -> BusyRead:
    """The events of ``[start, end)`` with their time properties only (the whole objects
    when the server refuses partial data), reduced to busy intervals."""

    def query(data_prop: str):
        return adapter._http("REPORT", calendar_url, _xml(
            '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            f"<D:prop>{data_prop}</D:prop>"
            '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
            f'<C:time-range start="{start.strftime(_FMT)}" end="{end.strftime(_FMT)}"/>'
            "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"),
            {"Depth": "1", **_XML_HEADERS})

    def answer(resp):
        parsed = parse_multistatus(resp.content)
        rows = []
        for r in parsed.responses:
            href = r.find("D:href", NS)
            rows.append((href.text.strip() if href is not None and href.text else "?",
                         _props(r)[1]))
        return rows, parsed.unreadable

    resp = query(_PARTIAL)
    rows: list = []
    bad: list[str] = []
    if resp.status_code < 400:
        rows, bad = answer(resp)
    if resp.status_code >= 400 or any(data is None for _href, data in rows):
        resp = query("<C:calendar-data/>")  # Xandikos: 404 on partial data
        if resp.status_code == 404:
            raise CalendarNotFound(_t("Le calendrier principal n'existe plus sur le serveur."))
        if resp.status_code >= 400:
            raise AdapterError(_t("Lecture des disponibilités refusée (code %(code)s).",
                                  code=resp.status_code))
        rows, bad = answer(resp)
    out = BusyRead(method=CALENDAR_QUERY, unreadable=[resource_name(h) for h in bad])
    for href, data in rows:
        try:
            out.periods.extend(object_busy(data or "", start, end))
        except Exception:  # one bad event: named, the others read
            out.unreadable.append(resource_name(href))
    return out
