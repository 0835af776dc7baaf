"""API authentication and the routes every client needs (openapi.json, me)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import g, jsonify, request
from flask_babel import gettext as _

from agenda.accounts import services as accounts
from agenda.accounts.models import Role
from agenda.api import bp
from agenda.api.spec import document, openapi_document


def _json_error(status: int, code: str, message: str):
    return jsonify(error=code, message=message), status


def api_roles(*roles: Role | str) -> Callable:
    """Bearer-token authentication and role check for an API route (deny by default)."""
    allowed = {r.value if isinstance(r, Role) else r for r in roles}

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            header = request.headers.get("Authorization", "")
            token = header[7:].strip() if header.lower().startswith("bearer ") else ""
            user = accounts.user_for_token(token)
            if user is None:
                return _json_error(401, "unauthorized",
                                   _("Jeton d'API absent, invalide ou révoqué."))
            if allowed and user.role not in allowed:
                return _json_error(403, "forbidden",
                                   _("Votre rôle ne permet pas cette opération."))
            g.api_user = user
            g._login_user = user  # current_user for services and the audit log, no cookie
            return view(*args, **kwargs)

        wrapper.allowed_roles = allowed or None
        return wrapper

    return decorator


def json_body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        from agenda.errors import ValidationError

        raise ValidationError(_("Le corps de la requête doit être un objet JSON."))
    return data


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


@bp.get("/me")
@api_roles()
def me():
    user = g.api_user
    return jsonify(id=user.id, email=user.email, name=user.name, role=user.role,
                   organisation=user.organisation.name)


document("/me", "get", {"summary": "Le compte du jeton", "responses": {"200": {
    "description": "compte"}}})
