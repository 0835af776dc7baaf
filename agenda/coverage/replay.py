"""A year of activity replayed through the services, as its users would live it, with the
replay's own ground truth (issue 13: statistics that reconcile with the field).

Every week the volunteers publish their slots (``slots.services.create_slot``); every
working day calls come in through the channels (call centre, SAMU/SAS, emergency
department, the CPTS itself): the booker searches (``search_slots``) and books the first
slot offered (a fixed booking or a floating request), or closes the call ("Aucun créneau
ne convient", the patient declines, other) or redirects it to the 15. Doctors accept
floating requests (or let them expire: the worker's timers run at their time), cancel a
few bookings, record outcomes (seen, no-show, "annulé") — or forget to; bookers cancel a
few; a few slots are withdrawn. The clock moves from event to event (``clock.set_now``).

Nothing is inserted behind the services: the truth is what the replay *did*, written down
as it went, and the statistics must equal it (``tests/coverage/test_stats_replay.py``).
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from agenda import clock
from agenda.accounts.models import Organisation, User
from agenda.accounts.services import create_organisation, create_user
from agenda.booking import services as booking
from agenda.booking.models import Booking, FloatingRequest, RequestOffer
from agenda.booking.services import calls as call_services
from agenda.booking.services import requests as cascade
from agenda.coverage.services import save_indemnity_formula
from agenda.errors import DomainError
from agenda.extensions import db
from agenda.slots import services as slots
from agenda.slots.models import Slot
from agenda.territory.models import Commune, Doctor
from agenda.territory.services import DoctorData, create_doctor, rpps_with_check_digit
from agenda.timeutil import local_to_utc, to_local

# Channel -> (role of the booker, kind of their organisation, share of the calls).
CHANNELS = {"secretariat": ("secretary", "secretariat", 0.62),
            "samu": ("regulator", "samu", 0.30),
            "ed": ("ed_nurse", "ed", 0.05),
            "cpts": ("secretary", "cpts", 0.03)}
FORMULA = {"per_slot": "25", "per_floating_hour": "31.70", "per_consultation": "1.15",
           "monthly_cap": "260"}


@dataclass
class Truth:
    """What the replay did, one row per thing the statistics count."""

    year: int
    calls: list[dict] = field(default_factory=list)  # at, channel, key (figure), commune
    requests: dict[int, dict] = field(default_factory=dict)  # id -> at, channel, status
    slots: dict[int, dict] = field(default_factory=dict)  # id -> start, kind, cap, minutes…
    bookings: dict[int, dict] = field(default_factory=dict)  # id -> start, status, …
    doctor_users: dict[int, object] = field(default_factory=dict)
    end: datetime | None = None  # the clock when the replay stopped
    formula: dict = field(default_factory=lambda: dict(FORMULA))


class _Replay:
    def __init__(self, cpts: Organisation, communes: list[Commune], year: int, seed: int,
                 n_doctors: int, calls_per_day: float) -> None:
        self.rng = random.Random(seed)
        self.cpts = cpts
        self.communes = communes
        # Plain values (ORM objects expire at every commit): Nantes is beyond every
        # practice's reach, so its few calls find no slot.
        self.insees = [c.insee for c in communes]
        self.weights = [0.05 if c.insee == "44109" else 1.0 for c in communes]
        self.year = year
        self.calls_per_day = calls_per_day
        self.truth = Truth(year=year)
        self.queue: list = []
        self.seq = itertools.count()
        self.n_doctors = n_doctors
        self.bookers: dict[str, object] = {}
        self.doctors: list[Doctor] = []

    # --- the event queue -----------------------------------------------------------------

    def at(self, when: datetime, action: Callable[[], None]) -> None:
        heapq.heappush(self.queue, (when, next(self.seq), action))

    def run(self) -> Truth:
        while self.queue:
            when, _n, action = heapq.heappop(self.queue)
            clock.set_now(when)
            action()
        return self.truth

    # --- the cast ------------------------------------------------------------------------

    def setup(self) -> None:
        clock.set_now(local_to_utc(date(self.year - 1, 12, 1), time(9)))
        save_indemnity_formula(self.cpts.id, dict(FORMULA))
        for channel, (role, kind, _share) in CHANNELS.items():
            org = self.cpts if kind == "cpts" else create_organisation(
                f"{kind} replay", kind, self.cpts.id)
            user, _pw = create_user(f"{channel}.replay@test.fr", f"{channel} replay", role, org)
            self.bookers[channel] = user
        north = [c for c in self.communes if c.lat > 47.5] or self.communes
        for i in range(self.n_doctors):
            c = north[i % len(north)]
            doctor = create_doctor(DoctorData(
                rpps=rpps_with_check_digit(f"{8100000000 + i}"), first_name="Rejeu",
                last_name=f"Médecin{i:02d}", commune_insee=c.insee,
                email=f"medecin{i:02d}.replay@test.fr",
                lat=c.lat + self.rng.uniform(-0.01, 0.01),
                lon=c.lon + self.rng.uniform(-0.01, 0.01)), self.cpts.id)
            user, _pw = create_user(f"doc{i:02d}.replay@test.fr", f"Dr {i}", "doctor",
                                    self.cpts)
            doctor.user_id = user.id
            self.doctors.append(doctor)
            self.truth.doctor_users[doctor.id] = user
        db.session.commit()
        self.doctor_ids = [d.id for d in self.doctors]

    # --- the supply ----------------------------------------------------------------------

    def schedule_year(self) -> None:
        first_monday = date(self.year, 1, 1) - timedelta(days=date(self.year, 1, 1).weekday())
        monday = first_monday
        while monday.year <= self.year:
            published = local_to_utc(monday - timedelta(days=3), time(18))
            self.at(published, lambda m=monday: self.publish_week(m))
            for d in range(6):
                day = monday + timedelta(days=d)
                if day.year != self.year:
                    continue
                n = self._poisson(self.calls_per_day * (0.5 if d == 5 else 1.0))
                for _ in range(n):
                    minute = self.rng.randint(8 * 60, (12 if d == 5 else 19) * 60 - 1)
                    self.at(local_to_utc(day, time(minute // 60, minute % 60)), self.call)
            monday += timedelta(days=7)

    def _poisson(self, lam: float) -> int:
        # Knuth: small lambdas only.
        import math

        limit, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1

    def publish_week(self, monday: date) -> None:
        for doctor in self.doctors:
            n = self.rng.choice([1, 1, 2, 2, 2])
            days = self.rng.sample(range(6), n)
            for d in days:
                day = monday + timedelta(days=d)
                last_hour = 11 if d == 5 else 19
                if self.rng.random() < 0.15:
                    cap = self.rng.choice([2, 3])
                    minutes = self.rng.choice([100, 140, 160, 180])
                    start_h = self.rng.randint(8, max(8, last_hour - 3))
                    start = local_to_utc(day, time(start_h, self.rng.choice([0, 20, 40])))
                    end = min(start + timedelta(minutes=minutes),
                              local_to_utc(day, time(last_hour + 1)))
                    data = slots.SlotInput(kind="floating", start=start, end=end, capacity=cap)
                else:
                    start = local_to_utc(day, time(self.rng.randint(8, last_hour),
                                                   self.rng.choice([0, 20, 40])))
                    data = slots.SlotInput(kind="fixed", start=start,
                                           end=start + timedelta(minutes=20))
                try:
                    slot = slots.create_slot(doctor, data)
                    db.session.commit()
                except DomainError:
                    db.session.rollback()
                    continue
                if not slot.in_charter:
                    continue
                self.truth.slots[slot.id] = {
                    "start": slot.start, "kind": slot.kind, "capacity": slot.capacity,
                    "minutes": round((slot.end - slot.start).total_seconds() / 60),
                    "doctor": doctor.id}
                if self.rng.random() < 0.02:
                    self.at(slot.start - timedelta(hours=30),
                            lambda s=slot.id, d=doctor: self.withdraw(d, s))

    def withdraw(self, doctor: Doctor, slot_id: int) -> None:
        slot = db.session.get(Slot, slot_id)
        try:
            slots.withdraw_slot(slot, "Empêchement")
            db.session.commit()
        except DomainError:
            db.session.rollback()
            return
        del self.truth.slots[slot_id]

    # --- the calls -----------------------------------------------------------------------

    def _channel(self) -> str:
        x, acc = self.rng.random(), 0.0
        for channel, (_r, _k, share) in CHANNELS.items():
            acc += share
            if x < acc:
                return channel
        return "secretariat"

    def _patient(self) -> booking.PatientData:
        insee = self.rng.choices(self.insees, self.weights)[0]
        kind, treating = "unknown", None
        x = self.rng.random()
        if x < 0.45:
            kind, treating = "doctor", self.rng.choice(self.doctor_ids)
        elif x < 0.7:
            kind = "none"
        return booking.PatientData(last_name="Patient", first_name="Rejeu",
                                   commune_insee=insee, treating_kind=kind,
                                   treating_doctor_id=treating)

    def _log(self, key: str, channel: str, commune: str | None) -> dict:
        row = {"at": clock.now(), "channel": channel, "key": key, "commune": commune}
        self.truth.calls.append(row)
        return row

    def call(self) -> None:
        channel = self._channel()
        user = self.bookers[channel]
        patient = self._patient()
        x = self.rng.random()
        if x < 0.03:
            booking.record_reorientation(user, patient.commune_insee)
            self._log("calls_reoriented", channel, patient.commune_insee)
            return
        commune = db.session.get(Commune, patient.commune_insee)
        results = booking.search_slots(user, commune,
                                       treating_doctor_id=patient.treating_doctor_id)
        if not results or x < 0.08:
            outcome = "no_slot" if not results or x < 0.06 else "declined"
            if x < 0.035 and results:
                outcome = "other"
            call_services.close_call(user, outcome, patient.commune_insee)
            key = {"no_slot": "calls_no_slot", "declined": "calls_declined",
                   "other": "calls_other"}[outcome]
            self._log(key, channel, patient.commune_insee)
            return
        chosen = results[0]
        try:
            if chosen.kind == "fixed" and self.rng.random() < 0.5:
                booking.hold_slot(user, chosen.slot_id)
            made = booking.book(user, booking.BookingInput(slot_id=chosen.slot_id,
                                                           patient=patient))
        except DomainError:
            db.session.rollback()
            call_services.close_call(user, "no_slot", patient.commune_insee)
            self._log("calls_no_slot", channel, patient.commune_insee)
            return
        if isinstance(made, Booking):
            self._log("calls_booked", channel, patient.commune_insee)
            self._booked(made, user, clock.now())
        else:
            row = self._log("calls_request_open", channel, patient.commune_insee)
            self._requested(made, user, row)

    # --- floating requests -----------------------------------------------------------------

    def _requested(self, req: FloatingRequest, user, call_row: dict) -> None:
        now = clock.now()
        truth = {"at": now, "channel": call_row["channel"], "status": "pending",
                 "doctor": None, "call": call_row}
        self.truth.requests[req.id] = truth
        x = self.rng.random()
        span = int((req.deadline_at - now).total_seconds() // 60) - 1
        if x < 0.04:
            self.at(now + timedelta(minutes=self.rng.randint(1, 10)),
                    lambda: self.cancel_request(user, req.id))
        elif x < 0.85 and span >= 2:
            self.at(now + timedelta(minutes=self.rng.randint(2, min(90, span))),
                    lambda: self.accept(req.id))
        self.at(req.t1_at + timedelta(seconds=1), cascade.escalate_due)
        self.at(req.deadline_at + timedelta(seconds=1), lambda: self.expire(req.id))

    def cancel_request(self, user, request_id: int) -> None:
        try:
            booking.cancel_request(user, request_id)
        except DomainError:
            db.session.rollback()
            return
        self.truth.requests[request_id]["status"] = "cancelled"

    def accept(self, request_id: int) -> None:
        req = db.session.get(FloatingRequest, request_id)
        now = clock.now()
        offers = db.session.execute(
            select(RequestOffer.doctor_id, Slot.start, Slot.end)
            .join(Slot, Slot.id == RequestOffer.slot_id)
            .where(RequestOffer.request_id == request_id, RequestOffer.refused_at.is_(None))
            .order_by(RequestOffer.id)).all()
        for doctor_id, s, e in offers:
            start = max(now, s, req.window_start) + timedelta(minutes=5)
            start = start.replace(second=0, microsecond=0)
            if start + timedelta(minutes=20) > min(e, req.window_end):
                continue
            try:
                made = booking.accept_request(self.truth.doctor_users[doctor_id], request_id,
                                              start)
            except DomainError:
                db.session.rollback()
                continue
            truth = self.truth.requests[request_id]
            truth.update(status="accepted", doctor=doctor_id)
            truth["call"]["key"] = "calls_request_accepted"
            self._booked(made, db.session.get(User, made.booker_user_id), truth["at"])
            return

    def expire(self, request_id: int) -> None:
        cascade.expire_due()
        truth = self.truth.requests[request_id]
        if truth["status"] == "pending":
            truth["status"] = "expired"
            truth["call"]["key"] = "calls_request_expired"

    # --- bookings --------------------------------------------------------------------------

    def _booked(self, made: Booking, booker_user, call_at: datetime) -> None:
        patient = made.patient
        row = {"start": made.start, "channel": made.channel, "status": "booked",
               "doctor": made.doctor_id, "treating": patient.treating_doctor_id,
               "call_at": call_at, "commune": patient.commune_insee}
        self.truth.bookings[made.id] = row
        now = clock.now()
        doctor_user = self.truth.doctor_users[made.doctor_id]
        x = self.rng.random()
        if x < 0.03 and made.start - now > timedelta(minutes=10):
            who = booker_user if x < 0.02 else doctor_user
            self.at(now + (made.start - now) / 2,
                    lambda: self.cancel(who, made.id))
            return
        y = self.rng.random()
        if y < 0.02:
            return  # the doctor never records the outcome
        outcome = "seen" if y < 0.82 else ("no_show" if y < 0.98 else "cancelled")
        later = made.end + timedelta(minutes=self.rng.randint(5, 20 * 60))
        self.at(later, lambda: self.outcome(doctor_user, made.id, outcome))

    def cancel(self, user, booking_id: int) -> None:
        booking.cancel_booking(user, booking_id, "Le patient va mieux")
        self.truth.bookings[booking_id].update(status="cancelled", path=user.role)

    def outcome(self, doctor_user, booking_id: int, outcome: str) -> None:
        booking.record_outcome(doctor_user, booking_id, outcome)
        self.truth.bookings[booking_id]["status"] = outcome
        if outcome == "cancelled":
            self.truth.bookings[booking_id]["path"] = "outcome"


def replay_year(cpts: Organisation, communes: list[Commune], *, year: int = 2025,
                seed: int = 2023, doctors: int = 25, calls_per_day: float = 7.3) -> Truth:
    """Replay a year for ``cpts`` (an empty CPTS of a test or bench database); the clock is
    left at the end of the replay (mid-January of the next year)."""
    replay = _Replay(cpts, communes, year, seed, doctors, calls_per_day)
    replay.setup()
    replay.schedule_year()
    end = local_to_utc(date(year + 1, 1, 15), time(12))
    replay.at(end, lambda: call_services.remind_missing_outcomes())
    truth = replay.run()
    truth.end = end
    clock.set_now(end)
    return truth


def local_month(dt: datetime) -> str:
    return to_local(dt).strftime("%Y-%m")
