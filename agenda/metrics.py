"""Prometheus instruments of the web service, and the small functions that move them.

A leaf module (it imports only ``prometheus_client`` and Flask): any package may call
:func:`count_search` or :func:`count_booking` without pulling in the rest of the app.
The scrape itself (``/metrics``: access check, scrape-time gauges read from the database)
lives in :mod:`agenda.ops.exporter`.

Several gunicorn workers: when ``PROMETHEUS_MULTIPROC_DIR`` is set *before the process
starts*, ``prometheus_client`` keeps every value in a file of that folder and the scrape
adds them up across processes (see ``agenda/ops/gunicorn.py`` and the README). Without it,
one process-local registry.

Every instrument has labels, so that a process that never moves one (the sync worker, a
CLI command) writes nothing to the multiprocess folder. Label values are bounded: a Flask
endpoint name (never the raw URL), a method, a status, a channel, an origin.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram

#: The registry of the instruments below (single-process mode). In multiprocess mode the
#: values are read back from ``PROMETHEUS_MULTIPROC_DIR`` instead.
REGISTRY = CollectorRegistry(auto_describe=True)

#: Buckets from 5 ms to 10 s: pages and API calls are tens of milliseconds; a slow
#: export or a coverage map may take seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUEST_LATENCY = Histogram(
    "agenda_http_request_duration_seconds",
    "Durée des requêtes HTTP, par point d'entrée Flask, méthode et code de réponse.",
    ["endpoint", "method", "status"], buckets=LATENCY_BUCKETS, registry=REGISTRY)
BOOKINGS = Counter(
    "agenda_bookings",
    "Réservations de créneaux fixes enregistrées (par canal et origine).",
    ["channel", "origin"], registry=REGISTRY)
FLOATING_REQUESTS = Counter(
    "agenda_floating_requests",
    "Demandes sur créneau flottant enregistrées (par canal et origine).",
    ["channel", "origin"], registry=REGISTRY)
SEARCHES = Counter(
    "agenda_searches",
    "Recherches de créneaux (pages, API JSON, plateforme SAS).",
    ["origin"], registry=REGISTRY)


def multiprocess_dir() -> str | None:
    """The multiprocess folder when set (the environment variable prometheus_client reads)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def _label(value: object, default: str = "inconnu") -> str:
    return str(value)[:20] if value else default


def count_search(origin: str | None = None) -> None:
    """One search of bookable slots. ``origin``: web / api / sas; guessed from the current
    request's blueprint when not given."""
    SEARCHES.labels(origin=_label(origin or request_origin())).inc()


def count_booking(kind: str, channel: str | None, origin: str | None) -> None:
    """One committed booking (``kind`` "booking") or floating request ("request")."""
    counter = BOOKINGS if kind == "booking" else FLOATING_REQUESTS
    counter.labels(channel=_label(channel), origin=_label(origin)).inc()


_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def observe_request(endpoint: str | None, method: str, status: int, seconds: float) -> None:
    """``endpoint`` None (no route matched: 404, 405): "aucun"; an unusual method: "autre"."""
    REQUEST_LATENCY.labels(endpoint=endpoint or "aucun",
                           method=method if method in _METHODS else "autre",
                           status=str(status)).observe(seconds)


def request_origin() -> str:
    """web / api / sas for the current request (``web`` outside of one)."""
    from flask import has_request_context, request

    if not has_request_context():
        return "web"
    blueprint = request.blueprint or ""
    return {"api": "api", "sas": "sas"}.get(blueprint, "web")
