"""Slot rules and operations — the one service used by the pages, the JSON API and the
CalDAV import alike.

Services flush, callers commit (one transaction per request or per imported event).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy.exc import IntegrityError
from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import selectinload

from agenda import clock
from agenda.accounts.models import Organisation
from agenda.errors import Conflict, Forbidden, NotFound, RuleViolation, ValidationError
from agenda.extensions import db
from agenda.slots import lifecycle
from agenda.slots.models import CharterSettings, Slot, SlotKind, SlotMode, SlotSource
from agenda.territory.models import Doctor, doctor_in_cpts
from agenda.timeutil import iso_week, local_to_utc, parse_week, shift_week, to_local

MIN_FIXED_MINUTES = 5
MAX_FIXED_MINUTES = 180
MAX_WINDOW_HOURS = 14
MAX_WEEKS_AHEAD = 26
WEEKDAY_KEYS = ("1", "2", "3", "4", "5", "6", "7")  # ISO weekday, Monday = 1
DEFAULT_WEEKDAY_HOURS = ("08:00", "20:00")
DEFAULT_SATURDAY_HOURS = ("08:00", "12:00")


@dataclass
class SlotInput:
    kind: str  # "fixed" | "floating"
    start: datetime  # aware (window start for floating)
    end: datetime  # aware
    mode: str = SlotMode.AMB.value
    capacity: int = 1  # floating only
    # The place of practice (None: the doctor's main place, or the slot's current one).
    place_id: int | None = None


@dataclass
class CopyReport:
    created: list[Slot] = field(default_factory=list)
    skipped: list[tuple[Slot, str]] = field(default_factory=list)  # (source slot, why)


# --------------------------------------------------------------------------- charter


def charter_for(cpts_id: int) -> CharterSettings:
    """The charter of a CPTS; the default row is created (flushed) when missing."""
    charter = db.session.get(CharterSettings, cpts_id)
    if charter is None:
        if db.session.get(Organisation, cpts_id) is None:
            raise NotFound(_("CPTS introuvable."))
        charter = CharterSettings(cpts_id=cpts_id, min_per_week=2, max_per_week=6,
                                  default_length_min=20, horizon_hours=48,
                                  publication_hours={}, saturday_morning=True,
                                  holidays_policy="warn", hours_policy="refuse")
        # Two workers may create it at once: the loser of the insert reads the winner's row.
        try:
            with db.session.begin_nested():
                db.session.add(charter)
        except IntegrityError:
            charter = db.session.get(CharterSettings, cpts_id, populate_existing=True)
    return charter


def charters_of(cpts_ids: list[int]) -> dict[int, CharterSettings]:
    """The charters of several CPTS in one query (missing rows created as by
    :func:`charter_for`)."""
    found = {c.cpts_id: c for c in db.session.scalars(
        select(CharterSettings).where(CharterSettings.cpts_id.in_(list(cpts_ids))))}
    for cpts_id in cpts_ids:
        if cpts_id not in found:
            found[cpts_id] = charter_for(cpts_id)
    return found


def charter_name(cpts_id: int) -> str:
    org = db.session.get(Organisation, cpts_id)
    return _("charte SNP de la %(cpts)s", cpts=org.name if org else "CPTS")


def publication_hours(charter: CharterSettings) -> dict[str, tuple[str, str] | None]:
    """Opening hours per ISO weekday ("1"…"7") — None for a closed day."""
    configured = charter.publication_hours or {}
    out: dict[str, tuple[str, str] | None] = {}
    for key in WEEKDAY_KEYS:
        if key in configured:
            value = configured[key]
            out[key] = (value[0], value[1]) if value else None
        elif key in ("1", "2", "3", "4", "5"):
            out[key] = DEFAULT_WEEKDAY_HOURS
        elif key == "6" and charter.saturday_morning:
            out[key] = DEFAULT_SATURDAY_HOURS
        else:
            out[key] = None
    if not charter.saturday_morning:
        out["6"] = None
    return out


@dataclass
class CharterInput:
    min_per_week: int
    max_per_week: int
    default_length_min: int
    horizon_hours: int
    weekday_start: str  # "08:00"
    weekday_end: str  # "20:00"
    saturday_morning: bool
    saturday_end: str  # "12:00"
    holidays_policy: str  # warn / refuse
    hours_policy: str  # warn / refuse
    same_day_until: str | None = None  # "19:30": same-day horizon instead of horizon_hours


def _parse_hhmm(value: str, label: str) -> time:
    try:
        hours, minutes = value.strip().split(":")
        return time(int(hours), int(minutes))
    except (ValueError, AttributeError):
        raise ValidationError(_("%(label)s : heure attendue au format HH:MM.", label=label),
                              field=label) from None


def update_charter(cpts_id: int, data: CharterInput) -> CharterSettings:
    """Edit the charter (coordinator). Validates everything before touching the row."""
    if not 0 <= data.min_per_week <= data.max_per_week:
        raise ValidationError(_("Le minimum doit être positif et ne pas dépasser le maximum."),
                              field="min_per_week")
    if not 1 <= data.max_per_week <= 50:
        raise ValidationError(_("Le maximum par semaine doit être entre 1 et 50."),
                              field="max_per_week")
    if not MIN_FIXED_MINUTES <= data.default_length_min <= MAX_FIXED_MINUTES:
        raise ValidationError(_("La durée d'un créneau doit être entre %(a)d et %(b)d minutes.",
                                a=MIN_FIXED_MINUTES, b=MAX_FIXED_MINUTES),
                              field="default_length_min")
    same_day = None
    if data.same_day_until:
        same_day = _parse_hhmm(data.same_day_until, "same_day_until").strftime("%H:%M")
    elif not 1 <= data.horizon_hours <= 24 * 14:
        raise ValidationError(_("L'horizon de réservation doit être entre 1 heure et 14 jours."),
                              field="horizon_hours")
    start = _parse_hhmm(data.weekday_start, "weekday_start")
    end = _parse_hhmm(data.weekday_end, "weekday_end")
    if end <= start:
        raise ValidationError(_("Les heures de publication : la fin doit suivre le début."),
                              field="weekday_end")
    sat_end = _parse_hhmm(data.saturday_end, "saturday_end")
    if sat_end <= start:
        raise ValidationError(_("Le samedi matin doit finir après %(start)s.",
                                start=data.weekday_start), field="saturday_end")
    for name, value in (("holidays_policy", data.holidays_policy),
                        ("hours_policy", data.hours_policy)):
        if value not in ("warn", "refuse"):
            raise ValidationError(_("Valeur inconnue : %(v)s.", v=value), field=name)
    charter = charter_for(cpts_id)
    hours = {key: [start.strftime("%H:%M"), end.strftime("%H:%M")]
             for key in ("1", "2", "3", "4", "5")}
    hours["6"] = [start.strftime("%H:%M"), sat_end.strftime("%H:%M")] if data.saturday_morning \
        else None
    hours["7"] = None
    charter.min_per_week = data.min_per_week
    charter.max_per_week = data.max_per_week
    charter.default_length_min = data.default_length_min
    # Same-day mode keeps a 24 h value for readers that only know ``horizon_hours``.
    charter.horizon_hours = 24 if same_day else data.horizon_hours
    charter.same_day_until = same_day
    charter.publication_hours = hours
    charter.saturday_morning = data.saturday_morning
    charter.holidays_policy = data.holidays_policy
    charter.hours_policy = data.hours_policy
    db.session.flush()
    return charter


def booking_horizon_end(charter: CharterSettings, now: datetime | None = None) -> datetime:
    """Until when bookers see slots: ``now + horizon_hours``, or with a same-day charter
    ("le jour même jusqu'à 19:30") today at that time — tomorrow's once it has passed."""
    now = now or clock.now()
    if charter.same_day_until:
        until = _parse_hhmm(charter.same_day_until, "same_day_until")
        today = to_local(now).date()
        end = local_to_utc(today, until)
        if end <= now:
            end = local_to_utc(today + timedelta(days=1), until)
        return end
    return now + timedelta(hours=charter.horizon_hours or 48)


# --------------------------------------------------------------------------- doctors


def doctor_for_user(user) -> Doctor:
    """The doctor profile of a doctor account (Forbidden when the account has none)."""
    doctor = db.session.scalar(select(Doctor).where(Doctor.user_id == user.id))
    if doctor is None:
        raise Forbidden(_("Ce compte n'est rattaché à aucun médecin volontaire."))
    return doctor


def get_own_slot(doctor: Doctor, slot_id: int) -> Slot:
    """A slot of ``doctor`` (NotFound for anybody else's: no existence leak)."""
    slot = db.session.get(Slot, slot_id)
    if slot is None or slot.doctor_id != doctor.id:
        raise NotFound(_("Créneau introuvable."))
    return slot


# --------------------------------------------------------------------------- rules


def slot_weight(kind: str, capacity: int) -> int:
    """How much a slot counts towards the weekly charter (a floating window: its capacity)."""
    return capacity if kind == SlotKind.FLOATING.value else 1


def _weight_expr():
    return case((Slot.kind == SlotKind.FLOATING.value, Slot.capacity), else_=1)


@lru_cache(maxsize=16)
def _french_holidays(year: int) -> dict[date, str]:
    import holidays

    try:
        calendar = holidays.France(years=year, language="fr")
    except (TypeError, NotImplementedError):  # older package without translations
        calendar = holidays.France(years=year)
    return dict(calendar.items())


def public_holiday(day: date) -> str | None:
    """The French public holiday's name on ``day``, or None."""
    return _french_holidays(day.year).get(day)


def _validate_shape(data: SlotInput, charter: CharterSettings) -> None:
    if data.kind not in (SlotKind.FIXED.value, SlotKind.FLOATING.value):
        raise ValidationError(_("Type de créneau inconnu : « fixe » ou « flottant »."),
                              field="kind")
    if data.mode not in {m.value for m in SlotMode}:
        raise ValidationError(_("Mode de consultation inconnu (AMB, VR ou HH)."), field="mode")
    for name, value in (("start", data.start), ("end", data.end)):
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValidationError(_("Date et heure avec fuseau horaire attendues."), field=name)
    if data.end <= data.start:
        raise ValidationError(_("La fin du créneau doit être après son début."), field="end")
    if to_local(data.start).date() != to_local(data.end - timedelta(microseconds=1)).date():
        raise ValidationError(_("Un créneau tient dans une seule journée."), field="end")
    length = data.end - data.start
    if data.kind == SlotKind.FIXED.value:
        if data.capacity != 1:
            raise ValidationError(_("Un créneau fixe accueille un seul patient."),
                                  field="capacity")
        if not timedelta(minutes=MIN_FIXED_MINUTES) <= length <= \
                timedelta(minutes=MAX_FIXED_MINUTES):
            raise ValidationError(_("Un créneau fixe dure entre %(a)d et %(b)d minutes.",
                                    a=MIN_FIXED_MINUTES, b=MAX_FIXED_MINUTES), field="end")
    else:
        if not isinstance(data.capacity, int) or data.capacity < 1:
            raise ValidationError(_("La capacité d'une plage flottante est d'au moins "
                                    "1 patient."), field="capacity")
        if length > timedelta(hours=MAX_WINDOW_HOURS):
            raise ValidationError(_("Une plage flottante dure au plus %(h)d heures.",
                                    h=MAX_WINDOW_HOURS), field="end")
        if length < timedelta(minutes=charter.default_length_min * data.capacity):
            raise ValidationError(ngettext("La plage est trop courte pour %(num)d patient de "
                                           "%(m)d minutes.",
                                           "La plage est trop courte pour %(num)d patients de "
                                           "%(m)d minutes.", data.capacity,
                                           m=charter.default_length_min), field="end")
    now = clock.now()
    if data.start < now:
        raise RuleViolation(_("Impossible de publier un créneau dans le passé."),
                            rule="past", field="start")
    if data.start > now + timedelta(weeks=MAX_WEEKS_AHEAD):
        raise ValidationError(_("Les créneaux se publient au plus %(n)d semaines à l'avance.",
                                n=MAX_WEEKS_AHEAD), field="start")


def _check_overlap(doctor_id: int, data: SlotInput, exclude_id: int | None) -> None:
    query = select(Slot).where(Slot.doctor_id == doctor_id,
                               Slot.status.in_(lifecycle.LIVE),
                               Slot.start < data.end, Slot.end > data.start)
    if exclude_id is not None:
        query = query.where(Slot.id != exclude_id)
    other = db.session.scalars(query.order_by(Slot.start).limit(1)).first()
    if other is not None:
        raise RuleViolation(_("Ce créneau chevauche votre créneau du %(day)s de %(a)s à %(b)s.",
                              day=to_local(other.start).strftime("%d/%m"),
                              a=to_local(other.start).strftime("%H:%M"),
                              b=to_local(other.end).strftime("%H:%M")),
                            rule="overlap", field="start")


def _hours_problem(data: SlotInput, charter: CharterSettings) -> str | None:
    local_start = to_local(data.start)
    local_end = to_local(data.end)
    hours = publication_hours(charter).get(str(local_start.isoweekday()))
    if hours is None:
        return _("le %(day)s est en dehors des jours de publication de la charte",
                 day=_weekday_name(local_start.isoweekday()))
    opening, closing = _parse_hhmm(hours[0], "open"), _parse_hhmm(hours[1], "close")
    start_min = local_start.hour * 60 + local_start.minute
    end_min = local_end.hour * 60 + local_end.minute if local_end.date() == local_start.date() \
        else 24 * 60
    if start_min < opening.hour * 60 + opening.minute or \
            end_min > closing.hour * 60 + closing.minute:
        return _("en dehors des heures de publication de la charte (%(a)s–%(b)s)",
                 a=hours[0], b=hours[1])
    return None


def _weekday_name(iso_weekday: int) -> str:
    names = [_("lundi"), _("mardi"), _("mercredi"), _("jeudi"), _("vendredi"), _("samedi"),
             _("dimanche")]
    return names[iso_weekday - 1]


def counted_in_week(doctor_id: int, week: str, exclude_id: int | None = None,
                    cpts_id: int | None = None) -> int:
    """What the doctor's in-charter slots of ``week`` count (floating: capacity), in one
    CPTS when ``cpts_id`` is given (each CPTS's charter counts its own slots)."""
    query = select(func.coalesce(func.sum(_weight_expr()), 0)).where(
        Slot.doctor_id == doctor_id, Slot.week == week, Slot.in_charter.is_(True),
        Slot.status.in_(lifecycle.COUNTED))
    if cpts_id is not None:
        query = query.where(Slot.cpts_id == cpts_id)
    if exclude_id is not None:
        query = query.where(Slot.id != exclude_id)
    return int(db.session.scalar(query) or 0)


@dataclass
class _Verdict:
    in_charter: bool = True
    notes: list[str] = field(default_factory=list)  # why hors charte
    warnings: list[str] = field(default_factory=list)


def _evaluate(doctor: Doctor, data: SlotInput, cpts_id: int, *, exclude_id: int | None,
              keep_out_of_charter: bool) -> tuple[CharterSettings, str, _Verdict]:
    """Apply every rule of the charter of ``cpts_id`` (the CPTS of the slot's place);
    raise, or say whether the slot is in the charter and what to warn."""
    if not doctor.active:
        raise Forbidden(_("Ce médecin est désactivé : il ne peut pas publier de créneau."))
    charter = charter_for(cpts_id)
    _validate_shape(data, charter)
    _check_overlap(doctor.id, data, exclude_id)
    verdict = _Verdict()
    name = charter_name(cpts_id)

    def refuse_or_keep(message: str, rule: str) -> None:
        if keep_out_of_charter:
            verdict.in_charter = False
            verdict.notes.append(message)
        else:
            raise RuleViolation(message, rule=rule, field="start")

    problem = _hours_problem(data, charter)
    if problem:
        message = _("Créneau %(problem)s (%(charter)s).", problem=problem, charter=name)
        if charter.hours_policy == "refuse":
            refuse_or_keep(message, "charter_hours")
        else:
            verdict.warnings.append(message)

    day = to_local(data.start).date()
    holiday = public_holiday(day)
    if holiday:
        message = _("Le %(day)s est un jour férié (%(name)s).", day=day.strftime("%d/%m/%Y"),
                    name=holiday)
        if charter.holidays_policy == "refuse":
            refuse_or_keep(_("%(message)s La %(charter)s n'ouvre pas de créneau les jours "
                             "fériés.", message=message, charter=name), "holiday")
        else:
            verdict.warnings.append(message)

    week = iso_week(data.start)
    if verdict.in_charter:
        already = counted_in_week(doctor.id, week, exclude_id, cpts_id=cpts_id)
        weight = slot_weight(data.kind, data.capacity)
        if already + weight > charter.max_per_week:
            message = _("Refusé par la %(charter)s : %(max)d consultations SNP au plus par "
                        "semaine ; vous en avez déjà %(n)d en semaine %(week)s et ce créneau "
                        "en compte %(w)d.", charter=name, max=charter.max_per_week, n=already,
                        week=_week_label(week), w=weight)
            refuse_or_keep(message, "charter_max")
    return charter, week, verdict


def _week_label(week: str) -> str:
    monday = parse_week(week)
    return _("%(n)s (du %(a)s au %(b)s)", n=week[-2:].lstrip("0"),
             a=monday.strftime("%d/%m"), b=(monday + timedelta(days=6)).strftime("%d/%m"))


def _lock_doctor(doctor: Doctor) -> None:
    """Serialise the charter count of one doctor: a row lock on PostgreSQL; on SQLite a
    no-op write takes the database write lock (waiting on the busy timeout) before the
    count is read, so two writers cannot both see room for the last slot."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(Doctor.id).where(Doctor.id == doctor.id).with_for_update())
    else:
        db.session.execute(update(Doctor).where(Doctor.id == doctor.id)
                           .values(active=Doctor.active)
                           .execution_options(synchronize_session=False))


def _hors_charte_note(verdict: _Verdict) -> str | None:
    if verdict.in_charter:
        return None
    note = _("Hors charte, non réservable : %(why)s", why=" ".join(verdict.notes))
    return note[:300]


# --------------------------------------------------------------------------- operations


def create_slot(doctor: Doctor, data: SlotInput, *, source: str = SlotSource.WEB.value,
                caldav_uid: str | None = None, recurrence_id: str | None = None,
                caldav_href: str | None = None, caldav_etag: str | None = None,
                keep_out_of_charter: bool = False) -> Slot:
    """Publish a slot after every rule. ``keep_out_of_charter`` (CalDAV import): a slot the
    charter refuses is kept "hors charte" (not bookable, with the reason) instead of refused.
    The returned slot carries ``warnings`` (list of French messages, not stored)."""
    if source not in {s.value for s in SlotSource}:
        raise ValidationError(_("Source inconnue."), field="source")
    from agenda.territory.services import place_for_slot

    place = place_for_slot(doctor, data.place_id)
    _lock_doctor(doctor)
    _charter, week, verdict = _evaluate(doctor, data, place.cpts_id, exclude_id=None,
                                        keep_out_of_charter=keep_out_of_charter)
    slot = Slot(doctor_id=doctor.id, place_id=place.id, cpts_id=place.cpts_id, kind=data.kind,
                start=data.start, end=data.end, week=week,
                capacity=data.capacity if data.kind == SlotKind.FLOATING.value else 1,
                booked_count=0, mode=data.mode, status=lifecycle.OPEN,
                in_charter=verdict.in_charter, charter_note=_hors_charte_note(verdict),
                source=source, caldav_uid=caldav_uid, recurrence_id=recurrence_id,
                caldav_href=caldav_href, caldav_etag=caldav_etag)
    db.session.add(slot)
    db.session.flush()
    slot.warnings = verdict.warnings
    return slot


def update_slot(slot: Slot, data: SlotInput, *, keep_out_of_charter: bool = False) -> Slot:
    """Move or reshape an open slot (booked, held… -> Conflict). Rules apply as on creation."""
    if slot.status != lifecycle.OPEN:
        if slot.status in (lifecycle.BOOKED, lifecycle.HELD):
            raise Conflict(_("Ce créneau est réservé ou en cours de réservation : il ne peut "
                             "plus être modifié. Annulez d'abord la réservation."),
                           rule="slot_booked")
        raise Conflict(_("Ce créneau est « %(s)s » : il ne peut plus être modifié.",
                         s=lifecycle.status_label(slot.status)), rule="slot_status")
    from agenda.territory.services import place_for_slot

    doctor = db.session.get(Doctor, slot.doctor_id)
    place = place_for_slot(doctor, data.place_id) if data.place_id else slot.place
    _lock_doctor(doctor)
    _charter, week, verdict = _evaluate(doctor, data, place.cpts_id, exclude_id=slot.id,
                                        keep_out_of_charter=keep_out_of_charter)
    old_week, old_cpts = slot.week, slot.cpts_id
    values = {"place_id": place.id, "cpts_id": place.cpts_id, "kind": data.kind,
              "start": data.start, "end": data.end, "week": week, "mode": data.mode,
              "capacity": data.capacity if data.kind == SlotKind.FLOATING.value else 1,
              "in_charter": verdict.in_charter, "charter_note": _hors_charte_note(verdict),
              "updated_at": clock.now()}
    # Conditional: a booker may have taken or held it meanwhile.
    result = db.session.execute(update(Slot).where(Slot.id == slot.id, *_free_now())
                                .values(**values))
    if result.rowcount != 1:
        raise _busy_conflict(slot)
    db.session.refresh(slot)
    if old_week != week or old_cpts != place.cpts_id:
        _promote_hors_charte(doctor, old_week, old_cpts)
    slot.warnings = verdict.warnings
    return slot


def _free_now() -> tuple:
    """Conditions of a slot nobody has booked or is holding during a call."""
    now = clock.now()
    return (Slot.status == lifecycle.OPEN, Slot.booked_count == 0,
            or_(Slot.held_until.is_(None), Slot.held_until <= now))


def _busy_conflict(slot: Slot) -> Conflict:
    """Why a conditional write on ``slot`` touched no row (read after the fact)."""
    db.session.refresh(slot)
    if slot.booked_count or slot.status == lifecycle.BOOKED:
        return Conflict(_("Ce créneau a déjà des patients réservés : annulez leurs "
                          "réservations avec un motif ; les réservants seront prévenus."),
                        rule="slot_booked")
    if slot.status == lifecycle.OPEN:
        return Conflict(_("Ce créneau est en cours de réservation (appel en cours) : "
                          "réessayez dans quelques minutes."), rule="slot_held")
    return Conflict(_("Ce créneau est « %(s)s » : il ne peut plus être modifié.",
                      s=lifecycle.status_label(slot.status)), rule="slot_status")


def withdraw_slot(slot: Slot, reason: str | None = None) -> Slot:
    """Withdraw an open slot. A booked one -> Conflict: its booking is cancelled with a reason
    (``agenda.booking.services.cancel_booking``), which alerts the booker."""
    lifecycle.check_transition(slot, lifecycle.WITHDRAWN)
    reason = (reason or "").strip()[:300] or None
    result = db.session.execute(
        update(Slot).where(Slot.id == slot.id, *_free_now())
        .values(status=lifecycle.WITHDRAWN, withdraw_reason=reason, updated_at=clock.now()))
    if result.rowcount != 1:
        raise _busy_conflict(slot)
    db.session.refresh(slot)
    _promote_hors_charte(db.session.get(Doctor, slot.doctor_id), slot.week, slot.cpts_id)
    return slot


def _promote_hors_charte(doctor: Doctor, week: str, cpts_id: int) -> list[Slot]:
    """After a withdrawal, hors-charte slots (over the maximum only) of the same CPTS that
    now fit come back into the charter, oldest first."""
    charter = charter_for(cpts_id)
    waiting = db.session.scalars(
        select(Slot).where(Slot.doctor_id == doctor.id, Slot.week == week,
                           Slot.cpts_id == cpts_id,
                           Slot.in_charter.is_(False), Slot.status == lifecycle.OPEN,
                           Slot.start > clock.now())
        .order_by(Slot.created_at, Slot.id)).all()
    promoted = []
    if not waiting:
        return promoted
    used = counted_in_week(doctor.id, week, cpts_id=cpts_id)
    for slot in waiting:
        data = SlotInput(kind=slot.kind, start=slot.start, end=slot.end, mode=slot.mode,
                         capacity=slot.capacity)
        if (charter.hours_policy == "refuse" and _hours_problem(data, charter)) or \
                (charter.holidays_policy == "refuse" and public_holiday(
                    to_local(slot.start).date())):
            continue
        weight = slot_weight(slot.kind, slot.capacity)
        if used + weight <= charter.max_per_week:
            slot.in_charter = True
            slot.charter_note = None
            used += weight
            promoted.append(slot)
    db.session.flush()
    return promoted


def copy_week(doctor: Doctor, from_week: str, to_week: str) -> CopyReport:
    """Copy a week's pool (wall-clock times in Europe/Paris) into another week.

    Each slot goes through :func:`create_slot`; a slot a rule refuses is reported, not
    half-written (savepoint per slot)."""
    try:
        source_monday, target_monday = parse_week(from_week), parse_week(to_week)
    except ValueError:
        raise ValidationError(_("Semaine invalide (format 2026-W49).")) from None
    if from_week == to_week:
        raise ValidationError(_("Choisissez deux semaines différentes."))
    shift_days = (target_monday - source_monday).days
    report = CopyReport()
    for slot in week_pool(doctor, from_week):
        if slot.status in (lifecycle.CANCELLED, lifecycle.WITHDRAWN):
            continue
        start, end = to_local(slot.start), to_local(slot.end)
        day = start.date() + timedelta(days=shift_days)
        new_start = local_to_utc(day, start.time().replace(tzinfo=None))
        new_end = local_to_utc(day + (end.date() - start.date()), end.time().replace(tzinfo=None))
        data = SlotInput(kind=slot.kind, start=new_start, end=new_end, mode=slot.mode,
                         capacity=slot.capacity, place_id=slot.place_id)
        try:
            with db.session.begin_nested():
                report.created.append(create_slot(doctor, data, source=SlotSource.WEB.value))
        except (RuleViolation, ValidationError, Conflict) as exc:
            report.skipped.append((slot, exc.message))
    return report


def mark_past(now: datetime | None = None) -> int:
    """Open or held slots whose end has passed become "past" (one UPDATE)."""
    now = now or clock.now()
    result = db.session.execute(
        update(Slot).where(Slot.status.in_((lifecycle.OPEN, lifecycle.HELD)),
                           Slot.booked_count == 0, Slot.end <= now)
        .values(status=lifecycle.PAST, held_by_user_id=None, held_until=None))
    return result.rowcount or 0


# --------------------------------------------------------------------------- reading


def week_pool(doctor: Doctor, week: str, *, include_withdrawn: bool = False) -> list[Slot]:
    """The doctor's slots of one ISO week, by start."""
    parse_week(week)
    query = select(Slot).where(Slot.doctor_id == doctor.id, Slot.week == week)
    if not include_withdrawn:
        query = query.where(Slot.status != lifecycle.WITHDRAWN)
    return list(db.session.scalars(query.order_by(Slot.start, Slot.id)))


def weekly_counts(cpts_id: int, week: str) -> dict[int, int]:
    """doctor_id -> what their in-charter slots of ``week`` in this CPTS count (one query)."""
    rows = db.session.execute(
        select(Slot.doctor_id, func.sum(_weight_expr()))
        .where(Slot.cpts_id == cpts_id, Slot.week == week, Slot.in_charter.is_(True),
               Slot.status.in_(lifecycle.COUNTED))
        .group_by(Slot.doctor_id))
    return {doctor_id: int(total) for doctor_id, total in rows}


def hors_charte_counts(cpts_id: int, week: str) -> dict[int, int]:
    rows = db.session.execute(
        select(Slot.doctor_id, func.count(Slot.id))
        .where(Slot.cpts_id == cpts_id, Slot.week == week, Slot.in_charter.is_(False),
               Slot.status.in_(lifecycle.LIVE))
        .group_by(Slot.doctor_id))
    return {doctor_id: int(n) for doctor_id, n in rows}


def charter_report(cpts_id: int, week: str) -> dict:
    """Every active volunteer's count for ``week`` against the charter.

    ``{"week", "min", "max", "rows": [{"doctor", "count", "hors_charte", "state"}],
    "under_minimum": [...], "hors_charte": [...], "within": n}`` — state is "none", "under",
    "ok" or "over" (over only when the maximum was lowered after publication)."""
    parse_week(week)
    charter = charter_for(cpts_id)
    counts = weekly_counts(cpts_id, week)
    outside = hors_charte_counts(cpts_id, week)
    doctors = db.session.scalars(
        select(Doctor).where(doctor_in_cpts(cpts_id), Doctor.active.is_(True))
        .options(selectinload(Doctor.commune))
        .order_by(Doctor.last_name, Doctor.first_name)).all()
    rows = []
    for doctor in doctors:
        count = counts.get(doctor.id, 0)
        if count == 0:
            state = "none"
        elif count < charter.min_per_week:
            state = "under"
        elif count > charter.max_per_week:
            state = "over"
        else:
            state = "ok"
        rows.append({"doctor": doctor, "count": count, "hors_charte": outside.get(doctor.id, 0),
                     "state": state})
    return {
        "week": week,
        "monday": parse_week(week),
        "min": charter.min_per_week,
        "max": charter.max_per_week,
        "rows": rows,
        "under_minimum": [r for r in rows if r["count"] < charter.min_per_week],
        "hors_charte": [r for r in rows if r["hors_charte"] or r["state"] == "over"],
        "within": sum(1 for r in rows if r["state"] == "ok"),
    }


def silent_doctors(cpts_id: int, week: str, silent_weeks: int = 2) -> list[dict]:
    """Active volunteers with nothing published (withdrawn slots aside) in the
    ``silent_weeks`` weeks up to ``week``: ``[{"doctor_id", "doctor", "last_slot",
    "last_at"}]`` (the start of their last slot before, ISO and datetime, or None)."""
    from agenda.slots.models import SlotStatus

    parse_week(week)
    past = [shift_week(week, -i) for i in range(silent_weeks)]
    gone = (SlotStatus.WITHDRAWN.value,)
    active = set(db.session.scalars(
        select(Slot.doctor_id).where(Slot.cpts_id == cpts_id, Slot.week.in_(past),
                                     Slot.status.not_in(gone))))
    last_start = dict(db.session.execute(
        select(Slot.doctor_id, func.max(Slot.start))
        .where(Slot.cpts_id == cpts_id, Slot.status.not_in(gone),
               Slot.start < local_to_utc(parse_week(week) + timedelta(days=7), time(0)))
        .group_by(Slot.doctor_id)).all())
    doctors = db.session.scalars(
        select(Doctor).where(doctor_in_cpts(cpts_id), Doctor.active.is_(True))
        .order_by(Doctor.last_name, Doctor.first_name)).all()
    return [{"doctor_id": d.id, "doctor": f"Dr {d.first_name} {d.last_name}",
             "last_slot": last_start[d.id].isoformat() if d.id in last_start else None,
             "last_at": last_start.get(d.id)}
            for d in doctors if d.id not in active]


def current_week() -> str:
    return iso_week(clock.now())


def next_week() -> str:
    return shift_week(current_week(), 1)


def slot_to_dict(slot: Slot) -> dict:
    """The JSON form of a slot (no patient data)."""
    start, end = to_local(slot.start), to_local(slot.end)
    return {
        "id": slot.id,
        "kind": slot.kind,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "week": slot.week,
        "mode": slot.mode,
        "capacity": slot.capacity,
        "booked_count": slot.booked_count,
        "status": slot.status,
        "in_charter": slot.in_charter,
        "charter_note": slot.charter_note,
        "source": slot.source,
        "place_id": slot.place_id,
        "cpts_id": slot.cpts_id,
        "conflict": slot.conflict,
        "warnings": list(getattr(slot, "warnings", []) or []),
    }


def local_slot_input(kind: str, day: date, start: time, end: time, mode: str = "AMB",
                     capacity: int = 1) -> SlotInput:
    """A SlotInput from wall-clock Europe/Paris values (what the pages ask for)."""
    return SlotInput(kind=kind, start=local_to_utc(day, start), end=local_to_utc(day, end),
                     mode=mode, capacity=capacity)


def bookings_for_doctor(doctor: Doctor, slots: list[Slot]) -> dict[int, list]:
    """slot_id -> the live bookings of those slots (the doctor's own page only; audited)."""
    from agenda import audit
    from agenda.booking.models import Booking

    ids = [s.id for s in slots if s.booked_count or s.status in (
        lifecycle.BOOKED, lifecycle.SEEN, lifecycle.NO_SHOW)]
    if not ids:
        return {}
    bookings = db.session.scalars(
        select(Booking).where(Booking.doctor_id == doctor.id, Booking.slot_id.in_(ids),
                              Booking.status != "cancelled")
        .options(selectinload(Booking.patient), selectinload(Booking.reason))
        .order_by(Booking.start)).all()
    out: dict[int, list] = {}
    for booking in bookings:
        out.setdefault(booking.slot_id, []).append(booking)
        audit.record("view", "booking", booking.id, patient_id=booking.patient_id,
                     detail="ma semaine SNP")
    return out


def pool_summary(doctor: Doctor, week: str, cpts_id: int | None = None) -> dict:
    """What the doctor's week counts against the charter of one CPTS (default: the main
    place's) — for pages and panels."""
    cpts_id = cpts_id or doctor.cpts_id
    charter = charter_for(cpts_id)
    count = counted_in_week(doctor.id, week, cpts_id=cpts_id)
    if count < charter.min_per_week:
        state = "under"
    elif count > charter.max_per_week:
        state = "over"
    else:
        state = "ok"
    return {"week": week, "monday": parse_week(week), "count": count,
            "min": charter.min_per_week, "max": charter.max_per_week, "state": state,
            "room": max(0, charter.max_per_week - count)}
