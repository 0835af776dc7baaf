"""``/healthz`` (load balancers, monitoring) and ``/metrics`` (Prometheus).

Both are outside the login: ``/healthz`` tells nothing but states and counts (no patient
data, no host name, no driver message); ``/metrics`` checks its own token or address.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from agenda import __version__
from agenda.extensions import db
from agenda.ops import exporter, health

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    """200 when healthy, 503 otherwise. ``?scope=node``: the database check alone."""
    healthy, body = health.check(db.engine, health.Limits.from_config(current_app.config),
                                 node_only=request.args.get("scope") == "node")
    response = jsonify(version=__version__, **body)
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/metrics")
def metrics():
    exporter.require_scraper()
    payload, content_type = exporter.render(current_app)
    return Response(payload, content_type=content_type,
                    headers={"Cache-Control": "no-store"})
