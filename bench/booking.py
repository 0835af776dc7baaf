"""Booking at department scale: prints latencies, ratios and throughput.

    .venv/bin/python bench/booking.py [--bookings 300] [--searches 300] [--no-10x]

On a generated department (1,000 doctors, 6,000 open slots, 700 communes — the 700 real
communes nearest to Châteaubriant):

1. booking p50/p95 through ``POST /api/v1/bookings`` against a bare Flask + SQLAlchemy
   endpoint doing a one-row INSERT, both served the same way (werkzeug threaded server, one
   keep-alive client), on the same database; prints the ratio (aim <= 2x), and the SQL
   statements and round trips of each request, counted (SQLAlchemy events; libpq's
   protocol trace on PostgreSQL) over 50 requests apart from the timed ones (aim <= 5
   statements and 8 round trips per booking on PostgreSQL);
2. search p95 (``run_search``, aim <= 30 ms) at 1x and at 10x data (aim: 10x/1x <= 2x),
   both departments side by side (PostgreSQL: the 10x one in the schema ``bench_10x``,
   dropped at the end) and searched in turns;
3. when ``AGENDA_BENCH_DATABASE_URL`` names a THROW-AWAY PostgreSQL database (its tables
   are dropped and re-created): bookings per second under gunicorn (aim >= 200/s on 2 cores),
   with the bare endpoint under the same gunicorn for reference, the two loaded in turns
   (``--rounds``, medians printed), and the resident memory
   (RSS) of every process started (aim <= 120 MB a worker; the sync worker's:
   ``bench/department.py``).

A summary repeats the issue's figures. Timings are figures, never assertions.

Without ``AGENDA_BENCH_DATABASE_URL`` everything runs on a temporary SQLite file.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CENTRE = (47.72021, -1.39411)  # Châteaubriant


# --- data --------------------------------------------------------------------------------

def nearest_communes(n: int) -> list[dict]:
    from agenda.territory.services import shipped_communes_near

    return shipped_communes_near(*CENTRE, n)


def populate(app, *, communes: int, doctors: int, slots: int, seed: int = 5) -> dict:
    """Bulk-insert a department; returns ids the benchmark needs."""
    from sqlalchemy import insert

    from agenda.accounts.services import create_organisation, create_token, create_user
    from agenda.extensions import db
    from agenda.slots.models import Slot
    from agenda.territory.models import Commune, Doctor
    from agenda.timeutil import iso_week

    rng = random.Random(seed)
    with app.app_context():
        db.drop_all()
        db.create_all()
        rows = nearest_communes(communes)
        db.session.execute(insert(Commune), [
            {"insee": r["insee"], "name": r["name"], "department": r["department"],
             "postcodes": r["postcodes"], "population": int(r["population"] or 0),
             "lat": float(r["lat"]), "lon": float(r["lon"])} for r in rows])
        cpts = create_organisation("CPTS bench", "cpts")
        secretariat = create_organisation("Secrétariat bench", "secretariat", cpts.id)
        db.session.commit()
        doc_rows = []
        for i in range(doctors):
            r = rng.choice(rows)
            doc_rows.append({"id": i + 1, "rpps": f"{10000000000 + i}", "first_name": "Bench",
                             "last_name": f"Médecin {i}", "address": f"{i} rue du Banc",
                             "commune_insee": r["insee"],
                             "lat": float(r["lat"]) + rng.uniform(-0.01, 0.01),
                             "lon": float(r["lon"]) + rng.uniform(-0.01, 0.01),
                             "accepts_floating": True, "active": True, "cpts_id": cpts.id,
                             "created_at": datetime.now(UTC)})
        db.session.execute(insert(Doctor), doc_rows)
        from agenda.territory.services import main_places_for_bulk_doctors

        places = main_places_for_bulk_doctors()
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        slot_rows = []
        per_doctor = max(1, slots // doctors)
        for d in range(doctors):
            for k in range(per_doctor):
                start = now + timedelta(hours=2 + (k * 7 + d) % 44, minutes=20 * (d % 3))
                floating = k == 0 and d % 10 == 0
                slot_rows.append({
                    "doctor_id": d + 1, "place_id": places[d + 1][0],
                    "cpts_id": places[d + 1][1], "kind": "floating" if floating else "fixed",
                    "start": start, "end": start + timedelta(minutes=180 if floating else 20),
                    "week": iso_week(start), "capacity": 2 if floating else 1,
                    "booked_count": 0, "mode": "AMB", "status": "open", "in_charter": True,
                    "source": "web", "created_at": now, "updated_at": now})
        for i in range(0, len(slot_rows), 5000):
            db.session.execute(insert(Slot), slot_rows[i:i + 5000])
        user, _ = create_user("bench@secretariat.fr", "Bench", "secretary", secretariat,
                              "motdepasse-bench")
        token = create_token(user, "bench")
        # One token per concurrent client, as real bookers each have their own.
        tokens = [create_token(create_user(f"bench{i}@secretariat.fr", f"Bench {i}",
                                           "secretary", secretariat, "motdepasse-bench")[0],
                               "bench") for i in range(32)]
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            # Statistics, as autovacuum would have gathered them on a live database.
            with db.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        from sqlalchemy import select

        fixed = list(db.session.scalars(select(Slot.id).where(Slot.kind == "fixed")))
        return {"token": token, "tokens": tokens, "user_id": user.id,
                "insee": [r["insee"] for r in rows], "fixed_slots": fixed}


# --- the bare reference app --------------------------------------------------------------

def bare_app(database_url: str | None = None):
    """Flask + Flask-SQLAlchemy, one endpoint doing a one-row INSERT and a commit."""
    from flask import Flask, jsonify, request
    from flask_sqlalchemy import SQLAlchemy
    from sqlalchemy import Integer, String
    from sqlalchemy.orm import DeclarativeBase, mapped_column

    class Base(DeclarativeBase):
        pass

    bare_db = SQLAlchemy(model_class=Base)

    class Row(bare_db.Model):
        __tablename__ = "bench_bare_rows"
        id = mapped_column(Integer, primary_key=True)
        slot_id = mapped_column(Integer)
        name = mapped_column(String(100))

    app = Flask("bare")
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url or os.environ["BENCH_BARE_URL"]
    bare_db.init_app(app)
    with app.app_context():
        bare_db.create_all()

    @app.post("/rows")
    def add_row():
        body = request.get_json()
        row = Row(slot_id=int(body["slot_id"]), name=str(body["patient"]["last_name"]))
        bare_db.session.add(row)
        bare_db.session.commit()
        return jsonify(id=row.id), 201

    return app


# --- HTTP helpers ------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_in_thread(app) -> tuple[int, object]:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_port, server


def phone_of(n: int) -> str:
    """A distinct phone per patient: the same phone twice is a possible duplicate (409)."""
    digits = f"{n:08d}"
    return "06 " + " ".join(digits[i:i + 2] for i in range(0, 8, 2))


def body_for(slot_id: int, insee: str) -> dict:
    return {"slot_id": slot_id, "patient": {"last_name": "Bench", "first_name": "Patient",
                                            "commune_insee": insee, "phone": phone_of(slot_id)}}


def post_latencies(port: int, path: str, bodies: list[dict], token: str | None) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    out = []
    for body in bodies:
        data = json.dumps(body)
        t0 = time.perf_counter()
        conn.request("POST", path, data, headers)
        resp = conn.getresponse()
        resp.read()
        out.append(time.perf_counter() - t0)
        if resp.status not in (201, 202):
            raise SystemExit(f"{path}: HTTP {resp.status}")
    conn.close()
    return out


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] * 1000


def report(label: str, values: list[float]) -> tuple[float, float]:
    p50, p95 = pct(values, 50), pct(values, 95)
    print(f"  {label:<38} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms   (n={len(values)})")
    return p50, p95


# --- what a request costs on the wire, and in memory -------------------------------------

class WireCounter:
    """SQL statements (SQLAlchemy ``before_cursor_execute``) and, on PostgreSQL, round trips
    to the server (libpq's protocol trace: one ``ReadyForQuery`` per exchange, BEGIN,
    COMMIT and any ping included) sent through ``engine`` while counting. The pool is
    emptied on entry so that every connection used is a traced one."""

    def __init__(self, engine):
        self.engine = engine
        self.statements = 0
        self.trace = None

    def _statement(self, *_args) -> None:
        self.statements += 1

    def _connect(self, dbapi_connection, _record) -> None:
        import psycopg

        # A descriptor of its own (libpq may close it with the connection), sharing the
        # file's offset: the exchanges are appended one after the other.
        dbapi_connection.pgconn.trace(os.dup(self.trace.fileno()))
        dbapi_connection.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)

    def __enter__(self):
        from sqlalchemy import event

        if self.engine.dialect.name == "postgresql":
            self.trace = tempfile.TemporaryFile("w+")  # noqa: SIM115
            event.listen(self.engine, "connect", self._connect)
        self.engine.dispose()
        event.listen(self.engine, "before_cursor_execute", self._statement)
        return self

    def __exit__(self, *exc) -> None:
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._statement)
        if self.trace is not None:
            event.remove(self.engine, "connect", self._connect)
            self.engine.dispose()  # closes the traced connections

    @property
    def round_trips(self) -> int | None:
        if self.trace is None:
            return None
        self.trace.flush()
        self.trace.seek(0)
        return sum(1 for line in self.trace if "\tReadyForQuery" in line)


def per_request(engine, port: int, path: str, bodies: list[dict], token: str | None) -> str:
    """Statements and round trips per request, counted over ``bodies`` (not timed)."""
    with WireCounter(engine) as wire:
        post_latencies(port, path, bodies, token)
    n = len(bodies)
    trips = wire.round_trips
    return (f"{wire.statements / n:4.1f} statements"
            + (f", {trips / n:4.1f} round trips" if trips is not None else "")
            + " per request")


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process (Linux /proc), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def children_of(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def rss_line(label: str, pids: list[int]) -> tuple[str, float]:
    sizes = [m for m in (rss_mb(p) for p in pids) if m is not None]
    top = max(sizes, default=0.0)
    return (f"  RSS {label:<34} " + ", ".join(f"{m:.0f}" for m in sizes)
            + f" MB (max {top:.0f} MB; aim <= 120 MB)"), top


# --- the measures ------------------------------------------------------------------------

def department(database_url: str, scale: int):
    """The app on ``database_url`` and a generated department ``scale`` times the base."""
    from agenda import create_app

    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "bench",
                      "LOG_LEVEL": "WARNING"})
    return app, populate(app, communes=700 * scale, doctors=1000 * scale,
                         slots=6000 * scale)


def bench_latency(database_url: str, instance: str, n_bookings: int) -> dict:
    from agenda.extensions import db

    app, data = department(database_url, 1)
    rng = random.Random(11)
    slots = rng.sample(data["fixed_slots"], n_bookings + 70)
    bodies = [body_for(s, rng.choice(data["insee"][:200])) for s in slots]
    port, server = serve_in_thread(app)
    bare = bare_app(database_url)
    bare_port, bare_server = serve_in_thread(bare)
    post_latencies(port, "/api/v1/bookings", bodies[:20], data["token"])  # warm-up
    post_latencies(bare_port, "/rows", bodies[:20], None)
    with app.app_context():
        engine = db.engine
    with bare.app_context():
        bare_engine = bare.extensions["sqlalchemy"].engine
    # Counted apart (the protocol trace costs time), after the warm-up.
    wire_booking = per_request(engine, port, "/api/v1/bookings", bodies[20:70], data["token"])
    wire_bare = per_request(bare_engine, bare_port, "/rows", bodies[20:70], None)
    # Interleaved in blocks of 10, so that both see the same load on the machine.
    booking, reference = [], []
    rest = bodies[70:]
    for i in range(0, len(rest), 10):
        booking += post_latencies(port, "/api/v1/bookings", rest[i:i + 10], data["token"])
        reference += post_latencies(bare_port, "/rows", rest[i:i + 10], None)
    engine = database_url.split(":", 1)[0].split("+", 1)[0]
    print(f"Booking latency ({engine}, "
          "werkzeug threaded server, one keep-alive client):")
    b50, b95 = report("POST /api/v1/bookings (agenda)", booking)
    r50, r95 = report("POST /rows (bare one-row INSERT)", reference)
    print(f"  ratio p50 {b50 / r50:5.2f}x   ratio p95 {b95 / r95:5.2f}x   (aim <= 2x)")
    print(f"  POST /api/v1/bookings: {wire_booking}   (aim <= 5 statements, 8 round trips)")
    print(f"  POST /rows (bare):     {wire_bare}")
    server.shutdown()
    bare_server.shutdown()
    return {"ratio": b50 / r50, "wire": wire_booking}


class Searches:
    """``run_search`` for the bench's secretary over a department's communes, timed."""

    def __init__(self, app, data: dict, n: int):
        self.app, self.user_id = app, data["user_id"]
        self.insee = random.Random(3).sample(data["insee"], min(n, 200))
        self.times: list[float] = []
        self.sizes: list[int] = []

    def run(self, ks: range) -> None:
        from agenda.accounts.models import User
        from agenda.booking.services import prepare_search, run_search
        from agenda.extensions import db
        from agenda.territory.models import Commune

        with self.app.app_context():
            user = db.session.get(User, self.user_id)
            for k in ks:
                q = prepare_search(user, db.session.get(Commune, self.insee[k % len(self.insee)]))
                t0 = time.perf_counter()
                results = run_search(q)
                self.times.append(time.perf_counter() - t0)
                self.sizes.append(len(results))

    def report(self, label: str) -> float:
        print(f"{label}:")
        _p50, p95 = report("run_search (one query, 50 best)", self.times)
        print(f"  mean results {statistics.mean(self.sizes):.0f}   (aim p95 <= 30 ms)")
        return p95


def bench_search(database_url: str, url_10x: str | None, n: int = 300) -> dict:
    """Search p95 at 1x and, with ``url_10x``, at 10x: both departments generated side by
    side and searched in turns, ten searches at a time (a shared machine's speed drifts
    from one minute to the next: the ratio compares like with like)."""
    scales = [(1, database_url, "Search (1,000 doctors, 6,000 slots, 700 communes)")]
    if url_10x:
        scales.append((10, url_10x,
                       "Search at 10x (10,000 doctors, 60,000 slots, 7,000 communes)"))
    searches = []
    for scale, url, _label in scales:
        t0 = time.perf_counter()
        app, data = department(url, scale)
        print(f"({scale}x data generated in {time.perf_counter() - t0:.1f} s)")
        searches.append(Searches(app, data, n))
    for k in range(0, n, 10):
        for one in searches:
            one.run(range(k, min(k + 10, n)))
    p95s = [one.report(label) for one, (_s, _u, label) in zip(searches, scales, strict=True)]
    out = {"search_p95": p95s[0]}
    if url_10x:
        out["search_p95_10x"] = p95s[1]
    return out


SCHEMA_10X = "bench_10x"


def url_beside(database_url: str, tmp: str) -> str:
    """Where the 10x department lives beside the 1x one: on PostgreSQL a schema of the same
    database (created here; its ``search_path``), on SQLite a file of its own."""
    from sqlalchemy import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return f"sqlite:///{tmp}/bench10.sqlite3"
    _autocommit(database_url, f"CREATE SCHEMA IF NOT EXISTS {SCHEMA_10X}")
    return url.update_query_dict({"options": f"-csearch_path={SCHEMA_10X}"}) \
        .render_as_string(hide_password=False)


def drop_beside(database_url: str) -> None:
    if database_url.startswith("postgresql"):
        _autocommit(database_url, f"DROP SCHEMA IF EXISTS {SCHEMA_10X} CASCADE")


def _autocommit(database_url: str, sql: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(sql)
    engine.dispose()


def bench_gunicorn(database_url: str, instance: str, n: int, clients: int,
                   rounds: int = 3) -> dict:
    """Bookings per second under gunicorn, and the bare INSERT's for reference: both
    servers run side by side and take their load in turns, ``rounds`` times (a shared
    machine's speed drifts by a fifth from one minute to the next); the medians are the
    figures."""
    app, data = department(database_url, 1)
    rng = random.Random(13)
    slots = rng.sample(data["fixed_slots"], n * rounds + 50)
    bodies = [body_for(s, rng.choice(data["insee"][:200])) for s in slots]
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    from agenda.ops import gunicorn as deployment  # the deployment's configuration (workers)
    env = dict(os.environ, AGENDA_DATABASE_URL=database_url, AGENDA_INSTANCE_PATH=instance,
               AGENDA_SECRET_KEY="bench", AGENDA_LOG_LEVEL="WARNING",
               BENCH_BARE_URL=database_url, PYTHONPATH=str(ROOT))
    print(f"Under gunicorn (-c python:agenda.ops.gunicorn: {deployment.workers} workers, "
          f"{clients} concurrent clients, "
          f"{os.cpu_count()} cores, PostgreSQL, {rounds} rounds in turns):")
    servers = {}
    try:
        for key, target, path, token in [  # token: one per client
                ("agenda", "wsgi:app", "/api/v1/bookings", data["tokens"]),
                ("bare", "bench.booking:bare_app()", "/rows", [None] * clients)]:
            port = free_port()
            proc = subprocess.Popen([gunicorn, "-c", "python:agenda.ops.gunicorn",
                                     "-b", f"127.0.0.1:{port}",
                                     "--log-level", "warning", target],
                                    cwd=str(ROOT), env=env)
            servers[key] = (proc, port, path, token, target)
            _wait_port(port)
            # Warm-up: every worker imports and connects before the clock starts.
            with ThreadPoolExecutor(max_workers=10) as pool:
                list(pool.map(post_latencies, [port] * 10, [path] * 10,
                              [bodies[i:i + 5] for i in range(0, 50, 5)], token[:10]))
        rates: dict[str, list[float]] = {"agenda": [], "bare": []}
        p95s: dict[str, list[float]] = {"agenda": [], "bare": []}
        for r in range(rounds):
            chunk = bodies[50 + r * n:50 + (r + 1) * n]
            for key in ("agenda", "bare"):
                _proc, port, path, token, _target = servers[key]
                # (The bare endpoint reads only the slot id and the last name.)
                rate, p95 = _load(port, path, chunk, token, clients)
                rates[key].append(rate)
                p95s[key].append(p95)
        out = {}
        for key, label in [("agenda", "bookings/s  (POST /api/v1/bookings)"),
                           ("bare", "inserts/s   (bare one-row INSERT)")]:
            proc, _port, _path, _token, target = servers[key]
            print(f"  {label:<38} {statistics.median(rates[key]):7.0f} /s median   p95 "
                  f"{statistics.median(p95s[key]):6.1f} ms   (rounds: "
                  + ", ".join(f"{x:.0f}" for x in rates[key]) + ")")
            workers_rss, top = rss_line(f"{target} workers (after the load)",
                                        children_of(proc.pid))
            print(workers_rss)
            print(rss_line(f"{target} master", [proc.pid])[0])
            if key == "agenda":
                out = {"rate": statistics.median(rates[key]), "rss": top}
        shares = [a / b for a, b in zip(rates["agenda"], rates["bare"], strict=True)]
        print(f"  bookings/s / bare inserts/s, same round: median {statistics.median(shares):.2f}"
              "   (rounds: " + ", ".join(f"{x:.2f}" for x in shares) + ")")
        out["share"] = statistics.median(shares)
        return out
    finally:
        for proc, *_rest in servers.values():
            proc.terminate()
            proc.wait(timeout=20)


def _load(port: int, path: str, bodies: list[dict], tokens: list, clients: int
          ) -> tuple[float, float]:
    """``bodies`` sent by ``clients`` concurrent keep-alive clients: requests per second
    and p95 latency (ms)."""
    chunks = [bodies[i::clients] for i in range(clients)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        lat = sum(pool.map(post_latencies, [port] * clients, [path] * clients, chunks,
                           tokens[:clients]), [])
    return len(lat) / (time.perf_counter() - t0), pct(lat, 95)


def _wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


def summary(f: dict) -> None:
    """The issue's figures on one screen (measured above; timings are only figures)."""
    print(f"Summary ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):")
    if "ratio" in f:
        print(f"  booking p50 / bare INSERT p50   {f['ratio']:5.2f}x   (aim <= 2.0x)")
        print(f"  per booking                     {f['wire']}")
    if "search_p95_10x" in f and "search_p95" in f:
        print(f"  search p95 10x / 1x             {f['search_p95_10x'] / f['search_p95']:5.2f}x"
              "   (aim <= 2x)")
    if "rate" in f:
        print(f"  bookings/s under gunicorn       {f['rate']:5.0f}    (aim >= 200/s; "
              f"{f['share']:.2f} of the bare INSERT's)")
        print(f"  RSS of a gunicorn worker        {f['rss']:5.0f} MB (aim <= 120 MB; the sync "
              "worker's: bench/department.py)")


def main() -> None:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=300)
    parser.add_argument("--searches", type=int, default=300, help="at each scale")
    parser.add_argument("--no-10x", action="store_true")
    parser.add_argument("--gunicorn-bookings", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=16, help="at most 32")
    parser.add_argument("--rounds", type=int, default=3,
                        help="gunicorn load rounds, bookings and bare INSERTs in turns")
    parser.add_argument("--gunicorn-only", action="store_true",
                        help="only the PostgreSQL throughput under gunicorn")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="agenda-bench-")
    os.environ.setdefault("AGENDA_INSTANCE_PATH", tmp)
    pg = os.environ.get("AGENDA_BENCH_DATABASE_URL")
    url = pg or f"sqlite:///{tmp}/bench.sqlite3"
    figures: dict = {}
    try:
        if not args.gunicorn_only:
            figures.update(bench_latency(url, tmp, args.bookings))
            figures.update(bench_search(url, None if args.no_10x else url_beside(url, tmp),
                                        args.searches))
        if pg:
            figures.update(bench_gunicorn(pg, tmp, args.gunicorn_bookings, args.clients,
                                          args.rounds))
        else:
            print("Gunicorn throughput: set AGENDA_BENCH_DATABASE_URL to a throw-away "
                  "PostgreSQL database to measure bookings per second.")
        summary(figures)
    finally:
        if not args.no_10x and not args.gunicorn_only:
            drop_beside(url)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
