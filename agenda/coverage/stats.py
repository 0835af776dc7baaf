"""Statistics of a period: calls, slots made available, requests, bookings, outcomes.

Definitions (the page, the CSV and the API share them):
* period = local dates [from, to] inclusive, Europe/Paris;
* slots made available = capacity of the CPTS's slots starting in the period, kept in the
  charter and not withdrawn/cancelled (a fixed slot counts 1, a floating window its
  capacity); floating hours = length of the floating windows;
* bookings = bookings whose consultation starts in the period, cancelled ones apart;
  consultations done = those marked seen; no-show rate = no-shows / (seen + no-shows);
* requests = floating requests made in the period; acceptance rate = accepted /
  (accepted + expired); time to acceptance = accepted_at - created_at;
* treating-doctor share = bookings seen by the patient's treating doctor / bookings;
* calls = handled calls logged in the period; reorientations = calls sent to the 15.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from agenda.booking.models import (Booking, BookingStatus, CallLog, FloatingRequest, Patient,
                                   Reason, Reorientation, RequestStatus)
from agenda.coverage.common import GONE_STATUSES, doctors
from agenda.extensions import db
from agenda.slots.models import Slot, SlotKind
from agenda.territory.models import Commune
from agenda.timeutil import iso_week, local_to_utc, to_local

CHANNELS = ("secretariat", "samu", "ed")
PERIODS = ("week", "month", "year", "custom")


def _tally(bucket: dict, status: str, n: int) -> None:
    """Count ``n`` non-cancelled bookings of ``status`` into ``bucket``."""
    bucket["bookings"] += n
    if status == BookingStatus.SEEN.value:
        bucket["seen"] += n
    elif status == BookingStatus.NO_SHOW.value:
        bucket["no_shows"] += n


def channel_label(channel: str) -> str:
    return {"secretariat": _("Télésecrétariat"), "samu": _("SAMU / SAS"),
            "ed": _("Urgences")}.get(channel, channel)


@dataclass
class Period:
    start_date: date
    end_date: date  # inclusive

    @property
    def start(self) -> datetime:
        return local_to_utc(self.start_date, time(0))

    @property
    def end(self) -> datetime:
        return local_to_utc(self.end_date + timedelta(days=1), time(0))

    @property
    def days(self) -> int:
        return (self.end_date - self.start_date).days + 1


def period_for(kind: str, today: date, start: date | None = None,
               end: date | None = None) -> Period:
    """The week, month or year containing ``today``, or a custom [start, end]."""
    if kind == "week":
        monday = today - timedelta(days=today.weekday())
        return Period(monday, monday + timedelta(days=6))
    if kind == "month":
        first = today.replace(day=1)
        nxt = (first + timedelta(days=32)).replace(day=1)
        return Period(first, nxt - timedelta(days=1))
    if kind == "year":
        return Period(date(today.year, 1, 1), date(today.year, 12, 31))
    if start is None or end is None or end < start:
        raise ValueError("custom period")
    return Period(start, end)


def _rate(num: float, den: float) -> float | None:
    return round(num / den, 4) if den else None


@dataclass
class Stats:
    period: Period
    summary: dict
    channels: list[dict]
    reasons: list[dict]
    doctors: list[dict]
    communes: list[dict]
    timeline: list[dict]
    timeline_unit: str = "week"
    extra: dict = field(default_factory=dict)

    TABLES = ("summary", "channels", "reasons", "doctors", "communes", "timeline")

    def table(self, name: str) -> list[dict]:
        if name == "summary":
            return [{"indicator": k, "value": v} for k, v in self.summary.items()]
        if name not in self.TABLES:
            raise KeyError(name)
        return getattr(self, name)

    def to_dict(self) -> dict:
        return {"from": self.period.start_date.isoformat(),
                "to": self.period.end_date.isoformat(),
                "summary": self.summary, "channels": self.channels, "reasons": self.reasons,
                "doctors": self.doctors, "communes": self.communes,
                "timeline_unit": self.timeline_unit, "timeline": self.timeline}


def _bucket(dt: datetime, unit: str) -> str:
    if unit == "month":
        return to_local(dt).strftime("%Y-%m")
    if unit == "day":
        return to_local(dt).date().isoformat()
    return iso_week(dt)


def compute(cpts_id: int, period: Period) -> Stats:
    start, end = period.start, period.end
    unit = "month" if period.days > 62 else ("day" if period.days <= 14 else "week")
    in_cpts_slot = Slot.cpts_id == cpts_id
    in_cpts_booking = Booking.cpts_id == cpts_id

    # Slots made available.
    slot_rows = db.session.execute(
        select(Slot.doctor_id, Slot.kind, Slot.start, Slot.end, Slot.capacity)
        .where(in_cpts_slot, Slot.start >= start, Slot.start < end,
               Slot.status.not_in(GONE_STATUSES), Slot.in_charter.is_(True))).all()
    per_doctor: dict[int, dict] = defaultdict(lambda: defaultdict(float))
    timeline: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    fixed = floating_cap = 0
    floating_hours = 0.0
    for doctor_id, kind, s, e, cap in slot_rows:
        d = per_doctor[doctor_id]
        if kind == SlotKind.FLOATING.value:
            floating_cap += cap
            hours = (e - s).total_seconds() / 3600
            floating_hours += hours
            d["floating_capacity"] += cap
            d["floating_hours"] += hours
        else:
            fixed += cap
            d["fixed_slots"] += cap
        timeline[_bucket(s, unit)]["slots"] += cap

    # Bookings by channel and status (one grouped query), then by doctor, commune, reason.
    b_base = (select(Booking.channel, Booking.status, Booking.treating_seen,
                     func.count(Booking.id))
              .where(in_cpts_booking, Booking.start >= start, Booking.start < end)
              .group_by(Booking.channel, Booking.status, Booking.treating_seen))
    channels: dict[str, dict] = {c: defaultdict(int) for c in CHANNELS}
    cancelled = 0
    treating = 0
    for channel, status, treating_seen, n in db.session.execute(b_base):
        ch = channels.setdefault(channel, defaultdict(int))
        if status == BookingStatus.CANCELLED.value:
            cancelled += n
            ch["cancelled"] += n
            continue
        _tally(ch, status, n)
        if treating_seen:
            treating += n
            ch["treating_seen"] += n

    for doctor_id, status, n in db.session.execute(
            select(Booking.doctor_id, Booking.status, func.count(Booking.id))
            .where(in_cpts_booking, Booking.start >= start, Booking.start < end,
                   Booking.status != BookingStatus.CANCELLED.value)
            .group_by(Booking.doctor_id, Booking.status)):
        d = per_doctor[doctor_id]
        _tally(d, status, n)

    for s, status in db.session.execute(
            select(Booking.start, Booking.status)
            .where(in_cpts_booking, Booking.start >= start, Booking.start < end,
                   Booking.status != BookingStatus.CANCELLED.value)):
        t = timeline[_bucket(s, unit)]
        _tally(t, status, 1)

    communes: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    for insee, status, n in db.session.execute(
            select(Patient.commune_insee, Booking.status, func.count(Booking.id))
            .join(Patient, Patient.id == Booking.patient_id)
            .where(in_cpts_booking, Booking.start >= start, Booking.start < end,
                   Booking.status != BookingStatus.CANCELLED.value)
            .group_by(Patient.commune_insee, Booking.status)):
        c = communes[insee]
        _tally(c, status, n)

    reasons: dict[int | None, dict] = defaultdict(lambda: defaultdict(int))
    for reason_id, n in db.session.execute(
            select(Booking.reason_id, func.count(Booking.id))
            .where(in_cpts_booking, Booking.start >= start, Booking.start < end,
                   Booking.status != BookingStatus.CANCELLED.value)
            .group_by(Booking.reason_id)):
        reasons[reason_id]["bookings"] += n

    # Requests made in the period.
    req_scope = (FloatingRequest.created_at >= start, FloatingRequest.created_at < end,
                 FloatingRequest.cpts_id == cpts_id)
    requests_by_status: dict[str, int] = defaultdict(int)
    for channel, status, n in db.session.execute(
            select(FloatingRequest.channel, FloatingRequest.status,
                   func.count(FloatingRequest.id)).where(*req_scope)
            .group_by(FloatingRequest.channel, FloatingRequest.status)):
        ch = channels.setdefault(channel, defaultdict(int))
        ch["requests"] += n
        requests_by_status[status] += n
        if status == RequestStatus.ACCEPTED.value:
            ch["accepted"] += n
        elif status == RequestStatus.EXPIRED.value:
            ch["expired"] += n
    for reason_id, n in db.session.execute(
            select(FloatingRequest.reason_id, func.count(FloatingRequest.id)).where(*req_scope)
            .group_by(FloatingRequest.reason_id)):
        reasons[reason_id]["requests"] += n
    for doctor_id, n in db.session.execute(
            select(FloatingRequest.accepted_doctor_id, func.count(FloatingRequest.id))
            .where(*req_scope, FloatingRequest.status == RequestStatus.ACCEPTED.value)
            .group_by(FloatingRequest.accepted_doctor_id)):
        if doctor_id is not None:
            per_doctor[doctor_id]["requests_accepted"] += n
    delays = [(acc - made).total_seconds() / 60 for made, acc in db.session.execute(
        select(FloatingRequest.created_at, FloatingRequest.accepted_at)
        .where(*req_scope, FloatingRequest.accepted_at.is_not(None)))]

    # Reorientations and calls.
    reo_scope = (Reorientation.created_at >= start, Reorientation.created_at < end,
                 Reorientation.cpts_id == cpts_id)
    reorientations = 0
    for channel, n in db.session.execute(
            select(Reorientation.channel, func.count(Reorientation.id)).where(*reo_scope)
            .group_by(Reorientation.channel)):
        channels.setdefault(channel, defaultdict(int))["reorientations"] += n
        reorientations += n
    for reason_id, n in db.session.execute(
            select(Reorientation.reason_id, func.count(Reorientation.id)).where(*reo_scope)
            .group_by(Reorientation.reason_id)):
        reasons[reason_id]["reorientations"] += n
    for insee, n in db.session.execute(
            select(Reorientation.commune_insee, func.count(Reorientation.id)).where(*reo_scope)
            .group_by(Reorientation.commune_insee)):
        if insee:
            communes[insee]["reorientations"] += n
    calls = 0
    for channel, n in db.session.execute(
            select(CallLog.channel, func.coalesce(func.sum(CallLog.count), 0))
            .where(CallLog.created_at >= start, CallLog.created_at < end,
                   CallLog.cpts_id == cpts_id)
            .group_by(CallLog.channel)):
        channels.setdefault(channel, defaultdict(int))["calls"] += int(n)
        calls += int(n)

    # Assemble.
    totals = defaultdict(int)
    for ch in channels.values():
        for k in ("bookings", "seen", "no_shows", "treating_seen"):
            totals[k] += ch[k]
    accepted = requests_by_status[RequestStatus.ACCEPTED.value]
    expired = requests_by_status[RequestStatus.EXPIRED.value]
    made_available = fixed + floating_cap
    summary = {
        "calls": calls,
        "slots_made_available": made_available,
        "fixed_slots": fixed,
        "floating_capacity": floating_cap,
        "floating_hours": round(floating_hours, 2),
        "bookings": totals["bookings"],
        "cancelled_bookings": cancelled,
        "consultations": totals["seen"],
        "no_shows": totals["no_shows"],
        "no_show_rate": _rate(totals["no_shows"], totals["seen"] + totals["no_shows"]),
        "consulted_share": _rate(totals["seen"], made_available),
        "requests": sum(requests_by_status.values()),
        "requests_accepted": accepted,
        "requests_expired": expired,
        "acceptance_rate": _rate(accepted, accepted + expired),
        "acceptance_minutes_median": round(statistics.median(delays), 1) if delays else None,
        "acceptance_minutes_mean": round(statistics.fmean(delays), 1) if delays else None,
        "treating_share": _rate(totals["treating_seen"], totals["bookings"]),
        "reorientations": reorientations,
    }
    channel_rows = []
    for key in list(CHANNELS) + sorted(set(channels) - set(CHANNELS)):
        ch = channels[key]
        channel_rows.append({
            "channel": key, "label": channel_label(key), "calls": ch["calls"],
            "requests": ch["requests"], "requests_accepted": ch["accepted"],
            "requests_expired": ch["expired"],
            "acceptance_rate": _rate(ch["accepted"], ch["accepted"] + ch["expired"]),
            "bookings": ch["bookings"], "consultations": ch["seen"], "no_shows": ch["no_shows"],
            "no_show_rate": _rate(ch["no_shows"], ch["seen"] + ch["no_shows"]),
            "treating_share": _rate(ch["treating_seen"], ch["bookings"]),
            "reorientations": ch["reorientations"]})

    labels = dict(db.session.execute(
        select(Reason.id, Reason.label).where(Reason.id.in_([r for r in reasons if r]))).all())
    reason_rows = sorted(
        ({"reason": labels.get(rid, _("Non renseigné")) if rid else _("Non renseigné"),
          "bookings": r["bookings"], "requests": r["requests"],
          "reorientations": r["reorientations"]} for rid, r in reasons.items()),
        key=lambda r: (-(r["bookings"] + r["requests"] + r["reorientations"]), r["reason"]))

    doctor_rows = []
    for doc in doctors(cpts_id, active_only=False):
        d = per_doctor.get(doc.id)
        if d is None and not doc.active:
            continue
        d = d or defaultdict(float)
        doctor_rows.append({
            "doctor_id": doc.id, "doctor": doc.name, "fixed_slots": int(d["fixed_slots"]),
            "floating_capacity": int(d["floating_capacity"]),
            "floating_hours": round(d["floating_hours"], 2),
            "bookings": int(d["bookings"]), "consultations": int(d["seen"]),
            "no_shows": int(d["no_shows"]), "requests_accepted": int(d["requests_accepted"]),
            "no_show_rate": _rate(d["no_shows"], d["seen"] + d["no_shows"])})

    names = dict(db.session.execute(select(Commune.insee, Commune.name)
                                    .where(Commune.insee.in_(list(communes)))).all())
    commune_rows = sorted(
        ({"insee": insee, "commune": names.get(insee, insee), "bookings": c["bookings"],
          "consultations": c["seen"], "no_shows": c["no_shows"],
          "reorientations": c["reorientations"]} for insee, c in communes.items()),
        key=lambda r: (-r["bookings"], r["commune"]))

    timeline_rows = [{"period": k, "slots": v["slots"], "bookings": v["bookings"],
                      "consultations": v["seen"], "no_shows": v["no_shows"]}
                     for k, v in sorted(timeline.items())]
    return Stats(period=period, summary=summary, channels=channel_rows, reasons=reason_rows,
                 doctors=doctor_rows, communes=commune_rows, timeline=timeline_rows,
                 timeline_unit=unit)


SUMMARY_LABELS = {
    "calls": _l("Appels traités"),
    "slots_made_available": _l("Créneaux mis à disposition"),
    "fixed_slots": _l("dont créneaux fixes"),
    "floating_capacity": _l("dont places en plages flottantes"),
    "floating_hours": _l("Heures de plages flottantes"),
    "bookings": _l("Rendez-vous pris"),
    "cancelled_bookings": _l("Rendez-vous annulés"),
    "consultations": _l("Consultations réalisées"),
    "no_shows": _l("Patients absents (lapins)"),
    "no_show_rate": _l("Taux d'absence"),
    "consulted_share": _l("Part des créneaux consommés"),
    "requests": _l("Demandes (plages flottantes)"),
    "requests_accepted": _l("Demandes acceptées"),
    "requests_expired": _l("Demandes expirées"),
    "acceptance_rate": _l("Taux d'acceptation"),
    "acceptance_minutes_median": _l("Délai d'acceptation médian (min)"),
    "acceptance_minutes_mean": _l("Délai d'acceptation moyen (min)"),
    "treating_share": _l("Part vue par le médecin traitant"),
    "reorientations": _l("Réorientations vers le 15"),
}


def summary_label(key: str) -> str:
    return str(SUMMARY_LABELS.get(key, key))
