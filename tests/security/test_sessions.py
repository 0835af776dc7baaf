"""Finding 5: sessions end server-side (logout, password change, deactivation); API tokens
expire (one year by default, shown at creation) and show their last use."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from agenda import clock
from agenda.accounts.models import ApiToken
from agenda.extensions import db
from tests.conftest import csrf_token, login


def _session_cookie(client) -> str:
    return client.get_cookie("session").value


def _replay(app, cookie: str):
    """A fresh client carrying a copy of the captured session cookie."""
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    return thief


def test_a_cookie_captured_before_logout_no_longer_reads_bookings(app, client, make_user):
    user, password = make_user("secretary")
    login(client, user.email, password)
    captured = _session_cookie(client)
    assert _replay(app, captured).get("/reservations").status_code == 200
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    resp = _replay(app, captured).get("/reservations")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_a_password_change_ends_the_other_sessions(app, make_user):
    user, password = make_user("secretary")
    here, elsewhere = app.test_client(), app.test_client()
    login(here, user.email, password)
    login(elsewhere, user.email, password)
    token = csrf_token(here, "/compte")
    resp = here.post("/compte", data={"action": "password", "pw-current": password,
                                      "pw-new": "un-nouveau-secret", "pw-csrf_token": token,
                                      "csrf_token": token})
    assert "Mot de passe modifié" in resp.get_data(as_text=True)
    assert here.get("/reservations").status_code == 200  # this session goes on
    assert elsewhere.get("/reservations").status_code == 302


def test_deactivation_ends_the_sessions(app, make_user, login_as):
    user, password = make_user("secretary")
    victim = app.test_client()
    login(victim, user.email, password)
    assert victim.get("/reservations").status_code == 200
    admin = login_as("admin")
    admin.post(f"/admin/utilisateurs/{user.id}/activer",
               data={"csrf_token": csrf_token(admin, "/admin/utilisateurs")})
    assert victim.get("/reservations").status_code == 302


def test_api_tokens_expire_after_a_year_and_show_their_last_use(app, frozen, login_as):
    c = login_as("doctor")
    token = csrf_token(c, "/compte")
    html = c.post("/compte", data={"action": "token", "token-name": "agenda",
                                   "token-csrf_token": token, "csrf_token": token}
                  ).get_data(as_text=True)
    secret = html.split('id="new-token">')[1].split("<")[0]
    assert "Valable jusqu" in html and "2027" in html  # shown at creation
    assert "jamais utilisé" in html
    api = app.test_client()
    auth = {"Authorization": f"Bearer {secret}"}
    assert api.get("/api/v1/me", headers=auth).status_code == 200
    row = db.session.scalar(select(ApiToken))
    assert row.expires_at - row.created_at == timedelta(days=365)
    assert "dernière utilisation le" in c.get("/compte").get_data(as_text=True)
    # The last use is written at most once a minute (no write on every call).
    first_use = row.last_used_at
    assert first_use == clock.now()
    frozen.advance(seconds=30)
    assert api.get("/api/v1/me", headers=auth).status_code == 200
    db.session.expire_all()
    assert db.session.get(ApiToken, row.id).last_used_at == first_use
    frozen.advance(seconds=31)
    assert api.get("/api/v1/me", headers=auth).status_code == 200
    db.session.expire_all()
    assert db.session.get(ApiToken, row.id).last_used_at == clock.now()
    frozen.advance(days=364)
    assert api.get("/api/v1/me", headers=auth).status_code == 200
    frozen.advance(days=1, seconds=1)
    assert api.get("/api/v1/me", headers=auth).status_code == 401
