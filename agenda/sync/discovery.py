"""Discovery as people type it: the root URL, ``/.well-known/caldav``, a principal, a
calendar home or a calendar URL (RFC 4791 section 6, RFC 5397, RFC 6764), with precise
French messages. A mixin of :class:`agenda.sync.adapter.CaldavAdapter` (its ``_http``)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from agenda.sync.davwire import (NS, AccessForbidden, AdapterError, NotCaldav, RemoteCalendar,
                                 _auth_failed, _forbidden, _not_caldav, _origin, _t, _xml,
                                 canonical_href, parse_multistatus)

MAX_REDIRECTS = 5

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


class Discovery:
    """Needs ``_http``, ``_abs`` and ``_trusted`` (the origins credentials may go to)."""

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
