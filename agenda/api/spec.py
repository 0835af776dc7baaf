"""The OpenAPI 3.1 document, assembled from what each route module declares."""

from __future__ import annotations

from typing import Any

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
