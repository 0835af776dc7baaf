"""Pages of agenda.booking."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("booking", __name__)
