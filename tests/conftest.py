"""Shared fixtures: a fresh app and database per test, clients per role, factories.

The database is SQLite in a temporary folder, or PostgreSQL when
``AGENDA_TEST_DATABASE_URL`` is set (CI sets it). Tables are created once per session and
emptied after each test.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from agenda import clock, create_app
from agenda.extensions import db

pytest_plugins = ["tests.factories"]


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("AGENDA_TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


@pytest.fixture(scope="session")
def _schema(database_url, tmp_path_factory):
    app = create_app(_test_config(database_url, tmp_path_factory.mktemp("instance")))
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield


def _test_config(database_url: str, instance) -> dict:
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret",
        "ENCRYPTION_KEY": None,
        "WTF_CSRF_ENABLED": True,
        "SERVER_NAME": None,
        "BASE_URL": "http://localhost",
        "MAIL_HOST": "127.0.0.1",
        "MAIL_PORT": 1,
    }


@pytest.fixture()
def app(database_url, _schema, tmp_path, monkeypatch):
    monkeypatch.setenv("AGENDA_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(_test_config(database_url, tmp_path))
    with app.app_context():
        yield app
        db.session.remove()
        _empty_tables()
    clock.set_now(None)


def _empty_tables() -> None:
    tables = list(reversed(db.metadata.sorted_tables))
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def frozen(app):
    """A frozen clock: ``frozen.set(dt)`` / ``frozen.advance(minutes=…)``."""

    class Frozen:
        def set(self, value: datetime) -> datetime:
            clock.set_now(value)
            return clock.now()

        def advance(self, **kwargs) -> datetime:
            return clock.advance(timedelta(**kwargs))

    start = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # Tuesday 09:00 in Paris
    clock.set_now(start)
    yield Frozen()
    clock.set_now(None)


CSRF_RE = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')


def csrf_token(client, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    m = CSRF_RE.search(html)
    assert m, f"no CSRF token on {path}"
    return m.group(1)


def login(client, email: str, password: str):
    token = csrf_token(client, "/login")
    return client.post("/login", data={"email": email, "password": password,
                                       "csrf_token": token})


@pytest.fixture()
def login_as(app, make_user):
    """``login_as("secretary")`` -> a test client logged in with a new user of that role."""

    def _login(role: str, **kwargs):
        user, password = make_user(role=role, **kwargs)
        c = app.test_client()
        resp = login(c, user.email, password)
        assert resp.status_code == 302, resp.get_data(as_text=True)
        c.user = user
        return c

    return _login
