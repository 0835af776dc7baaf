"""The search's plan, the duplicate check's and the take's stay index-driven at every scale
(issue 17).

A generated department as in ``bench/booking.py`` (the real communes nearest to
Châteaubriant, doctors spread over them, six slots each over the next two days), at 1× and
10× (1,000 / 10,000 doctors, 6,000 / 60,000 slots, 700 / 7,000 communes), statistics
gathered as autovacuum would. The database's own plan of the search query — the very
statement ``run_search`` sends, with its parameters — must never read the whole ``slots``
table: on PostgreSQL no sequential scan of ``slots`` (per place, its slots through an
index, the top N in start order); on SQLite a SEARCH of ``slots`` through one of its
indexes, never a SCAN. Plans, not timings: timings are for ``bench/``.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import event, insert, select, text

from agenda import clock
from agenda.booking import services
from agenda.extensions import db
from agenda.slots.models import Slot
from agenda.territory.models import Commune, Doctor, Place
from agenda.territory.services import shipped_communes_near
from agenda.timeutil import iso_week
from tests.plans import forget_sqlite_statistics, generic_plan, plan_nodes, plan_of

CENTRE = (47.72021, -1.39411)  # Châteaubriant


def _department(cpts, scale: int) -> list[str]:
    """Communes, doctors, their main places and open slots; returns the INSEE codes."""
    rng = random.Random(5)
    rows = shipped_communes_near(*CENTRE, 700 * scale)
    known = {c for c, in db.session.execute(text("SELECT insee FROM communes"))}
    db.session.execute(insert(Commune), [
        {"insee": r["insee"], "name": r["name"], "department": r["department"],
         "postcodes": r["postcodes"], "population": int(r["population"] or 0),
         "lat": float(r["lat"]), "lon": float(r["lon"])}
        for r in rows if r["insee"] not in known])
    now = clock.now().replace(second=0, microsecond=0)
    doctors, places, slots = [], [], []
    for i in range(1000 * scale):
        r = rng.choice(rows)
        lat = float(r["lat"]) + rng.uniform(-0.01, 0.01)
        lon = float(r["lon"]) + rng.uniform(-0.01, 0.01)
        doctors.append({"id": i + 1, "rpps": f"{10000000000 + i}", "first_name": "Plan",
                        "last_name": f"Médecin {i}", "address": f"{i} rue", "lat": lat,
                        "lon": lon, "commune_insee": r["insee"], "accepts_floating": True,
                        "active": True, "cpts_id": cpts.id, "created_at": now})
        places.append({"id": i + 1, "doctor_id": i + 1, "cpts_id": cpts.id, "label": "",
                       "address": f"{i} rue", "commune_insee": r["insee"], "lat": lat,
                       "lon": lon, "is_main": True, "active": True, "created_at": now})
        for k in range(6):
            start = now + timedelta(hours=2 + (k * 7 + i) % 44, minutes=20 * (i % 3))
            slots.append({"doctor_id": i + 1, "place_id": i + 1, "cpts_id": cpts.id,
                          "kind": "fixed", "start": start, "end": start + timedelta(minutes=20),
                          "week": iso_week(start), "capacity": 1, "booked_count": 0,
                          "mode": "AMB", "status": "open", "in_charter": True, "source": "web",
                          "created_at": now, "updated_at": now})
    db.session.execute(insert(Doctor), doctors)
    db.session.execute(insert(Place), places)
    for i in range(0, len(slots), 10000):
        db.session.execute(insert(Slot), slots[i:i + 10000])
    db.session.commit()
    _after_bulk_insert("doctors", "places")
    return [r["insee"] for r in rows]


def _after_bulk_insert(*tables: str, analyze: bool = True) -> None:
    """Rows written with explicit ids into ``tables``: their sequences moved on
    (PostgreSQL); then statistics gathered as autovacuum would, unless ``analyze`` is
    false (SQLite: for every connection of the pool; one opened earlier keeps those it
    loaded then)."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in tables:
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                     f"(SELECT max(id) FROM {table}))")
            if analyze:
                conn.exec_driver_sql("ANALYZE")
    elif analyze:
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        db.engine.dispose()  # every connection loads them when it opens, not before


def _plan_of_search(user, commune, generic=False, **kwargs) -> tuple[int, list]:
    """The results' count and the database's plan of the query ``run_search`` sent."""
    return plan_of(lambda: services.search_slots(user, commune, **kwargs), "slots",
                    generic=generic)


@pytest.mark.parametrize("scale", [1, 10])
def test_search_plan_reads_slots_through_an_index(cpts, make_user, frozen, scale):
    insee = _department(cpts, scale)
    user, _ = make_user("secretary")
    doctor_id = 1
    for code in (insee[0], insee[len(insee) // 20], insee[len(insee) // 4]):
        commune = db.session.get(Commune, code)
        cases = [{}, {"order": "nearest"}, {"treating_doctor_id": doctor_id}]
        if db.engine.dialect.name == "postgresql":
            # One statement for every search of a shape, its values as parameters: the
            # plan the server keeps once it is prepared must be index-driven as well.
            cases += [{"generic": True}, {"generic": True, "treating_doctor_id": doctor_id}]
        for kwargs in cases:
            found, plan = _plan_of_search(user, commune, **kwargs)
            assert found > 0, (code, kwargs)
            if db.engine.dialect.name == "postgresql":
                nodes = list(plan_nodes(plan[0]["Plan"]))
                on_slots = [n for n in nodes if n.get("Relation Name") == "slots"]
                assert on_slots, plan
                assert all(n["Node Type"] != "Seq Scan" for n in on_slots), (scale, code, plan)
                assert any(n.get("Index Name", "").startswith("ix_slots") for n in nodes), plan
            else:
                on_slots = [line for line in plan if " slots " in f"{line} "]
                assert on_slots, plan
                assert all(line.startswith("SEARCH slots USING") and "INDEX" in line
                           for line in on_slots), (scale, code, plan)


def _booked_patients(cpts, user, insee: list[str], *, analyze: bool = True) -> list[dict]:
    """20,000 patients, 5,000 of them (the even ones) booked in the coming 48 hours;
    statistics gathered afterwards unless ``analyze`` is false: they then still say that
    ``bookings`` is empty (a young database before autovacuum's pass)."""
    from datetime import date

    from agenda.booking.models import Booking, Patient

    now = clock.now()
    patients = [{"id": i + 1, "last_name": f"Patient {i}", "first_name": "P",
                 "birth_date": date(1930, 1, 1) + timedelta(days=i * 37 % 32000),
                 "phone": f"06 {i:08d}", "phone_key": f"6{i:08d}",
                 "commune_insee": insee[i % 50], "treating_kind": "unknown",
                 "mobility": "mobile", "sms_consent": False, "created_at": now}
                for i in range(20000)]
    db.session.execute(insert(Patient), patients)
    slots = db.session.execute(select(Slot.id, Slot.doctor_id, Slot.start, Slot.end)
                               .order_by(Slot.id).limit(5000)).all()
    db.session.execute(insert(Booking), [
        {"reference": f"R{k:06d}", "slot_id": s.id, "doctor_id": s.doctor_id,
         "patient_id": 2 * k + 1, "booker_org_id": user.organisation_id, "cpts_id": cpts.id,
         "channel": "secretariat", "origin": "web", "status": "booked",
         "start": s.start, "end": s.end, "treating_seen": False, "created_at": now}
        for k, s in enumerate(slots)])
    db.session.commit()
    _after_bulk_insert("patients", analyze=analyze)
    return patients


def test_duplicate_check_reads_patients_through_an_index(cpts, make_user, frozen):
    """20,000 patients, 5,000 of them booked in the coming 48 hours: the duplicate check
    finds the patient by her phone's key or her birth date through their indexes, never by
    reading every patient or every live booking (its cost used to grow with them)."""
    from agenda.booking.services.patients import PatientData, find_duplicates

    insee = _department(cpts, 1)
    user, _ = make_user("secretary")
    patients = _booked_patients(cpts, user, insee)
    # Patient 2k (index from 0) was booked as booking k: the same phone, written otherwise.
    same_phone = PatientData("Autre", "Nom", insee[0], phone="+33 6 00 00 04 00")
    born = patients[400]["birth_date"]
    same_birth = PatientData("PATIENT 400", "P", insee[0], birth_date=born)
    nobody = PatientData("Personne", "P", insee[0], phone="07 99 99 99 99")
    for data, expected in ((same_phone, 1), (same_birth, 1), (nobody, 0)):
        found, plan = plan_of(lambda d=data: find_duplicates(user, d, [cpts.id]),
                               "patients")
        assert found == expected, data
        if db.engine.dialect.name == "postgresql":
            nodes = list(plan_nodes(plan[0]["Plan"]))
            for table in ("patients", "bookings"):
                on_table = [n for n in nodes if n.get("Relation Name") == table]
                assert on_table, (table, plan)
                assert all(n["Node Type"] != "Seq Scan" for n in on_table), (table, plan)
        else:
            for table in ("patients", "bookings"):
                lines = [line for line in plan if f" {table} " in f"{line} "]
                assert lines, (table, plan)
                assert all(line.startswith(f"SEARCH {table} USING") for line in lines), plan


@pytest.mark.parametrize("scale", [1, 10])
def test_take_finds_the_slot_by_its_primary_key(cpts, make_user, frozen, patient_data, scale):
    """THE take (the conditional UPDATE, in PostgreSQL's one statement with the booking's
    rows) reaches its slot through the primary key, in the plan the server keeps for the
    prepared statement (its generic plan, parameters unknown). It used to go through
    ``(status, start)`` and read every open slot of that minute (doctors publish at the
    same hours: 45 slots at 1×) before it filtered on the id."""
    _department(cpts, scale)
    user, _ = make_user("secretary")
    slot_id = db.session.scalar(select(Slot.id).order_by(Slot.start, Slot.id).offset(3)
                                .limit(1))
    sent = []

    def grab(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", grab)
    try:
        booking = services.book(user, services.BookingInput(slot_id=slot_id,
                                                            patient=patient_data()))
    finally:
        event.remove(db.engine, "before_cursor_execute", grab)
    assert booking.slot_id == slot_id
    [(statement, parameters)] = [s for s in sent if s[0].lstrip().startswith(
        ("WITH taken", "UPDATE slots"))]
    conn = db.session.connection()
    if db.engine.dialect.name == "postgresql":
        plan = generic_plan(statement, parameters)
        on_slots = [n for n in plan_nodes(plan[0]["Plan"]) if n.get("Relation Name") == "slots"
                    and n["Node Type"] != "ModifyTable"]
        assert on_slots and all(n.get("Index Name") == "pk_slots" for n in on_slots), plan
    else:
        plan = [r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement,
                                                    parameters).all()]
        assert plan and all(line.startswith("SEARCH slots USING INTEGER PRIMARY KEY")
                            for line in plan), plan


@pytest.mark.parametrize("statistics", ["gathered", "stale"])
def test_booking_reads_a_candidates_records_through_the_patients_index(
        cpts, make_user, frozen, patient_data, statistics):
    """A booking's duplicate check (on PostgreSQL a column of its slot read, in the plan the
    server keeps for the prepared statement) goes from the few candidate patients to their
    live records through ``(patient_id, status, start)``, whatever the statistics say. With
    statistics taken while ``bookings`` was empty, the generic plan used to walk
    ``(status, start)`` over every live booking (1,200 of them: 980 pages, 1.8 ms) and
    compare each with the candidates. SQLite's ``stale`` case is a database without any
    statistics, as the service runs it (nothing there runs ANALYZE): its plan varied from
    run to run and walked ``(status, start)`` in some (a CI run saw it)."""
    insee = _department(cpts, 1)
    user, _ = make_user("secretary")
    _booked_patients(cpts, user, insee, analyze=statistics == "gathered")
    if statistics == "stale" and db.engine.dialect.name == "sqlite":
        forget_sqlite_statistics(db.session.connection())
        db.session.commit()
        db.engine.dispose()  # the pool's connections still hold those they loaded
    slot_id = db.session.scalar(select(Slot.id).order_by(Slot.id.desc()).limit(1))
    found, plan = plan_of(
        lambda: [services.book(user, services.BookingInput(slot_id=slot_id,
                                                           patient=patient_data(insee[0])))],
        "candidates", which=0, generic=True)
    assert found == 1
    index = "ix_bookings_patient_status_start"
    if db.engine.dialect.name == "postgresql":
        nodes = list(plan_nodes(plan[0]["Plan"]))
        on_bookings = [n for n in nodes if n.get("Relation Name") == "bookings"]
        assert on_bookings, plan
        for node in on_bookings:  # an index scan, or a bitmap heap scan over index scans
            scans = node.get("Plans", []) if node["Node Type"] == "Bitmap Heap Scan" else [node]
            assert scans and all(s.get("Index Name") == index for s in scans), plan
            assert all("patient_id = candidates" in s["Index Cond"] for s in scans), plan
    else:
        lines = [line for line in plan if " bookings " in f"{line} "]
        assert lines, plan
        assert all(line.startswith(f"SEARCH bookings USING INDEX {index} (patient_id=?")
                   for line in lines), plan
