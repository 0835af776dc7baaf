"""OperationOutcome responses for the FHIR endpoints."""

from __future__ import annotations

from flask import Response, json

_ISSUE_CODE = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found",
               405: "not-supported", 409: "conflict", 412: "conflict", 422: "business-rule"}


def operation_outcome(status: int, message: str, *, code: str | None = None) -> Response:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{
            "severity": "error" if status < 500 else "fatal",
            "code": code or _ISSUE_CODE.get(status, "exception"),
            "diagnostics": message,
        }],
    }
    return Response(json.dumps(body, ensure_ascii=False), status=status,
                    mimetype="application/fhir+json")
