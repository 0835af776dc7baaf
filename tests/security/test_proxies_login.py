"""Finding 3: behind a reverse proxy, the client's address, scheme and host come from the
forwarded headers (only when AGENDA_TRUSTED_PROXIES says a proxy is there); one attacker
cannot lock out an account's owner; the failure counter is exact under concurrency."""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select

from agenda import create_app
from agenda.accounts.models import LoginAttempt
from agenda.audit import AuditEntry
from agenda.extensions import db
from tests.conftest import CSRF_RE, _test_config

ATTACKER, OWNER = "203.0.113.66", "198.51.100.7"


@pytest.fixture()
def proxied(app, database_url, tmp_path):
    """The same app configured for one reverse proxy in front (nginx)."""
    behind = create_app({**_test_config(database_url, tmp_path), "TRUSTED_PROXIES": 1})
    return behind.test_client()


def _login(client, email: str, password: str, ip: str, proto: str = "https"):
    headers = {"X-Forwarded-For": ip, "X-Forwarded-Proto": proto,
               "X-Forwarded-Host": "agenda.cpts.example",
               "Referer": f"{proto}://agenda.cpts.example/login"}
    html = client.get("/login", headers=headers).get_data(as_text=True)
    token = CSRF_RE.search(html).group(1)
    return client.post("/login", headers=headers,
                       data={"email": email, "password": password, "csrf_token": token})


def test_forwarded_headers_are_ignored_without_a_trusted_proxy(client, make_user):
    user, password = make_user("secretary")
    for _ in range(10):
        _login(client, user.email, "faux", ATTACKER)
    # Without a trusted proxy the spoofed X-Forwarded-For is ignored: every try came from
    # the socket's address, the same as the owner's here.
    assert _login(client, user.email, password, OWNER).status_code == 429


def test_one_attacker_cannot_lock_out_the_owner(proxied, make_user):
    user, password = make_user("secretary")
    for _ in range(10):
        assert _login(proxied, user.email, "faux", ATTACKER).status_code == 401
    assert _login(proxied, user.email, "faux", ATTACKER).status_code == 429
    assert _login(proxied, user.email, password, ATTACKER).status_code == 429
    # The owner, from their own address, logs in.
    assert _login(proxied, user.email, password, OWNER).status_code == 302


def test_many_addresses_hit_the_looser_account_limit(proxied, make_user):
    proxied.application.config["LOGIN_MAX_FAILURES_ACCOUNT"] = 12
    user, password = make_user("secretary")
    for i in range(12):
        assert _login(proxied, user.email, "faux", f"203.0.113.{i}").status_code == 401
    assert _login(proxied, user.email, password, OWNER).status_code == 429


def test_audit_and_fhir_links_follow_the_proxy(proxied, make_user, cpts):
    user, _ = make_user("secretary")
    headers = {"X-Forwarded-For": OWNER, "X-Forwarded-Proto": "https",
               "X-Forwarded-Host": "agenda.cpts.example",
               "Referer": "https://agenda.cpts.example/mot-de-passe-oublie"}
    html = proxied.get("/mot-de-passe-oublie", headers=headers).get_data(as_text=True)
    proxied.post("/mot-de-passe-oublie", headers=headers,
                 data={"email": user.email, "csrf_token": CSRF_RE.search(html).group(1)})
    entry = db.session.scalar(select(AuditEntry).where(
        AuditEntry.action == "password.reset_requested"))
    assert entry is not None and entry.ip == OWNER  # not the proxy's 127.0.0.1
    key = "cle-proxy-0123456789"
    proxied.application.config["FHIR_API_KEYS"] = f"sas-national:{key}"
    resp = proxied.get("/fhir/r4/metadata", headers={**headers, "X-API-Key": key})
    assert resp.status_code == 200
    assert resp.get_json()["implementation"]["url"] == "https://agenda.cpts.example/fhir/r4"


def test_200_concurrent_bad_logins_are_checked_exactly_10_times(app, live_server, make_user):
    user, _ = make_user("secretary")
    email = user.email
    sessions = []
    for _ in range(200):
        s = requests.Session()
        html = s.get(live_server + "/login", timeout=30).text
        sessions.append((s, CSRF_RE.search(html).group(1)))
    start = threading.Barrier(50)

    def attempt(item):
        s, token = item
        with contextlib.suppress(threading.BrokenBarrierError):
            start.wait(timeout=5)
        return s.post(live_server + "/login", timeout=60, allow_redirects=False,
                      data={"email": email, "password": "faux", "csrf_token": token}
                      ).status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        codes = list(pool.map(attempt, sessions))
    assert sorted(set(codes)) == [401, 429]
    assert codes.count(401) == 10 and codes.count(429) == 190
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(LoginAttempt)) == 10
