"""A doctor's CalDAV password goes only where it was saved for; the service calls no
loopback, link-local or private address unless listed (issue 11, point 1)."""

from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from agenda.errors import ValidationError
from agenda.extensions import db
from agenda.sync.models import CalendarAccount
from agenda.sync.services import discover
from tests.sync.conftest import RADICALE_PASSWORD, RADICALE_USER
from tests.sync.test_pages_cli import _csrf, doctor_client


class Listener:
    """A real listener on 127.0.0.1 that asks for Basic credentials and keeps what comes."""

    def __init__(self, redirect_to: str | None = None):
        self.received: list[tuple[str, str, str]] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                auth = self.headers.get("Authorization") or ""
                listener.received.append((self.command, self.path, auth))
                if redirect_to:
                    self.send_response(301)
                    self.send_header("Location", redirect_to)
                else:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="caldav"')
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_PROPFIND = do_REPORT = do_OPTIONS = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def saw_password(self, password: str) -> bool:
        for _method, _path, auth in self.received:
            if auth.startswith("Basic ") and password in base64.b64decode(auth[6:]).decode():
                return True
        return False

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def listener():
    one = Listener()
    yield one
    one.stop()


def _flashes(client) -> str:
    return client.get("/mon-calendrier").get_data(as_text=True)


def test_stored_password_never_goes_to_another_url_or_username(frozen, login_as, make_doctor,
                                                               radicale_dav, listener):
    radicale_dav.adapter().ensure_calendar("SNP")
    client, doctor = doctor_client(login_as, make_doctor)

    def tester(url, username, password=""):
        return client.post("/mon-calendrier/tester", data={
            "url": url, "username": username, "password": password,
            "csrf_token": _csrf(client, "/mon-calendrier")})

    tester(radicale_dav.url, RADICALE_USER, RADICALE_PASSWORD)
    assert "Connexion réussie" in _flashes(client)
    account = db.session.scalar(select(CalendarAccount).where(
        CalendarAccount.doctor_id == doctor.id))
    assert account.password_encrypted

    # Same username, the attacker's URL, no password typed: nothing is sent anywhere.
    tester(listener.url, RADICALE_USER)
    assert "retapez le mot de passe" in _flashes(client)
    # The right URL with another username: the same.
    tester(radicale_dav.url, "quelqu-un-d-autre")
    assert "retapez le mot de passe" in _flashes(client)
    assert listener.received == []
    assert not listener.saw_password(RADICALE_PASSWORD)
    db.session.refresh(account)
    assert account.url == radicale_dav.url and account.username == RADICALE_USER

    # The stored URL and username: the stored password still serves.
    tester(radicale_dav.url, RADICALE_USER)
    assert "Connexion réussie" in _flashes(client)


def test_credentials_do_not_follow_a_redirect_to_another_address(app, listener):
    redirector = Listener(redirect_to=listener.url + "caldav/")
    try:
        with pytest.raises(ValidationError) as refused:
            discover(redirector.url, RADICALE_USER, "mot-de-passe-tape")
        assert "autre adresse" in refused.value.message
    finally:
        redirector.stop()
    assert listener.received == []


def test_refused_targets_all_get_the_same_answer(app, listener):
    app.config["CALDAV_ALLOWED_HOSTS"] = ""  # the default of a real deployment
    port = listener.server.server_address[1]
    targets = [listener.url, "http://127.0.0.1:1/", f"http://localhost:{port}/",
               f"http://[::1]:{port}/", "http://10.1.2.3/", "http://192.168.1.10:8443/",
               "http://172.16.0.1/", "http://169.254.169.254/latest/meta-data/",
               "http://0.0.0.0:5232/", f"http://127.0.0.1:{port}/.well-known/caldav"]
    answers = set()
    for url in targets:
        with pytest.raises(ValidationError) as refused:
            discover(url, RADICALE_USER, "secret")
        answers.add(refused.value.message)
    assert answers == {"Adresse refusée : le service n'appelle que des serveurs de calendrier "
                       "publics en http(s)."}
    assert listener.received == []
    # Listed (host, or host:port): called.
    app.config["CALDAV_ALLOWED_HOSTS"] = f"127.0.0.1:{port}"
    with pytest.raises(ValidationError) as asked:
        discover(listener.url, RADICALE_USER, "secret")
    assert "refusé" in asked.value.message and len(listener.received) >= 1


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/", "gopher://x/",
                                 "javascript:alert(1)"])
def test_non_http_schemes_are_refused(app, url):
    with pytest.raises(ValidationError):
        discover(url, "x", "y")
