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
from tests.plans import forget_sqlite_statistics

pytest_plugins = ["tests.factories"]


@pytest.fixture(scope="session")
def database_url(tmp_path_factory, worker_id) -> str:
    url = os.environ.get("AGENDA_TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    if worker_id == "master":
        return url
    # pytest-xdist: one database per worker.
    from sqlalchemy import create_engine

    name = f"{url.rsplit('/', 1)[1]}_{worker_id}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                            {"n": name}).scalar():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.rsplit("/", 1)[0] + "/" + name


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
        "CALDAV_ALLOWED_HOSTS": "127.0.0.1",  # the tests' Radicale and Xandikos
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
        # DELETE is faster than TRUNCATE on tables this small, on both engines.
        for table in tables:
            conn.execute(table.delete())
        if db.engine.dialect.name == "sqlite":
            # Statistics a test gathered: the next test's connections would plan with
            # another test's data.
            forget_sqlite_statistics(conn)


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
def login_as(app, make_user, request):
    """``login_as("secretary")`` -> a test client logged in with a new user of that role.

    A ``doctor`` user comes with its Doctor record (``client.doctor``), as in real life.
    """

    def _login(role: str, **kwargs):
        user, password = make_user(role=role, **kwargs)
        doctor = None
        if role == "doctor":
            make_doctor = request.getfixturevalue("make_doctor")
            doctor = make_doctor()
            doctor.user_id = user.id
            db.session.commit()
        c = app.test_client()
        resp = login(c, user.email, password)
        assert resp.status_code == 302, resp.get_data(as_text=True)
        c.user = user
        c.doctor = doctor
        return c

    return _login


# --- a live server and a real browser (Debian's chromium driven by Playwright) ----------

CHROMIUM = os.environ.get("AGENDA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync",
                 "--disable-quic"]


@pytest.fixture()
def live_server(app):
    """Base URL of the app served by a real HTTP server in a thread (same database)."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    app.config["BASE_URL"] = base
    yield base
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def _browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _page(browser, **context_args):
    context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris", **context_args)
    context.set_default_timeout(10_000)
    page = context.new_page()
    return context, page


@pytest.fixture()
def browser_page(_browser, live_server):
    """A Playwright page at desktop size (1280×800); ``page.base_url`` is the live server."""
    context, page = _page(_browser, viewport={"width": 1280, "height": 800})
    page.base_url = live_server
    yield page
    context.close()


@pytest.fixture()
def phone_page(_browser, live_server):
    """A Playwright page at phone size (390×844, touch)."""
    context, page = _page(_browser, viewport={"width": 390, "height": 844}, is_mobile=True,
                          has_touch=True)
    page.base_url = live_server
    yield page
    context.close()


def submit(locator) -> None:
    """Click what loads a new page (a form's button, a link) and wait until it has loaded.

    ``click()`` returns once the click is dispatched: reading the page right after it (or
    calling ``wait_for_load_state()``, which the old page already satisfies) can see the
    page being left or a new one not yet parsed.
    """
    with locator.page.expect_navigation():
        locator.click()


def browser_login(page, email: str, password: str) -> None:
    """Log in through the real login page."""
    page.goto(page.base_url + "/login")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(password)
    submit(page.get_by_role("button", name="Se connecter"))
