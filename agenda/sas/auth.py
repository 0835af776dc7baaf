"""Who may call the FHIR endpoints, and the SAS regulator's habilitation.

FHIR clients (the national SAS platform) authenticate by either
- a client certificate (IGC-Santé) verified by the reverse proxy, which passes the verified
  subject in ``X-SSL-Client-S-DN`` (and ``X-SSL-Client-Verify: SUCCESS``); the subject must
  be in ``AGENDA_FHIR_CLIENT_SUBJECTS``; or
- an API key (``X-API-Key: …`` or ``Authorization: Bearer …``) listed in
  ``AGENDA_FHIR_API_KEYS`` (``name:key`` or ``key`` entries, comma-separated).
Nothing configured: every call is refused (deny by default). Every call is logged.

A regulator account created by the SAS platform (INT_R02) has its regulator habilitation
only through the SAS path: the signed link of a slot (Slot.comment) opens a short window
during which the account may book that slot; outside it, the account sees nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps

from flask import current_app, g, request, session

from agenda import clock

log = logging.getLogger("agenda.sas.access")

SUBJECT_HEADER = "X-SSL-Client-S-DN"
VERIFY_HEADER = "X-SSL-Client-Verify"
HABILITATION_KEY = "sas_habilitation"
HABILITATION_MINUTES = 30


# --- FHIR clients -----------------------------------------------------------------------

def _api_keys() -> list[tuple[str, str]]:
    keys = []
    for n, raw in enumerate((current_app.config.get("FHIR_API_KEYS") or "").split(","), 1):
        raw = raw.strip()
        if not raw:
            continue
        name, sep, key = raw.partition(":")
        keys.append((name.strip(), key.strip()) if sep else (f"key{n}", raw))
    return [(name, key) for name, key in keys if key]


def _normalise_dn(dn: str) -> tuple[str, ...]:
    """A distinguished name as a sorted tuple of ``type=value`` (case-insensitive types)."""
    parts = []
    for rdn in _split_dn(dn):
        kind, sep, value = rdn.partition("=")
        if sep:
            parts.append(f"{kind.strip().upper()}={value.strip()}")
    return tuple(sorted(parts))


def _split_dn(dn: str) -> list[str]:
    """Split on ``,`` or ``/`` (OpenSSL's legacy form) not escaped by a backslash."""
    out, cur, escaped = [], [], False
    for ch in dn:
        if escaped:
            cur.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",/":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [p for p in (s.strip() for s in out) if p]


def allowed_subjects() -> list[tuple[str, ...]]:
    """``AGENDA_FHIR_CLIENT_SUBJECTS``: entries separated by ``;``, or by ``,`` where each
    entry starts with its ``CN=`` (``CN=a,O=x,C=FR,CN=b,O=y``)."""
    raw = (current_app.config.get("FHIR_CLIENT_SUBJECTS") or "").strip()
    if not raw:
        return []
    if ";" in raw:
        entries = [e for e in raw.split(";") if e.strip()]
    else:
        entries, cur = [], []
        for part in _split_dn(raw):
            if part.upper().startswith("CN=") and cur:
                entries.append(",".join(cur))
                cur = []
            cur.append(part)
        if cur:
            entries.append(",".join(cur))
    return [_normalise_dn(e) for e in entries if _normalise_dn(e)]


def identify_client() -> str | None:
    """The name of the authenticated FHIR client of this request, or None."""
    subject = request.headers.get(SUBJECT_HEADER, "")
    if subject and request.headers.get(VERIFY_HEADER, "").upper() == "SUCCESS":
        wanted = _normalise_dn(subject)
        if wanted and wanted in allowed_subjects():
            return "cert:" + subject
    presented = request.headers.get("X-API-Key", "").strip()
    if not presented:
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            presented = header[7:].strip()
    if presented:
        found = None
        for name, key in _api_keys():
            # compare every key (constant time each) so timing tells nothing
            if hmac.compare_digest(key.encode(), presented.encode()):
                found = name
        if found:
            return "key:" + found
    return None


def fhir_client_required(view: Callable) -> Callable:
    """Deny by default: only a listed certificate subject or API key reaches ``view``."""
    from flask_babel import gettext as _

    from agenda.sas.fhir_errors import operation_outcome

    @wraps(view)
    def wrapper(*args, **kwargs):
        client = identify_client()
        g.fhir_client = client
        if client is None:
            return operation_outcome(401, _("Client FHIR non authentifié : certificat ou clé "
                                            "d'API absent ou non autorisé."), code="login")
        return view(*args, **kwargs)

    wrapper.fhir_client_required = True
    return wrapper


def log_call(response):
    """Log every call to the FHIR endpoints (who, what, outcome), no query values."""
    log.info("fhir call client=%s ip=%s %s %s -> %s", g.get("fhir_client") or "-",
             request.remote_addr, request.method, request.path, response.status_code)
    return response


# --- the signed slot link and the regulator's habilitation ------------------------------

def sign_slot_link(slot_id: int) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"sas-slot:{slot_id}".encode(), hashlib.sha256).hexdigest()[:32]


def check_slot_link(slot_id: int, signature: str) -> bool:
    return hmac.compare_digest(sign_slot_link(slot_id), (signature or "")[:64])


def open_habilitation(slot_id: int) -> None:
    until = clock.now() + timedelta(minutes=HABILITATION_MINUTES)
    session[HABILITATION_KEY] = {"slot_id": slot_id, "until": until.isoformat()}


def habilitation() -> dict | None:
    data = session.get(HABILITATION_KEY)
    if not isinstance(data, dict):
        return None
    try:
        until = datetime.fromisoformat(data["until"])
    except (KeyError, TypeError, ValueError):
        return None
    if until <= clock.now():
        return None
    return data


def sas_booking_allowed(slot_id: int | None = None) -> bool:
    """True while the SAS habilitation opened by the slot link is valid (for ``slot_id``)."""
    data = habilitation()
    if data is None:
        return False
    return slot_id is None or data.get("slot_id") == slot_id


def sas_account_refusal() -> str:
    """Why a SAS-managed account is refused outside a slot link (pages and the API)."""
    from flask_babel import gettext as _

    return _("Ce compte régulateur SAS n'est utilisable que depuis la plateforme numérique "
             "SAS, par le lien d'un créneau.")


def is_sas_account(user) -> bool:
    from agenda.sas.models import SasAccount
    from agenda.extensions import db

    if not getattr(user, "is_authenticated", False):
        return False
    return db.session.query(SasAccount.id).filter_by(user_id=user.id).first() is not None
