"""Alembic migrations build the schema from empty, are idempotent and match the models."""

import os
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect, text

from agenda import create_app
from agenda.extensions import db


@pytest.fixture()
def empty_database_url(tmp_path):
    base = os.environ.get("AGENDA_TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'migrate.sqlite3'}"
        return
    name = f"agenda_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + "/" + name
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_upgrade_from_empty_twice_and_matches_models(empty_database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("AGENDA_INSTANCE_PATH", str(tmp_path))
    app = create_app({"DATABASE_URL": empty_database_url, "TESTING": True})
    with app.app_context():
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        assert {"users", "doctors", "slots", "bookings", "outbox", "audit_log"} <= tables
        upgrade()  # run again: nothing to do, nothing lost
        assert set(inspect(db.engine).get_table_names()) == tables
        with db.engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        assert version
        assert diff == [], f"models and migrations disagree: {diff}"
        db.engine.dispose()


def test_one_cpts_database_is_carried_over_to_many_cpts(empty_database_url, tmp_path,
                                                        monkeypatch):
    """A database filled under the one-CPTS schema (0001) upgrades without losing a row:
    partner organisations serve their CPTS, doctors get their main place, slots, bookings,
    requests and calls their CPTS — and the partner's bookers still find the slots."""
    from datetime import timedelta

    from agenda import clock
    from agenda.timeutil import iso_week

    monkeypatch.setenv("AGENDA_INSTANCE_PATH", str(tmp_path))
    app = create_app({"DATABASE_URL": empty_database_url, "TESTING": True})
    now = clock.now().replace(microsecond=0)  # the app's clock, which the search reads
    with app.app_context():
        upgrade(revision="0001")
        t = {"t": True, "f": False, "now": now, "start": now + timedelta(hours=3),
             "end": now + timedelta(hours=3, minutes=20),
             "later": now + timedelta(hours=3, minutes=40),  # the second slot, after the first
             "week": iso_week(now + timedelta(hours=3))}
        rows = [
            "INSERT INTO communes (insee, name, department, postcodes, population, lat, lon) "
            "VALUES ('44036', 'Châteaubriant', '44', '44110', 12000, 47.72, -1.39)",
            "INSERT INTO organisations (id, name, kind, cpts_id, active, created_at) VALUES "
            "(1, 'CPTS', 'cpts', NULL, :t, :now), (2, 'Secrétariat', 'secretariat', 1, :t, :now)",
            "INSERT INTO users (id, email, name, role, organisation_id, active, created_at) "
            "VALUES (1, 's@x.fr', 'S', 'secretary', 2, :t, :now)",
            "INSERT INTO doctors (id, rpps, first_name, last_name, address, commune_insee, lat, "
            "lon, accepts_floating, active, cpts_id, created_at) VALUES (1, '10000000008', "
            "'A', 'B', '1 rue', '44036', 47.72, -1.39, :t, :t, 1, :now)",
            "INSERT INTO slots (id, doctor_id, kind, start, \"end\", week, capacity, "
            "booked_count, mode, status, in_charter, source, created_at, updated_at) VALUES "
            "(1, 1, 'fixed', :start, :end, :week, 1, 1, 'AMB', 'booked', :t, 'web', :now, "
            ":now), (2, 1, 'fixed', :end, :later, :week, 1, 0, 'AMB', 'open', :t, 'web', "
            ":now, :now)",
            "INSERT INTO patients (id, last_name, first_name, phone, commune_insee, "
            "treating_kind, mobility, created_at) VALUES (1, 'P', 'Q', '+33 6 12 34 56 78', "
            "'44036', 'unknown', 'mobile', :now), (2, 'R', 'S', NULL, '44036', 'unknown', "
            "'mobile', :now)",
            "INSERT INTO bookings (id, reference, slot_id, doctor_id, patient_id, "
            "booker_user_id, booker_org_id, channel, origin, status, start, \"end\", "
            "treating_seen, created_at) VALUES (1, 'R1', 1, 1, 1, 1, 2, 'secretariat', 'web', "
            "'booked', :start, :end, :f, :now)",
            "INSERT INTO calls (booker_org_id, channel, outcome, created_at, count) VALUES "
            "(2, 'secretariat', 'booked', :now, 1)",
            "INSERT INTO audit_log (at, user_id, action, object_type, object_id, patient_id) "
            "VALUES (:now, 1, 'create', 'booking', 1, 1)",
        ]
        with db.engine.begin() as conn:
            for sql in rows:
                conn.execute(text(sql), t)
        before = _counts()
        upgrade()
        assert {k: v for k, v in _counts().items() if k in before} == before
        with db.engine.connect() as conn:
            q = lambda sql: conn.execute(text(sql)).all()  # noqa: E731
            assert q("SELECT organisation_id, cpts_id, ended_on FROM service_links") == \
                [(2, 1, None)]
            assert q("SELECT doctor_id, cpts_id, is_main FROM places") == [(1, 1, True)]
            assert q("SELECT id, place_id IS NOT NULL, cpts_id FROM slots ORDER BY id") == \
                [(1, True, 1), (2, True, 1)]
            assert q("SELECT cpts_id FROM bookings") == [(1,)]
            assert q("SELECT cpts_id FROM calls") == [(1,)]
            assert q("SELECT cpts_id FROM audit_log") == [(1,)]
            # 0012: the duplicate check's key of the stored phones
            assert q("SELECT id, phone_key FROM patients ORDER BY id") == \
                [(1, "612345678"), (2, None)]
        # Reachable: the secretary still finds the open slot and sees the booking.
        from agenda.accounts.models import User
        from agenda.booking import services
        from agenda.territory.models import Commune

        user = db.session.get(User, 1)
        found = services.search_slots(user, db.session.get(Commune, "44036"))
        assert [r.slot_id for r in found] == [2]
        assert [b.id for b in services.bookings_for(user)] == [1]
        db.session.remove()
        db.engine.dispose()


def _counts() -> dict[str, int]:
    with db.engine.connect() as conn:
        return {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar()
                for t in ("organisations", "users", "doctors", "slots", "patients", "bookings",
                          "calls", "audit_log", "communes")}
