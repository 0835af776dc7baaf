"""The CalDAV client adapter: one small interface, one implementation over HTTP
(discovery, sync-collection, multiget, conditional PUT) with the ``caldav`` library kept
for creating calendars (demo, tests).

In the manner of Radicale's pluggable parts: :class:`CalendarAdapter` says what the sync
needs from a calendar server; :class:`CaldavAdapter` does it over CalDAV. Another
backend (a provider API…) would be one more subclass.

What real servers do and this adapter absorbs (see ``docs/caldav.md``): SOGo's
surrogate-pair character references in XML, a dropped keep-alive connection (one retry on
a new connection), ``%40`` against ``@`` in hrefs (every href is normalised), a server
refusing partial calendar-data (full data asked for instead), discovery from a root URL,
``/.well-known/caldav``, a principal or a calendar URL; one unreadable event in an answer
is fetched alone or named, never the end of the whole calendar.

Outbound requests go only to http(s) targets; loopback, link-local and private addresses
are refused unless listed in ``CALDAV_ALLOWED_HOSTS``; credentials are only ever sent to
the origin (scheme, host, port) of the URL they were saved with.

Errors are :class:`AdapterError` subclasses carrying a French message shown to the doctor
and the coordinator; :class:`ServerUnavailable` is a passing failure (retried).
"""

from __future__ import annotations

import contextlib
import html
import ipaddress
import re
import socket
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit
from xml.sax.saxutils import escape

from lxml import etree

from agenda.sync.text import _t

_local = threading.local()
NS = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:caldav", "CS": "http://calendarserver.org/ns/"}
TIMEOUT_SECONDS = 15
MAX_REDIRECTS = 5

#: Requests sent, by method (the benchmark reads it: REPORTs per changed event).
REQUESTS: Counter[str] = Counter()
_REQUESTS_LOCK = threading.Lock()


# --- errors --------------------------------------------------------------------------------


class AdapterError(Exception):
    """A calendar server problem, with a French message for people."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ServerUnavailable(AdapterError):
    """Server down, timeout, 5xx: retried later."""


class AuthenticationFailed(AdapterError):
    pass


class AccessForbidden(AdapterError):
    """403: the server knows the account but refuses it this calendar (or CalDAV)."""


class NotCaldav(AdapterError):
    """Nothing at this address answers as a CalDAV server."""


class TargetRefused(AdapterError):
    """An address the service does not call (scheme, loopback, private network…)."""


class CalendarNotFound(AdapterError):
    pass


class PreconditionFailed(AdapterError):
    """412: the event changed on the server since we read it (If-Match) or exists
    already (If-None-Match: *)."""


class InvalidSyncToken(AdapterError):
    pass


class SyncUnsupported(AdapterError):
    """The server has no RFC 6578 sync-collection: fall back to ETags."""


def _auth_failed() -> AuthenticationFailed:
    return AuthenticationFailed(_t("Identifiant ou mot de passe d'application refusé par le "
                                   "serveur de calendrier."))


def _refused() -> TargetRefused:
    # The same words for every refused target: the answer tells nothing about what
    # listens there.
    return TargetRefused(_t("Adresse refusée : le service n'appelle que des serveurs de "
                            "calendrier publics en http(s)."))


# --- values --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteCalendar:
    url: str
    name: str


@dataclass
class RemoteObject:
    href: str  # absolute URL
    etag: str | None
    data: str | None  # iCalendar text


@dataclass
class SyncChanges:
    changed: list[RemoteObject] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)  # absolute hrefs
    token: str | None = None
    # Objects the server's answer did not let us read (named to the doctor).
    unreadable: list[str] = field(default_factory=list)


# --- hrefs and targets ---------------------------------------------------------------------

_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def canonical_href(url: str) -> str:
    """One spelling per resource: the path percent-decoded then re-encoded the same way
    (``%40`` and ``@`` are one href), scheme and host in lower case."""
    parts = urlsplit(url)
    path = quote(unquote(parts.path), safe=_PATH_SAFE)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


def _allowed_set(allowed: str | None) -> set[str]:
    return {h.strip().lower() for h in (allowed or "").replace(";", ",").split(",")
            if h.strip()}


def check_target(url: str, allowed: str | None) -> None:
    """Refuse (:class:`TargetRefused`) anything but http(s) to a public address, unless
    the host (or host:port) is listed in ``allowed`` (``CALDAV_ALLOWED_HOSTS``)."""
    scheme, host, port = _origin(url)
    if scheme not in ("http", "https") or not host or port is None:
        raise _refused()
    listed = _allowed_set(allowed)
    if "*" in listed or host in listed or f"{host}:{port}" in listed:
        return
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise ServerUnavailable(_t("Serveur de calendrier injoignable (%(host)s).",
                                   host=host)) from exc
    for info in infos:
        try:
            ip = ipaddress.ip_address(info[4][0].split("%")[0])
        except ValueError:
            raise _refused() from None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved
                or ip.is_multicast or ip.is_unspecified):
            raise _refused()


def _allowed_from_app() -> str:
    try:
        from flask import current_app, has_app_context

        if has_app_context():
            return str(current_app.config.get("CALDAV_ALLOWED_HOSTS") or "")
    except ImportError:  # pragma: no cover
        pass
    return ""


# --- tolerant XML --------------------------------------------------------------------------

_PAIR_REF = re.compile(rb"&#(x[0-9a-fA-F]{1,6}|[0-9]{1,7});&#(x[0-9a-fA-F]{1,6}|[0-9]{1,7});")
_ONE_REF = re.compile(rb"&#(x[0-9a-fA-F]{1,6}|[0-9]{1,7});")
_FOLD = re.compile(rb"(?:\r\n|\n|&#13;\n|&#x[dD];\n|&#13;&#10;|&#x[dD];&#x[aA];)[ \t]")


def _ref_value(text: bytes) -> int:
    return int(text[1:], 16) if text[:1] in (b"x", b"X") else int(text)


def repair_xml(content: bytes) -> bytes:
    """Character references of UTF-16 surrogate pairs (SOGo: ``&#55358;&#56954;``) made
    one reference to the real character; a lone surrogate becomes U+FFFD. An answer that
    is not valid UTF-8 (a line folded inside a multi-byte character) is unfolded first."""

    def pair(m: re.Match) -> bytes:
        hi, lo = _ref_value(m.group(1)), _ref_value(m.group(2))
        if 0xD800 <= hi <= 0xDBFF and 0xDC00 <= lo <= 0xDFFF:
            return b"&#%d;" % (0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
        return m.group(0)

    def lone(m: re.Match) -> bytes:
        return b"&#65533;" if 0xD800 <= _ref_value(m.group(1)) <= 0xDFFF else m.group(0)

    if b"&#" in content:
        content = _ONE_REF.sub(lone, _PAIR_REF.sub(pair, content))
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        content = _FOLD.sub(b"", content)
    return content


_PARSER_OPTIONS = {"huge_tree": True, "resolve_entities": False, "no_network": True}


@dataclass
class Multistatus:
    responses: list = field(default_factory=list)
    token: str | None = None
    unreadable: list[str] = field(default_factory=list)  # hrefs of unparseable responses


def _parse(content: bytes):
    try:
        return etree.fromstring(repair_xml(content or b"<D:multistatus xmlns:D='DAV:'/>"),
                                parser=etree.XMLParser(**_PARSER_OPTIONS))
    except etree.XMLSyntaxError as exc:
        raise AdapterError(_t("Réponse illisible du serveur de calendrier.")) from exc


def parse_multistatus(content: bytes) -> Multistatus:
    """The responses of a 207 answer; when the whole document does not parse, each
    ``response`` is parsed alone and those that fail are listed by href."""
    content = repair_xml(content or b"<D:multistatus xmlns:D='DAV:'/>")
    parser = etree.XMLParser(**_PARSER_OPTIONS)
    try:
        root = etree.fromstring(content, parser=parser)
    except etree.XMLSyntaxError:
        root = None
    if root is not None:
        tok = root.find("D:sync-token", NS)
        return Multistatus(root.findall("D:response", NS),
                           tok.text.strip() if tok is not None and tok.text else None)
    head = re.search(rb"<(?:([\w.-]+):)?multistatus\b[^>]*>", content)
    if head is None:
        raise AdapterError(_t("Réponse illisible du serveur de calendrier."))
    prefix = (head.group(1) + b":") if head.group(1) else b""
    out = Multistatus()
    token = re.search(rb"<(?:[\w.-]+:)?sync-token>([^<]*)</", content[head.end():])
    if token:
        out.token = html.unescape(token.group(1).decode("utf-8", "replace")).strip() or None
    for chunk in re.findall(rb"<" + re.escape(prefix) + rb"response\b.*?</"
                            + re.escape(prefix) + rb"response\s*>", content, re.S):
        try:
            doc = etree.fromstring(head.group(0) + chunk + b"</" + prefix + b"multistatus>",
                                   parser=parser)
            out.responses.extend(doc.findall("D:response", NS))
        except etree.XMLSyntaxError:
            href = re.search(rb"<(?:[\w.-]+:)?href>([^<]*)</", chunk)
            if href:
                out.unreadable.append(html.unescape(href.group(1).decode("utf-8", "replace")))
    return out


# --- the interface -------------------------------------------------------------------------


class CalendarAdapter:
    """What the sync needs from a calendar server."""

    def __init__(self, url: str, username: str | None, password: str | None, *,
                 allowed_hosts: str | None = None):
        self.url = url
        self.username = username or ""
        self.password = password or ""
        self.allowed_hosts = allowed_hosts

    def calendars(self) -> list[RemoteCalendar]:
        """The principal's calendars ("Tester la connexion")."""
        raise NotImplementedError

    def ensure_calendar(self, name: str) -> str:
        """The URL of calendar ``name``, created when missing (demo, tests, onboarding)."""
        raise NotImplementedError

    def sync(self, calendar_url: str, token: str | None) -> SyncChanges:
        """RFC 6578 changes since ``token`` (all objects when None)."""
        raise NotImplementedError

    def etags(self, calendar_url: str) -> dict[str, str]:
        """href -> ETag of every object (fallback for servers without sync-collection)."""
        raise NotImplementedError

    def multiget(self, calendar_url: str, hrefs: list[str]) -> list[RemoteObject]:
        raise NotImplementedError

    def get(self, href: str) -> RemoteObject | None:
        raise NotImplementedError

    def put(self, href: str, data: str, *, etag: str | None) -> str | None:
        """Write ``data``: If-Match ``etag``, or If-None-Match: * when ``etag`` is None.
        Returns the new ETag when the server gives it."""
        raise NotImplementedError

    def busy_times(self, calendar_url: str, start: datetime,
                   end: datetime) -> list[tuple[datetime, datetime]]:
        """Busy intervals of a calendar read for its busy times only."""
        raise NotImplementedError

    def close(self) -> None:
        pass


# --- CalDAV ---------------------------------------------------------------------------------


def _xml(tag_tree: str) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + tag_tree).encode()


_XML_HEADERS = {"Content-Type": "application/xml; charset=utf-8"}
_DISCOVERY = _xml(
    '<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>'
    "<D:current-user-principal/><C:calendar-home-set/><D:resourcetype/><D:displayname/>"
    "</D:prop></D:propfind>")
_LISTING = _xml('<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:displayname/>'
                "</D:prop></D:propfind>")


@dataclass
class _Props:
    calendar: bool = False
    collection: bool = False
    name: str | None = None
    principal: str | None = None
    home: str | None = None
    unauthenticated: bool = False


class CaldavAdapter(CalendarAdapter):
    """CalDAV over the HTTP library of the ``caldav`` library (niquests since caldav 2,
    requests before); the ``caldav`` library itself only creates calendars."""

    def __init__(self, url: str, username: str | None, password: str | None, *,
                 timeout: int = TIMEOUT_SECONDS, allowed_hosts: str | None = None,
                 trusted: tuple[str, ...] = ()):
        super().__init__(url, username, password,
                         allowed_hosts=allowed_hosts if allowed_hosts is not None
                         else _allowed_from_app())
        http = _http_lib()
        self.timeout = timeout
        self._client = None
        self._auth = (http.auth.HTTPBasicAuth(self.username, self.password)
                      if self.username else None)
        # Credentials go to the origin they were saved with (and the calendar chosen
        # there), never elsewhere.
        self._trusted = {_origin(url)} | {_origin(u) for u in trusted if u}
        self._checked: set[tuple] = set()
        # One HTTP session per thread, shared by the doctors it handles: connections to
        # the same server are reused (credentials go with each request).
        session = getattr(_local, "session", None)
        if session is None:
            session = _local.session = http.Session()
        self._session = session

    @property
    def client(self):
        """The ``caldav`` library client (calendar creation only), made on first use."""
        if self._client is None:
            import caldav

            check_target(self.url, self.allowed_hosts)
            self._client = caldav.DAVClient(**client_options(
                url=self.url, username=self.username or None, password=self.password or None,
                timeout=self.timeout, require_tls=False, enable_rfc6764=False,
                rate_limit_handle=False))
        return self._client

    def _report(self, calendar_url: str, body: bytes | str):
        """A REPORT (sync-collection, multiget, calendar-query) on one calendar."""
        return self._http("REPORT", calendar_url, body, {"Depth": "1", **_XML_HEADERS})

    def _renew_session(self) -> None:
        old = self._session
        self._session = _local.session = _http_lib().Session()
        with contextlib.suppress(Exception):  # closing a broken session is best effort
            old.close()

    # raw HTTP, with our own status handling
    def _http(self, method: str, url: str, body: bytes | str | None = None,
              headers: dict | None = None):
        http = _http_lib()
        origin = _origin(url)
        if origin not in self._checked:
            check_target(url, self.allowed_hosts)
            self._checked.add(origin)
        auth = self._auth if origin in self._trusted else None
        with _REQUESTS_LOCK:
            REQUESTS[method] += 1
        resp = None
        for attempt in (1, 2):
            try:
                resp = self._session.request(method, url, data=body, headers=headers or {},
                                             auth=auth, timeout=self.timeout,
                                             allow_redirects=False)
                break
            except http.exceptions.Timeout as exc:
                raise ServerUnavailable(_t("Serveur de calendrier injoignable (%(host)s).",
                                           host=urlsplit(url).netloc)) from exc
            except (http.exceptions.ConnectionError, OSError) as exc:
                if attempt == 1:
                    # A keep-alive connection the server dropped: once more, on a new one.
                    self._renew_session()
                    continue
                raise ServerUnavailable(_t("Serveur de calendrier injoignable (%(host)s).",
                                           host=urlsplit(url).netloc)) from exc
            except http.exceptions.RequestException as exc:
                raise ServerUnavailable(_t("Erreur de communication avec le serveur de "
                                           "calendrier.")) from exc
        if resp.status_code == 401:
            raise _auth_failed()
        # 501: this method is not implemented here (not CalDAV): the caller's business.
        if (resp.status_code >= 500 and resp.status_code != 501) or resp.status_code == 429:
            raise ServerUnavailable(_t("Le serveur de calendrier ne répond pas correctement "
                                       "(erreur %(code)s).", code=resp.status_code))
        return resp

    def _abs(self, href: str, base: str | None = None) -> str:
        return canonical_href(urljoin(base or self.url, href))

    # discovery
    def _propfind(self, url: str, body: bytes, depth: str):
        """PROPFIND, following redirects on the same origin: (final URL, response)."""
        for _hop in range(MAX_REDIRECTS + 1):
            resp = self._http("PROPFIND", url, body, {"Depth": depth, **_XML_HEADERS})
            location = resp.headers.get("Location")
            if resp.status_code in (301, 302, 303, 307, 308) and location:
                target = urljoin(url, location)
                if _origin(target) not in self._trusted:
                    raise AdapterError(_t(
                        "Le serveur renvoie vers une autre adresse (%(url)s) : saisissez "
                        "directement celle-ci.", url=target[:200]))
                url = target
                continue
            return url, resp
        raise NotCaldav(_not_caldav())

    def _props(self, base: str, resp) -> dict[str, _Props]:
        out: dict[str, _Props] = {}
        for r in parse_multistatus(resp.content).responses:
            href_el = r.find("D:href", NS)
            if href_el is None or not href_el.text:
                continue
            props = _Props()
            for propstat in r.findall("D:propstat", NS):
                status = propstat.find("D:status", NS)
                if status is not None and " 200" not in (status.text or ""):
                    continue
                prop = propstat.find("D:prop", NS)
                if prop is None:
                    continue
                rtype = prop.find("D:resourcetype", NS)
                if rtype is not None:
                    props.calendar = rtype.find("C:calendar", NS) is not None
                    props.collection = rtype.find("D:collection", NS) is not None
                name = prop.find("D:displayname", NS)
                if name is not None and name.text and name.text.strip():
                    props.name = name.text.strip()
                who = prop.find("D:current-user-principal", NS)
                if who is not None:
                    if who.find("D:unauthenticated", NS) is not None:
                        props.unauthenticated = True
                    ref = who.find("D:href", NS)
                    if ref is not None and ref.text and ref.text.strip():
                        props.principal = self._abs(ref.text.strip(), base)
                home = prop.find("C:calendar-home-set/D:href", NS)
                if home is not None and home.text and home.text.strip():
                    props.home = self._abs(home.text.strip(), base)
            out[self._abs(href_el.text.strip(), base)] = props
        return out

    def _own(self, url: str, depth: str, body: bytes) -> tuple[str, dict[str, _Props]]:
        final, resp = self._propfind(url, body, depth)
        if resp.status_code == 403:
            raise AccessForbidden(_forbidden())
        if resp.status_code != 207:
            raise NotCaldav(_not_caldav())
        return final, self._props(final, resp)

    def _home_of(self, principal: str) -> str | None:
        final, props = self._own(principal, "0", _DISCOVERY)
        me = props.get(canonical_href(final)) or next(iter(props.values()), None)
        return me.home if me is not None else None

    def _listing(self, home: str) -> list[RemoteCalendar]:
        # The home named by the trusted server's authenticated answer (iCloud: another
        # host, pNN-caldav.icloud.com) gets the credentials too; private targets stay refused.
        self._trusted.add(_origin(home))
        final, props = self._own(home, "1", _LISTING)
        own = canonical_href(final).rstrip("/")
        return [RemoteCalendar(url=href, name=p.name or unquote(href.rstrip("/")
                                                                   .rsplit("/", 1)[-1]))
                for href, p in props.items() if p.calendar and href.rstrip("/") != own]

    def calendars(self) -> list[RemoteCalendar]:
        """Discovery as people type it: the root URL, ``/.well-known/caldav``, a principal,
        a calendar home or a calendar URL."""
        scheme, netloc = urlsplit(self.url)[:2]
        candidates = [self.url, urlunsplit((scheme, netloc, "/.well-known/caldav", "", ""))]
        forbidden = dav = False
        for candidate in candidates:
            try:
                final, props = self._own(candidate, "0", _DISCOVERY)
            except AccessForbidden:
                forbidden = True
                continue
            except NotCaldav:
                continue
            dav = True
            me = props.get(canonical_href(final)) or next(iter(props.values()), None)
            if me is None:
                continue
            if me.unauthenticated and not me.home:
                raise _auth_failed()  # the anonymous principal (Cyrus): no calendars
            if me.calendar:  # a calendar URL typed: its siblings, or itself
                home = me.home or (self._home_of(me.principal) if me.principal else None)
                found = self._listing(home) if home else []
                if canonical_href(final) not in {c.url for c in found}:
                    found.append(RemoteCalendar(canonical_href(final), me.name or _t("SNP")))
                return found
            home = me.home or (self._home_of(me.principal) if me.principal else None)
            if home:
                return self._listing(home)
            if me.collection:  # a calendar home typed directly
                found = self._listing(final)
                if found:
                    return found
        if forbidden:
            raise AccessForbidden(_forbidden())
        if dav:
            return []
        raise NotCaldav(_not_caldav())

    def _principal(self):
        import caldav.lib.error as caldav_error
        http = _http_lib()
        try:
            return self.client.principal()
        except caldav_error.AuthorizationError as exc:
            raise _auth_failed() from exc
        except (http.exceptions.RequestException, OSError) as exc:
            raise ServerUnavailable(_t("Serveur de calendrier injoignable (%(host)s).",
                                       host=urlsplit(self.url).netloc)) from exc
        except Exception as exc:  # the library's own surprises: never a traceback
            raise NotCaldav(_not_caldav()) from exc

    def ensure_calendar(self, name: str) -> str:
        for cal in self.calendars():
            if cal.name == name:
                return cal.url
        principal = self._principal()
        cal = principal.make_calendar(name=name, cal_id=name.lower())
        return canonical_href(str(cal.url))

    # reading
    def sync(self, calendar_url: str, token: str | None) -> SyncChanges:
        body = _xml(
            '<D:sync-collection xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            f'<D:sync-token>{escape(token or "")}</D:sync-token>'
            "<D:sync-level>1</D:sync-level>"
            "<D:prop><D:getetag/><C:calendar-data/></D:prop>"
            "</D:sync-collection>")
        resp = self._report(calendar_url, body)
        if resp.status_code == 404:
            raise CalendarNotFound(_t("Le calendrier choisi n'existe plus sur le serveur."))
        text = resp.content or b""
        if resp.status_code >= 400:
            if token and (b"valid-sync-token" in text or resp.status_code in (403, 409, 412)):
                raise InvalidSyncToken(_t("Jeton de synchronisation refusé : "
                                          "resynchronisation complète."))
            raise SyncUnsupported(_t("Le serveur ne gère pas la synchronisation "
                                     "incrémentale (code %(code)s).", code=resp.status_code))
        answer = parse_multistatus(text)
        changes = SyncChanges(token=answer.token)
        own = canonical_href(calendar_url).rstrip("/")
        missing_data: list[str] = []
        for r in answer.responses:
            href_el = r.find("D:href", NS)
            if href_el is None or not href_el.text:
                continue
            href = self._abs(href_el.text.strip(), calendar_url)
            status = r.find("D:status", NS)
            if status is not None and " 404" in (status.text or ""):
                changes.deleted.append(href)
                continue
            if href.rstrip("/") == own or href.endswith("/"):
                continue
            etag, data = _props(r)
            if data is None:
                missing_data.append(href)
            else:
                changes.changed.append(RemoteObject(href, etag, data))
        if missing_data:
            changes.changed.extend(self.multiget(calendar_url, missing_data))
        self._fetch_alone(answer.unreadable, calendar_url, changes)
        if changes.token is None:
            raise SyncUnsupported(_t("Le serveur n'a pas donné de jeton de synchronisation."))
        return changes

    def _fetch_alone(self, hrefs: list[str], calendar_url: str, changes: SyncChanges) -> None:
        """Objects whose part of the answer did not parse: each read with a plain GET
        (valid where the XML was not); those still unreadable are named."""
        for raw in hrefs:
            href = self._abs(raw.strip(), calendar_url)
            try:
                obj = self.get(href)
            except AdapterError:
                obj = None
            if obj is not None and obj.data:
                changes.changed.append(obj)
            else:
                changes.unreadable.append(href)

    def etags(self, calendar_url: str) -> dict[str, str]:
        body = _xml('<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:resourcetype/>'
                    "</D:prop></D:propfind>")
        resp = self._http("PROPFIND", calendar_url, body, {"Depth": "1", **_XML_HEADERS})
        if resp.status_code == 404:
            raise CalendarNotFound(_t("Le calendrier choisi n'existe plus sur le serveur."))
        if resp.status_code >= 400:
            raise AdapterError(_t("Lecture du calendrier refusée (code %(code)s).",
                                  code=resp.status_code))
        out = {}
        own = canonical_href(calendar_url).rstrip("/")
        answer = parse_multistatus(resp.content)
        for r in answer.responses:
            href_el = r.find("D:href", NS)
            if href_el is None or not href_el.text:
                continue
            href = self._abs(href_el.text.strip(), calendar_url)
            if href.rstrip("/") == own or href.endswith("/"):
                continue
            etag, _data = _props(r)
            out[href] = etag or ""
        for raw in answer.unreadable:  # no ETag read: fetched again
            out[self._abs(raw.strip(), calendar_url)] = ""
        return out

    def multiget(self, calendar_url: str, hrefs: list[str]) -> list[RemoteObject]:
        out: list[RemoteObject] = []
        for i in range(0, len(hrefs), 100):
            chunk = hrefs[i:i + 100]
            refs = "".join(f"<D:href>{escape(urlsplit(h).path)}</D:href>" for h in chunk)
            body = _xml('<C:calendar-multiget xmlns:D="DAV:" '
                        'xmlns:C="urn:ietf:params:xml:ns:caldav">'
                        f"<D:prop><D:getetag/><C:calendar-data/></D:prop>{refs}"
                        "</C:calendar-multiget>")
            resp = self._report(calendar_url, body)
            if resp.status_code >= 400:
                raise AdapterError(_t("Lecture des événements refusée (code %(code)s).",
                                      code=resp.status_code))
            answer = parse_multistatus(resp.content)
            for r in answer.responses:
                href_el = r.find("D:href", NS)
                if href_el is None or not href_el.text:
                    continue
                etag, data = _props(r)
                if data is not None:
                    out.append(RemoteObject(self._abs(href_el.text.strip(), calendar_url),
                                            etag, data))
            for raw in answer.unreadable:
                obj = self.get(self._abs(raw.strip(), calendar_url))
                if obj is not None and obj.data:
                    out.append(obj)
        return out

    def get(self, href: str) -> RemoteObject | None:
        from agenda.sync.ical import decode_ics

        resp = self._http("GET", href)
        if resp.status_code == 404:
            return None
        if resp.status_code >= 400:
            raise AdapterError(_t("Lecture de l'événement refusée (code %(code)s).",
                                  code=resp.status_code))
        return RemoteObject(canonical_href(href), resp.headers.get("ETag"),
                            decode_ics(resp.content or b""))

    # writing
    def put(self, href: str, data: str, *, etag: str | None) -> str | None:
        headers = {"Content-Type": "text/calendar; charset=utf-8"}
        if etag:
            headers["If-Match"] = etag
        else:
            headers["If-None-Match"] = "*"
        resp = self._http("PUT", href, data.encode("utf-8"), headers)
        if resp.status_code == 412:
            raise PreconditionFailed(_t("L'événement a changé sur le serveur entre lecture et "
                                        "écriture."))
        if resp.status_code == 404:
            raise CalendarNotFound(_t("Le calendrier choisi n'existe plus sur le serveur."))
        if resp.status_code >= 400:
            raise AdapterError(_t("Écriture de l'événement refusée par le serveur "
                                  "(code %(code)s).", code=resp.status_code))
        return resp.headers.get("ETag")

    def busy_times(self, calendar_url: str, start: datetime,
                   end: datetime) -> list[tuple[datetime, datetime]]:
        from agenda.sync.ical import busy_intervals

        fmt = "%Y%m%dT%H%M%SZ"
        # Partial retrieval: only the time properties are asked for (never summaries).
        partial = (
            '<C:calendar-data><C:comp name="VCALENDAR"><C:comp name="VEVENT">'
            '<C:prop name="UID"/><C:prop name="DTSTART"/><C:prop name="DTEND"/>'
            '<C:prop name="DURATION"/><C:prop name="RRULE"/><C:prop name="EXDATE"/>'
            '<C:prop name="RECURRENCE-ID"/><C:prop name="TRANSP"/><C:prop name="STATUS"/>'
            '</C:comp><C:comp name="VTIMEZONE"/></C:comp></C:calendar-data>')

        def query(data_prop: str):
            return self._report(calendar_url, _xml(
                '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                f"<D:prop>{data_prop}</D:prop>"
                '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
                f'<C:time-range start="{start.strftime(fmt)}" end="{end.strftime(fmt)}"/>'
                "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"))

        resp = query(partial)
        datas: list[str | None] = []
        if resp.status_code < 400:
            datas = [_props(r)[1] for r in parse_multistatus(resp.content).responses]
        if resp.status_code >= 400 or any(d is None for d in datas):
            # A server that refuses partial data (Xandikos: 404): the whole objects, of
            # which only the times are read all the same.
            resp = query("<C:calendar-data/>")
            if resp.status_code >= 400:
                raise AdapterError(_t("Lecture des disponibilités refusée (code %(code)s).",
                                      code=resp.status_code))
            datas = [_props(r)[1] for r in parse_multistatus(resp.content).responses]
        out: list[tuple[datetime, datetime]] = []
        for data in datas:
            if data:
                out.extend(busy_intervals(data, start, end))
        return out

    def close(self) -> None:
        try:
            if self._client is not None:
                self._client.close()
        except Exception:  # closing is best effort
            pass


def _not_caldav() -> str:
    return _t("Ce serveur ne se présente pas comme un serveur CalDAV (vérifiez l'adresse : "
              "celle donnée par votre fournisseur pour CalDAV).")


def _forbidden() -> str:
    return _t("Le serveur de calendrier refuse l'accès à ce compte (code 403) : le mot de "
              "passe est reconnu mais ce compte n'a pas droit à CalDAV ou à cette adresse.")


def _http_lib():
    try:
        import niquests as http  # caldav >= 2
    except ImportError:  # pragma: no cover - caldav 1.x is built on requests
        import requests as http
    return http


def client_options(**options) -> dict:
    """The DAVClient options this version of ``caldav`` knows (newer ones dropped)."""
    import inspect

    import caldav

    known = inspect.signature(caldav.DAVClient.__init__).parameters
    return {k: v for k, v in options.items() if k in known}


def _props(response) -> tuple[str | None, str | None]:
    etag = data = None
    for propstat in response.findall("D:propstat", NS):
        status = propstat.find("D:status", NS)
        if status is not None and " 200" not in (status.text or ""):
            continue
        e = propstat.find("D:prop/D:getetag", NS)
        if e is not None and e.text:
            etag = e.text.strip()
        d = propstat.find("D:prop/C:calendar-data", NS)
        if d is not None and d.text:
            data = d.text
    return etag, data


def new_event_href(calendar_url: str, uid: str | None = None) -> str:
    """A stable href for an event we create: ``<calendar>/<uid>.ics``."""
    uid = uid or str(uuid.uuid4())
    safe = "".join(c if c.isalnum() or c in "-_.@" else "-" for c in uid)
    return canonical_href(calendar_url.rstrip("/") + "/" + safe + ".ics")


# The class the sync uses; tests and other deployments may point it elsewhere.
ADAPTER_CLASS: type[CalendarAdapter] = CaldavAdapter


def adapter_for(url: str, username: str | None, password: str | None, *,
                allowed_hosts: str | None = None,
                trusted: tuple[str, ...] = ()) -> CalendarAdapter:
    if issubclass(ADAPTER_CLASS, CaldavAdapter):
        return ADAPTER_CLASS(url, username, password, allowed_hosts=allowed_hosts,
                             trusted=trusted)
    return ADAPTER_CLASS(url, username, password)
