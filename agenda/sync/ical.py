"""iCalendar -> slot specifications (pure functions, no database, no network).

The convention, documented in French in ``docs/caldav.md`` and on the settings page:

- every event of the SNP calendar is a **fixed slot** at its time;
- an event whose title contains "flottant" (any case, with or without accent) is a
  **floating window**, its capacity read from "x2" / "×2" in the title (default 1);
- "visio"/"téléconsultation" in the title gives a teleconsultation, "domicile"/"visite"
  a home visit; otherwise the consultation is at the practice;
- recurring events (RRULE, RDATE, EXDATE, overridden instances) are expanded over the
  horizon; cancelled instances (STATUS:CANCELLED) are absent;
- times: TZID with VTIMEZONE, UTC, floating times (X-WR-TIMEZONE, else Europe/Paris);
- all-day events are ignored with a note to the doctor.

Every event skipped or corrected gives a :class:`Note` naming the event (UID and time),
never its description.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agenda.sync.text import _t

DEFAULT_TZ = "Europe/Paris"
MAX_SLOT_HOURS = 24
MAX_INSTANCES = 400  # occurrences of one recurring event over the horizon
# Marks an event this service created (an accepted floating request): never read back
# as a slot.
CREATED_MARK = "X-AGENDA-SNP-CREATED"
BOOKING_MARK = "X-AGENDA-SNP-BOOKING"
# The doctor's own title, kept when the write-back replaces SUMMARY ("SNP – réservé").
SUMMARY_MARK = "X-AGENDA-SNP-SUMMARY"

_CAPACITY_RE = re.compile(r"(?:^|[\s(\[,;–-])[x×*]\s*(\d{1,2})(?!\d)", re.IGNORECASE)
_CAPACITY_RE2 = re.compile(r"(\d{1,2})\s*[x×](?:$|[\s)\],;])", re.IGNORECASE)
# A capacity marker the title seems to give but that does not read as 1 to 20.
_CAPACITY_TRIED = re.compile(r"(?:^|[\s(\[,;–-])(?:[×*]\s*(?!\d)|[x×*]\s*\d{3,}|x\s*\d{1,2}\d)"
                             r"|\ufffd", re.IGNORECASE)
_FOLD_BYTES = re.compile(rb"\r?\n[ \t]")


def decode_ics(raw: bytes) -> str:
    """iCalendar bytes to text: lines unfolded on the bytes first (a line folded inside a
    multi-byte UTF-8 character, as naive exporters do, is whole again), then decoded."""
    return _FOLD_BYTES.sub(b"", raw).decode("utf-8", errors="replace")


@dataclass(frozen=True)
class SlotSpec:
    """One slot an event (or one instance of a recurring event) stands for."""

    uid: str
    recurrence_id: str | None  # original start of the instance (UTC, basic format)
    start: datetime  # aware UTC
    end: datetime  # aware UTC
    kind: str  # "fixed" | "floating"
    capacity: int
    mode: str  # AMB / VR / HH
    # The event's LOCATION (only to choose among the doctor's places; never stored).
    location: str = ""

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.uid, self.recurrence_id)


@dataclass(frozen=True)
class Note:
    uid: str | None
    level: str  # "info" / "warning" / "error"
    message: str  # French, names the event, never its description


@dataclass
class ParsedObject:
    uids: list[str] = field(default_factory=list)
    specs: list[SlotSpec] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    recurring: bool = False
    latest_end: datetime | None = None  # of non-recurring events (re-expansion)
    capacity_noted: set[str] = field(default_factory=set)  # UIDs told about their capacity


# --- title convention ------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Lower case, accents removed (the "×" sign kept)."""
    decomposed = unicodedata.normalize("NFKD", text.replace("×", "\0"))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.replace("\0", "×").casefold()


def classify_title(title: str | None) -> tuple[str, int, str]:
    """``(kind, capacity, mode)`` read from an event title."""
    t = normalise(title or "")
    kind = "floating" if "flottant" in t else "fixed"
    capacity = 1
    if kind == "floating":
        m = _CAPACITY_RE.search(t) or _CAPACITY_RE2.search(t)
        if m:
            capacity = max(1, min(int(m.group(1)), 20))
    mode = "AMB"
    if "visio" in t or "teleconsult" in t or "tele-consult" in t:
        mode = "VR"
    elif "domicile" in t or "visite" in t:
        mode = "HH"
    return kind, capacity, mode


_MOJIBAKE = re.compile("[\u00c2-\u00f4][\u0080-\u00bf]")


def repair_title(title: str) -> str:
    """A title whose UTF-8 bytes were read as Latin-1 (what Radicale stores of a line
    folded inside a multi-byte character: "×" becomes "Ã\x97") made whole again."""
    if not _MOJIBAKE.search(title):
        return title
    try:
        return title.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return title


def capacity_unreadable(title: str | None) -> bool:
    """A floating window's title whose capacity does not parse (a damaged character, a
    sign without a number, a number out of 1..20): told to the doctor, never silent."""
    t = normalise(title or "")
    if "flottant" not in t:
        return False
    m = _CAPACITY_RE.search(t) or _CAPACITY_RE2.search(t)
    if m and 1 <= int(m.group(1)) <= 20 and "\ufffd" not in t:
        return False
    return bool(_CAPACITY_TRIED.search(t)) or bool(m)


# --- parsing ---------------------------------------------------------------------------------


def _tz(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(str(name).strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _label(uid: str | None, when: datetime | date | None = None) -> str:
    uid_part = f"« {uid[:80]} »" if uid else _t("sans UID")
    if isinstance(when, datetime):
        local = when.astimezone(ZoneInfo(DEFAULT_TZ)) if when.tzinfo else when
        return _t("%(uid)s du %(when)s", uid=uid_part, when=f"{local:%d/%m/%Y %H:%M}")
    if isinstance(when, date):
        return _t("%(uid)s du %(when)s", uid=uid_part, when=f"{when:%d/%m/%Y}")
    return uid_part


def _aware(value: datetime, default_tz: ZoneInfo) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=default_tz)
    return value.astimezone(UTC)


def _recurrence_key(value) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def parse_object(text: str | bytes, horizon_start: datetime, horizon_end: datetime,
                 *, default_tz: str = DEFAULT_TZ) -> ParsedObject:
    """Slot specs of one calendar object (one .ics resource) over ``[start, end)``.

    Never raises on bad input: problems become notes.
    """
    import icalendar
    import recurring_ical_events

    out = ParsedObject()
    if isinstance(text, bytes):
        text = decode_ics(text)
    try:
        cal = icalendar.Calendar.from_ical(text)
    except Exception as exc:  # icalendar raises ValueError, IndexError, KeyError…
        uid = _first_uid(text)
        out.notes.append(Note(uid, "error", _t(
            "Événement %(event)s illisible (iCalendar invalide : %(why)s) : ignoré.",
            event=_label(uid), why=_short(exc))))
        if uid:
            out.uids.append(uid)
        return out
    if isinstance(cal, list):  # several VCALENDARs in one resource: keep the first
        cal = cal[0] if cal else icalendar.Calendar()
    tz = _tz(cal.get("X-WR-TIMEZONE")) or ZoneInfo(default_tz)

    events = [c for c in cal.walk("VEVENT")]
    if not events:
        out.notes.append(Note(None, "info", _t("Objet sans événement (tâche, note…) : "
                                               "ignoré.")))
    masters: dict[str, object] = {}
    valid_components = []
    for ev in events:
        uid = _uid(ev)
        if not uid:
            out.notes.append(Note(None, "error", _t("Événement %(event)s sans UID : ignoré.",
                                                    event=_label(None, _raw_start(ev)))))
            continue
        if ev.get(CREATED_MARK):
            if uid not in out.uids:
                out.uids.append(uid)
            continue
        if uid not in out.uids:
            out.uids.append(uid)
        problem = _check_component(ev, uid)
        if problem:
            out.notes.append(problem)
            continue
        if ev.get("RECURRENCE-ID") is None:
            if uid in masters:
                label = _label(uid, _raw_start(ev))
                out.notes.append(Note(uid, "warning", _t(
                    "UID en double %(event)s dans le même objet : seul le premier est lu.",
                    event=label)))
                continue
            masters[uid] = ev
        valid_components.append(ev)

    for uid in list(out.uids):
        comps = [c for c in valid_components if _uid(c) == uid]
        if not comps:
            continue
        sub = icalendar.Calendar()
        for key in ("VERSION", "PRODID"):
            if cal.get(key) is not None:
                sub.add(key, cal.get(key))
        for vtz in cal.walk("VTIMEZONE"):
            sub.add_component(vtz)
        for c in comps:
            sub.add_component(c)
        master = masters.get(uid)
        recurring = (master is not None and (master.get("RRULE") is not None
                                             or master.get("RDATE") is not None)) \
            or any(c.get("RECURRENCE-ID") is not None for c in comps)
        out.recurring = out.recurring or recurring
        try:
            _notes_for_timezones(comps, uid, out)
            instances = _instances(recurring_ical_events.of(sub, skip_bad_series=True),
                                   horizon_start, horizon_end, tz)
            if len(instances) > MAX_INSTANCES:
                instances = instances[:MAX_INSTANCES]
                out.notes.append(Note(uid, "warning", _t(
                    "Événement %(event)s : plus de %(n)d occurrences sur l'horizon, seules "
                    "les premières sont lues.", event=_label(uid), n=MAX_INSTANCES)))
        except Exception as exc:  # bad RRULE, bad dates…
            out.notes.append(Note(uid, "error", _t(
                "Événement %(event)s : récurrence ou dates illisibles (%(why)s) : ignoré.",
                event=_label(uid), why=_short(exc))))
            continue
        all_day_noted = False
        for inst in instances:
            spec = _spec(inst, uid, recurring, tz, out, all_day_noted)
            if spec is None:
                if _is_all_day(inst):
                    all_day_noted = True
                continue
            out.specs.append(spec)
        if not recurring:
            for c in comps:
                try:
                    end = _aware(_component_end(c), tz)
                except Exception:
                    continue
                if out.latest_end is None or end > out.latest_end:
                    out.latest_end = end
    return out


def _instances(query, start: datetime, end: datetime, tz: ZoneInfo) -> list:
    """Occurrences starting before ``end`` (at most MAX_INSTANCES + 1: a minutely RRULE
    cannot exhaust the worker)."""
    out = []
    for inst in query.after(start):
        try:
            value = inst.decoded("DTSTART")
        except Exception:
            continue
        when = _aware(value, tz) if isinstance(value, datetime) else \
            datetime(value.year, value.month, value.day, tzinfo=tz).astimezone(UTC)
        if when >= end:
            break
        out.append(inst)
        if len(out) > MAX_INSTANCES:
            break
    return out


def _uid(component) -> str:
    """The UID, as stored (255 characters at most)."""
    return str(component.get("UID") or "").strip()[:255]


def _short(exc: Exception) -> str:
    text = str(exc).replace("\n", " ")
    return (text[:120] + "…") if len(text) > 120 else (text or type(exc).__name__)


def _first_uid(text: str) -> str | None:
    m = re.search(r"^UID:(.+)$", text or "", re.MULTILINE)
    return m.group(1).strip()[:255] if m else None


def _raw_start(ev):
    try:
        return ev.decoded("DTSTART")
    except Exception:
        return None


def _is_all_day(ev) -> bool:
    try:
        value = ev.decoded("DTSTART")
    except Exception:
        return False
    return isinstance(value, date) and not isinstance(value, datetime)


def _component_end(ev) -> datetime:
    start = ev.decoded("DTSTART")
    if ev.get("DTEND") is not None:
        return ev.decoded("DTEND")
    return start + ev.decoded("DURATION")


def _check_component(ev, uid: str) -> Note | None:
    """Problems that make an event unusable before expansion."""
    if ev.get("DTSTART") is None:
        return Note(uid, "error", _t("Événement %(event)s sans date de début (DTSTART) : "
                                     "ignoré.", event=_label(uid)))
    try:
        start = ev.decoded("DTSTART")
    except Exception as exc:
        return Note(uid, "error", _t("Événement %(event)s : date de début illisible "
                                     "(%(why)s) : ignoré.", event=_label(uid), why=_short(exc)))
    if isinstance(start, date) and not isinstance(start, datetime):
        return Note(uid, "info", _all_day(uid, start))
    if ev.get("RRULE") is not None:
        problem = _check_rrule(ev, start)
        if problem:
            return Note(uid, "error", _t("Événement %(event)s : règle de récurrence illisible "
                                         "(%(why)s) : ignoré.", event=_label(uid, start),
                                         why=problem))
    if ev.get("DTEND") is None and ev.get("DURATION") is None:
        return Note(uid, "error", _t("Événement %(event)s sans fin (ni DTEND ni DURATION) : "
                                     "ignoré.", event=_label(uid, start)))
    try:
        end = _component_end(ev)
    except Exception as exc:
        return Note(uid, "error", _t("Événement %(event)s : fin illisible (%(why)s) : ignoré.",
                                     event=_label(uid, start), why=_short(exc)))
    if isinstance(end, date) and not isinstance(end, datetime):
        return Note(uid, "error", _t("Événement %(event)s : début et fin de types différents "
                                     "(date et heure) : ignoré.", event=_label(uid, start)))
    try:
        naive_mix = (start.tzinfo is None) != (end.tzinfo is None)
        delta = (end.replace(tzinfo=None) - start.replace(tzinfo=None)) if naive_mix \
            else end - start
    except Exception:
        return Note(uid, "error", _t("Événement %(event)s : dates incohérentes : ignoré.",
                                     event=_label(uid, start)))
    if delta <= timedelta(0):
        return Note(uid, "error", _end_before(uid, start))
    if delta > timedelta(hours=MAX_SLOT_HOURS):
        return Note(uid, "error", _t("Événement %(event)s de plus de %(h)d h : ignoré.",
                                     event=_label(uid, start), h=MAX_SLOT_HOURS))
    return None


def _all_day(uid: str, day) -> str:
    return _t("Événement %(event)s sur la journée entière : ignoré (un créneau SNP a une "
              "heure de début et de fin).", event=_label(uid, day))


def _end_before(uid: str, start) -> str:
    return _t("Événement %(event)s : la fin n'est pas après le début : ignoré.",
              event=_label(uid, start))


def _check_rrule(ev, start: datetime) -> str | None:
    from dateutil.rrule import rrulestr

    try:
        rules = ev.get("RRULE")
        for rule in rules if isinstance(rules, list) else [rules]:
            text = rule.to_ical().decode() if hasattr(rule, "to_ical") else str(rule)
            rrulestr(text, dtstart=start.replace(tzinfo=None), ignoretz=True)
    except Exception as exc:  # dateutil raises ValueError, TypeError…
        return _short(exc)
    return None


def _notes_for_timezones(comps, uid: str, out: ParsedObject) -> None:
    for c in comps:
        prop = c.get("DTSTART")
        tzid = getattr(prop, "params", {}).get("TZID") if prop is not None else None
        if not tzid:
            continue
        try:
            value = c.decoded("DTSTART")
        except Exception:
            continue
        if isinstance(value, datetime) and value.tzinfo is None:
            out.notes.append(Note(uid, "warning", _t(
                "Événement %(event)s : fuseau horaire inconnu « %(tz)s », heure prise à "
                "l'heure de Paris.", event=_label(uid, value), tz=str(tzid)[:60])))
            return


def _spec(inst, uid: str, recurring: bool, tz: ZoneInfo, out: ParsedObject,
          all_day_noted: bool) -> SlotSpec | None:
    try:
        start = inst.decoded("DTSTART")
    except Exception:
        return None
    if isinstance(start, date) and not isinstance(start, datetime):
        if not all_day_noted:
            out.notes.append(Note(uid, "info", _all_day(uid, start)))
        return None
    if str(inst.get("STATUS") or "").upper() == "CANCELLED":
        return None
    try:
        end = inst.decoded("DTEND") if inst.get("DTEND") is not None \
            else start + inst.decoded("DURATION")
    except Exception:
        return None
    start_utc, end_utc = _aware(start, tz), _aware(end, tz)
    if end_utc <= start_utc:
        out.notes.append(Note(uid, "error", _end_before(uid, start_utc)))
        return None
    rid = None
    if recurring:
        try:
            rid_value = inst.decoded("RECURRENCE-ID")
            rid = _recurrence_key(_aware(rid_value, tz) if isinstance(rid_value, datetime)
                                  else start_utc)
        except Exception:
            rid = _recurrence_key(start_utc)
    title = repair_title(str(inst.get(SUMMARY_MARK) or inst.get("SUMMARY") or ""))
    kind, capacity, mode = classify_title(title)
    if kind == "floating" and uid not in out.capacity_noted and capacity_unreadable(title):
        out.capacity_noted.add(uid)
        out.notes.append(Note(uid, "warning", _t(
            "Événement %(event)s : capacité illisible dans le titre (caractère abîmé ou "
            "nombre hors de 1 à 20) : capacité %(n)d retenue, corrigez le titre (« flottant "
            "x2 »).", event=_label(uid, start_utc), n=capacity)))
    return SlotSpec(uid=uid[:255], recurrence_id=rid, start=start_utc, end=end_utc, kind=kind,
                    capacity=capacity, mode=mode,
                    location=str(inst.get("LOCATION") or "")[:300])
