"""Supervision lists: charter compliance, alerts to act on, and the what-if simulation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import case, func, select

from agenda import clock
from agenda.accounts.models import Organisation
from agenda.alerts import Alert
from agenda.booking.models import Booking, BookingStatus, FloatingRequest, RequestStatus
from agenda.coverage import geo, hourly
from agenda.coverage.common import (GONE_STATUSES, charter, doctors, partner_org_ids_clause,
                                    territory)
from agenda.errors import NotFound, ValidationError
from agenda.extensions import db
from agenda.slots.models import Slot, SlotKind
from agenda.sync.models import CalendarAccount
from agenda.territory.models import Commune, Doctor, doctor_in_cpts
from agenda.slots.services import silent_doctors
from agenda.territory.services import doctor_cpts_ids
from agenda.timeutil import iso_week, shift_week, week_bounds

# --- charter compliance -----------------------------------------------------------------


def _weight():
    return case((Slot.kind == SlotKind.FLOATING.value, Slot.capacity), else_=1)


def week_counts(cpts_id: int, weeks: list[str]) -> dict[tuple[int, str], tuple[int, int]]:
    """(doctor, week) -> (in-charter count, slots kept "hors charte"), one query."""
    rows = db.session.execute(
        select(Slot.doctor_id, Slot.week,
               func.sum(case((Slot.in_charter.is_(True), _weight()), else_=0)),
               func.sum(case((Slot.in_charter.is_(False), 1), else_=0)))
        .where(Slot.cpts_id == cpts_id, Slot.week.in_(weeks),
               Slot.status.not_in(GONE_STATUSES))
        .group_by(Slot.doctor_id, Slot.week))
    return {(d, w): (int(n or 0), int(h or 0)) for d, w, n, h in rows}


@dataclass
class Compliance:
    weeks: list[str]
    min_per_week: int
    max_per_week: int
    under: dict[str, list[dict]]
    over: dict[str, list[dict]]
    silent: list[dict]

    def to_dict(self) -> dict:
        return {"weeks": self.weeks, "min": self.min_per_week, "max": self.max_per_week,
                "under": self.under, "over": self.over, "silent": self.silent}


def compliance(cpts_id: int, week: str | None = None, silent_weeks: int = 2) -> Compliance:
    """Under the minimum / over the maximum for ``week`` and the next one; volunteers with
    nothing published in the last ``silent_weeks`` weeks (``week`` included)."""
    week = week or iso_week(clock.now())
    nxt = shift_week(week, 1)
    ch = charter(cpts_id)
    docs = doctors(cpts_id)
    counts = week_counts(cpts_id, [week, nxt])
    under: dict[str, list[dict]] = {week: [], nxt: []}
    over: dict[str, list[dict]] = {week: [], nxt: []}
    for d in docs:
        for w in (week, nxt):
            n, outside = counts.get((d.id, w), (0, 0))
            row = {"doctor_id": d.id, "doctor": d.name, "week": w, "count": n,
                   "hors_charte": outside}
            if n < ch.min_per_week:
                under[w].append(row)
            if n > ch.max_per_week or outside:
                over[w].append(row)
    return Compliance(weeks=[week, nxt], min_per_week=ch.min_per_week,
                      max_per_week=ch.max_per_week, under=under, over=over,
                      silent=[{k: v for k, v in r.items() if k != "last_at"}
                              for r in silent_doctors(cpts_id, week, silent_weeks)])


# --- alerts -----------------------------------------------------------------------------

@dataclass
class AlertRow:
    kind: str
    when: datetime | None
    what: str
    who: str
    object_id: int | None = None
    # Its stored alert (None: a condition seen now that nobody has handled yet).
    alert_id: int | None = None
    state: str = "open"  # open / acknowledged / resolved
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None

    def to_dict(self) -> dict:
        def iso(dt):
            return dt.isoformat() if dt else None

        return {"kind": self.kind, "at": iso(self.when), "what": self.what,
                "who_must_act": self.who, "object_id": self.object_id,
                "alert_id": self.alert_id, "state": self.state,
                "acknowledged_at": iso(self.acknowledged_at),
                "acknowledged_by": self.acknowledged_by,
                "resolved_at": iso(self.resolved_at), "resolved_by": self.resolved_by}

    def handled_by(self, alert: Alert, names: dict[int, str]) -> None:
        self.alert_id, self.state = alert.id, alert.state
        self.acknowledged_at = alert.acknowledged_at
        self.acknowledged_by = names.get(alert.acknowledged_by_id)
        self.resolved_at = alert.resolved_at
        self.resolved_by = names.get(alert.resolved_by_id)


STATE_ORDER = {"open": 0, "acknowledged": 1, "resolved": 2}
# The kind of record a condition seen now is about (its stored alert's object_type).
DERIVED_OBJECTS = {"request_expired": "request", "sync_error": "calendar_account",
                   "event_conflict": "slot"}


def alerts(cpts_id: int, days: int = 7) -> list[AlertRow]:
    """What someone must act on: expired requests (last ``days``), calendar sync errors,
    booked slots whose calendar event disappeared, and the open alerts of the CPTS."""
    now = clock.now()
    out: list[AlertRow] = []
    orgs = {o.id: o.name for o in db.session.scalars(
        select(Organisation).where(partner_org_ids_clause(Organisation.id, cpts_id)))}
    for rid, ref, org_id, expired_at, deadline in db.session.execute(
            select(FloatingRequest.id, FloatingRequest.reference, FloatingRequest.booker_org_id,
                   FloatingRequest.expired_at,
                   FloatingRequest.deadline_at)
            .where(FloatingRequest.status == RequestStatus.EXPIRED.value,
                   FloatingRequest.cpts_id == cpts_id,
                   FloatingRequest.deadline_at >= now - timedelta(days=days))
            .order_by(FloatingRequest.deadline_at.desc())):
        out.append(AlertRow("request_expired", expired_at or deadline,
                            _("Demande %(ref)s expirée sans médecin : rappeler le patient et "
                              "l'orienter.", ref=ref),
                            orgs.get(org_id, _("l'organisation demandeuse")), rid))
    for acc_id, first, last, err, at in db.session.execute(
            select(CalendarAccount.id, Doctor.first_name, Doctor.last_name,
                   CalendarAccount.last_error, CalendarAccount.last_sync_at)
            .join(Doctor, Doctor.id == CalendarAccount.doctor_id)
            .where(doctor_in_cpts(cpts_id), CalendarAccount.state == "error")):
        out.append(AlertRow("sync_error", at,
                            _("Synchronisation du calendrier en erreur : %(err)s",
                              err=(err or _("erreur inconnue"))[:200]),
                            _("Dr %(first)s %(last)s (reconnecter son calendrier), "
                              "sinon la coordination", first=first, last=last), acc_id))
    conflicts = db.session.execute(
        select(Slot.id, Slot.start, Slot.conflict, Doctor.first_name, Doctor.last_name)
        .join(Doctor, Doctor.id == Slot.doctor_id)
        .where(Slot.cpts_id == cpts_id, Slot.conflict.is_not(None),
               Slot.booked_count > 0, Slot.end > now)
        .order_by(Slot.start)).all()
    bookers: dict[int, set[str]] = {}
    if conflicts:
        for slot_id, org_id in db.session.execute(
                select(Booking.slot_id, Booking.booker_org_id)
                .where(Booking.slot_id.in_([c[0] for c in conflicts]),
                       Booking.status == BookingStatus.BOOKED.value)):
            bookers.setdefault(slot_id, set()).add(orgs.get(org_id, "?"))
    for slot_id, start, conflict, first, last in conflicts:
        who = ", ".join(sorted(bookers.get(slot_id, ()))) or _("la coordination")
        out.append(AlertRow("event_conflict", start,
                            _("Créneau réservé dont l'événement a disparu du calendrier "
                              "(%(why)s)", why=conflict),
                            _("Dr %(first)s %(last)s (confirmer) et %(who)s (prévenir le "
                              "patient)", first=first, last=last, who=who), slot_id))
    return _with_handling(cpts_id, out, orgs, now - timedelta(days=days))


def _with_handling(cpts_id: int, derived: list[AlertRow], orgs: dict[int, str],
                   since: datetime) -> list[AlertRow]:
    """The conditions seen now, each with its stored alert's handling, then the other
    stored alerts (open ones, and those resolved since ``since``): open first, then
    acknowledged, then resolved, the newest first within each."""
    from agenda.accounts.models import User

    stored = db.session.scalars(
        select(Alert).where(Alert.cpts_id == cpts_id,
                            (Alert.resolved_at.is_(None)) | (Alert.resolved_at >= since))
        .order_by(Alert.created_at.desc(), Alert.id.desc()).limit(500)).all()
    user_ids = {i for a in stored for i in (a.acknowledged_by_id, a.resolved_by_id) if i}
    names = dict(db.session.execute(select(User.id, User.name).where(User.id.in_(user_ids)))
                 .all()) if user_ids else {}
    latest: dict[tuple[str, int | None], Alert] = {}
    for a in stored:
        latest.setdefault((a.kind, a.object_id), a)
    out: list[AlertRow] = []
    shown: set[int] = set()
    for row in derived:
        alert = latest.get((row.kind, row.object_id))
        if alert is not None:
            shown.update(a.id for a in stored if (a.kind, a.object_id) == (row.kind,
                                                                           row.object_id))
            if alert.state == "resolved" and row.kind == "sync_error" and row.when \
                    and row.when > alert.resolved_at:
                alert = None  # failing again since it was resolved: a new alert
            else:
                row.handled_by(alert, names)
        out.append(row)
    for a in stored:
        if a.id in shown:
            continue
        who = orgs.get(a.organisation_id) if a.organisation_id else None
        row = AlertRow(a.kind, a.created_at, a.message, who or _("la coordination"),
                       a.object_id)
        row.handled_by(a, names)
        out.append(row)
    epoch = datetime.min.replace(tzinfo=UTC)
    out.sort(key=lambda r: (STATE_ORDER[r.state], -(r.when or epoch).timestamp()))
    return out


def alert_counts(rows: list[AlertRow]) -> dict[str, int]:
    """``{"open": n, "acknowledged": n}`` for the dashboard."""
    return {state: sum(1 for r in rows if r.state == state) for state in ("open",
                                                                          "acknowledged")}


# --- what-if ----------------------------------------------------------------------------

@dataclass
class WhatIf:
    label: str
    weekday: int
    hour_from: int
    hour_to: int
    hours_filled: int  # hours of the window with no supply today that it would cover
    population_added: int  # people newly within the radius at some hour of the window
    population_hours: int  # sum over the window's hours of people newly within the radius
    communes_added: list[str]

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def what_if(cpts_id: int, week: str, weekday: int, hour_from: int, hour_to: int, *,
            doctor_id: int | None = None, commune_insee: str | None = None) -> WhatIf:
    """What a doctor (or a practice in a commune of the territory) offering capacity on
    ``weekday`` from ``hour_from`` to ``hour_to`` would add to the coverage of ``week``.

    The baseline is the map's: at each hour, the doctors with *bookable* capacity then
    (:func:`agenda.coverage.geo.bookable_slots`; a booked-out doctor is not present); an
    hour is "filled" when nobody has bookable capacity in it today."""
    if not 1 <= weekday <= 7 or not 0 <= hour_from < hour_to <= 24:
        raise ValidationError(_("Choisissez un jour et une plage horaire valides."))
    if doctor_id:
        doc = db.session.get(Doctor, doctor_id)
        if doc is None or cpts_id not in doctor_cpts_ids(doc.id) or doc.lat is None:
            raise NotFound(_("Médecin introuvable."))
        lat, lon, label = doc.lat, doc.lon, doc.display_name
    elif commune_insee:
        com = db.session.get(Commune, commune_insee.strip().upper())
        if com is None or com.lat is None:
            raise NotFound(_("Commune inconnue du territoire."))
        lat, lon, label = com.lat, com.lon, com.name
    else:
        raise ValidationError(_("Choisissez un médecin ou une commune."))
    ch = charter(cpts_id)
    terr = territory(cpts_id)
    if commune_insee and not doctor_id and com.insee not in set(terr.insee):
        raise ValidationError(_("La commune %(name)s n'est pas dans le territoire de la "
                                "CPTS : choisissez une commune de ses secteurs.",
                                name=com.name), field="commune")
    w_start, w_end = week_bounds(week)
    present_at: dict[tuple[int, int], dict[int, tuple[float, float]]] = {}
    for doc_id, d_lat, d_lon, s, e in geo.bookable_slots(cpts_id, w_start, w_end):
        for h_start, key, _share in hourly.hour_parts(s, e):
            if w_start <= h_start < w_end:
                present_at.setdefault(key, {})[doc_id] = (d_lat, d_lon)
    mine = geo.within_km(terr.lat, terr.lon, lat, lon, ch.radius_km)
    filled = 0
    added_any = [False] * len(terr)
    pop_hours = 0
    for h in range(hour_from, hour_to):
        present = list(present_at.get((weekday, h), {}).values())
        if not present:
            filled += 1
        dist, _idx = geo.nearest_km(terr.lat, terr.lon, [p[0] for p in present],
                                    [p[1] for p in present])
        for i in range(len(terr)):
            if mine[i] and not geo.within_radius(dist[i], ch.radius_km):
                added_any[i] = True
                pop_hours += terr.population[i]
    communes = sorted((i for i in range(len(terr)) if added_any[i]),
                      key=lambda i: -terr.population[i])
    return WhatIf(label=label, weekday=weekday, hour_from=hour_from, hour_to=hour_to,
                  hours_filled=filled,
                  population_added=sum(terr.population[i] for i in communes),
                  population_hours=pop_hours,
                  communes_added=[terr.name[i] for i in communes])
