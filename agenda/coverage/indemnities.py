"""Indemnities per doctor per month, from the formula the coordinator configures.

The formula (``CharterSettings.indemnity_formula``, JSON) adds up:

* ``per_slot``           € per fixed slot made available;
* ``per_floating_hour``  € per hour of floating window made available;
* ``per_session``        € per session (a doctor's local day with slots made available);
* ``session_tiers``      instead of ``per_session``: [[min patients seen, €], …] — the
  session earns the amount of the highest tier reached by the patients seen that day
  (e.g. [[0, 200], [3, 150], [6, 100], [10, 60]]: decreasing with patients seen);
* ``per_consultation``   € per consultation done;
* ``monthly_cap``        optional ceiling per doctor and month.

Amounts are decimals (cents); absent keys count 0. Every part is computed exactly —
floating time in whole minutes (``per_floating_hour × minutes / 60``), no intermediate
rounding — and the line (a doctor's month) is rounded once, to the cent (half up), after
the cap.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select

from agenda.booking.models import Booking, BookingStatus
from agenda.coverage.common import GONE_STATUSES, doctors
from agenda.errors import ValidationError
from agenda.extensions import db
from agenda.i18n import format_money
from agenda.slots.models import Slot, SlotKind
from agenda.timeutil import local_to_utc, to_local

CENT = Decimal("0.01")
MONEY_KEYS = ("per_slot", "per_floating_hour", "per_session", "per_consultation")
PRESETS = {
    "per_slot": {"per_slot": "25"},
    "per_session": {"per_session": "100"},
    "decreasing": {"session_tiers": [[0, "200"], [3, "150"], [6, "100"], [10, "60"]]},
}


def _money(value, name: str) -> Decimal:
    """An amount in euros (``25``, ``25,50``, ``25.5``), to the cent, or ValidationError
    (at the field ``name``)."""
    try:
        amount = Decimal(str(value).replace(",", ".").replace("€", "").strip() or "0")
    except (InvalidOperation, ValueError):
        raise ValidationError(_("Montant invalide : « %(value)s » (un nombre d'euros, par "
                                "exemple 25 ou 25,50).", value=str(value)[:30]),
                              field=name) from None
    if not amount.is_finite() or amount < 0 or amount > 100000:
        raise ValidationError(_("Montant hors limites : « %(value)s » (de 0 à 100 000 €).",
                                value=str(value)[:30]), field=name)
    return amount.quantize(CENT)


def parse_tiers(text: str) -> list[list]:
    """``"0:200, 3:150, 6:100"`` -> [[0, "200.00"], [3, "150.00"], [6, "100.00"]]
    (the JSON API and the command line; the page sends one row per tier)."""
    tiers = []
    for part in (text or "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if ":" not in part:
            raise ValidationError(_("Palier invalide « %(part)s » : écrivez patients:montant, "
                                    "par exemple 0:200, 3:150.", part=part), field="session_tiers")
        n, amount = part.split(":", 1)
        tiers.append([n.strip(), amount.strip()])
    return tiers


def _tier(tier, field: str) -> list:
    if not isinstance(tier, (list, tuple)) or len(tier) != 2:
        raise ValidationError(_("Palier invalide : indiquez un nombre de patients et un "
                                "montant."), field=field)
    text = str(tier[0]).strip()
    if not text.isdigit() or len(text) > 4:
        raise ValidationError(_("Nombre de patients invalide : « %(n)s » (un nombre entier, "
                                "par exemple 3).", n=text[:30]), field=field)
    return [int(text), str(_money(tier[1], field))]


def check_formula(data: dict) -> tuple[dict, dict[str, str]]:
    """The clean formula and the errors found, by field: every money field by its key,
    each tier by ``tier-<i>`` (its row), the tiers as a whole by ``session_tiers``."""
    if not isinstance(data, dict):
        return {}, {"formula": _("La formule doit être un objet JSON.")}
    out: dict = {}
    errors: dict[str, str] = {}
    for key in (*MONEY_KEYS, "monthly_cap"):
        if data.get(key) not in (None, ""):
            try:
                out[key] = str(_money(data[key], key))
            except ValidationError as exc:
                errors[key] = exc.message
    tiers = data.get("session_tiers") or []
    if isinstance(tiers, str):
        try:
            tiers = parse_tiers(tiers)
        except ValidationError as exc:
            errors["session_tiers"], tiers = exc.message, []
    clean = []
    for i, tier in enumerate(tiers if isinstance(tiers, list) else [tiers]):
        try:
            clean.append(_tier(tier, f"tier-{i}"))
        except ValidationError as exc:
            errors[exc.field] = exc.message
    if clean and not any(k.startswith("tier-") for k in errors):
        counts = [t[0] for t in clean]
        if len(set(counts)) != len(counts):
            errors["session_tiers"] = _("Deux paliers ont le même nombre de patients.")
        elif min(counts) != 0:
            errors["session_tiers"] = _("Le premier palier doit commencer à 0 patient.")
        else:
            out["session_tiers"] = sorted(clean, key=lambda t: t[0])
    return out, errors


def validate_formula(data: dict) -> dict:
    """A clean formula (strings for money) or ValidationError (the first error)."""
    out, errors = check_formula(data)
    if errors:
        field, message = next(iter(errors.items()))
        raise ValidationError(message, field="session_tiers" if field.startswith("tier-")
                              else field)
    return out


def tier_amount(tiers: list[list], seen: int) -> Decimal:
    amount = Decimal(0)
    for n, value in sorted(tiers, key=lambda t: int(t[0])):
        if seen >= int(n):
            amount = Decimal(str(value))
    return amount


@dataclass
class DoctorMonth:
    doctor_id: int
    doctor: str
    fixed_slots: int = 0
    floating_windows: int = 0
    floating_minutes: int = 0
    sessions: int = 0
    consultations: int = 0
    no_shows: int = 0
    seen_by_day: dict = field(default_factory=lambda: defaultdict(int))
    days: set = field(default_factory=set)
    amount: Decimal = Decimal("0.00")
    detail: str = ""
    # The parts of the amount, as a statement lists them: (label, amount before the cap).
    lines: list = field(default_factory=list)

    @property
    def floating_hours(self) -> float:
        """For display only (the amount uses the exact minutes)."""
        return round(self.floating_minutes / 60, 2)

    def to_dict(self) -> dict:
        """The line as the page, the CSV and the API show it (amount: Decimal, to the cent)."""
        return {"doctor_id": self.doctor_id, "doctor": self.doctor,
                "fixed_slots": self.fixed_slots, "floating_windows": self.floating_windows,
                "floating_minutes": self.floating_minutes,
                "floating_hours": self.floating_hours, "sessions": self.sessions,
                "consultations": self.consultations, "no_shows": self.no_shows,
                "amount": self.amount, "detail": self.detail}


def amount_for(row: DoctorMonth, formula: dict) -> tuple[Decimal, str]:
    f = {k: Decimal(str(formula.get(k, "0"))) for k in MONEY_KEYS}
    parts: list[tuple[str, Decimal]] = []
    if f["per_slot"]:
        parts.append((f"{row.fixed_slots} × {format_money(f['per_slot'])}",
                      f["per_slot"] * row.fixed_slots))
    if f["per_floating_hour"]:
        minutes = row.floating_minutes
        label = f"{minutes // 60} h {minutes % 60:02d} × {format_money(f['per_floating_hour'])}"
        parts.append((label, f["per_floating_hour"] * minutes / Decimal(60)))
    tiers = formula.get("session_tiers") or []
    if tiers:
        total = sum((tier_amount(tiers, row.seen_by_day.get(day, 0)) for day in row.days),
                    Decimal(0))
        parts.append((ngettext("%(num)d astreinte (paliers)", "%(num)d astreintes (paliers)",
                               len(row.days)), total))
    elif f["per_session"]:
        parts.append((f"{len(row.days)} × {format_money(f['per_session'])}",
                      f["per_session"] * len(row.days)))
    if f["per_consultation"]:
        parts.append((f"{row.consultations} × {format_money(f['per_consultation'])}",
                      f["per_consultation"] * row.consultations))
    amount = sum((p[1] for p in parts), Decimal(0))
    cap = formula.get("monthly_cap")
    if cap not in (None, "") and amount > Decimal(str(cap)):
        # The statement shows what the ceiling takes off, so that its lines add up.
        parts.append((_("plafond %(cap)s", cap=format_money(Decimal(str(cap)))),
                      Decimal(str(cap)) - amount))
        amount = Decimal(str(cap))
    row.lines = [(label, value.quantize(CENT, rounding=ROUND_HALF_UP)) for label, value in parts]
    return amount.quantize(CENT, rounding=ROUND_HALF_UP), " + ".join(p[0] for p in parts)


def month_bounds(month: str) -> tuple[date, date]:
    """``"2026-11"`` -> (first day, first day of the next month)."""
    try:
        year, mon = (int(x) for x in month.split("-"))
        first = date(year, mon, 1)
    except (ValueError, AttributeError):
        raise ValidationError(_("Mois invalide : %(m)s (attendu AAAA-MM).", m=month),
                              field="month") from None
    nxt = (first + timedelta(days=32)).replace(day=1)
    return first, nxt


def monthly(cpts_id: int, month: str, formula: dict) -> list[DoctorMonth]:
    first, nxt = month_bounds(month)
    start, end = local_to_utc(first, time(0)), local_to_utc(nxt, time(0))
    rows = {d.id: DoctorMonth(d.id, d.name) for d in doctors(cpts_id, active_only=False)}
    for doctor_id, kind, s, e in db.session.execute(
            select(Slot.doctor_id, Slot.kind, Slot.start, Slot.end)
            .where(Slot.cpts_id == cpts_id, Slot.start >= start, Slot.start < end,
                   Slot.status.not_in(GONE_STATUSES), Slot.in_charter.is_(True))):
        row = rows[doctor_id]
        if kind == SlotKind.FLOATING.value:
            row.floating_windows += 1
            row.floating_minutes += round((e - s).total_seconds() / 60)
        else:
            row.fixed_slots += 1
        row.days.add(to_local(s).date())
    for doctor_id, s, status in db.session.execute(
            select(Booking.doctor_id, Booking.start, Booking.status)
            .where(Booking.cpts_id == cpts_id, Booking.start >= start, Booking.start < end,
                   Booking.status.in_((BookingStatus.SEEN.value, BookingStatus.NO_SHOW.value)))):
        row = rows[doctor_id]
        if status == BookingStatus.SEEN.value:
            row.consultations += 1
            row.seen_by_day[to_local(s).date()] += 1
        else:
            row.no_shows += 1
    out = []
    for row in rows.values():
        row.sessions = len(row.days)
        row.amount, row.detail = amount_for(row, formula)
        if row.sessions or row.consultations or row.no_shows:
            out.append(row)
    return out


def total(rows: list[DoctorMonth]) -> Decimal:
    return sum((r.amount for r in rows), Decimal("0.00"))


@dataclass
class Statement:
    """What a treasurer hands a doctor: the CPTS, the doctor, the month, the lines."""

    cpts: str
    doctor: object  # territory.models.Doctor
    first_day: date
    row: DoctorMonth


def statement(cpts_id: int, doctor_id: int, month: str, formula: dict) -> Statement:
    """The doctor's line of :func:`monthly` (the same computation as the list and the
    CSV), or an empty one for a doctor of the CPTS with no activity; NotFound otherwise."""
    from agenda.accounts.models import Organisation
    from agenda.errors import NotFound
    from agenda.territory.models import Doctor

    first, _next = month_bounds(month)
    doctor = db.session.get(Doctor, doctor_id)
    if doctor is None or doctor_id not in {d.id for d in doctors(cpts_id, active_only=False)}:
        raise NotFound(_("Médecin introuvable."))
    row = next((r for r in monthly(cpts_id, month, formula) if r.doctor_id == doctor_id),
               None) or DoctorMonth(doctor_id, doctor.display_name)
    return Statement(db.session.get(Organisation, cpts_id).name, doctor, first, row)
