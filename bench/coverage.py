"""Geographic coverage at scale: prints the department-scale and France-scale timings.

    .venv/bin/python bench/coverage.py [--repeat 5] [--no-db] [--no-map]

1. Department scale: 700 communes x 1,000 doctors (target <= 150 ms), computed from arrays
   (KD-tree nearest doctor, bands, covered population, uncovered list) — and the same through
   the full service path on a temporary SQLite database (query + compute).
2. France scale: every commune of the shipped COG 2026 file (~34,900 with coordinates) x
   10,000 doctors (target <= 3 s), from arrays.
3. When ``../shared/data/communes-fr-contours.geojson.gz`` is present (or
   ``AGENDA_CONTOURS_FILE``), the France map: reading the outlines and drawing the SVG.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agenda.coverage import geo  # noqa: E402
from agenda.coverage.common import Territory  # noqa: E402

SHARED_CONTOURS = ROOT.parent / "shared" / "data" / "communes-fr-contours.geojson.gz"


def load_communes() -> list[dict]:
    raw = resources.files("agenda.data").joinpath("communes-fr.csv.gz").read_bytes()
    rows = csv.DictReader(io.StringIO(gzip.decompress(raw).decode("utf-8")))
    return [r for r in rows if r["lat"] and r["lon"]]


def territory_of(rows: list[dict]) -> Territory:
    return Territory([r["insee"] for r in rows], [r["name"] for r in rows],
                     [int(r["population"] or 0) for r in rows], [float(r["lat"]) for r in rows],
                     [float(r["lon"]) for r in rows])


def doctors_near(rows: list[dict], n: int, rng: random.Random) -> list[tuple[int, float, float]]:
    out = []
    for i in range(n):
        r = rng.choice(rows)
        out.append((i + 1, float(r["lat"]) + rng.uniform(-0.02, 0.02),
                    float(r["lon"]) + rng.uniform(-0.02, 0.02)))
    return out


def timed(func, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def summarise(terr: Territory, sites, radius: float):
    communes = geo.coverage_from_arrays(terr, sites, radius)
    covered = sum(c.population for c in communes if c.covered)
    uncovered = sorted((c for c in communes if not c.covered), key=lambda c: -c.population)
    return communes, covered, uncovered


def department_from_db(rows: list[dict], n_doctors: int, repeat: int, rng: random.Random):
    """The service path (query + compute) on a temporary SQLite database."""
    from agenda import clock, create_app
    from agenda.accounts.models import Organisation
    from agenda.extensions import db
    from agenda.slots.models import Slot
    from agenda.territory.models import Commune, Doctor
    from agenda.timeutil import iso_week

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3", "TESTING": True,
                          "SECRET_KEY": "bench", "LOG_LEVEL": "WARNING"})
        with app.app_context():
            db.create_all()
            now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
            clock.set_now(now)
            cpts = Organisation(name="CPTS bench", kind="cpts")
            db.session.add(cpts)
            db.session.flush()
            db.session.execute(Commune.__table__.insert(), [
                {"insee": r["insee"], "name": r["name"], "department": r["department"],
                 "postcodes": "", "population": int(r["population"] or 0),
                 "lat": float(r["lat"]), "lon": float(r["lon"])} for r in rows])
            sites = doctors_near(rows, n_doctors, rng)
            db.session.execute(Doctor.__table__.insert(), [
                {"id": i, "rpps": f"{i:011d}", "first_name": "B", "last_name": f"D{i}",
                 "address": "", "commune_insee": rows[i % len(rows)]["insee"], "lat": lat,
                 "lon": lon, "accepts_floating": True, "active": True, "cpts_id": cpts.id,
                 "created_at": now} for i, lat, lon in sites])
            from agenda.territory.services import main_places_for_bulk_doctors

            places = main_places_for_bulk_doctors()
            slot_rows = []
            for i, _lat, _lon in sites:
                for _ in range(3):
                    start = now + timedelta(hours=rng.randint(-24, 24 * 6))
                    slot_rows.append({"doctor_id": i, "place_id": places[i][0],
                                      "cpts_id": places[i][1], "kind": "fixed", "start": start,
                                      "end": start + timedelta(minutes=20),
                                      "week": iso_week(start), "capacity": 1,
                                      "booked_count": rng.random() < 0.4 and 1 or 0,
                                      "mode": "AMB", "status": "open", "in_charter": True,
                                      "source": "web", "created_at": now, "updated_at": now})
            db.session.execute(Slot.__table__.insert(), slot_rows)
            db.session.commit()
            out = {}
            for horizon in geo.HORIZONS:
                out[horizon] = timed(lambda h=horizon: geo.geo_coverage(cpts.id, h), repeat)
            clock.set_now(None)
            return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-db", action="store_true", help="skip the SQLite service path")
    parser.add_argument("--no-map", action="store_true", help="skip the France map drawing")
    args = parser.parse_args()
    rng = random.Random(44)
    rows = load_communes()
    metro = [r for r in rows if len(r["department"]) == 2]
    radius = 15.0

    # 1. Department scale: 700 communes of the west (44, 49, 35…) and 1,000 doctors.
    dept_rows = sorted((r for r in metro if r["department"] in ("44", "49", "35", "56", "85")),
                       key=lambda r: r["insee"])[:700]
    terr = territory_of(dept_rows)
    sites = doctors_near(dept_rows, 1000, rng)
    t_dept, (communes, covered, uncovered) = timed(lambda: summarise(terr, sites, radius),
                                                   args.repeat)
    print(f"department: {len(terr)} communes x {len(sites)} doctors: "
          f"{t_dept * 1000:.1f} ms (target <= 150 ms, ratio {t_dept / 0.150:.2f}) — "
          f"{len(uncovered)} uncovered, {covered / max(sum(terr.population), 1):.1%} "
          "of the population covered")
    if not args.no_db:
        for horizon, (t, cov) in department_from_db(dept_rows, 1000, args.repeat, rng).items():
            print(f"department via the service (SQLite query + compute), horizon {horizon}: "
                  f"{t * 1000:.1f} ms — {len(cov.doctors)} doctors with capacity, "
                  f"{len(cov.uncovered)} uncovered")

    # 2. France scale.
    terr_fr = territory_of(rows)
    sites_fr = doctors_near(metro, 10000, rng)
    t_fr, (communes_fr, covered_fr, uncovered_fr) = timed(
        lambda: summarise(terr_fr, sites_fr, radius), max(1, args.repeat // 2))
    print(f"France: {len(terr_fr)} communes x {len(sites_fr)} doctors: "
          f"{t_fr * 1000:.1f} ms (target <= 3000 ms, ratio {t_fr / 3.0:.3f}) — "
          f"{len(uncovered_fr)} uncovered")

    # 3. The France map from the full shared outlines, when present.
    path = os.environ.get("AGENDA_CONTOURS_FILE") or str(SHARED_CONTOURS)
    if not args.no_map and os.path.exists(path):
        from agenda.coverage import svg

        t0 = time.perf_counter()
        shapes = geo._read_features(Path(path).read_bytes())
        t_read = time.perf_counter() - t0
        metro_insee = {r["insee"] for r in metro}
        fr = [c for c in communes_fr if c.insee in metro_insee]
        t0 = time.perf_counter()
        drawing = svg.coverage_map(fr, shapes, [], geo.bands(radius), width=1200)
        t_svg = time.perf_counter() - t0
        print(f"France map: {len(shapes)} outlines read in {t_read * 1000:.0f} ms, "
              f"SVG of {len(fr)} communes drawn in {t_svg * 1000:.0f} ms "
              f"({len(drawing) / 1e6:.1f} MB)")
    elif not args.no_map:
        print(f"France map: skipped ({path} not found)")


if __name__ == "__main__":
    main()
