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
import threading
import uuid
from collections import Counter
from urllib.parse import urljoin, urlsplit
from xml.sax.saxutils import escape

from agenda.sync.davwire import (  # noqa: F401  (re-exported: the sync's one entry point)
    NS, AccessForbidden, AdapterError, AuthenticationFailed, CalendarNotFound,
    InvalidSyncToken, Multistatus, NotCaldav, PreconditionFailed, RemoteCalendar,
    RemoteObject, ServerUnavailable, SyncChanges, SyncUnsupported, TargetRefused,
    _allowed_from_app, _auth_failed, _not_caldav, _origin, _props, _t, _xml,
    canonical_href,
    check_target, parse_multistatus, repair_xml)
from agenda.sync.discovery import _XML_HEADERS, Discovery

_local = threading.local()
TIMEOUT_SECONDS = 15

#: Requests sent, by method (the benchmark reads it: REPORTs per changed event).
REQUESTS: Counter[str] = Counter()
_REQUESTS_LOCK = threading.Lock()


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

    def close(self) -> None:
        pass


# --- CalDAV ---------------------------------------------------------------------------------


class CaldavAdapter(Discovery, CalendarAdapter):
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

    def close(self) -> None:
        try:
            if self._client is not None:
                self._client.close()
        except Exception:  # closing is best effort
            pass


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
