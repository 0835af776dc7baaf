"""Encryption at rest of the doctors' CalDAV app passwords (Fernet).

The key is ``ENCRYPTION_KEY`` (a Fernet key: ``python -c "from cryptography.fernet import
Fernet; print(Fernet.generate_key().decode())"``); when unset it is derived from
``SECRET_KEY``, so changing the secret key makes stored passwords unreadable (the doctors
then type them again).
"""

from __future__ import annotations

import base64
import hashlib

from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from cryptography.fernet import Fernet


def _fernet(config: dict | None = None) -> Fernet:
    # Imported here, not at start-up: ~6 MB that a web worker needs only on the pages that
    # store or check a doctor's calendar password.
    from cryptography.fernet import Fernet

    cfg = config if config is not None else current_app.config
    key = cfg.get("ENCRYPTION_KEY")
    if key:
        return Fernet(key.encode() if isinstance(key, str) else key)
    secret = str(cfg.get("SECRET_KEY") or "")
    if not secret:
        raise RuntimeError("SECRET_KEY or ENCRYPTION_KEY is needed to store CalDAV passwords")
    digest = hashlib.sha256(b"agenda-caldav-password:" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(password: str, config: dict | None = None) -> str:
    return _fernet(config).encrypt(password.encode("utf-8")).decode("ascii")


def decrypt(token: str | None, config: dict | None = None) -> str | None:
    """The clear password, or None when absent or unreadable (key changed)."""
    if not token:
        return None
    from cryptography.fernet import InvalidToken

    try:
        return _fernet(config).decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError):
        return None
