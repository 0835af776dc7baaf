"""The CalDAV client adapter: one small interface, one implementation on the ``caldav``
library (discovery) and its HTTP session (sync-collection, multiget, conditional PUT).

In the manner of Radicale's pluggable parts: :class:`CalendarAdapter` says what the sync
needs from a calendar server; :class:`CaldavAdapter` does it over CalDAV. Another
backend (a provider API…) would be one more subclass.

Errors are :class:`AdapterError` subclasses carrying a French message shown to the doctor
and the coordinator; :class:`ServerUnavailable` is a passing failure (retried).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urljoin, urlsplit
from xml.sax.saxutils import escape

from lxml import etree

from agenda.sync.text import _t

_local = threading.local()
NS = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:caldav", "CS": "http://calendarserver.org/ns/"}
TIMEOUT_SECONDS = 15


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


class CalendarNotFound(AdapterError):
    pass


class PreconditionFailed(AdapterError):
    """412: the event changed on the server since we read it (If-Match) or exists
    already (If-None-Match: *)."""


class InvalidSyncToken(AdapterError):
    pass


class SyncUnsupported(AdapterError):
    """The server has no RFC 6578 sync-collection: fall back to ETags."""


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


# --- the interface -------------------------------------------------------------------------


class CalendarAdapter:
    """What the sync needs from a calendar server."""

    def __init__(self, url: str, username: str | None, password: str | None):
        self.url = url
        self.username = username or ""
        self.password = password or ""

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


class CaldavAdapter(CalendarAdapter):
    """CalDAV through the ``caldav`` library (discovery) and the HTTP library it is built
    on (niquests since caldav 2, requests before) for the conditional requests."""

    def __init__(self, url: str, username: str | None, password: str | None, *,
                 timeout: int = TIMEOUT_SECONDS):
        super().__init__(url, username, password)
        http = _http_lib()
        self.timeout = timeout
        self._client = None
        self._auth = (http.auth.HTTPBasicAuth(self.username, self.password)
                      if self.username else None)
        # One HTTP session per thread, shared by the doctors it handles: connections to
        # the same server are reused (credentials go with each request).
        session = getattr(_local, "session", None)
        if session is None:
            session = _local.session = http.Session()
        self._session = session

    @property
    def client(self):
        """The ``caldav`` library client (discovery only), made on first use."""
        if self._client is None:
            import caldav

            self._client = caldav.DAVClient(**client_options(
                url=self.url, username=self.username or None, password=self.password or None,
                timeout=self.timeout, require_tls=False, enable_rfc6764=False,
                rate_limit_handle=False))
        return self._client

    def _report(self, calendar_url: str, body: bytes | str):
        """A REPORT (sync-collection, multiget, calendar-query) on one calendar."""
        return self._http("REPORT", calendar_url, body,
                          {"Depth": "1", "Content-Type": "application/xml; charset=utf-8"})

    # raw HTTP, with our own status handling
    def _http(self, method: str, url: str, body: bytes | str | None = None,
              headers: dict | None = None):
        http = _http_lib()
        try:
            resp = self._session.request(method, url, data=body, headers=headers or {},
                                         auth=self._auth, timeout=self.timeout,
                                         allow_redirects=False)
        except (http.exceptions.ConnectionError, http.exceptions.Timeout,
                OSError) as exc:
            raise ServerUnavailable(_t("Serveur de calendrier injoignable (%(host)s).",
                                       host=urlsplit(url).netloc)) from exc
        except http.exceptions.RequestException as exc:
            raise ServerUnavailable(_t("Erreur de communication avec le serveur de "
                                       "calendrier.")) from exc
        if resp.status_code == 401:
            raise AuthenticationFailed(_t("Identifiant ou mot de passe d'application refusé "
                                          "par le serveur de calendrier."))
        if resp.status_code >= 500 or resp.status_code == 429:
            raise ServerUnavailable(_t("Le serveur de calendrier ne répond pas correctement "
                                       "(erreur %(code)s).", code=resp.status_code))
        return resp

    def _abs(self, href: str) -> str:
        return urljoin(self.url, href)

    # discovery
    def _principal(self):
        import caldav.lib.error as caldav_error
        http = _http_lib()
        try:
            return self.client.principal()
        except caldav_error.AuthorizationError as exc:
            raise AuthenticationFailed(_t("Identifiant ou mot de passe d'application refusé "
                                          "par le serveur de calendrier.")) from exc
        except (http.exceptions.RequestException, OSError) as exc:
            raise ServerUnavailable(_t("Serveur de calendrier injoignable (%(host)s).",
                                       host=urlsplit(self.url).netloc)) from exc
        except caldav_error.DAVError as exc:
            raise AdapterError(_t("Ce serveur ne se présente pas comme un serveur CalDAV "
                                  "(vérifiez l'adresse).")) from exc

    def calendars(self) -> list[RemoteCalendar]:
        import caldav.lib.error as caldav_error

        principal = self._principal()
        try:
            cals = principal.calendars()
        except caldav_error.DAVError as exc:
            raise AdapterError(_t("Impossible de lister les calendriers du compte.")) from exc
        out = []
        for cal in cals:
            try:
                name = cal.get_display_name() or ""
            except Exception:  # some servers have no displayname
                name = ""
            url = str(cal.url)
            out.append(RemoteCalendar(url=url, name=name or url.rstrip("/").rsplit("/", 1)[-1]))
        return out

    def ensure_calendar(self, name: str) -> str:
        for cal in self.calendars():
            if cal.name == name:
                return cal.url
        principal = self._principal()
        cal = principal.make_calendar(name=name, cal_id=name.lower())
        return str(cal.url)

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
        if resp.status_code in (400, 403, 409, 412, 415, 422, 501) or resp.status_code >= 400:
            if token and (b"valid-sync-token" in text or resp.status_code in (403, 409, 412)):
                raise InvalidSyncToken(_t("Jeton de synchronisation refusé : "
                                          "resynchronisation complète."))
            raise SyncUnsupported(_t("Le serveur ne gère pas la synchronisation "
                                     "incrémentale (code %(code)s).", code=resp.status_code))
        root = _parse(text)
        changes = SyncChanges()
        tok = root.find("D:sync-token", NS)
        changes.token = tok.text.strip() if tok is not None and tok.text else None
        missing_data: list[str] = []
        for r in root.findall("D:response", NS):
            href_el = r.find("D:href", NS)
            if href_el is None or not href_el.text:
                continue
            href = self._abs(href_el.text.strip())
            status = r.find("D:status", NS)
            if status is not None and " 404" in (status.text or ""):
                changes.deleted.append(href)
                continue
            if href.rstrip("/") == calendar_url.rstrip("/") or href.endswith("/"):
                continue
            etag, data = _props(r)
            if data is None:
                missing_data.append(href)
            else:
                changes.changed.append(RemoteObject(href, etag, data))
        if missing_data:
            changes.changed.extend(self.multiget(calendar_url, missing_data))
        if changes.token is None:
            raise SyncUnsupported(_t("Le serveur n'a pas donné de jeton de synchronisation."))
        return changes

    def etags(self, calendar_url: str) -> dict[str, str]:
        body = _xml('<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:resourcetype/>'
                    "</D:prop></D:propfind>")
        resp = self._http("PROPFIND", calendar_url, body,
                          {"Depth": "1", "Content-Type": "application/xml; charset=utf-8"})
        if resp.status_code == 404:
            raise CalendarNotFound(_t("Le calendrier choisi n'existe plus sur le serveur."))
        if resp.status_code >= 400:
            raise AdapterError(_t("Lecture du calendrier refusée (code %(code)s).",
                                  code=resp.status_code))
        out = {}
        for r in _parse(resp.content).findall("D:response", NS):
            href_el = r.find("D:href", NS)
            if href_el is None or not href_el.text:
                continue
            href = self._abs(href_el.text.strip())
            if href.rstrip("/") == calendar_url.rstrip("/") or href.endswith("/"):
                continue
            etag, _data = _props(r)
            out[href] = etag or ""
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
            for r in _parse(resp.content).findall("D:response", NS):
                href_el = r.find("D:href", NS)
                if href_el is None or not href_el.text:
                    continue
                etag, data = _props(r)
                if data is not None:
                    out.append(RemoteObject(self._abs(href_el.text.strip()), etag, data))
        return out

    def get(self, href: str) -> RemoteObject | None:
        resp = self._http("GET", href)
        if resp.status_code == 404:
            return None
        if resp.status_code >= 400:
            raise AdapterError(_t("Lecture de l'événement refusée (code %(code)s).",
                                  code=resp.status_code))
        return RemoteObject(href, resp.headers.get("ETag"), resp.text)

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
        body = _xml(
            '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<D:prop><C:calendar-data><C:comp name="VCALENDAR"><C:comp name="VEVENT">'
            '<C:prop name="UID"/><C:prop name="DTSTART"/><C:prop name="DTEND"/>'
            '<C:prop name="DURATION"/><C:prop name="RRULE"/><C:prop name="EXDATE"/>'
            '<C:prop name="RECURRENCE-ID"/><C:prop name="TRANSP"/><C:prop name="STATUS"/>'
            '</C:comp><C:comp name="VTIMEZONE"/></C:comp></C:calendar-data></D:prop>'
            '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
            f'<C:time-range start="{start.strftime(fmt)}" end="{end.strftime(fmt)}"/>'
            "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>")
        resp = self._report(calendar_url, body)
        if resp.status_code >= 400:
            raise AdapterError(_t("Lecture des disponibilités refusée (code %(code)s).",
                                  code=resp.status_code))
        out: list[tuple[datetime, datetime]] = []
        for r in _parse(resp.content).findall("D:response", NS):
            _etag, data = _props(r)
            if data:
                out.extend(busy_intervals(data, start, end))
        return out

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


def _parse(content: bytes):
    try:
        return etree.fromstring(content or b"<D:multistatus xmlns:D='DAV:'/>",
                                parser=etree.XMLParser(huge_tree=True, resolve_entities=False))
    except etree.XMLSyntaxError as exc:
        raise AdapterError(_t("Réponse illisible du serveur de calendrier.")) from exc


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
    return calendar_url.rstrip("/") + "/" + safe + ".ics"


# The class the sync uses; tests and other deployments may point it elsewhere.
ADAPTER_CLASS: type[CalendarAdapter] = CaldavAdapter


def adapter_for(url: str, username: str | None, password: str | None) -> CalendarAdapter:
    return ADAPTER_CLASS(url, username, password)
