"""Domain exceptions. Each carries a French message (already translated) for people.

Pages show the message, the JSON API returns it with the status, the CalDAV import logs
it against the event. Anything else that escapes is a bug (500).
"""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, rule: str | None = None,
                 field: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.rule = rule
        self.field = field

    def to_dict(self) -> dict:
        data = {"error": self.code, "message": self.message}
        if self.rule:
            data["rule"] = self.rule
        if self.field:
            data["field"] = self.field
        return data


class ValidationError(DomainError):
    status = 400
    code = "invalid"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    """A lost race or a state that no longer allows the operation."""

    status = 409
    code = "conflict"


class RuleViolation(DomainError):
    """Refused by a business rule (the charter, the slot rules…)."""

    status = 422
    code = "rule"
