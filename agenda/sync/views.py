"""Pages of agenda.sync."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("sync", __name__)
