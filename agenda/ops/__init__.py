"""Running the service: health check, Prometheus metrics, worker heartbeats.

``init_app`` is called by :func:`agenda.create_app`; ``agenda/ops/gunicorn.py`` is a
gunicorn configuration for the multiprocess metrics (see the README).
"""

from __future__ import annotations

from flask import Flask

from agenda.ops import models  # noqa: F401  (the heartbeat table)


def init_app(app: Flask) -> None:
    from agenda.ops import exporter
    from agenda.ops.views import bp

    exporter.parse_networks(app.config.get("METRICS_TRUSTED_ADDRESSES") or "")  # fail early
    app.register_blueprint(bp)
    exporter.install_request_hooks(app)
    exporter.install_session_hooks()
