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
