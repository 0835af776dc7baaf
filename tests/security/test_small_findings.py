"""Finding 8, the smaller points: constant-time login for unknown accounts, CSV formula
cells escaped, private database file and instance folder, CSP without inline code (checked
in Chromium), Cache-Control on every answer with patient data, Allow on 405.
(Token expiry is in test_sessions.py; the ICS feed token is the sync package's.)"""

from __future__ import annotations

import csv
import io
import os
import stat
from datetime import timedelta

import pytest
from argon2 import PasswordHasher

from agenda import create_app
from agenda.booking.models import Reason
from agenda.coverage.csvexport import cell, to_csv
from agenda.extensions import db
from tests.conftest import browser_login, login
from tests.security.conftest import known_patient


def test_unknown_accounts_cost_the_same_password_check(app, client, make_user, monkeypatch):
    """Timing itself is measured in bench/login_timing.py; here: the same argon2 work."""
    calls = []
    real_verify = PasswordHasher.verify

    def counting(self, hash_, password):
        calls.append(hash_)
        return real_verify(self, hash_, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    user, _ = make_user("secretary")
    for email in (user.email, "personne@inconnu.fr"):
        calls.clear()
        assert login(client, email, "faux").status_code == 401
        assert len(calls) == 1 and calls[0].startswith("$argon2id$"), email
    user.active = False  # a disabled account answers like an unknown one
    db.session.commit()
    calls.clear()
    assert login(client, user.email, "motdepasse-solide").status_code == 401
    assert len(calls) == 1 and calls[0] != user.password_hash


@pytest.mark.parametrize("value", ["=HYPERLINK(\"http://x\",\"clic\")", "+1+1", "-2+3",
                                   "@SUM(A1)", "\t=1", "\r=1"])
def test_formula_cells_are_escaped(value):
    assert cell(value) == "'" + value
    row = next(csv.reader(io.StringIO(to_csv([{"a": value}], ["a"])), delimiter=";"))
    assert row == ["a"]
    assert next(csv.reader(io.StringIO(to_csv([{"a": value}], ["a"]).split("\r\n", 1)[1]),
                           delimiter=";"))[0].startswith("'")


def test_numbers_stay_numbers():
    assert (cell(-3), cell(-2.5), cell(0), cell("texte")) == ("-3", "-2,5", "0", "texte")


def test_a_reason_label_is_exported_escaped(app, frozen, login_as, api_client, make_doctor,
                                            make_slot, cpts):
    reason = Reason(cpts_id=cpts.id, label='=HYPERLINK("http://evil.example","clic")')
    db.session.add(reason)
    db.session.commit()
    now = frozen.advance(minutes=0)
    c, h, _ = api_client("secretary")
    slot = make_slot(make_doctor(), now + timedelta(hours=1))
    assert c.post("/api/v1/bookings", headers=h, json={
        "slot_id": slot.id, "reason_id": reason.id, "patient": known_patient()}
    ).status_code == 201
    coord = login_as("coordinator")
    day = now.date().isoformat()
    body = coord.get(f"/coverage/stats?from={day}&to={day}&format=csv&table=reasons"
                     ).get_data(as_text=True)
    assert "'=HYPERLINK" in body
    assert ";=HYPERLINK" not in body and "\n=HYPERLINK" not in body


def test_database_file_and_instance_folder_are_private(tmp_path, monkeypatch):
    instance = tmp_path / "nouvelle-instance"
    monkeypatch.setenv("AGENDA_INSTANCE_PATH", str(instance))
    monkeypatch.delenv("AGENDA_DATABASE_URL", raising=False)
    monkeypatch.setattr(os, "umask", os.umask)  # restored after the test
    old = os.umask(0o022)  # the usual umask: files would be world-readable
    try:
        fresh = create_app({"TESTING": True})
        with fresh.app_context():
            db.create_all()
            db.session.execute(db.text("CREATE TABLE t (x int)"))
            db.session.commit()
            db.engine.dispose()
    finally:
        os.umask(old)
    assert stat.S_IMODE(instance.stat().st_mode) == 0o700
    files = [p for p in instance.iterdir() if p.name.startswith("agenda.sqlite3")]
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files), [
        (p.name, oct(p.stat().st_mode)) for p in files]
    assert stat.S_IMODE((instance / "secret_key").stat().st_mode) == 0o600


def test_csp_forbids_inline_code(client):
    csp = client.get("/login").headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp
    assert "script-src 'self'" in csp and "style-src 'self'" in csp


def test_pages_run_under_the_csp_without_violation(app, browser_page, make_user, make_doctor,
                                                   frozen, make_slot):
    """Chromium reports every inline script or style the CSP refuses: there must be none."""
    violations = []
    browser_page.on("console", lambda m: violations.append(m.text)
                    if "Content Security Policy" in m.text else None)
    doctor = make_doctor(with_user=True)
    make_slot(doctor, frozen.advance(minutes=0) + timedelta(hours=2))
    pages = {"doctor": ["/", "/ma-semaine", "/compte"],
             "secretary": ["/", "/reservations/recherche", "/reservations"],
             "coordinator": ["/coverage/hourly", "/coverage/map", "/coverage/stats"]}
    for role, paths in pages.items():
        if role == "doctor":
            user, password = doctor.user, "motdepasse-solide"
        else:
            user, password = make_user(role)
        browser_page.context.clear_cookies()
        browser_login(browser_page, user.email, password)
        for path in paths:
            browser_page.goto(browser_page.base_url + path)
            browser_page.wait_for_load_state("networkidle")
    browser_page.goto(browser_page.base_url + "/page-inexistante")
    assert violations == []


def test_patient_data_is_never_cached(app, frozen, api_client, make_doctor, make_slot,
                                      login_as):
    c, h, _ = api_client("secretary")
    slot = make_slot(make_doctor(), frozen.advance(minutes=0) + timedelta(hours=1))
    booking = c.post("/api/v1/bookings", headers=h, json={
        "slot_id": slot.id, "patient": known_patient()}).get_json()["booking"]
    for resp in (c.get(f"/api/v1/bookings/{booking['id']}", headers=h),
                 c.get("/api/v1/requests", headers=h),
                 c.get("/api/v1/bookings/999", headers=h)):
        assert resp.headers["Cache-Control"] == "no-store", resp.request.path
    page = login_as("secretary")
    assert page.get("/reservations").headers["Cache-Control"] == "no-store"
    assert "no-store" not in (page.get("/static/agenda.css").headers.get("Cache-Control")
                              or "")


def test_405_names_the_allowed_methods(app, api_client, client):
    c, h, _ = api_client("secretary")
    resp = c.get("/api/v1/holds", headers=h)
    assert resp.status_code == 405 and "POST" in resp.headers["Allow"]
    assert resp.get_json()["message"]
    resp = client.get("/logout")
    assert resp.status_code == 405 and "POST" in resp.headers["Allow"]
    resp = client.delete("/fhir/r4/metadata")
    assert resp.status_code == 405 and "GET" in resp.headers["Allow"]
    assert resp.get_json()["resourceType"] == "OperationOutcome"
