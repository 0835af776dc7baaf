"""The OpenAPI 3.1 document, assembled from what each route module declares."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

PATHS: dict[str, dict[str, Any]] = {}
SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "machine-readable code"},
            "message": {"type": "string", "description": "French message for people"},
            "rule": {"type": "string", "description": "the rule that refused the request"},
            "field": {"type": "string"},
        },
    }
}


def document(path: str, method: str, operation: dict[str, Any]) -> None:
    """Declare one operation (path in OpenAPI form, e.g. ``/me/slots/{id}``)."""
    op = dict(operation)
    op.setdefault("security", [{"bearer": []}])
    responses = op.setdefault("responses", {})
    for status in ("400", "401", "403"):
        responses.setdefault(status, {"$ref": f"#/components/responses/E{status}"})
    PATHS.setdefault(path, {})[method.lower()] = op


def schema(name: str, body: dict[str, Any]) -> None:
    SCHEMAS[name] = body


_REF = "#/components/schemas/{model}"


def model_ref(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema (pydantic, the same that validates) as a component; its $ref."""
    body = model.model_json_schema(ref_template=_REF)
    for name, sub in body.pop("$defs", {}).items():
        SCHEMAS[name] = sub
    SCHEMAS[model.__name__] = body
    return {"$ref": _REF.format(model=model.__name__)}


def request_body(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    return {"required": required,
            "content": {"application/json": {"schema": model_ref(model)}}}


def _not_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is a string or absent, never JSON null."""
    options = [p for p in prop.get("anyOf", []) if p.get("type") != "null"]
    if len(options) == 1:
        prop = {**{k: v for k, v in prop.items() if k not in ("anyOf", "default")},
                **options[0]}
    prop.pop("title", None)
    return prop


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """OpenAPI query parameters from a query model (names, types, bounds, required)."""
    body = model.model_json_schema(ref_template=_REF)
    required = set(body.get("required", []))
    return [{"name": name, "in": "query", "required": name in required,
             "schema": _not_null(dict(prop)),
             **({"description": prop["description"]} if "description" in prop else {})}
            for name, prop in body.get("properties", {}).items()]


def path_id(name: str = "id") -> dict[str, Any]:
    """A numeric id in the path: an integer the database can hold (else 404)."""
    from agenda.security import MAX_DB_INT

    return {"name": name, "in": "path", "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_DB_INT}}


def openapi_document() -> dict[str, Any]:
    def err(desc: str) -> dict[str, Any]:
        return {"description": desc, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Error"}}}}

    return {
        "openapi": "3.1.0",
        "info": {"title": "agenda — API SNP", "version": "1",
                 "description": "API JSON de l'agenda partagé des soins non programmés."},
        "servers": [{"url": "/api/v1"}],
        "paths": dict(sorted(PATHS.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": SCHEMAS,
            "responses": {
                "E400": err("requête invalide"),
                "E401": err("jeton absent ou invalide"),
                "E403": err("rôle non autorisé"),
                "E404": err("introuvable"),
                "E409": err("conflit (course perdue)"),
                "E422": err("refusé par une règle"),
            },
        },
    }
