"""What travels between the CalDAV client and a server, read tolerantly: the errors (French
messages), the values, href spelling, the outbound target rules and the multistatus parser.

Real servers' ways absorbed here (see ``docs/caldav.md``): SOGo's surrogate-pair character
references, a line folded inside a multi-byte character, ``%40`` against ``@``; one
unreadable ``response`` of an answer is listed by href, the others are read.
"""

from __future__ import annotations

import html
import ipaddress
import re
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from lxml import etree

from agenda.sync.text import _t

NS = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:caldav", "CS": "http://calendarserver.org/ns/"}


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


PUBLIC_TTL_SECONDS = 60.0
_PUBLIC: dict[tuple[str, int], float] = {}  # (host, port) -> when found public


def check_target(url: str, allowed: str | None) -> None:
    """Refuse (:class:`TargetRefused`) anything but http(s) to a public address, unless
    the host (or host:port) is listed in ``allowed`` (``CALDAV_ALLOWED_HOSTS``)."""
    scheme, host, port = _origin(url)
    if scheme not in ("http", "https") or not host or port is None:
        raise _refused()
    listed = _allowed_set(allowed)
    if "*" in listed or host in listed or f"{host}:{port}" in listed:
        return
    seen = _PUBLIC.get((host, port))
    if seen is not None and time.monotonic() - seen < PUBLIC_TTL_SECONDS:
        return  # checked a moment ago (one name lookup per host a minute, not per doctor)
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
    _PUBLIC[(host, port)] = time.monotonic()


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


def _xml(tag_tree: str) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + tag_tree).encode()


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


def _not_caldav() -> str:
    return _t("Ce serveur ne se présente pas comme un serveur CalDAV (vérifiez l'adresse : "
              "celle donnée par votre fournisseur pour CalDAV).")


def _forbidden() -> str:
    return _t("Le serveur de calendrier refuse l'accès à ce compte (code 403) : le mot de "
              "passe est reconnu mais ce compte n'a pas droit à CalDAV ou à cette adresse.")
