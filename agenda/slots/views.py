"""Pages of agenda.slots."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("slots", __name__)
