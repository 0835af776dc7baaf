"""API authentication and the routes every client needs (openapi.json, me)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from flask import g, jsonify, request
from flask_babel import gettext as _
from pydantic import BaseModel
from pydantic import ValidationError as PydanticError

from agenda.accounts import services as accounts
from agenda.accounts.models import Role
from agenda.api import bp
from agenda.api.spec import document, openapi_document
from agenda.errors import ValidationError
from agenda.sas.auth import is_sas_account, sas_account_refusal


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
            if user.role == Role.REGULATOR.value and is_sas_account(user):
                # Its habilitation comes only through a slot link of the SAS platform
                # (``sas.views._confine_sas_accounts``), never through a token.
                return _json_error(403, "forbidden", sas_account_refusal())
            g.api_user = user
            g._login_user = user  # current_user for services and the audit log, no cookie
            return view(*args, **kwargs)

        wrapper.allowed_roles = allowed or None
        return wrapper

    return decorator


def json_body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationError(_("Le corps de la requête doit être un objet JSON."))
    return data


M = TypeVar("M", bound=BaseModel)


def _french(exc: PydanticError) -> ValidationError:
    """The first error of a pydantic validation, as a French message naming the field."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err.get("loc", ()) if not isinstance(p, int)) or "body"
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if kind == "missing":
        msg = _("Champ obligatoire : %(f)s.", f=field)
    elif kind == "extra_forbidden":
        msg = _("Champ inconnu : %(f)s.", f=field)
    elif kind == "string_too_long":
        msg = _("Texte trop long (%(f)s) : %(n)s caractères au plus.", f=field,
                n=ctx.get("max_length"))
    elif kind == "string_too_short":
        msg = _("Champ vide (%(f)s).", f=field)
    elif kind in ("int_parsing", "int_type", "int_from_float"):
        msg = _("Entier attendu (%(f)s).", f=field)
    elif kind.startswith(("greater_than", "less_than")):
        msg = _("Valeur hors limites (%(f)s).", f=field)
    elif kind.startswith("date"):
        msg = _("Date AAAA-MM-JJ attendue (%(f)s).", f=field)
    elif kind.startswith("datetime"):
        msg = _("Date et heure ISO 8601 attendues (%(f)s).", f=field)
    elif kind == "literal_error":
        msg = _("Valeur non permise (%(f)s) : %(allowed)s.", f=field,
                allowed=ctx.get("expected", ""))
    elif kind == "json_invalid":
        msg = _("Le corps de la requête n'est pas du JSON valide.")
    else:
        msg = _("Valeur invalide (%(f)s).", f=field)
    return ValidationError(msg, field=field)


def parse_body(model: type[M]) -> M:
    """The request's JSON body validated by ``model`` (its OpenAPI schema), or a French 400."""
    json_body()  # an object, not too deep (agenda.security.BoundedJSONProvider)
    try:
        return model.model_validate_json(request.get_data())
    except PydanticError as exc:
        raise _french(exc) from None


def parse_query(model: type[M]) -> M:
    """The query string validated by ``model``, or a French 400."""
    try:
        return model.model_validate(request.args.to_dict())
    except PydanticError as exc:
        raise _french(exc) from None


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
