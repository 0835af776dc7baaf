"""Web hardening applied to every request (see docs/security.md).

- client address, scheme and host from ``X-Forwarded-*`` only behind trusted proxies;
- ids in URLs bounded to the database's integer range, JSON bodies bounded in depth,
  NUL bytes refused, string lengths checked against their column before any write;
- security headers (CSP without inline code, ``Cache-Control: no-store``);
- unexpected errors logged with ids only: never a statement parameter or an exception
  message that could quote patient data.
"""

from __future__ import annotations

import functools
import traceback
from pathlib import Path
from typing import Any

from flask import Flask, request
from flask.json.provider import DefaultJSONProvider
from flask_babel import gettext as _
from sqlalchemy import Integer, String, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from werkzeug.routing import IntegerConverter

from agenda.errors import ValidationError

MAX_DB_INT = 2**31 - 1  # PostgreSQL ``integer``
MAX_JSON_DEPTH = 32

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'self'; object-src 'none'")


class BoundedIntConverter(IntegerConverter):
    """``<int:…>`` in a URL: at most 10 digits, and an id beyond the database's integer
    range becomes 0, an id nothing has, so the view answers its usual 404.

    (Refusing it in the converter instead would let werkzeug answer 405 when another
    method of the same path exists.)
    """

    regex = r"\d{1,10}"

    def to_python(self, value: str) -> int:
        number = int(value)
        return number if number <= MAX_DB_INT else 0


def json_depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (iterative: no recursion limit)."""
    depth, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            depth = max(depth, level)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children
                         if isinstance(child, dict | list))
    return depth


class BoundedJSONProvider(DefaultJSONProvider):
    """Request bodies: too deep a nesting is invalid JSON (a 400), never a RecursionError."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            data = super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deep") from None
        if json_depth(data) > MAX_JSON_DEPTH:
            raise ValueError("JSON nested too deep")
        return data


def _has_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _refuse_nul_bytes() -> None:
    values: list[Any] = [request.path, list(request.args.items(multi=True))]
    if request.mimetype == "application/x-www-form-urlencoded":
        values.append(list(request.form.items(multi=True)))
    elif request.is_json:
        values.append(request.get_json(silent=True))
    if _has_nul(values):
        raise ValidationError(_("Caractère nul interdit dans la requête."))


def _check_columns(session: Session, _context, _instances) -> None:
    """Before any write: every string fits its column and holds no NUL byte, every integer
    fits the database's range (PostgreSQL would refuse them with a 500)."""
    for obj in list(session.new) + list(session.dirty):
        state = inspect(obj)
        values = state.dict
        for key, length in _checked_columns(state.mapper):
            value = values.get(key)
            if value is None:
                continue
            if length is not None:
                if not isinstance(value, str):
                    continue
                if "\x00" in value:
                    raise ValidationError(_("Caractère nul interdit (%(f)s).", f=key),
                                          field=key)
                if length and len(value) > length:
                    raise ValidationError(
                        _("Texte trop long (%(f)s) : %(n)s caractères au plus.",
                          f=key, n=length), field=key)
            elif isinstance(value, int) and not -MAX_DB_INT - 1 <= value <= MAX_DB_INT:
                raise ValidationError(_("Nombre hors limites (%(f)s).", f=key), field=key)


@functools.cache
def _checked_columns(mapper) -> tuple[tuple[str, int | None], ...]:
    """The attributes :func:`_check_columns` checks (worked out once per mapper): strings
    with their length (0: unbounded), integers with None."""
    out = []
    for attr in mapper.column_attrs:
        column_type = attr.columns[0].type
        if isinstance(column_type, String):
            out.append((attr.key, column_type.length or 0))
        elif isinstance(column_type, Integer):
            out.append((attr.key, None))
    return tuple(out)


event.listen(Session, "before_flush", _check_columns)


def _check_parameters(_conn, _cursor, _statement, parameters, _context, _many) -> None:
    """Any statement: an integer beyond 64 bits (SQLite's OverflowError) is bad input."""
    stack = [parameters]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, int) and not -(2**63) <= item < 2**63:
            raise ValidationError(_("Nombre hors limites."))


event.listen(Engine, "before_cursor_execute", _check_parameters)


def log_exception_without_data(app: Flask, exc_info) -> None:
    """Flask's ``log_exception``: the route pattern, integer ids, the user id, the exception
    type (and SQL state) and the code location; never the exception message, which for a
    database error can quote the rejected values."""
    exc_type, exc, tb = exc_info
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None)
    frames = traceback.extract_tb(tb)[-8:]
    where = " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames))
    rule = request.url_rule.rule if request.url_rule else "?"
    ids = {k: v for k, v in (request.view_args or {}).items() if isinstance(v, int)}
    user_id = None
    try:
        from flask_login import current_user

        user_id = current_user.id if current_user.is_authenticated else None
    except Exception:  # noqa: BLE001 - the user loader itself may be what failed
        pass
    app.logger.error("Unexpected error on %s %s ids=%s user=%s: %s%s at %s",
                     request.method, rule, ids, user_id, exc_type.__name__,
                     f" [{code}]" if code else "", where)


def install(app: Flask) -> None:
    """Apply the hardening to ``app`` (called by ``create_app`` after the configuration)."""
    app.url_map.converters["int"] = BoundedIntConverter
    app.json = BoundedJSONProvider(app)
    app.log_exception = lambda exc_info: log_exception_without_data(app, exc_info)
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies,
                                x_host=proxies)
    app.before_request(_refuse_nul_bytes)

    @app.after_request
    def _security_headers(response):
        # Everything is served by the app itself (hospital networks are often closed).
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        # Booking links must not leak to other sites through the Referer header.
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.path.startswith("/static/"):
            # Pages and API answers may carry patient data: never kept by a cache.
            response.headers["Cache-Control"] = "no-store"
        return response

