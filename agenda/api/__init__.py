"""The JSON API (``/api/v1``): thin routes over the services, bearer-token auth.

Each domain adds its routes in a module of this package and documents them with
:func:`agenda.api.spec.document`; ``/api/v1/openapi.json`` serves the whole document.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__)

from agenda.api import core  # noqa: E402,F401  (routes register on import)
from agenda.api import slots  # noqa: E402,F401
from agenda.api import coverage  # noqa: E402,F401
from agenda.api import booking  # noqa: E402,F401
