"""Text messages: a pluggable gateway, and one generic HTTP gateway configured by settings
so that a French provider plugs in without code (docs/sms.md).

The gateway knows nothing of bookings: it is given a number, a text and an idempotency key.
Messages reach it through the outbox (kind ``sms``, see :mod:`agenda.booking.reminders`),
so a gateway that is down delays them, never loses them. Log lines and errors name the
event and the HTTP status, never the number or the text.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote

from flask import current_app

from agenda import outbox

# GSM 03.38 basic character set: what a plain 160-character SMS can carry.
GSM_CHARS = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
                "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
# Characters of French text outside that set, and their nearest GSM equivalent.
_GSM_REPLACE = {"’": "'", "‘": "'", "«": '"', "»": '"', "“": '"', "”": '"', "–": "-",
                "—": "-", "…": "...", "\u00a0": " ", "\u202f": " ", "œ": "oe", "Œ": "OE",
                "ç": "c", "€": "EUR"}
MAX_LENGTH = 320  # two concatenated GSM messages at most (2 × 153 = 306, rounded up)

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_MOBILE_FR = re.compile(r"^0[67]\d{8}$")


class GatewayError(outbox.RetryLater):
    """The gateway refused or could not be reached: the outbox tries again later."""


def gsm_text(text: str) -> str:
    """``text`` with every character a GSM 7-bit SMS can carry (accents outside the GSM
    set lose their accent: ê → e, â → a, ç → c)."""
    out = []
    for ch in text:
        if ch in GSM_CHARS:
            out.append(ch)
        elif ch in _GSM_REPLACE:
            out.append(_GSM_REPLACE[ch])
        else:
            base = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            out.append(base if base and all(c in GSM_CHARS for c in base) else "?")
    return "".join(out)


def to_e164(phone: str | None) -> str | None:
    """A French mobile number in E.164 form (+33612345678), or an international number
    given with its "+"; None for anything that cannot receive a text (landline, garbage)."""
    raw = re.sub(r"[\s.\-()]", "", phone or "")
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    if raw.startswith("+33"):
        raw = "0" + raw[3:]
    if _MOBILE_FR.match(raw):
        return "+33" + raw[1:]
    if raw.startswith("+") and raw[1:].isdigit() and 8 <= len(raw) - 1 <= 15 \
            and not raw.startswith("+33"):
        return raw
    return None


def fill(template: str, values: dict[str, str]) -> str:
    """Replace each ``{name}`` of ``template`` by ``values[name]`` (unknown ones are kept as
    they are). No ``str.format``: a wording typed by a coordinator cannot reach attributes."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def placeholders(template: str) -> set[str]:
    return set(_PLACEHOLDER.findall(template or ""))


# --- gateways ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Message:
    to: str  # E.164
    text: str
    key: str  # idempotency key: the same message always has the same key


class Gateway:
    """Sends one message; raises :class:`GatewayError` (retried) when it could not."""

    def send(self, message: Message) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class HttpGateway(Gateway):
    """A generic HTTP gateway, configured by the ``SMS_GATEWAY_*`` settings:

    - ``URL`` (placeholders allowed, URL-encoded: for providers taking a GET query);
    - ``METHOD`` (POST by default), ``FORMAT`` ``json`` or ``form``;
    - ``TEMPLATE``: a JSON object whose string values take the placeholders ``{to}``
      (+33612345678), ``{to_digits}`` (33612345678), ``{to_national}`` (0612345678),
      ``{text}``, ``{sender}`` and ``{key}``; sent as a JSON body or as form fields;
    - ``HEADERS`` (a JSON object, placeholders allowed), ``USERNAME`` / ``PASSWORD``
      (HTTP basic authentication), ``TIMEOUT``.

    Every request carries an ``Idempotency-Key`` header (the message's key): a provider
    that honours it never delivers a message twice, even when the outbox retries a
    delivery whose answer was lost.
    """

    def __init__(self, cfg) -> None:
        self.url = cfg.get("SMS_GATEWAY_URL") or ""
        self.method = (cfg.get("SMS_GATEWAY_METHOD") or "POST").upper()
        self.format = (cfg.get("SMS_GATEWAY_FORMAT") or "json").lower()
        self.template = json.loads(cfg.get("SMS_GATEWAY_TEMPLATE") or "{}")
        self.headers = json.loads(cfg.get("SMS_GATEWAY_HEADERS") or "{}")
        self.username = cfg.get("SMS_GATEWAY_USERNAME") or ""
        self.password = cfg.get("SMS_GATEWAY_PASSWORD") or ""
        self.sender = cfg.get("SMS_SENDER") or ""
        self.timeout = float(cfg.get("SMS_GATEWAY_TIMEOUT") or 10)

    def values(self, message: Message) -> dict[str, str]:
        digits = message.to.lstrip("+")
        national = "0" + digits[2:] if digits.startswith("33") else message.to
        return {"to": message.to, "to_digits": digits, "to_national": national,
                "text": message.text, "sender": self.sender, "key": message.key}

    def payload(self, message: Message):
        values = self.values(message)

        def walk(node):
            if isinstance(node, str):
                return fill(node, values)
            if isinstance(node, dict):
                return {k: walk(v) for k, v in node.items()}
            if isinstance(node, list):
                return [walk(v) for v in node]
            return node

        return walk(self.template)

    def send(self, message: Message) -> None:
        values = self.values(message)
        url = fill(self.url, {k: quote(v, safe="") for k, v in values.items()})
        headers = {k: fill(str(v), values) for k, v in self.headers.items()}
        headers.setdefault("Idempotency-Key", message.key)
        body = self.payload(message)
        kwargs: dict = {"headers": headers, "timeout": self.timeout}
        if self.username:
            kwargs["auth"] = (self.username, self.password)
        if self.method != "GET":
            kwargs["json" if self.format == "json" else "data"] = body
        import requests  # here, not at start-up: ~8 MB a web worker does without

        try:
            response = requests.request(self.method, url, **kwargs)
        except requests.RequestException as exc:
            raise GatewayError(f"SMS gateway: {exc.__class__.__name__}") from None
        if not 200 <= response.status_code < 300:
            raise GatewayError(f"SMS gateway: HTTP {response.status_code}")


def configured() -> bool:
    """Whether text messages can be sent at all (a gateway URL is set)."""
    return bool(current_app.config.get("SMS_GATEWAY_URL"))


def gateway() -> Gateway:
    """The configured gateway (one implementation today: :class:`HttpGateway`)."""
    return HttpGateway(current_app.config)
