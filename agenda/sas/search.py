"""INT_R04: the slot search of the SAS platform (CPTS use case).

``GET /fhir/r4/Slot?start=ge…&start=le…&schedule.actor:Practitioner.identifier=…&status=free``
with the ``_include`` parameters of the guide. Only open fixed slots of the charter, in the
future and within the booking horizon of the doctor's CPTS, of active doctors of a CPTS
that has a FINESS (the CPTS Organization needs it), are exposed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone

from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload
from werkzeug.datastructures import MultiDict

from agenda import clock
from agenda.accounts.models import Organisation
from agenda.errors import ValidationError
from agenda.extensions import db
from agenda.sas import resources as R
from agenda.sas.models import SasSettings
from agenda.slots.models import CharterSettings, Slot, SlotKind, SlotStatus
from agenda.territory.models import Doctor, Place
from agenda.territory.services import places_of as doctor_places
from agenda.timeutil import local_tz

MAX_IDENTIFIERS = 25
DEFAULT_HORIZON_HOURS = 48
IDENTIFIER_PARAM = "schedule.actor:Practitioner.identifier"
KNOWN_INCLUDES = {"Slot:schedule", "Slot:service-type-reference"}
KNOWN_ITERATE = {"Schedule:actor", "HealthcareService:organization"}
# Parameters we understand; others are ignored (FHIR lenient handling) unless the client
# asks ``Prefer: handling=strict``.
KNOWN_PARAMS = {"start", IDENTIFIER_PARAM, "status", "_include", "_include:iterate",
                "_format", "_count", "origin"}

_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d{1,9})?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$")
_PREFIXES = ("ge", "le", "gt", "lt", "eq")


class SearchError(ValidationError):
    """A malformed search: 400 OperationOutcome."""


@dataclass
class SlotQuery:
    lower: datetime | None = None  # slot.start >= lower
    upper: datetime | None = None  # slot.start <= upper
    lower_strict: bool = False
    upper_strict: bool = False
    national_ids: list[str] = field(default_factory=list)
    status: str = "free"
    include_schedule: bool = False
    include_actor: bool = False
    include_service: bool = False
    include_organization: bool = False


def _parse_fhir_date(text: str) -> tuple[datetime, datetime]:
    """The range [low, high) a FHIR date/dateTime stands for, as aware UTC datetimes.

    A value without offset is read in Europe/Paris. ``+`` decoded as a space in a query
    string (``…T16:20:00.000 02:00``) is read back as ``+``.
    """
    text = text.strip()
    if len(text) > 6 and text[-6] == " " and re.match(r"^\d{2}:\d{2}$", text[-5:]):
        text = text[:-6] + "+" + text[-5:]
    m = _DATE_RE.match(text)
    if not m:
        raise ValueError(text)
    y, mo, d = int(m["y"]), int(m["m"] or 1), int(m["d"] or 1)
    if m["H"] is None:
        start_day = date(y, mo, d)
        if m["d"]:
            end_day = start_day + timedelta(days=1)
        elif m["m"]:
            end_day = date(y + (mo == 12), mo % 12 + 1, 1)
        else:
            end_day = date(y + 1, 1, 1)
        tz = local_tz()
        low = datetime.combine(start_day, time(0), tzinfo=tz)
        high = datetime.combine(end_day, time(0), tzinfo=tz)
        return low.astimezone(UTC), high.astimezone(UTC)
    hour, minute = int(m["H"]), int(m["M"])
    second = int(m["S"] or 0)
    micro = int((m["f"] or ".0")[1:7].ljust(6, "0"))
    if m["tz"] is None:
        tzinfo = local_tz()
    elif m["tz"] == "Z":
        tzinfo = UTC
    else:
        sign = 1 if m["tz"][0] == "+" else -1
        hh, mm = int(m["tz"][1:3]), int(m["tz"][4:6])
        if hh > 14 or mm > 59:
            raise ValueError(text)
        tzinfo = timezone(sign * timedelta(hours=hh, minutes=mm))
    low = datetime(y, mo, d, hour, minute, second, micro, tzinfo=tzinfo)
    if m["S"] is None:
        precision = timedelta(minutes=1)
    elif m["f"]:
        precision = timedelta(microseconds=1)
    else:
        precision = timedelta(seconds=1)
    return low.astimezone(UTC), (low + precision).astimezone(UTC)


def parse(args: MultiDict, *, strict: bool = False) -> SlotQuery:
    """Read the query string; raises :class:`SearchError` (400) when it is malformed."""
    q = SlotQuery()
    if strict:
        unknown = sorted(k for k in args if k not in KNOWN_PARAMS)
        if unknown:
            raise SearchError(_("Paramètre de recherche non pris en charge : %(p)s",
                                p=", ".join(unknown)))

    starts = args.getlist("start")
    if not starts:
        raise SearchError(_("Le paramètre « start » (bornes ge et le) est obligatoire."))
    for raw in starts:
        prefix, value = (raw[:2], raw[2:]) if raw[:2] in _PREFIXES else ("eq", raw)
        try:
            low, high = _parse_fhir_date(value)
        except (ValueError, OverflowError):
            raise SearchError(_("Date invalide pour « start » : %(v)s", v=raw[:40])) from None
        if prefix in ("ge", "gt", "eq"):
            bound, strict_bound = (high, False) if prefix == "gt" else (low, False)
            if q.lower is None or bound > q.lower:
                q.lower, q.lower_strict = bound, strict_bound
        if prefix in ("le", "lt", "eq"):
            # le: up to the end of the value's range; lt: before its start.
            bound = low if prefix == "lt" else high
            if q.upper is None or bound < q.upper:
                q.upper, q.upper_strict = bound, True
    if q.lower is None or q.upper is None:
        raise SearchError(_("Le paramètre « start » doit porter une borne basse (ge) et une "
                            "borne haute (le)."))

    identifiers: list[str] = []
    tokens: set[str] = set()
    for raw in args.getlist(IDENTIFIER_PARAM):
        for token in raw.split(","):
            token = token.strip()
            if not token:
                raise SearchError(_("Identifiant de professionnel vide."))
            tokens.add(token)
            if len(tokens) > MAX_IDENTIFIERS:
                raise SearchError(_("Au plus %(n)s identifiants de professionnels par "
                                    "recherche.", n=MAX_IDENTIFIERS))
            system, sep, value = token.rpartition("|")
            if not value:
                raise SearchError(_("Identifiant de professionnel invalide : %(v)s",
                                    v=token[:60]))
            if sep and system and system != R.NATIONAL_ID_SYSTEM:
                continue  # another identifier system: matches none of our doctors
            if value not in identifiers:
                identifiers.append(value)
    if not args.getlist(IDENTIFIER_PARAM):
        raise SearchError(_("Le paramètre « %(p)s » est obligatoire.", p=IDENTIFIER_PARAM))
    q.national_ids = identifiers

    statuses = [s for raw in args.getlist("status") for s in raw.split(",") if s]
    if not statuses:
        raise SearchError(_("Le paramètre « status » est obligatoire (valeur free)."))
    q.status = "free" if "free" in statuses else statuses[0]

    includes = set(args.getlist("_include"))
    iterate = set(args.getlist("_include:iterate"))
    if strict:
        bad = sorted((includes - KNOWN_INCLUDES) | (iterate - KNOWN_ITERATE))
        if bad:
            raise SearchError(_("_include non pris en charge : %(v)s", v=", ".join(bad)[:100]))
    q.include_schedule = "Slot:schedule" in includes
    q.include_actor = q.include_schedule and "Schedule:actor" in (iterate | includes)
    q.include_service = "Slot:service-type-reference" in includes
    q.include_organization = q.include_service and (
        "HealthcareService:organization" in (iterate | includes))
    return q


@dataclass
class Found:
    """The exposed slots of a search, with the CPTS (and its SAS settings) they need."""

    slots: list[Slot]
    cpts: dict[int, Organisation]
    visibility: dict[int, str]


def exposable(slot: Slot, cpts: Organisation | None) -> bool:
    """The data rules of exposure: a CPTS Organization and a Location the guide accepts."""
    return cpts is not None and not R.cpts_problems(cpts) \
        and not R.place_problems(R.place_of(slot))


def find_slots(q: SlotQuery) -> Found:
    """The exposed slots matching ``q``: three statements whatever the number of
    identifiers (the horizons, the slots with their doctors and communes, their CPTS with
    their SAS settings)."""
    found = Found([], {}, {})
    if q.status != "free":
        return found
    rpps = [v[1:] for v in q.national_ids if len(v) == 12 and v.startswith("8") and v.isdigit()]
    if not rpps:
        return found
    now = clock.now()
    horizons = dict(db.session.execute(
        select(CharterSettings.cpts_id, CharterSettings.horizon_hours)).all())
    longest = max([DEFAULT_HORIZON_HOURS, *[h or 0 for h in horizons.values()]])
    lower_cond = Slot.start > q.lower if q.lower_strict else Slot.start >= q.lower
    upper_cond = Slot.start < q.upper if q.upper_strict else Slot.start <= q.upper
    stmt = (
        select(Slot)
        .join(Doctor, Doctor.id == Slot.doctor_id)
        .join(Place, Place.id == Slot.place_id)
        .join(Organisation, Organisation.id == Slot.cpts_id)
        .where(Doctor.rpps.in_(rpps), Doctor.active.is_(True), Place.active.is_(True),
               Organisation.active.is_(True), Organisation.finess.is_not(None),
               Organisation.finess != "",
               Slot.kind == SlotKind.FIXED.value, Slot.status == SlotStatus.OPEN.value,
               Slot.in_charter.is_(True), Slot.booked_count < Slot.capacity,
               or_(Slot.held_until.is_(None), Slot.held_until <= now),  # not held on a call
               Slot.start > now,
               Slot.start <= now + timedelta(hours=longest), lower_cond, upper_cond)
        .options(joinedload(Slot.doctor), joinedload(Slot.place).joinedload(Place.commune))
        .order_by(Slot.start, Slot.id)
    )
    candidates = [slot for slot in db.session.scalars(stmt).unique()
                  if slot.start <= now + timedelta(
                      hours=horizons.get(R.cpts_id_of(slot)) or DEFAULT_HORIZON_HOURS)]
    if not candidates:
        return found
    cpts_ids = {R.cpts_id_of(s) for s in candidates}
    for org, visibility in db.session.execute(
            select(Organisation, SasSettings.slot_visibility)
            .outerjoin(SasSettings, SasSettings.cpts_id == Organisation.id)
            .where(Organisation.id.in_(cpts_ids))):
        found.cpts[org.id] = org
        found.visibility[org.id] = " ".join(R.DEFAULT_VISIBILITY) \
            if visibility is None else visibility
    found.slots = [s for s in candidates if exposable(s, found.cpts.get(R.cpts_id_of(s)))]
    return found


def search_bundle(args: MultiDict, self_url: str, *, strict: bool = False) -> dict:
    q = parse(args, strict=strict)
    found = find_slots(q)
    matches = [R.slot_resource(s, found.cpts[R.cpts_id_of(s)],
                               found.visibility[R.cpts_id_of(s)]) for s in found.slots]
    includes: list[dict] = []
    seen: set[tuple[str, str]] = set()

    def add(resource: dict) -> None:
        key = (resource["resourceType"], resource["id"])
        if key not in seen:
            seen.add(key)
            includes.append(resource)

    for slot in found.slots:
        doctor, cpts = R.doctor_of(slot), found.cpts[R.cpts_id_of(slot)]
        if q.include_schedule:
            add(R.schedule_resource(doctor, R.place_of(slot)))
        if q.include_actor:
            add(R.practitioner_resource(doctor))
            add(R.role_resource(doctor, R.place_of(slot), cpts))
        if q.include_service:
            add(R.service_resource(cpts))
        if q.include_organization:
            add(R.organization_resource(cpts))
    return R.searchset(matches, includes, self_url)


# --- read: the fullUrl of every resource of the Bundle answers -------------------------------

_READ_ID = re.compile(r"^(slot|schedule|doctor|role|cpts-service|cpts)-(\d{1,18})$")
_READ_PREFIX = {"Slot": "slot", "Schedule": "schedule", "Practitioner": "doctor",
                "PractitionerRole": "role", "HealthcareService": "cpts-service",
                "Organization": "cpts"}


def _exposed_cpts(cpts_id: int) -> Organisation | None:
    org = db.session.get(Organisation, cpts_id)
    if org is None or not org.active or org.cpts_id is not None or R.cpts_problems(org):
        return None
    return org


def read(resource_type: str, rid: str) -> dict | None:
    """One resource of those the search exposes, or None (404)."""
    m = _READ_ID.match(rid or "")
    if resource_type not in _READ_PREFIX or not m or m.group(1) != _READ_PREFIX[resource_type]:
        return None
    key = int(m.group(2))
    if resource_type in ("HealthcareService", "Organization"):
        cpts = _exposed_cpts(key)
        if cpts is None:
            return None
        return R.service_resource(cpts) if resource_type == "HealthcareService" \
            else R.organization_resource(cpts)
    if resource_type == "Slot":
        slot = db.session.get(Slot, key)
        if slot is None:
            return None
        q = SlotQuery(lower=slot.start, upper=slot.start,
                      national_ids=[R.national_id(R.doctor_of(slot).rpps)])
        found = find_slots(q)
        if slot not in found.slots:
            return None
        cpts_id = R.cpts_id_of(slot)
        return R.slot_resource(slot, found.cpts[cpts_id], found.visibility[cpts_id])
    if resource_type == "Practitioner":
        doctor = db.session.get(Doctor, key)
        if doctor is None or not doctor.active or not any(
                _exposed_cpts(p.cpts_id) and not R.place_problems(p)
                for p in doctor_places(doctor.id)):
            return None
        return R.practitioner_resource(doctor)
    # Schedule and PractitionerRole: one per place of practice.
    place = db.session.get(Place, key)
    if place is None or not place.active:
        return None
    doctor = db.session.get(Doctor, place.doctor_id)
    cpts = _exposed_cpts(place.cpts_id)
    if doctor is None or not doctor.active or cpts is None or R.place_problems(place):
        return None
    if resource_type == "Schedule":
        return R.schedule_resource(doctor, place)
    return R.role_resource(doctor, place, cpts)
