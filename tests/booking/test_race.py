"""The race: 200 concurrent attempts on 20 slots give exactly 20 bookings — with threads and
with separate processes, on the configured engine (SQLite, or PostgreSQL in CI)."""

from __future__ import annotations

import contextlib
import multiprocessing
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import func, select

from agenda import clock
from agenda.accounts.models import User
from agenda.booking import services
from agenda.booking.models import Booking
from agenda.errors import Conflict
from agenda.extensions import db
from agenda.slots.models import Slot
from tests.booking.race_worker import attempt_bookings

ATTEMPTS = 200
SLOTS = 20


def _twenty_slots(make_doctor, make_slot) -> list[int]:
    now = clock.now()
    doctors = [make_doctor("44036") for _ in range(4)]
    return [make_slot(doctors[i % 4], now + timedelta(hours=2, minutes=25 * i)).id
            for i in range(SLOTS)]


def _assert_exactly_one_booking_per_slot(slot_ids: list[int]) -> None:
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Booking)) == SLOTS
    per_slot = dict(db.session.execute(
        select(Booking.slot_id, func.count()).group_by(Booking.slot_id)).all())
    assert per_slot == {sid: 1 for sid in slot_ids}
    rows = db.session.execute(select(Slot.booked_count, Slot.status)
                              .where(Slot.id.in_(slot_ids))).all()
    assert all(count == 1 and status == "booked" for count, status in rows)


def test_race_threads(app, make_doctor, make_slot, make_user):
    slot_ids = _twenty_slots(make_doctor, make_slot)
    users = [make_user("secretary")[0].id for _ in range(10)]
    plan = [(users[i % 10], slot_ids[i % SLOTS]) for i in range(ATTEMPTS)]
    random.Random(5).shuffle(plan)
    db.session.remove()
    workers = 12  # below the connection pool (5 + 10 overflow)
    start = threading.Barrier(workers)

    def attempt(args):
        user_id, slot_id = args
        with app.app_context():
            user = db.session.get(User, user_id)
            _ = user.organisation.kind, user.cpts_id
            with contextlib.suppress(threading.BrokenBarrierError):
                start.wait(timeout=5)
            try:
                services.book(user, services.BookingInput(
                    slot_id=slot_id, patient=services.PatientData(
                        last_name="Course", first_name="Patient", commune_insee="44036")))
                return "won"
            except Conflict:
                return "lost"
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(attempt, plan))
    assert outcomes.count("won") == SLOTS
    assert outcomes.count("lost") == ATTEMPTS - SLOTS
    _assert_exactly_one_booking_per_slot(slot_ids)


def test_race_processes(app, database_url, make_doctor, make_slot, make_user):
    slot_ids = _twenty_slots(make_doctor, make_slot)
    user_id = make_user("secretary")[0].id
    db.session.remove()
    ctx = multiprocessing.get_context("spawn")
    n_proc = 4
    barrier = ctx.Barrier(n_proc)
    results = ctx.Queue()
    rng = random.Random(7)
    procs = []
    for _ in range(n_proc):
        # Each process tries every slot twice, plus a few again: 4 x 50 = 200 attempts.
        attempts = slot_ids * 2 + rng.sample(slot_ids, ATTEMPTS // n_proc - 2 * SLOTS)
        rng.shuffle(attempts)
        procs.append(ctx.Process(target=attempt_bookings,
                                 args=(database_url, user_id, attempts, barrier, results)))
    for p in procs:
        p.start()
    totals = [results.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    won = sum(t[0] for t in totals)
    lost = sum(t[1] for t in totals)
    errors = sum(t[2] for t in totals)
    assert errors == 0
    assert won + lost == ATTEMPTS
    assert won == SLOTS
    _assert_exactly_one_booking_per_slot(slot_ids)
