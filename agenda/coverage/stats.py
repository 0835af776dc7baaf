"""Statistics of a period: one definition per figure, shared by the page, the CSV and the API.

Raw counters are tallied once per *bucket* (the whole period, each channel, each month or
week of the timeline, each doctor, reason and commune) by :func:`compute`, and every
figure is derived from a bucket's counters by one function, :func:`derive`. Each figure's
definition is :data:`FIGURES` (shown beside the figure on the page, title attribute and
footnote) and ``docs/statistics.md`` (with its formula).

Counting dates: a call, and a floating request, count on the local day they were made; a
booking, a consultation, a no-show and a slot on the local day of the consultation / slot.
The period is local dates [from, to] inclusive, Europe/Paris.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, or_, select

from agenda import clock
from agenda.booking.models import (Booking, BookingStatus, CallLog, CallOutcome,
                                   CancelledBy, FloatingRequest, Patient, Reason,
                                   RequestStatus, SmsMessage)
from agenda.booking.services.calls import MISSING_OUTCOME_AFTER
from agenda.coverage.common import GONE_STATUSES, doctors
from agenda.extensions import db
from agenda.slots.models import Slot, SlotKind
from agenda.territory.models import Commune, Place
from agenda.timeutil import iso_week, local_to_utc, to_local

CHANNELS = ("secretariat", "samu", "ed", "cpts", "other")
PERIODS = ("week", "month", "year", "custom")


def channel_label(channel: str) -> str:
    from agenda.labels import label

    return label(channel, "channel")


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


def rate(num: float, den: float) -> float | None:
    """A ratio rounded to 4 decimals (0.1234 = 12.34 %); None when the denominator is 0."""
    return round(num / den, 4) if den else None


# --- the figures --------------------------------------------------------------------------

@dataclass(frozen=True)
class Figure:
    label: object
    definition: object


FIGURES: dict[str, Figure] = {
    "requests": Figure(
        _l("Demandes (appels de soins non programmés)"),
        _l("Appels enregistrés dans la période, quelle que soit leur issue : rendez-vous "
           "fixe, demande flottante, aucun créneau, réorienté vers le 15, refus du patient, "
           "autre.")),
    "found_slot": Figure(
        _l("Demandes ayant trouvé un créneau"),
        _l("Appels de la période terminés par un rendez-vous fixe ou par une demande "
           "flottante acceptée par un médecin.")),
    "field_acceptance_rate": Figure(
        _l("Taux d'aboutissement (sens terrain)"),
        _l("Demandes ayant trouvé un créneau ÷ demandes (appels de la période).")),
    "calls_booked": Figure(_l("dont rendez-vous fixe"),
                           _l("Appels terminés par la réservation d'un créneau fixe.")),
    "calls_request_accepted": Figure(
        _l("dont demande flottante acceptée"),
        _l("Appels terminés par une demande flottante qu'un médecin a acceptée.")),
    "calls_request_expired": Figure(
        _l("dont demande flottante expirée"),
        _l("Appels terminés par une demande flottante que personne n'a acceptée à "
           "l'échéance.")),
    "calls_request_open": Figure(
        _l("dont demande flottante en attente ou annulée"),
        _l("Appels terminés par une demande flottante encore en attente, ou annulée par "
           "l'organisation demandeuse.")),
    "calls_no_slot": Figure(_l("dont aucun créneau ne convient"),
                            _l("Appels clos par « Aucun créneau ne convient ».")),
    "calls_reoriented": Figure(_l("dont réorientés vers le 15"),
                               _l("Appels jugés urgence vitale, réorientés vers le 15.")),
    "calls_declined": Figure(_l("dont refus du patient"),
                             _l("Appels clos parce que le patient a refusé l'offre.")),
    "calls_other": Figure(_l("dont autre issue"), _l("Appels clos avec l'issue « autre ».")),
    "floating_requests": Figure(
        _l("Demandes flottantes"),
        _l("Demandes envoyées aux médecins sur des plages flottantes, par jour d'envoi.")),
    "floating_accepted": Figure(_l("Demandes flottantes acceptées"),
                                _l("Demandes flottantes de la période acceptées.")),
    "floating_expired": Figure(_l("Demandes flottantes expirées"),
                               _l("Demandes flottantes de la période expirées sans médecin.")),
    "floating_acceptance_rate": Figure(
        _l("Taux d'acceptation des demandes flottantes"),
        _l("Acceptées ÷ (acceptées + expirées), demandes flottantes de la période (les "
           "demandes en attente ou annulées n'entrent pas dans le calcul).")),
    "slots_offered": Figure(
        _l("Créneaux mis à disposition"),
        _l("Capacité des créneaux commençant dans la période, dans la charte, non retirés "
           "par le médecin : un créneau fixe compte 1, une plage flottante sa capacité. "
           "Un créneau dont le rendez-vous est annulé reste offert.")),
    "fixed_slots": Figure(_l("dont créneaux fixes"), _l("Créneaux fixes mis à disposition.")),
    "floating_capacity": Figure(_l("dont places en plages flottantes"),
                                _l("Capacité des plages flottantes mises à disposition.")),
    "floating_hours": Figure(_l("Heures de plages flottantes"),
                             _l("Durée exacte des plages flottantes (minutes ÷ 60, arrondie "
                                "à 2 décimales pour l'affichage).")),
    "bookings": Figure(_l("Rendez-vous pris"),
                       _l("Rendez-vous (fixes et demandes acceptées) dont la consultation "
                          "est dans la période, annulés exclus.")),
    "cancelled_bookings": Figure(
        _l("Rendez-vous annulés"),
        _l("Rendez-vous de la période annulés (par « Annuler » ou l'issue « annulé »).")),
    "consultations": Figure(_l("Consultations réalisées"),
                            _l("Rendez-vous de la période marqués « vu ».")),
    "no_shows": Figure(_l("Patients absents (lapins)"),
                       _l("Rendez-vous de la période marqués « non venu ».")),
    "no_show_rate": Figure(_l("Taux d'absence"),
                           _l("Non venus ÷ (vus + non venus), rendez-vous de la période.")),
    "reminded_bookings": Figure(
        _l("Rendez-vous avec rappel SMS"),
        _l("Rendez-vous de la période, annulés exclus, dont le patient a reçu le SMS de "
           "rappel avant la consultation (remis à la passerelle).")),
    "no_shows_reminded": Figure(_l("Lapins avec rappel SMS"),
                                _l("Rendez-vous avec rappel SMS marqués « non venu ».")),
    "no_show_rate_reminded": Figure(
        _l("Taux d'absence avec rappel SMS"),
        _l("Non venus ÷ (vus + non venus), rendez-vous avec rappel SMS de la période.")),
    "no_shows_not_reminded": Figure(
        _l("Lapins sans rappel SMS"),
        _l("Rendez-vous sans rappel SMS (pas d'accord du patient, ou pris après l'heure du "
           "rappel) marqués « non venu ».")),
    "no_show_rate_not_reminded": Figure(
        _l("Taux d'absence sans rappel SMS"),
        _l("Non venus ÷ (vus + non venus), rendez-vous sans rappel SMS de la période.")),
    "patient_cancellations": Figure(
        _l("Annulés par le patient"),
        _l("Rendez-vous de la période annulés par le patient avec le lien du SMS (compris "
           "dans les rendez-vous annulés).")),
    "patient_cancel_median_hours": Figure(
        _l("Délai médian annulation par le patient → consultation (h)"),
        _l("Médiane, sur les rendez-vous annulés par le patient, du temps entre "
           "l'annulation et l'heure de la consultation, en heures.")),
    "consulted_share": Figure(_l("Part des créneaux consommés"),
                              _l("Consultations réalisées ÷ créneaux mis à disposition.")),
    "outcome_missing": Figure(
        _l("Rendez-vous sans issue après 48 h"),
        _l("Rendez-vous de la période encore « réservé » 48 h après leur heure (issue non "
           "saisie par le médecin, qui en reçoit un rappel).")),
    "own_doctor_seen": Figure(
        _l("Patients vus par leur médecin traitant"),
        _l("Consultations réalisées par le médecin traitant du patient.")),
    "own_doctor_patients": Figure(
        _l("Patients ayant un médecin traitant dans la CPTS"),
        _l("Consultations réalisées de patients dont le médecin traitant exerce dans la "
           "CPTS.")),
    "own_doctor_share": Figure(
        _l("Part vue par son médecin traitant"),
        _l("Patients vus par leur médecin traitant ÷ patients ayant un médecin traitant "
           "dans la CPTS (consultations réalisées de la période).")),
    "call_to_consultation_median_min": Figure(
        _l("Délai médian appel → consultation (min)"),
        _l("Médiane, sur les consultations réalisées de la période, du temps entre l'appel "
           "(réservation ou envoi de la demande) et l'heure de la consultation.")),
    "channel_share": Figure(_l("Part des demandes"),
                            _l("Demandes du canal ÷ demandes de tous les canaux.")),
}

# Summary order: calls -> slots offered -> consultations, then the rates.
SUMMARY_KEYS = (
    "requests", "calls_booked", "calls_request_accepted", "calls_request_expired",
    "calls_request_open", "calls_no_slot", "calls_reoriented", "calls_declined",
    "calls_other", "found_slot", "field_acceptance_rate",
    "floating_requests", "floating_accepted", "floating_expired", "floating_acceptance_rate",
    "slots_offered", "fixed_slots", "floating_capacity", "floating_hours",
    "bookings", "cancelled_bookings", "consultations", "no_shows", "no_show_rate",
    "reminded_bookings", "no_shows_reminded", "no_show_rate_reminded", "no_shows_not_reminded",
    "no_show_rate_not_reminded", "patient_cancellations", "patient_cancel_median_hours",
    "consulted_share", "outcome_missing", "own_doctor_seen", "own_doctor_patients",
    "own_doctor_share", "call_to_consultation_median_min")
CHANNEL_KEYS = ("requests", "channel_share", "found_slot", "field_acceptance_rate",
                "calls_no_slot", "calls_reoriented", "floating_requests", "floating_accepted",
                "floating_expired", "floating_acceptance_rate", "bookings", "consultations",
                "no_shows", "no_show_rate")
TIMELINE_KEYS = ("requests", "secretariat", "samu", "ed", "cpts", "other", "found_slot",
                 "field_acceptance_rate", "calls_no_slot", "calls_reoriented",
                 "floating_accepted", "floating_expired", "floating_acceptance_rate",
                 "slots_offered", "bookings", "consultations", "no_shows", "no_show_rate",
                 "consulted_share")
DOCTOR_KEYS = ("fixed_slots", "floating_capacity", "floating_hours", "slots_offered",
               "bookings", "consultations", "no_shows", "no_show_rate", "floating_accepted")

_CALL_KEY = {CallOutcome.BOOKED.value: "calls_booked",
             CallOutcome.NO_SLOT.value: "calls_no_slot",
             CallOutcome.REORIENTED.value: "calls_reoriented",
             CallOutcome.DECLINED.value: "calls_declined",
             CallOutcome.OTHER.value: "calls_other",
             "none": "calls_no_slot"}  # rows written before issue 13 ("none": no slot)
_REQUEST_CALL_KEY = {RequestStatus.ACCEPTED.value: "calls_request_accepted",
                     RequestStatus.EXPIRED.value: "calls_request_expired"}


def derive(c: dict, *, total_calls: int | None = None) -> dict:
    """Every figure of one bucket from its raw counters (the one place of each formula)."""
    calls = c.get("calls", 0)
    found = c.get("calls_booked", 0) + c.get("calls_request_accepted", 0)
    acc, exp = c.get("floating_accepted", 0), c.get("floating_expired", 0)
    seen, absent = c.get("consultations", 0), c.get("no_shows", 0)
    offered = c.get("fixed_slots", 0) + c.get("floating_capacity", 0)
    delays = c.get("delays") or []
    cancel_hours = c.get("patient_cancel_hours") or []
    seen_r, absent_r = c.get("seen_reminded", 0), c.get("no_shows_reminded", 0)
    out = {
        "requests": calls,
        "calls_booked": c.get("calls_booked", 0),
        "calls_request_accepted": c.get("calls_request_accepted", 0),
        "calls_request_expired": c.get("calls_request_expired", 0),
        "calls_request_open": c.get("calls_request_open", 0),
        "calls_no_slot": c.get("calls_no_slot", 0),
        "calls_reoriented": c.get("calls_reoriented", 0),
        "calls_declined": c.get("calls_declined", 0),
        "calls_other": c.get("calls_other", 0),
        "found_slot": found,
        "field_acceptance_rate": rate(found, calls),
        "floating_requests": c.get("floating_requests", 0),
        "floating_accepted": acc,
        "floating_expired": exp,
        "floating_acceptance_rate": rate(acc, acc + exp),
        "slots_offered": offered,
        "fixed_slots": c.get("fixed_slots", 0),
        "floating_capacity": c.get("floating_capacity", 0),
        "floating_hours": round(c.get("floating_minutes", 0) / 60, 2),
        "bookings": c.get("bookings", 0),
        "cancelled_bookings": c.get("cancelled_bookings", 0),
        "consultations": seen,
        "no_shows": absent,
        "no_show_rate": rate(absent, seen + absent),
        "reminded_bookings": c.get("reminded_bookings", 0),
        "no_shows_reminded": absent_r,
        "no_show_rate_reminded": rate(absent_r, seen_r + absent_r),
        "no_shows_not_reminded": absent - absent_r,
        "no_show_rate_not_reminded": rate(absent - absent_r,
                                          seen - seen_r + absent - absent_r),
        "patient_cancellations": c.get("patient_cancellations", 0),
        "patient_cancel_median_hours": (round(statistics.median(cancel_hours), 1)
                                        if cancel_hours else None),
        "consulted_share": rate(seen, offered),
        "outcome_missing": c.get("outcome_missing", 0),
        "own_doctor_seen": c.get("own_doctor_seen", 0),
        "own_doctor_patients": c.get("own_doctor_patients", 0),
        "own_doctor_share": rate(c.get("own_doctor_seen", 0), c.get("own_doctor_patients", 0)),
        "call_to_consultation_median_min": (round(statistics.median(delays), 1)
                                            if delays else None),
    }
    if total_calls is not None:
        out["channel_share"] = rate(calls, total_calls)
    for ch in CHANNELS:
        out[ch] = c.get(f"channel_{ch}", 0)
    return out


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
    missing_outcomes: list[dict] = field(default_factory=list)

    TABLES = ("summary", "channels", "reasons", "doctors", "communes", "timeline",
              "missing_outcomes")

    def table(self, name: str) -> list[dict]:
        if name == "summary":
            return [{"indicator": k, "label": summary_label(k), "value": v,
                     "definition": definition(k)} for k, v in self.summary.items()]
        if name not in self.TABLES:
            raise KeyError(name)
        return getattr(self, name)

    def to_dict(self) -> dict:
        return {"from": self.period.start_date.isoformat(),
                "to": self.period.end_date.isoformat(),
                "summary": self.summary, "channels": self.channels, "reasons": self.reasons,
                "doctors": self.doctors, "communes": self.communes,
                "timeline_unit": self.timeline_unit, "timeline": self.timeline,
                "missing_outcomes": self.missing_outcomes,
                "definitions": {k: definition(k) for k in FIGURES}}


def _bucket(dt: datetime, unit: str) -> str:
    if unit == "month":
        return to_local(dt).strftime("%Y-%m")
    if unit == "day":
        return to_local(dt).date().isoformat()
    return iso_week(dt)


class _Tally:
    """Raw counters per bucket: ("all",), ("channel", ch), ("t", period key), ("doctor", id),
    ("reason", id), ("commune", insee)."""

    def __init__(self, unit: str) -> None:
        self.unit = unit
        self.b: dict[tuple, dict] = defaultdict(lambda: defaultdict(int))

    def add(self, key: str, n: int = 1, *, at: datetime | None = None,
            channel: str | None = None, doctor: int | None = None,
            reason: int | None | bool = False, commune: str | None = None) -> None:
        buckets = [("all",)]
        if channel is not None:
            buckets.append(("channel", channel))
        if at is not None:
            buckets.append(("t", _bucket(at, self.unit)))
        if doctor is not None:
            buckets.append(("doctor", doctor))
        if reason is not False:
            buckets.append(("reason", reason))
        if commune is not None:
            buckets.append(("commune", commune))
        for b in buckets:
            self.b[b][key] += n

    def delay(self, minutes: float, *, at: datetime, channel: str,
              key: str = "delays") -> None:
        for b in (("all",), ("channel", channel), ("t", _bucket(at, self.unit))):
            self.b[b].setdefault(key, []).append(minutes)

    def of(self, *key) -> dict:
        return self.b.get(key, {})


def compute(cpts_id: int, period: Period, now: datetime | None = None, *,
            unit: str | None = None) -> Stats:
    """Every figure of the period; the timeline by ``unit`` (day, week or month; by
    default from the period's length)."""
    now = now or clock.now()
    start, end = period.start, period.end
    unit = unit or ("month" if period.days > 62 else ("day" if period.days <= 14 else "week"))
    t = _Tally(unit)

    # Calls, by the local day they were made.
    for channel, outcome, req_status, reason_id, insee, at, n in db.session.execute(
            select(CallLog.channel, CallLog.outcome, FloatingRequest.status,
                   CallLog.reason_id, CallLog.commune_insee, CallLog.created_at, CallLog.count)
            .outerjoin(FloatingRequest, FloatingRequest.id == CallLog.request_id)
            .where(CallLog.cpts_id == cpts_id, CallLog.created_at >= start,
                   CallLog.created_at < end)):
        if outcome == CallOutcome.REQUEST.value:
            key = _REQUEST_CALL_KEY.get(req_status, "calls_request_open")
        else:
            key = _CALL_KEY.get(outcome, "calls_other")
        where = {"at": at, "channel": channel, "reason": reason_id, "commune": insee}
        t.add("calls", n, **where)
        t.add(key, n, **where)
        t.add(f"channel_{channel}", n, at=at)

    # Floating requests, by the local day they were sent.
    for channel, status, doctor_id, at in db.session.execute(
            select(FloatingRequest.channel, FloatingRequest.status,
                   FloatingRequest.accepted_doctor_id, FloatingRequest.created_at)
            .where(FloatingRequest.cpts_id == cpts_id, FloatingRequest.created_at >= start,
                   FloatingRequest.created_at < end)):
        t.add("floating_requests", at=at, channel=channel)
        if status == RequestStatus.ACCEPTED.value:
            t.add("floating_accepted", at=at, channel=channel, doctor=doctor_id)
        elif status == RequestStatus.EXPIRED.value:
            t.add("floating_expired", at=at, channel=channel)

    # Slots offered, by the local day they start (only a withdrawal takes one back).
    for doctor_id, kind, s, e, cap in db.session.execute(
            select(Slot.doctor_id, Slot.kind, Slot.start, Slot.end, Slot.capacity)
            .where(Slot.cpts_id == cpts_id, Slot.start >= start, Slot.start < end,
                   Slot.status.not_in(GONE_STATUSES), Slot.in_charter.is_(True))):
        if kind == SlotKind.FLOATING.value:
            t.add("floating_capacity", cap, at=s, doctor=doctor_id)
            t.add("floating_minutes", round((e - s).total_seconds() / 60), at=s,
                  doctor=doctor_id)
        else:
            t.add("fixed_slots", cap, at=s, doctor=doctor_id)

    # Bookings, by the local day of the consultation.
    treating_in_cpts = select(Place.doctor_id).where(Place.cpts_id == cpts_id)
    reminded = select(SmsMessage.id).where(SmsMessage.booking_id == Booking.id,
                                           SmsMessage.kind == "reminder",
                                           SmsMessage.sent_at.is_not(None)).exists()
    for (channel, status, doctor_id, reason_id, s, insee, treating_id,
         treating_here, cancelled_by, cancelled_at, was_reminded) in db.session.execute(
            select(Booking.channel, Booking.status, Booking.doctor_id,
                   Booking.reason_id, Booking.start, Patient.commune_insee,
                   Patient.treating_doctor_id,
                   Patient.treating_doctor_id.in_(treating_in_cpts), Booking.cancelled_by,
                   Booking.cancelled_at, reminded)
            .join(Patient, Patient.id == Booking.patient_id)
            .where(Booking.cpts_id == cpts_id, Booking.start >= start, Booking.start < end)):
        where = {"at": s, "channel": channel}
        if status == BookingStatus.CANCELLED.value:
            t.add("cancelled_bookings", **where)
            if cancelled_by == CancelledBy.PATIENT.value:
                t.add("patient_cancellations", **where)
                if cancelled_at is not None:
                    t.delay((s - cancelled_at).total_seconds() / 3600, key="patient_cancel_hours",
                            **where)
            continue
        t.add("bookings", doctor=doctor_id, reason=reason_id, commune=insee, **where)
        if was_reminded:
            t.add("reminded_bookings", **where)
        if status == BookingStatus.SEEN.value:
            t.add("consultations", doctor=doctor_id, reason=reason_id, commune=insee, **where)
            if was_reminded:
                t.add("seen_reminded", **where)
            if treating_id is not None and treating_here:
                t.add("own_doctor_patients", **where)
                if treating_id == doctor_id:
                    t.add("own_doctor_seen", **where)
        elif status == BookingStatus.NO_SHOW.value:
            t.add("no_shows", doctor=doctor_id, commune=insee, **where)
            if was_reminded:
                t.add("no_shows_reminded", **where)
        elif s <= now - MISSING_OUTCOME_AFTER:
            t.add("outcome_missing", doctor=doctor_id, **where)

    # Call -> consultation delays (the call that led to the booking, fixed or floating).
    for channel, s, called in db.session.execute(
            select(Booking.channel, Booking.start, CallLog.created_at)
            .join(CallLog, or_(CallLog.booking_id == Booking.id,
                               and_(Booking.request_id.is_not(None),
                                    CallLog.request_id == Booking.request_id)))
            .where(Booking.cpts_id == cpts_id, Booking.start >= start, Booking.start < end,
                   Booking.status == BookingStatus.SEEN.value)):
        t.delay((s - called).total_seconds() / 60, at=s, channel=channel)

    total = t.of("all")
    summary_all = derive(total)
    summary = {k: summary_all[k] for k in SUMMARY_KEYS}
    total_calls = summary["requests"]

    channel_rows = []
    seen_channels = {b[1] for b in t.b if b[0] == "channel"}
    for ch in list(CHANNELS) + sorted(seen_channels - set(CHANNELS)):
        d = derive(t.of("channel", ch), total_calls=total_calls)
        channel_rows.append({"channel": ch, "label": channel_label(ch),
                             **{k: d[k] for k in CHANNEL_KEYS}})

    keys = sorted(b[1] for b in t.b if b[0] == "t")
    timeline_rows = []
    for k in keys:
        d = derive(t.of("t", k))
        timeline_rows.append({"period": k, **{key: d[key] for key in TIMELINE_KEYS}})

    doctor_rows = []
    for doc in doctors(cpts_id, active_only=False):
        raw = t.of("doctor", doc.id)
        if not raw and not doc.active:
            continue
        d = derive(raw)
        doctor_rows.append({"doctor_id": doc.id, "doctor": doc.name,
                            **{k: d[k] for k in DOCTOR_KEYS}})

    reason_ids = [b[1] for b in t.b if b[0] == "reason"]
    labels = dict(db.session.execute(select(Reason.id, Reason.label).where(
        Reason.id.in_([r for r in reason_ids if r]))).all())
    reason_rows = []
    for rid in reason_ids:
        d = derive(t.of("reason", rid))
        reason_rows.append({"reason": labels.get(rid, _("Non renseigné")) if rid
                            else _("Non renseigné"), "requests": d["requests"],
                            "found_slot": d["found_slot"], "bookings": d["bookings"],
                            "consultations": d["consultations"]})
    reason_rows.sort(key=lambda r: (-r["requests"], -r["bookings"], r["reason"]))

    insees = [b[1] for b in t.b if b[0] == "commune"]
    names = dict(db.session.execute(select(Commune.insee, Commune.name)
                                    .where(Commune.insee.in_(insees))).all())
    commune_rows = []
    for insee in insees:
        d = derive(t.of("commune", insee))
        commune_rows.append({"insee": insee, "commune": names.get(insee, insee),
                             "requests": d["requests"], "found_slot": d["found_slot"],
                             "calls_reoriented": d["calls_reoriented"],
                             "bookings": d["bookings"], "consultations": d["consultations"],
                             "no_shows": d["no_shows"]})
    commune_rows.sort(key=lambda r: (-r["requests"], -r["bookings"], r["commune"]))

    return Stats(period=period, summary=summary, channels=channel_rows, reasons=reason_rows,
                 doctors=doctor_rows, communes=commune_rows, timeline=timeline_rows,
                 timeline_unit=unit, missing_outcomes=missing_outcomes(cpts_id, now))


def requests_by_week(cpts_id: int, year: int) -> list[dict]:
    """The figure "requests" of every ISO week of ``year`` (``2025-W01`` to ``2025-W52``),
    split by channel: ``[{"week", "monday", "requests", <channel>: n…}]``, empty weeks
    included. The same computation as the statistics page's timeline, by week."""
    first = date.fromisocalendar(year, 1, 1)
    last = date.fromisocalendar(year, date(year, 12, 28).isocalendar()[1], 1)
    result = compute(cpts_id, Period(first, last + timedelta(days=6)), unit="week")
    by_week = {r["period"]: r for r in result.timeline}
    rows = []
    monday = first
    while monday <= last:
        week = iso_week(monday)
        r = by_week.get(week, {})
        rows.append({"week": week, "monday": monday, "requests": r.get("requests", 0),
                     **{ch: r.get(ch, 0) for ch in CHANNELS}})
        monday += timedelta(days=7)
    return rows


def missing_outcomes(cpts_id: int, now: datetime | None = None, limit: int = 500
                     ) -> list[dict]:
    """Bookings of the CPTS still "booked" 48 h after their start (no patient identity):
    the coordinator's list; the doctor is reminded once by mail."""
    from agenda.territory.models import Doctor

    now = now or clock.now()
    rows = db.session.execute(
        select(Booking.id, Booking.reference, Booking.start, Booking.doctor_id,
               Doctor.first_name, Doctor.last_name, Booking.outcome_reminded_at)
        .join(Doctor, Doctor.id == Booking.doctor_id)
        .where(Booking.cpts_id == cpts_id, Booking.status == BookingStatus.BOOKED.value,
               Booking.start <= now - MISSING_OUTCOME_AFTER)
        .order_by(Booking.start).limit(limit))
    return [{"booking_id": i, "reference": ref, "start": s.isoformat(), "doctor_id": d,
             "doctor": f"Dr {first} {last}",
             "reminded_at": reminded.isoformat() if reminded else None}
            for i, ref, s, d, first, last, reminded in rows]


def summary_label(key: str) -> str:
    fig = FIGURES.get(key)
    return str(fig.label) if fig else key


def definition(key: str) -> str:
    fig = FIGURES.get(key)
    return str(fig.definition) if fig else ""

