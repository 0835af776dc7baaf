"""A department of many CPTS: search across CPTS, bookings on two nodes, scope leaks.

    .venv/bin/python bench/department.py [--cpts 12] [--doctors 80] [--slots 6000]
        [--searches 400] [--bookings 2000] [--clients 8] [--seconds 60] [--explain]

Environment:

- ``AGENDA_BENCH_DATABASE_URL``: a THROW-AWAY PostgreSQL database (its tables are dropped
  and re-created), e.g. ``postgresql+psycopg://postgres@127.0.0.1:54330/agenda_bench``.
  Unset: everything runs on a temporary SQLite file, with a smaller load (the output says
  so); the acceptance figures of issue 10 are those on PostgreSQL.

On a generated Loire-Atlantique (the real communes of the shipped file, split into 12
disjoint territories): 12 CPTS × 80 doctors (960 doctors, one practising at two places in
two CPTS), 6,000 open slots (plus 4 past weeks of history), each CPTS with its own charter
(horizon, radius) and sectors; a departmental SAMU serving all 12, an emergency department
serving 3, one secretariat per CPTS serving its own CPTS only. It prints:

1. search p95 for a SAMU regulator across all the CPTS (``prepare_search`` +
   ``run_search``, in-process, over every commune of the department; aim <= 15 ms);
2. bookings per second through ``POST /api/v1/bookings`` with TWO gunicorn instances on
   the one database and TWO ``flask --app agenda sync worker`` processes running, the load
   alternating between the instances with tokens of bookers of different organisations
   (with a share of deliberately contested slots: the count of 201s and 409s);
3. the number of cross-CPTS leaks found by sampling (must be 0; exits 1 otherwise):
   secretaries' searches (in-process and API), their bookings of other CPTS's slots
   (must be 404), their reads of other organisations' bookings, and a coordinator's
   ``/api/v1`` booking reads, coverage and statistics (own CPTS only, no identity);
4. after the load, once the two sync workers have drained the outbox the bookings filled
   (a department-scale pass), the resident memory (RSS) of every gunicorn worker and of
   both sync workers (aim <= 120 MB each).

Timings are figures, never assertions.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.booking import children_of, free_port, pct, phone_of, rss_line  # noqa: E402

AIM_SEARCH_P95_MS = 15
PASSWORD = "motdepasse-bench"
# Charters differ from one CPTS to the next: (horizon hours, same day until, radius km).
CHARTERS = [(48, None, 15), (24, None, 10), (72, None, 20), (48, None, 12),
            (36, None, 15), (0, "20:00", 15)]


# --- the department ----------------------------------------------------------------------

def split(items: list, n: int, key) -> list[list]:
    """``items`` sorted by ``key`` and cut into ``n`` runs of (nearly) equal length."""
    items = sorted(items, key=key)
    bounds = [round(len(items) * i / n) for i in range(n + 1)]
    return [items[bounds[i]:bounds[i + 1]] for i in range(n)]


def territories(communes: list, n: int) -> list[list]:
    """``n`` disjoint, compact groups of communes: columns by longitude, cut by latitude."""
    cols = max(1, min(n, round(math.sqrt(n * 0.75))))
    per_col = [n // cols + (1 if i < n % cols else 0) for i in range(cols)]
    by_lon = sorted(communes, key=lambda c: c["lon"])
    groups, done, pos = [], 0, 0
    for k in per_col:
        end = round(len(by_lon) * (done + k) / n)
        groups += split(by_lon[pos:end], k, key=lambda c: -c["lat"])
        done, pos = done + k, end
    return groups


def centroid(group: list) -> tuple[float, float]:
    return (statistics.fmean(c["lat"] for c in group), statistics.fmean(c["lon"] for c in group))


def nearest_groups(groups: list[list], i: int, k: int) -> list[int]:
    """The ``k`` groups nearest to group ``i`` (itself first)."""
    la, lo = centroid(groups[i])
    return sorted(range(len(groups)), key=lambda j: (centroid(groups[j])[0] - la) ** 2
                  + ((centroid(groups[j])[1] - lo) * 0.67) ** 2)[:k]


def populate(app, *, n_cpts: int, per_cpts: int, n_slots: int, history_weeks: int,
             seed: int = 10) -> dict:
    """Bulk-insert the department; returns what the measures need (ids, tokens)."""
    from sqlalchemy import insert, select

    from agenda.accounts.models import Organisation, User
    from agenda.accounts.services import create_organisation, create_token, hash_password
    from agenda.extensions import db
    from agenda.slots.models import CharterSettings, Slot
    from agenda.territory.models import Commune, Doctor, Place
    from agenda.territory.services import import_communes, save_sector
    from agenda.timeutil import iso_week

    rng = random.Random(seed)
    with app.app_context():
        db.drop_all()
        db.create_all()
        import_communes(["44"])
        communes = [{"insee": c.insee, "name": c.name, "lat": c.lat, "lon": c.lon,
                     "population": c.population or 0}
                    for c in db.session.scalars(select(Commune).where(Commune.lat.is_not(None)))]
        groups = territories(communes, n_cpts)

        # CPTS, their charters and sectors (two per CPTS, north and south of its territory).
        cpts_ids = []
        for i, group in enumerate(groups):
            cpts = create_organisation(f"CPTS bench {i + 1:02d} ({group[0]['name']})", "cpts")
            hours, same_day, radius = CHARTERS[i % len(CHARTERS)]
            db.session.add(CharterSettings(
                cpts_id=cpts.id, min_per_week=2, max_per_week=12, default_length_min=20,
                horizon_hours=hours or 48, same_day_until=same_day, publication_hours={},
                saturday_morning=True, holidays_policy="warn", hours_policy="refuse",
                hold_minutes=5, request_t1_min=60, request_deadline_min=120,
                radius_km=radius, retention_days=365, indemnity_formula={}))
            for j, part in enumerate(split(group, 2, key=lambda c: -c["lat"])):
                save_sector(cpts.id, f"Secteur {'nord' if j == 0 else 'sud'}",
                            [c["insee"] for c in part])
            cpts_ids.append(cpts.id)
        samu = create_organisation("SAMU 44 (bench)", "samu", serves=cpts_ids)
        ed_cpts = [cpts_ids[j] for j in nearest_groups(groups, 0, 3)]
        ed = create_organisation("Urgences (bench)", "ed", serves=ed_cpts)
        secretariats = [create_organisation(f"Secrétariat CPTS {i + 1:02d}", "secretariat", c)
                        for i, c in enumerate(cpts_ids)]
        db.session.commit()

        # Users: one password hash for all (argon2 at full cost is slow by design).
        digest = hash_password(PASSWORD)
        now = datetime.now(UTC)
        people = ([("regulator", samu.id, f"regulateur{k}@samu44.bench") for k in range(8)]
                  + [("ed_nurse", ed.id, f"ioa{k}@urgences.bench") for k in range(2)]
                  + [("secretary", s.id, f"secretaire{k}@cpts{i + 1:02d}.bench")
                     for i, s in enumerate(secretariats) for k in range(2)]
                  + [("coordinator", c, f"coordination@cpts{i + 1:02d}.bench")
                     for i, c in enumerate(cpts_ids)])
        db.session.execute(insert(User), [
            {"email": email, "name": email.split("@")[0], "role": role, "organisation_id": org,
             "password_hash": digest, "active": True, "created_at": now}
            for role, org, email in people])
        users = list(db.session.scalars(select(User).order_by(User.id)))
        tokens = {u.id: create_token(u, "bench") for u in users}

        # Doctors, one main place each (in the CPTS of their commune's territory).
        doctor_rows, place_rows = [], []
        for i, (cpts_id, group) in enumerate(zip(cpts_ids, groups, strict=True)):
            weights = [c["population"] + 500 for c in group]
            for k in range(per_cpts):
                d = len(doctor_rows) + 1
                c = rng.choices(group, weights)[0]
                lat = c["lat"] + rng.uniform(-0.005, 0.005)
                lon = c["lon"] + rng.uniform(-0.005, 0.005)
                address = f"{d} rue de la Santé"
                doctor_rows.append({
                    "id": d, "rpps": f"{10000000000 + d}", "first_name": "Bench",
                    "last_name": f"Médecin {i + 1:02d}-{k:03d}", "address": address,
                    "commune_insee": c["insee"], "lat": lat, "lon": lon,
                    "accepts_floating": True, "active": True, "cpts_id": cpts_id,
                    "created_at": now})
                place_rows.append({
                    "id": d, "doctor_id": d, "cpts_id": cpts_id, "label": "", "address": address,
                    "commune_insee": c["insee"], "lat": lat, "lon": lon, "is_main": True,
                    "active": True, "created_at": now})
        # Doctor 1 also practises at a secondary place in the neighbouring CPTS.
        other = nearest_groups(groups, 0, 2)[1]
        c = groups[other][0]
        two_cpts = {"doctor_id": 1, "main_place": 1, "main_cpts": cpts_ids[0],
                    "second_place": len(place_rows) + 1, "second_cpts": cpts_ids[other]}
        place_rows.append({
            "id": two_cpts["second_place"], "doctor_id": 1, "cpts_id": cpts_ids[other],
            "label": "Cabinet secondaire", "address": "1 place du Marché",
            "commune_insee": c["insee"], "lat": c["lat"], "lon": c["lon"], "is_main": False,
            "active": True, "created_at": now})
        db.session.execute(insert(Doctor), doctor_rows)
        db.session.execute(insert(Place), place_rows)
        places = {p["id"]: p for p in place_rows}

        # Open slots over the next 70 hours (past or beyond some charters' horizons too),
        # then the past weeks' history (seen or gone by), as on a live database.
        start0 = now.replace(second=0, microsecond=0)
        slot_rows = []
        n_doctors = len(doctor_rows)
        for n in range(n_slots):
            d = n % n_doctors + 1
            place = places[d]
            if d == 1 and n // n_doctors % 2:
                place = places[two_cpts["second_place"]]
            start = start0 + timedelta(minutes=rng.randrange(45, 70 * 60, 5))
            floating = rng.random() < 0.08
            mode = rng.choices(["AMB", "VR", "HH"], [85, 10, 5])[0]
            slot_rows.append({
                "doctor_id": d, "place_id": place["id"], "cpts_id": place["cpts_id"],
                "kind": "floating" if floating else "fixed", "start": start,
                "end": start + timedelta(minutes=180 if floating else 20),
                "week": iso_week(start), "capacity": 2 if floating else 1, "booked_count": 0,
                "mode": mode, "status": "open", "in_charter": True, "source": "web",
                "created_at": now, "updated_at": now})
        for n in range(n_slots * history_weeks):
            d = n % n_doctors + 1
            place = places[d]
            start = start0 - timedelta(minutes=rng.randrange(60, history_weeks * 7 * 24 * 60, 5))
            seen = rng.random() < 0.3
            slot_rows.append({
                "doctor_id": d, "place_id": place["id"], "cpts_id": place["cpts_id"],
                "kind": "fixed", "start": start, "end": start + timedelta(minutes=20),
                "week": iso_week(start), "capacity": 1, "booked_count": 1 if seen else 0,
                "mode": "AMB", "status": "seen" if seen else "past", "in_charter": True,
                "source": "web", "created_at": now, "updated_at": now})
        for i in range(0, len(slot_rows), 5000):
            db.session.execute(insert(Slot), slot_rows[i:i + 5000])
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                for table in ("doctors", "places"):  # explicit ids: move the sequences on
                    conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', "
                                         f"'id'), (SELECT max(id) FROM {table}))")
                conn.exec_driver_sql("ANALYZE")  # as autovacuum would have on a live database

        by_org = defaultdict(list)
        for u in users:
            by_org[u.organisation_id].append(u.id)
        names = dict(db.session.execute(select(Organisation.id, Organisation.name)).all())
        return {
            "cpts_ids": cpts_ids, "names": names,
            "groups": {c: [x["insee"] for x in g] for c, g in zip(cpts_ids, groups, strict=True)},
            "all_insee": [c["insee"] for c in communes],
            "samu": samu.id, "ed": ed.id, "ed_cpts": ed_cpts,
            "secretariats": {s.cpts_id: s.id for s in secretariats},
            "users": {u.id: (u.role, u.organisation_id) for u in users},
            "by_org": dict(by_org), "tokens": tokens,
            "coordinators": {u.organisation_id: u.id for u in users if u.role == "coordinator"},
            "doctors_of": {c: sorted({p["doctor_id"] for p in place_rows if p["cpts_id"] == c})
                           for c in cpts_ids},
            "two_cpts": two_cpts, "n_doctors": n_doctors, "n_open": n_slots,
            "n_history": n_slots * history_weeks,
        }


# --- helpers ------------------------------------------------------------------------------

def load_average() -> str:
    """The machine's load (timings on a shared machine are only figures)."""
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average {one:.1f} (1 min) / {five:.1f} (5 min) on {os.cpu_count()} cores"


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn on port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"gunicorn on port {port} did not start")


class Client:
    """One keep-alive connection per instance; ``call`` alternates unless told which."""

    def __init__(self, ports: list[int], token: str | None = None):
        self.ports = ports
        self.conns = [http.client.HTTPConnection("127.0.0.1", p, timeout=60) for p in ports]
        self.token = token
        self.n = 0

    def call(self, method: str, path: str, body: dict | None = None,
             instance: int | None = None) -> tuple[int, dict | None]:
        i = self.n % len(self.conns) if instance is None else instance
        self.n += 1
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        try:
            self.conns[i].request(method, path, data, headers)
            resp = self.conns[i].getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException):
            self.conns[i].close()
            self.conns[i] = http.client.HTTPConnection("127.0.0.1", self.ports[i], timeout=60)
            return 0, None
        try:
            return resp.status, json.loads(raw) if raw else None
        except ValueError:
            return resp.status, None

    def close(self) -> None:
        for c in self.conns:
            c.close()


def patient(insee: str, n: int) -> dict:
    """Patient ``n`` (a distinct phone each: the same phone twice is a possible duplicate)."""
    return {"last_name": f"Patient{n}", "first_name": "Bench", "commune_insee": insee,
            "phone": phone_of(n)}


# --- 1. search ----------------------------------------------------------------------------

def bench_search(app, data: dict, n: int, explain: bool, pg: bool) -> float:
    from sqlalchemy import event

    from agenda.accounts.models import User
    from agenda.booking.services import prepare_search, run_search
    from agenda.extensions import db
    from agenda.territory.models import Commune

    rng = random.Random(3)
    with app.app_context():
        user = db.session.get(User, data["by_org"][data["samu"]][0])
        communes = [db.session.get(Commune, i) for i in data["all_insee"]]
        rng.shuffle(communes)
        doctors = range(1, data["n_doctors"] + 1)
        plans = []
        for k in range(20):  # warm-up: caches, connections
            run_search(prepare_search(user, communes[k % len(communes)]))
        total, query, sizes, spread, seen = [], [], [], [], set()
        statements = [0]

        def count(*_args) -> None:
            statements[0] += 1

        event.listen(db.engine, "before_cursor_execute", count)
        cpu0 = time.process_time()
        for k in range(n):
            # One search in three names a treating doctor (ranked first wherever they are).
            treating = rng.choice(doctors) if k % 3 == 0 else None
            t0 = time.perf_counter()
            q = prepare_search(user, communes[k % len(communes)], treating_doctor_id=treating)
            t1 = time.perf_counter()
            results = run_search(q)
            t2 = time.perf_counter()
            total.append(t2 - t0)
            query.append(t2 - t1)
            sizes.append(len(results))
            spread.append(len({r.cpts_id for r in results}))
            seen |= {r.cpts_id for r in results}
        cpu = (time.process_time() - cpu0) / n * 1000
        event.remove(db.engine, "before_cursor_execute", count)
        p95 = pct(total, 95)
        print(f"1. Search, SAMU regulator over {len(q.cpts_ids)} CPTS "
              f"({n} searches, {len(communes)} patient communes, 1 in 3 with a treating "
              "doctor):")
        print(f"  prepare_search + run_search   p50 {pct(total, 50):6.2f} ms   "
              f"p95 {p95:6.2f} ms   (aim p95 <= {AIM_SEARCH_P95_MS} ms)")
        print(f"  run_search (the one query)    p50 {pct(query, 50):6.2f} ms   "
              f"p95 {pct(query, 95):6.2f} ms")
        print(f"  results per search: mean {statistics.fmean(sizes):.0f}; CPTS per result list: "
              f"mean {statistics.fmean(spread):.1f}, max {max(spread)}; "
              f"CPTS seen overall: {len(seen)} of {len(data['cpts_ids'])}")
        print(f"  SQL statements per search: {statements[0] / n:.1f}; this process's CPU per "
              f"search: {cpu:.1f} ms; {load_average()}")
        if pg and (explain or p95 > AIM_SEARCH_P95_MS):
            plans.append(explain_search(user, communes[0]))
            print("  EXPLAIN ANALYZE of one search query (PostgreSQL):")
            for line in plans[0]:
                print("    " + line)
    return p95


def explain_search(user, commune) -> list[str]:
    """The plan PostgreSQL takes for the search query (captured from ``run_search``): the
    plan of psycopg's prepared statement when the query has been prepared on this
    connection (after 5 runs; PostgreSQL may then switch to a generic plan), else the plan
    for these values."""
    import re

    import psycopg
    from sqlalchemy import event

    from agenda.booking.services import prepare_search, run_search
    from agenda.extensions import db

    captured = []

    def grab(conn, cursor, statement, parameters, context, executemany):
        if "FROM slots" in statement and "ORDER BY" in statement:
            captured.append((statement, parameters))

    engine = db.engine
    event.listen(engine, "before_cursor_execute", grab)
    try:
        run_search(prepare_search(user, commune))
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    statement, params = captured[-1]
    raw = db.session.connection().connection.driver_connection
    cursor = raw.cursor()
    cursor.execute("SELECT name, generic_plans, custom_plans FROM pg_prepared_statements "
                   "WHERE statement LIKE %s", ["%FROM slots JOIN places%ORDER BY%"])
    prepared = cursor.fetchone()
    if prepared is None:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
        lines = ["(plan for these values: the query is not prepared on this connection)"]
    else:
        name, generic, custom = prepared
        order = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", statement)))
        mogrify = psycopg.ClientCursor(raw).mogrify
        values = ", ".join(mogrify("%s", [params[n]]) for n in order)
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE {name}({values})")
        lines = [f"(prepared statement {name}: {generic} generic plans, {custom} custom plans "
                 "so far; the plan PostgreSQL uses for it now)"]
    lines += [r[0] for r in cursor.fetchall()]
    db.session.rollback()
    return lines


# --- 2. two nodes -------------------------------------------------------------------------

@contextmanager
def two_nodes(database_url: str, instance: str, workers: int):
    """Two gunicorn instances and two sync workers on one database; stopped on exit."""
    bin_dir = Path(sys.executable).parent
    gunicorn = shutil.which("gunicorn", path=str(bin_dir)) or "gunicorn"
    flask = shutil.which("flask", path=str(bin_dir)) or "flask"
    env = dict(os.environ, AGENDA_DATABASE_URL=database_url, AGENDA_INSTANCE_PATH=instance,
               AGENDA_SECRET_KEY="bench", AGENDA_LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT))
    env.pop("AGENDA_MAIL_HOST", None)
    procs: list[subprocess.Popen] = []
    ports = [free_port(), free_port()]
    try:
        for port in ports:
            procs.append(subprocess.Popen(
                [gunicorn, "-w", str(workers), "-b", f"127.0.0.1:{port}", "--log-level",
                 "warning", "wsgi:app"], cwd=str(ROOT), env=env))
        for k in range(2):
            log = open(Path(instance) / f"sync-worker-{k}.log", "wb")  # noqa: SIM115
            procs.append(subprocess.Popen(
                [flask, "--app", "agenda", "sync", "worker", "--interval", "5"],
                cwd=str(ROOT), env=env, stdout=log, stderr=subprocess.STDOUT))
            log.close()
        for port, proc in zip(ports, procs, strict=False):
            wait_port(port, proc)
        yield ports, procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def scope_of(data: dict, org_id: int) -> list[int]:
    if org_id == data["samu"]:
        return data["cpts_ids"]
    if org_id == data["ed"]:
        return data["ed_cpts"]
    return [c for c, s in data["secretariats"].items() if s == org_id]


def bookable_fixed(app, data: dict, margin_minutes: int = 30) -> dict[int, list[int]]:
    """CPTS id -> open fixed slots that are bookable now and for the next minutes."""
    from sqlalchemy import select

    from agenda.booking.services.search import horizon_ends
    from agenda.extensions import db
    from agenda.slots.models import Slot

    with app.app_context():
        now = datetime.now(UTC)
        ends = horizon_ends(data["cpts_ids"])
        out = defaultdict(list)
        for slot_id, cpts_id, start in db.session.execute(
                select(Slot.id, Slot.cpts_id, Slot.start).where(
                    Slot.status == "open", Slot.kind == "fixed", Slot.booked_count == 0,
                    Slot.start > now + timedelta(minutes=margin_minutes))
                .order_by(Slot.id)):
            if start < ends[cpts_id] - timedelta(minutes=margin_minutes):
                out[cpts_id].append(slot_id)
        db.session.rollback()
        return out


def booker_order(data: dict) -> list[int]:
    """Booker user ids, interleaving organisations: SAMU, a secretariat, SAMU, a secretariat,
    the ED, a secretariat…"""
    pools = {"samu": list(data["by_org"][data["samu"]]), "ed": list(data["by_org"][data["ed"]]),
             "sec": [data["by_org"][s][0] for s in data["secretariats"].values()]}
    out = []
    while any(pools.values()):
        for kind in ("samu", "sec", "samu", "sec", "ed", "sec"):
            if pools[kind]:
                out.append(pools[kind].pop(0))
    return out


def bench_bookings(app, data: dict, ports: list[int], *, n: int, clients: int,
                   seconds: float, contested: float, workers: int) -> dict:
    rng = random.Random(17)
    free = bookable_fixed(app, data)
    for ids in free.values():
        rng.shuffle(ids)
    bookers = booker_order(data)[:clients]
    clients = len(bookers)
    scopes = [scope_of(data, data["users"][u][1]) for u in bookers]
    jobs: list[list[tuple[int, str]]] = [[] for _ in bookers]
    taken: list[tuple[int, int, int, int]] = []  # (slot, thread, CPTS, position)
    per_client = n // clients
    for t, scope in enumerate(scopes):
        for _ in range(per_client):
            open_cpts = [c for c in scope if free[c]]
            if not open_cpts:
                break
            c = rng.choice(open_cpts)
            slot = free[c].pop()
            # The patient lives in the slot's territory, or (one in three, for a booker
            # serving several CPTS) in a neighbouring one: a cross-CPTS booking.
            home = rng.choice(scope) if len(scope) > 1 and rng.random() < 0.33 else c
            jobs[t].append((slot, rng.choice(data["groups"][home])))
            taken.append((slot, t, c, len(jobs[t]) - 1))
    # Contested slots: another booker serving the same CPTS tries the same slot at about
    # the same moment (the same place in their list): one 201, one 409.
    for slot, t, c, pos in rng.sample(taken, int(len(taken) * contested)):
        rivals = [u for u, scope in enumerate(scopes) if u != t and c in scope]
        if rivals:
            u = rng.choice(rivals)
            jobs[u].insert(min(len(jobs[u]), pos + rng.randint(0, 1)),
                           (slot, rng.choice(data["groups"][c])))
    tokens = [data["tokens"][u] for u in bookers]

    # Warm-up: every worker of both instances answers before the clock starts.
    def warm(k: int) -> None:
        c = Client(ports, tokens[k % len(tokens)])
        for _ in range(4):
            c.call("GET", "/api/v1/me")
        c.close()

    with ThreadPoolExecutor(max_workers=2 * workers) as pool:
        list(pool.map(warm, range(4 * workers)))

    deadline = time.perf_counter() + seconds

    def run(t: int) -> list[tuple[int, float]]:
        c = Client(ports, tokens[t])
        c.n = t  # threads start on alternate instances
        out = []
        for slot, insee in jobs[t]:
            if time.perf_counter() > deadline:
                break
            t0 = time.perf_counter()
            status, _ = c.call("POST", "/api/v1/bookings",
                               {"slot_id": slot, "patient": patient(insee, slot)})
            out.append((status, time.perf_counter() - t0))
        c.close()
        return out

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = sum(pool.map(run, range(clients)), [])
    elapsed = time.perf_counter() - t0
    statuses = Counter(s for s, _ in results)
    lat = [d for _, d in results]
    orgs = Counter(data["names"][data["users"][u][1]].split(" (")[0] for u in bookers)
    print(f"2. Bookings: 2 gunicorn instances ({workers} workers each) and 2 `sync worker` "
          f"processes on one database; {clients} client threads ({os.cpu_count()} cores), "
          "alternating instances:")
    print("  bookers: " + ", ".join(f"{k} ×{v}" for k, v in sorted(orgs.items())))
    print(f"  {len(results)} POST /api/v1/bookings in {elapsed:.1f} s: "
          f"{len(results) / elapsed:.0f} requests/s, "
          f"{statuses[201] / elapsed:.0f} bookings/s (201)")
    print(f"  201: {statuses[201]}   409: {statuses[409]}   other: "
          f"{sum(v for k, v in statuses.items() if k not in (201, 409))} "
          f"{dict(sorted((k, v) for k, v in statuses.items() if k not in (201, 409)))}   "
          f"(contested share {contested:.0%})")
    print(f"  latency p50 {pct(lat, 50):.1f} ms   p95 {pct(lat, 95):.1f} ms; {load_average()}")
    return {"statuses": statuses, "elapsed": elapsed}


def check_nodes(app, ports: list[int], procs: list[subprocess.Popen]) -> dict:
    from sqlalchemy import func, select

    from agenda.extensions import db
    from agenda.ops.models import WorkerHeartbeat

    running = sum(1 for p in procs[2:] if p.poll() is None)
    with app.app_context():
        recent = db.session.scalar(select(func.count()).select_from(WorkerHeartbeat).where(
            WorkerHeartbeat.seen_at > datetime.now(UTC) - timedelta(seconds=60)))
        db.session.rollback()
    health = [Client([p]).call("GET", "/healthz")[0] for p in ports]
    print(f"  sync workers running: {running} of 2 (heartbeats in the last minute: {recent}); "
          f"/healthz of the two instances: {health[0]}, {health[1]}")
    drained, pending = drain_outbox(app)
    print(f"  outbox after the load: {pending} rows still pending "
          f"({'drained' if drained else 'not drained'} by the two sync workers)")
    rss = {}
    for label, pids in (("gunicorn workers (both instances)",
                         [c for p in procs[:2] for c in children_of(p.pid)]),
                        ("sync workers (after that pass)", [p.pid for p in procs[2:]])):
        line, rss[label] = rss_line(label, pids)
        print(line)
    return rss


def drain_outbox(app, timeout: float = 90) -> tuple[bool, int]:
    """Wait for the sync workers to drain the outbox the bookings filled (a pass of the
    department's scale: every booking's calendar and mail rows)."""
    from sqlalchemy import func, select

    from agenda.extensions import db
    from agenda.outbox import OutboxItem

    deadline = time.time() + timeout
    with app.app_context():
        while True:
            pending = db.session.scalar(select(func.count()).select_from(OutboxItem)
                                        .where(OutboxItem.status == "pending"))
            db.session.rollback()
            if not pending or time.time() > deadline:
                return not pending, pending
            time.sleep(2)


# --- 3. leaks -----------------------------------------------------------------------------

class Leaks:
    def __init__(self) -> None:
        self.checked = Counter()
        self.found = Counter()
        self.examples: list[str] = []

    def check(self, label: str, ok: bool, detail: str = "") -> None:
        self.checked[label] += 1
        if not ok:
            self.found[label] += 1
            if self.found[label] <= 2:  # two examples of each kind
                self.examples.append(f"{label}: {detail}")

    @property
    def total(self) -> int:
        return sum(self.found.values())


def hours_touched(start: datetime, end: datetime) -> int:
    h = start.replace(minute=0, second=0, microsecond=0)
    n = 0
    while h < end:
        n += 1
        h += timedelta(hours=1)
    return n


def expected_own(app, cpts_id: int, week: str, period) -> dict:
    """What a coordinator's coverage and statistics should count: their CPTS only."""
    from sqlalchemy import func, select

    from agenda.booking.models import Booking
    from agenda.extensions import db
    from agenda.slots.models import Slot
    from agenda.territory.models import Place
    from agenda.timeutil import week_bounds

    with app.app_context():
        w0, w1 = week_bounds(week)
        live = (Slot.status.not_in(("cancelled", "withdrawn")), Slot.in_charter.is_(True))
        supply = sum(cap * hours_touched(max(s, w0), min(e, w1)) for s, e, cap in
                     db.session.execute(select(Slot.start, Slot.end, Slot.capacity).where(
                         Slot.cpts_id == cpts_id, Slot.start < w1, Slot.end > w0, *live)))
        made = db.session.scalar(select(func.coalesce(func.sum(Slot.capacity), 0)).where(
            Slot.cpts_id == cpts_id, Slot.start >= period.start, Slot.start < period.end,
            *live))
        bookings = db.session.scalar(select(func.count()).select_from(Booking).where(
            Booking.cpts_id == cpts_id, Booking.start >= period.start,
            Booking.start < period.end, Booking.status != "cancelled"))
        doctors = set(db.session.scalars(select(Place.doctor_id).where(
            Place.cpts_id == cpts_id, Place.active.is_(True))))
        db.session.rollback()
    return {"supply": supply, "made": made, "bookings": bookings, "doctors": doctors}


def sample_leaks(app, data: dict, ports: list[int], *, per_booker: int = 12) -> Leaks:
    from sqlalchemy import select

    from agenda.accounts.models import User
    from agenda.booking.models import Booking
    from agenda.booking.services import prepare_search, run_search
    from agenda.coverage.stats import Period
    from agenda.extensions import db
    from agenda.slots.models import Slot
    from agenda.territory.models import Commune
    from agenda.timeutil import iso_week

    leaks = Leaks()
    rng = random.Random(23)
    free = bookable_fixed(app, data, margin_minutes=5)
    with app.app_context():
        bookings = db.session.execute(select(Booking.id, Booking.cpts_id, Booking.booker_org_id)
                                      ).all()
        db.session.rollback()
    two = data["two_cpts"]
    with app.app_context():
        second_slots = list(db.session.scalars(select(Slot.id).where(
            Slot.place_id == two["second_place"], Slot.status == "open",
            Slot.kind == "fixed")))
        main_slots = list(db.session.scalars(select(Slot.id).where(
            Slot.place_id == two["main_place"], Slot.status == "open", Slot.kind == "fixed")))
        db.session.rollback()

    # Bookers of per-CPTS secretariats (every one), the ED (serves 3 CPTS).
    samples = [(data["by_org"][s][-1], [c]) for c, s in data["secretariats"].items()]
    samples += [(data["by_org"][data["ed"]][-1], data["ed_cpts"])]
    for user_id, served in samples:
        served_set = set(served)
        client = Client(ports, data["tokens"][user_id])
        # Searches, in-process, from communes all over the department.
        with app.app_context():
            user = db.session.get(User, user_id)
            for insee in rng.sample(data["all_insee"], per_booker):
                results = run_search(prepare_search(user, db.session.get(Commune, insee)))
                bad = sorted({r.cpts_id for r in results} - served_set)
                leaks.check("search (in-process)", not bad, f"user {user_id}: cpts {bad}")
            db.session.rollback()
        # Searches through the API, both instances.
        for insee in rng.sample(data["all_insee"], 4):
            status, body = client.call("GET", f"/api/v1/slots?commune_insee={insee}")
            bad = [] if status != 200 else sorted({s["cpts"]["id"] for s in body["slots"]}
                                                  - served_set)
            leaks.check("search (API)", status == 200 and not bad,
                        f"user {user_id}: HTTP {status}, cpts {bad}")
        # Booking slots of CPTS not served: 404, whatever the instance.
        others = [c for c in data["cpts_ids"] if c not in served_set and free[c]]
        targets = [rng.choice(free[rng.choice(others)]) for _ in range(per_booker)]
        if two["main_cpts"] in served_set and two["second_cpts"] not in served_set:
            targets += second_slots[:2]  # the two-CPTS doctor's slot in the other CPTS
        if two["second_cpts"] in served_set and two["main_cpts"] not in served_set:
            targets += main_slots[:2]
        for slot_id in targets:
            status, _ = client.call("POST", "/api/v1/bookings", {
                "slot_id": slot_id, "patient": patient(rng.choice(data["all_insee"]), 0)})
            leaks.check("booking another CPTS's slot (404)", status == 404,
                        f"user {user_id} slot {slot_id}: HTTP {status}")
        # Reading bookings made by other organisations: 404.
        foreign = [b for b in bookings if b[2] != data["users"][user_id][1]]
        for booking_id, _c, _o in rng.sample(foreign, min(per_booker, len(foreign))):
            status, _ = client.call("GET", f"/api/v1/bookings/{booking_id}")
            leaks.check("booker reading another organisation's booking (404)", status == 404,
                        f"user {user_id} booking {booking_id}: HTTP {status}")
        client.close()

    # Coordinators: booking reads, coverage and statistics of their own CPTS only.
    today = datetime.now(UTC).date()
    period = Period(today - timedelta(days=7), today + timedelta(days=7))
    weeks = [iso_week(datetime.now(UTC)), iso_week(datetime.now(UTC) + timedelta(days=3))]
    for cpts_id in rng.sample(data["cpts_ids"], min(6, len(data["cpts_ids"]))):
        user_id = data["coordinators"][cpts_id]
        client = Client(ports, data["tokens"][user_id])
        own = [b for b in bookings if b[1] == cpts_id]
        other = [b for b in bookings if b[1] != cpts_id]
        for booking_id, _c, _o in rng.sample(other, min(per_booker, len(other))):
            status, _ = client.call("GET", f"/api/v1/bookings/{booking_id}")
            leaks.check("coordinator reading another CPTS's booking (404)", status == 404,
                        f"cpts {cpts_id} booking {booking_id}: HTTP {status}")
        for booking_id, _c, _o in rng.sample(own, min(4, len(own))):
            status, body = client.call("GET", f"/api/v1/bookings/{booking_id}")
            leaks.check("coordinator reading own CPTS's booking (200, no identity)",
                        status == 200 and "patient" not in (body or {}),
                        f"cpts {cpts_id} booking {booking_id}: HTTP {status}")
        status, _ = client.call("GET",
                                f"/api/v1/slots?commune_insee={data['groups'][cpts_id][0]}")
        leaks.check("coordinator searching slots (403)", status == 403, f"HTTP {status}")
        expected = {w: expected_own(app, cpts_id, w, period) for w in set(weeks)}
        for week in sorted(set(weeks)):
            status, body = client.call("GET", f"/api/v1/coverage/hourly?week={week}")
            got = (body or {}).get("totals", {}).get("supply")
            # Since issue 13 the grid counts the search's bookable capacity (a started slot
            # or one beyond the charter's horizon is not supply): at most the capacity of the
            # CPTS's own live slots; a foreign CPTS's slots would push it above.
            leaks.check("coverage/hourly counts own CPTS only", status == 200
                        and got is not None and 0 <= got <= expected[week]["supply"] + 1e-6,
                        f"cpts {cpts_id} {week}: HTTP {status}, supply {got} "
                        f"(own {expected[week]['supply']})")
        exp = expected[weeks[0]]
        status, body = client.call("GET", "/api/v1/coverage/communes?horizon=week")
        bad: set = set()
        if status == 200:
            insee = {c["insee"] for c in body["communes"]}
            near = {c["nearest_doctor_id"] for c in body["communes"]} - {None}
            bad = (insee - set(data["groups"][cpts_id])) | (near - exp["doctors"])
        leaks.check("coverage/communes: own territory and doctors only",
                    status == 200 and not bad, f"cpts {cpts_id}: HTTP {status}, {bad}")
        status, body = client.call(
            "GET", f"/api/v1/stats?from={period.start_date}&to={period.end_date}")
        s, bad_doctors, ok = {}, set(), False
        if status == 200:
            s = body["summary"]
            bad_doctors = {d["doctor_id"] for d in body["doctors"]} - exp["doctors"]
            ok = (s["bookings"] == exp["bookings"] and s["slots_offered"] == exp["made"]
                  and not bad_doctors)
        leaks.check("stats count own CPTS only", status == 200 and ok,
                    f"cpts {cpts_id}: HTTP {status}, bookings {s.get('bookings')} (own "
                    f"{exp['bookings']}), slots {s.get('slots_offered')} (own "
                    f"{exp['made']}), foreign doctors {sorted(bad_doctors)[:5]}"
                    if status == 200 else f"HTTP {status}")
        client.close()

    n_checks = sum(leaks.checked.values())
    print(f"3. Cross-CPTS leaks found by sampling: {leaks.total} (must be 0), in {n_checks} "
          "checks:")
    for label in leaks.checked:
        print(f"  {label:<58} {leaks.checked[label]:4d} checked, {leaks.found[label]} leaks")
    for line in leaks.examples:
        print(f"  LEAK {line}")
    return leaks


# --- main ---------------------------------------------------------------------------------

def main() -> int:
    import logging

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpts", type=int, default=12)
    parser.add_argument("--doctors", type=int, default=80, help="per CPTS")
    parser.add_argument("--slots", type=int, default=6000, help="open slots in all")
    parser.add_argument("--history-weeks", type=int, default=4)
    parser.add_argument("--searches", type=int, default=400)
    parser.add_argument("--bookings", type=int, default=None,
                        help="booking attempts before contested copies (default 2000; "
                             "SQLite 400)")
    parser.add_argument("--clients", type=int, default=None,
                        help="client threads (default 8; SQLite 4)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per instance")
    parser.add_argument("--seconds", type=float, default=60, help="time limit of the load")
    parser.add_argument("--contested", type=float, default=0.15,
                        help="share of slots a second booker also tries")
    parser.add_argument("--explain", action="store_true",
                        help="print the plan of the search query (PostgreSQL)")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    pg_url = os.environ.get("AGENDA_BENCH_DATABASE_URL")
    tmp = tempfile.mkdtemp(prefix="agenda-bench-dept-")
    os.environ.setdefault("AGENDA_INSTANCE_PATH", tmp)
    url = pg_url or f"sqlite:///{tmp}/department.sqlite3"
    n_bookings = args.bookings or (2000 if pg_url else 400)
    clients = args.clients or (8 if pg_url else 4)
    engine = "PostgreSQL" if pg_url else "SQLite"
    if not pg_url:
        print("SQLite (AGENDA_BENCH_DATABASE_URL unset): a smaller booking load "
              f"({n_bookings} bookings, {clients} clients); the acceptance figures are "
              "those on PostgreSQL.")
    try:
        from agenda import create_app

        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "LOG_LEVEL": "WARNING"})
        t0 = time.perf_counter()
        data = populate(app, n_cpts=args.cpts, per_cpts=args.doctors, n_slots=args.slots,
                        history_weeks=args.history_weeks)
        print(f"Department on {engine}: {len(data['cpts_ids'])} CPTS × {args.doctors} doctors "
              f"({data['n_doctors']} doctors, one in two CPTS), {data['n_open']} open slots "
              f"+ {data['n_history']} past, {len(data['all_insee'])} communes of "
              f"Loire-Atlantique; SAMU serving {len(data['cpts_ids'])}, ED serving "
              f"{len(data['ed_cpts'])}, {len(data['secretariats'])} secretariats serving "
              f"their own CPTS (generated in {time.perf_counter() - t0:.1f} s)")
        p95 = bench_search(app, data, args.searches, args.explain, bool(pg_url))
        with two_nodes(url, tmp, args.workers) as (ports, procs):
            load = bench_bookings(app, data, ports, n=n_bookings, clients=clients,
                                  seconds=args.seconds, contested=args.contested,
                                  workers=args.workers)
            rss = check_nodes(app, ports, procs)
            leaks = sample_leaks(app, data, ports)
        elapsed = load["elapsed"]
        print(f"Summary ({engine}): search p95 {p95:.1f} ms (aim <= {AIM_SEARCH_P95_MS}); "
              f"{load['statuses'][201] / elapsed:.0f} bookings/s on two instances "
              f"({load['statuses'][201]} × 201, {load['statuses'][409]} × 409); "
              f"cross-CPTS leaks: {leaks.total}; RSS max: "
              + ", ".join(f"{k} {v:.0f} MB" for k, v in rss.items()) + " (aim <= 120 MB)")
        return 1 if leaks.total else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
