"""Access rules: deny by default.

Every view is wrapped by :func:`roles_required` (pages) or ``agenda.api.auth.api_roles``
(JSON API). ``tests/test_access.py`` walks the URL map and proves that every route other
than those listed in :data:`PUBLIC_ENDPOINTS` refuses an anonymous user.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort, redirect, request, url_for
from flask_login import current_user

from agenda.accounts.models import Role

PUBLIC_ENDPOINTS = {"static", "health", "accounts.login", "accounts.forgot_password",
                    "accounts.reset_password", "api.openapi", "sas.capability_statement",
                    # load balancers; Prometheus (own token/address check: tests/ops)
                    "ops.healthz", "ops.metrics",
                    # the patient's one-tap cancel link: its random token is the key
                    # (agenda.booking.reminders; wrong tokens are rate-limited)
                    "booking.patient_cancel"}
# Endpoints that authenticate by other means (bearer token, API key, secret URL).
SELF_AUTHENTICATED_PREFIXES = ("api.", "sas.", "sync.ics_feed")


def roles_required(*roles: Role | str) -> Callable:
    """Only authenticated users with one of ``roles`` (none given: any role)."""
    allowed = {r.value if isinstance(r, Role) else r for r in roles}

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return redirect(url_for("accounts.login", next=request.full_path))
            if allowed and current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        wrapper.allowed_roles = allowed or None  # read by the access test
        return wrapper

    return decorator
