"""Login, wrong password, rate limit, CSRF, logout, API tokens."""

from sqlalchemy import func, select

from agenda.accounts.models import ApiToken, LoginAttempt
from agenda.extensions import db
from tests.conftest import csrf_token, login


def test_login_lands_on_dashboard_and_logout(client, make_user):
    user, password = make_user("secretary")
    resp = login(client, user.email, password)
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    assert "Espace télésecrétariat" in client.get("/").get_data(as_text=True)
    token = csrf_token(client, "/")
    resp = client.post("/logout", data={"csrf_token": token})
    assert resp.status_code == 302
    assert client.get("/").status_code == 302  # back to the login page


def test_session_cookie_flags(client, make_user):
    user, password = make_user("secretary")
    resp = login(client, user.email, password)
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_wrong_password_french_message(client, make_user):
    user, _ = make_user("doctor")
    resp = login(client, user.email, "pas-le-bon")
    assert resp.status_code == 401
    assert "Adresse e-mail ou mot de passe incorrect." in resp.get_data(as_text=True)


def test_rate_limit_per_account(app, client, make_user):
    user, password = make_user("secretary")
    for _ in range(10):
        assert login(client, user.email, "faux").status_code == 401
    resp = login(client, user.email, password)  # even the right password now waits
    assert resp.status_code == 429
    assert "Trop de tentatives" in resp.get_data(as_text=True)
    count = db.session.scalar(select(func.count()).select_from(LoginAttempt))
    assert count == 10


def test_rate_limit_window_passes(app, client, make_user, frozen):
    user, password = make_user("secretary")
    for _ in range(10):
        login(client, user.email, "faux")
    frozen.advance(minutes=16)
    assert login(client, user.email, password).status_code == 302


def test_rate_limit_per_address(app, client, make_user):
    """One address trying many accounts hits the (looser) per-address limit."""
    app.config["LOGIN_MAX_FAILURES_ADDRESS"] = 10
    users = [make_user("secretary") for _ in range(2)]
    for i in range(10):
        login(client, users[i % 2][0].email, "faux")
    third, password = make_user("secretary")
    assert login(client, third.email, password).status_code == 429


def test_csrf_rejected(client, make_user):
    user, password = make_user("secretary")
    resp = client.post("/login", data={"email": user.email, "password": password})
    assert resp.status_code == 400
    resp = client.post("/login", data={"email": user.email, "password": password,
                                       "csrf_token": "forged"})
    assert resp.status_code == 400
    login(client, user.email, password)
    resp = client.post("/logout", data={})
    assert resp.status_code == 400
    assert "jeton CSRF" in resp.get_data(as_text=True)


def test_open_redirect_refused(client, make_user):
    user, password = make_user("secretary")
    token = csrf_token(client)
    resp = client.post("/login?next=https://evil.example/x",
                       data={"email": user.email, "password": password, "csrf_token": token})
    assert resp.headers["Location"] == "/"


def test_password_stored_hashed(make_user):
    user, password = make_user("secretary")
    assert password not in user.password_hash
    assert user.password_hash.startswith("$argon2")


def test_api_token_created_hashed_and_revocable(app, login_as):
    c = login_as("doctor")
    page = c.get("/compte").get_data(as_text=True)
    token = csrf_token(c, "/compte")
    resp = c.post("/compte", data={"action": "token", "token-name": "mon agenda",
                                   "token-csrf_token": token, "csrf_token": token})
    html = resp.get_data(as_text=True)
    assert "Copiez ce jeton" in html, page
    secret = html.split('id="new-token">')[1].split("<")[0]
    row = db.session.scalar(select(ApiToken))
    assert secret not in row.token_hash
    api = app.test_client()
    me = api.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.get_json()["role"] == "doctor"
    assert api.get("/api/v1/me", headers={"Authorization": "Bearer nope"}).status_code == 401
    token = csrf_token(c, "/compte")
    c.post(f"/compte/jetons/{row.id}/revoquer", data={"csrf_token": token})
    resp = api.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert resp.status_code == 401
    assert "révoqué" in resp.get_json()["message"]


def test_password_reset_flow(app, client, make_user):
    from agenda.outbox import OutboxItem

    user, old = make_user("regulator")
    token = csrf_token(client, "/mot-de-passe-oublie")
    resp = client.post("/mot-de-passe-oublie", data={"email": user.email, "csrf_token": token})
    assert resp.status_code == 302
    # Unknown addresses get the same answer and no mail.
    client.post("/mot-de-passe-oublie", data={"email": "inconnu@x.fr", "csrf_token": token})
    mails = db.session.scalars(select(OutboxItem).where(OutboxItem.kind == "mail")).all()
    assert len(mails) == 1 and mails[0].payload["to"] == user.email
    link = mails[0].payload["body"].split("http://localhost")[1].split()[0]
    token = csrf_token(client, link)
    assert client.post(link, data={"password": "nouveau-mot-de-passe",
                                   "csrf_token": token}).status_code == 302
    assert login(app.test_client(), user.email, "nouveau-mot-de-passe").status_code == 302
    # The link served once.
    resp = client.get(link)
    assert resp.status_code == 400 and "déjà servi" in resp.get_data(as_text=True)
