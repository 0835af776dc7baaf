"""Small helpers shared by the page views."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from urllib.parse import urlsplit

from flask import flash

from agenda.errors import DomainError
from agenda.extensions import db


@dataclass
class Outcome:
    ok: bool
    value: Any = None
    status: int = 200


def commit_or_flash(operation: Callable[[], Any], form: Any = None) -> Outcome:
    """Run a service operation and commit it (one transaction).

    On a :class:`DomainError` the transaction is rolled back, its French message is shown
    next to the form's field it names (``exc.field``; the form keeps what was typed) or
    else flashed, and the outcome carries the error's status for the page to answer with.
    """
    try:
        value = operation()
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        if exc.status == 404:
            # Not found (or not in the user's scope): a 404 page with its message, never a
            # redirect that would tell another CPTS's object from a missing one.
            raise
        if not field_error(form, exc.field, exc.message):
            flash(exc.message, "error")
        return Outcome(False, None, exc.status)
    return Outcome(True, value)


def field_error(form: Any, name: str | None, message: str) -> bool:
    """Show ``message`` under the form's field ``name``; False when there is no such field."""
    if form is None or not name or name not in form:
        return False
    field = form[name]
    field.errors = [*field.errors, message]
    return True


def safe_next(target: str | None) -> str | None:
    """A local path to go back to, or None (never another site: no ``//host``, no scheme)."""
    if not target or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target
