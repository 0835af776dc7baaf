"""A test double for what Radicale and Xandikos cannot reproduce: a small HTTP server in
front of a real Radicale that answers the way DAViCal, Cyrus IMAP and SOGo do where they
differ (their discovery answers at the root URL, SOGo's surrogate-pair character
references, dropped keep-alive connections, a 403 for an account without CalDAV).

The calendars themselves stay Radicale's: every request the double does not answer itself
goes to Radicale, under the path prefix of the server it plays (``/caldav.php`` for
DAViCal, ``/dav/calendars/user`` for Cyrus, ``/SOGo/dav`` for SOGo), hrefs rewritten
both ways. The canned answers follow what those servers send (Debian bookworm packages:
DAViCal 1.1.12, Cyrus 3.6, SOGo 5.8), reduced to what the client reads.
"""

from __future__ import annotations

import base64
import http.client
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIXES = {"davical": "/caldav.php", "cyrus": "/dav/calendars/user", "sogo": "/SOGo/dav"}

_HREF = re.compile(rb"(<(?:[\w.-]+:)?href>)(/)")

UNAUTHENTICATED_ROOT = (
    b'<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:" '
    b'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:response><D:href>/</D:href><D:propstat>'
    b"<D:prop><D:current-user-principal><D:unauthenticated/></D:current-user-principal>"
    b"<D:resourcetype><D:collection/></D:resourcetype></D:prop>"
    b"<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>")


def surrogate_references(body: bytes) -> bytes:
    """SOGo's way: each character outside the BMP as two UTF-16 surrogate references."""

    def pair(ch: str) -> str:
        cp = ord(ch) - 0x10000
        return f"&#{0xD800 + (cp >> 10)};&#{0xDC00 + (cp & 0x3FF)};"

    text = body.decode("utf-8")
    return "".join(pair(c) if ord(c) > 0xFFFF else c for c in text).encode("utf-8")


@dataclass
class ServerDouble:
    upstream_port: int
    flavour: str  # "davical" / "cyrus" / "sogo"
    drop_every: int = 0  # close the connection unanswered on every Nth request
    forbidden_users: set[str] = field(default_factory=set)
    break_marker: bytes | None = None  # REPORT answers: this event's part made invalid XML
    hide_marker: bytes | None = None  # GET of the event holding this text: 500
    # A server without the free-busy-query REPORT (as some CalDAV servers): 403
    # supported-report, the way RFC 4791 says to refuse an unsupported report.
    refuse_freebusy: bool = False
    bodies: list[bytes] = field(default_factory=list)  # REPORT bodies received
    requests: int = 0
    dropped: int = 0
    seen: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    _server: ThreadingHTTPServer | None = None

    @property
    def prefix(self) -> str:
        return PREFIXES[self.flavour]

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def url(self, path: str = "/") -> str:
        return self.root.rstrip("/") + path

    def start(self) -> ServerDouble:
        double = self

        class Handler(_Handler):
            pass

        Handler.double = double
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    double: ServerDouble

    def log_message(self, *args) -> None:  # quiet
        pass

    def _answer(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _user(self) -> str | None:
        auth = self.headers.get("Authorization") or ""
        if not auth.startswith("Basic "):
            return None
        return base64.b64decode(auth[6:]).decode("utf-8", "replace").split(":", 1)[0]

    def _any(self) -> None:
        d = self.double
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        d.requests += 1
        d.seen.append((self.command, self.path))
        if d.drop_every and d.requests % d.drop_every == 0:
            d.dropped += 1  # the server forgot the keep-alive connection: no answer
            self.close_connection = True
            return
        path, prefix = self.path, d.prefix
        if self.command == "REPORT":
            d.bodies.append(body)
            if d.refuse_freebusy and b"free-busy-query" in body:
                return self._answer(403, b'<?xml version="1.0"?><D:error xmlns:D="DAV:">'
                                         b"<D:supported-report/></D:error>",
                                    {"Content-Type": "application/xml; charset=utf-8"})
        if self._user() in d.forbidden_users:
            return self._answer(403, b"<html>Forbidden</html>", {"Content-Type": "text/html"})
        if path.rstrip("/") == "/.well-known/caldav":
            return self._answer(301, b"", {"Location": prefix + "/"})
        if not path.startswith(prefix):
            if d.flavour == "cyrus" and path == "/" and self.command == "PROPFIND":
                if self._user() is None:  # the anonymous principal: no calendars
                    return self._answer(207, UNAUTHENTICATED_ROOT,
                                        {"Content-Type": "application/xml; charset=utf-8"})
                return self._forward("/", body)
            if d.flavour == "sogo" and path == "/":
                return self._answer(302, b"", {"Location": "/SOGo/"})
            # DAViCal's and SOGo's web pages: HTML, not WebDAV
            return self._answer(200, b"<!DOCTYPE html><html><body>Login</body></html>",
                                {"Content-Type": "text/html; charset=utf-8"})
        return self._forward(path[len(prefix):] or "/", body)

    def _forward(self, path: str, body: bytes) -> None:
        d = self.double
        body = body.replace(b">" + d.prefix.encode() + b"/", b">/")
        conn = http.client.HTTPConnection("127.0.0.1", d.upstream_port, timeout=15)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() in ("authorization", "depth", "content-type", "if-match",
                                    "if-none-match")}
        conn.request(self.command, path, body=body or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        if self.command == "GET" and d.hide_marker and d.hide_marker in data:
            return self._answer(500, b"Internal error")
        out_headers = {}
        for name in ("Content-Type", "ETag", "DAV"):
            if resp.getheader(name):
                out_headers[name] = resp.getheader(name)
        if resp.getheader("Location"):
            out_headers["Location"] = d.prefix + resp.getheader("Location")
        if resp.status == 207:
            data = _HREF.sub(lambda m: m.group(1) + d.prefix.encode() + b"/", data)
            if d.flavour == "sogo":
                data = surrogate_references(data)
            if d.break_marker and d.break_marker in data:
                data = _break(data, d.break_marker)
        self._answer(resp.status, data, out_headers)

    do_GET = do_PUT = do_DELETE = do_PROPFIND = do_REPORT = do_MKCALENDAR = do_OPTIONS = _any


def _break(data: bytes, marker: bytes) -> bytes:
    """Each event whose UID holds ``marker``: a control character XML forbids."""
    return data.replace(b"UID:" + marker, b"UID:&#1;" + marker)
