"""The factory, configuration and the embedded default."""

from agenda import create_app
from agenda.config import SETTINGS


def test_factory_uses_embedded_sqlite_default(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENDA_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("AGENDA_DATABASE_URL", raising=False)
    monkeypatch.delenv("AGENDA_SECRET_KEY", raising=False)
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'agenda.sqlite3'}"
    assert app.config["TIMEZONE"] == "Europe/Paris"
    # The generated secret is kept, so sessions survive a restart.
    key = app.config["SECRET_KEY"]
    assert len(key) > 40
    assert create_app().config["SECRET_KEY"] == key
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_environment_overrides(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENDA_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("AGENDA_DATABASE_URL", f"sqlite:///{tmp_path}/other.db")
    monkeypatch.setenv("AGENDA_SESSION_COOKIE_SECURE", "true")
    monkeypatch.setenv("AGENDA_LOGIN_MAX_FAILURES", "3")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("other.db")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["LOGIN_MAX_FAILURES"] == 3


def test_every_setting_is_documented_in_readme():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for name in SETTINGS:
        stem = name.split("_")[0]
        assert f"AGENDA_{name}" in readme or f"AGENDA_{stem}" in readme, name


def test_sqlite_runs_in_wal_mode(app):
    from sqlalchemy import text

    from agenda.extensions import db

    if db.engine.dialect.name != "sqlite":
        return
    mode = db.session.execute(text("PRAGMA journal_mode")).scalar()
    assert mode == "wal"


def test_health_is_public(client):
    assert client.get("/health").get_json() == {"status": "ok", "version": "0.1.0"}


def test_assets_served_by_the_app_itself(client):
    resp = client.get("/login")
    html = resp.get_data(as_text=True)
    assert "/static/agenda.css" in html
    assert "http://" not in html.replace("http://localhost", "")
    assert "https://" not in html
    assert client.get("/static/agenda.css").status_code == 200


def test_security_headers(client):
    resp = client.get("/login")
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Referrer-Policy"] == "same-origin"
    assert resp.headers["Cache-Control"] == "no-store"  # pages may show patient data


def test_safe_next_refuses_other_sites():
    from agenda.web import safe_next

    assert safe_next("/reservations/3") == "/reservations/3"
    assert safe_next("/ma-semaine?week=2026-W49") == "/ma-semaine?week=2026-W49"
    for bad in ["//evil.example/x", "https://evil.example", "/\\evil.example", "evil", "", None,
                "javascript:alert(1)"]:
        assert safe_next(bad) is None, bad
