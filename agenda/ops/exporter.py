"""``/metrics``: who may scrape, what is scraped, and the hooks that feed the instruments.

- Access: closed (404) unless ``AGENDA_METRICS_TOKEN`` or ``AGENDA_METRICS_TRUSTED_ADDRESSES``
  is set; then a request needs the token (``Authorization: Bearer …``) or a client address
  in one of the trusted networks, else 403.
- Content: the instruments of :mod:`agenda.metrics` (added up across gunicorn workers in
  multiprocess mode), plus gauges computed at scrape time from the database: outbox
  backlog, failed rows, calendars in error, worker heartbeat age.
- Hooks: request latency by Flask endpoint; bookings and floating requests counted when
  their transaction commits (a SQLAlchemy session event: nothing to call from the booking
  code); the SAS platform's slot searches counted from their endpoint.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import time
from collections.abc import Iterable, Iterator

from flask import Flask, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.process_collector import ProcessCollector
from sqlalchemy import event
from sqlalchemy.orm import Session

from agenda import metrics
from agenda.ops import health

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# --- access ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def parse_networks(value: str) -> tuple[Network, ...]:
    """``"127.0.0.1, 10.0.0.0/8"`` -> networks; a wrong entry stops the start-up."""
    networks = []
    for part in (value or "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise ValueError(f"AGENDA_METRICS_TRUSTED_ADDRESSES : adresse ou réseau invalide "
                             f"« {part} »") from exc
    return tuple(networks)


def _address_trusted(address: str | None, networks: tuple[Network, ...]) -> bool:
    if not address or not networks:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in networks)


def _token_valid(token: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return (bool(token) and scheme.lower() == "bearer"
            and hmac.compare_digest(given.strip().encode(), token.encode()))


def require_scraper() -> None:
    """404 when metrics are off, 403 when this request may not read them."""
    token = current_app.config.get("METRICS_TOKEN") or ""
    networks = parse_networks(current_app.config.get("METRICS_TRUSTED_ADDRESSES") or "")
    if not token and not networks:
        abort(404)
    if _token_valid(token) or _address_trusted(request.remote_addr, networks):
        return
    abort(403)


# --- the scrape ------------------------------------------------------------------------------


class _Forward:
    """The process-local instruments, inside a per-scrape registry."""

    def collect(self) -> Iterable[Metric]:
        return metrics.REGISTRY.collect()


class DatabaseCollector:
    """Gauges read from the database at scrape time (same queries as ``/healthz``)."""

    def __init__(self, engine, limits: health.Limits) -> None:
        self.engine = engine
        self.limits = limits

    def collect(self) -> Iterator[Metric]:
        result = health.probe(self.engine, self.limits)
        yield GaugeMetricFamily("agenda_database_up",
                                "1 si la base de données a répondu à cette collecte.",
                                value=1 if result.ok else 0)
        if not result.ok:
            return
        state = result.state
        gauges: list[tuple[str, str, float | None]] = [
            ("agenda_database_latency_seconds", "Temps de réponse de la base (SELECT 1).",
             (result.latency_ms or 0) / 1000),
            ("agenda_worker_heartbeat_age_seconds",
             "Âge du dernier battement de cœur d'un worker de synchronisation.",
             state.heartbeat_age),  # absent when no worker ever ran
            ("agenda_workers_recent", "Workers de synchronisation vus dans le délai de santé.",
             state.workers_recent),
            ("agenda_outbox_due_rows",
             "Lignes de la file d'envoi dont l'heure est venue (hors attente d'un nouvel essai).",
             state.outbox_due),
            ("agenda_outbox_failed_rows",
             "Lignes de la file d'envoi abandonnées après tous les essais.", state.outbox_failed),
            ("agenda_outbox_oldest_pending_age_seconds",
             "Âge de la plus ancienne ligne en attente (0 : aucune).",
             state.oldest_pending_age or 0),
            ("agenda_outbox_oldest_due_delay_seconds",
             "Retard de la ligne due la plus ancienne (0 : aucune).",
             state.oldest_due_delay or 0),
            ("agenda_sync_accounts_in_error", "Agendas CalDAV en erreur de synchronisation.",
             state.accounts.get("error", 0)),
        ]
        for name, documentation, value in gauges:
            if value is not None:
                yield GaugeMetricFamily(name, documentation, value=value)
        yield _labelled("agenda_outbox_pending_rows",
                        "Lignes en attente dans la file d'envoi (outbox), par type.", "kind",
                        state.outbox_pending)
        yield _labelled("agenda_calendar_accounts",
                        "Agendas CalDAV connectés, par état (ok, pending, error).", "state",
                        state.accounts)


def _labelled(name: str, documentation: str, label: str, counts: dict[str, int]) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key, count in sorted(counts.items()):
        family.add_metric([key], count)
    return family


def render(app: Flask) -> tuple[bytes, str]:
    from agenda.extensions import db

    registry = CollectorRegistry()
    if metrics.multiprocess_dir():
        MultiProcessCollector(registry)
    else:
        registry.register(_Forward())
        ProcessCollector(registry=registry)
    registry.register(DatabaseCollector(db.engine, health.Limits.from_config(app.config)))
    return generate_latest(registry), CONTENT_TYPE_LATEST


# --- hooks -----------------------------------------------------------------------------------

_STARTED = "agenda.request_started"


def install_request_hooks(app: Flask) -> None:
    @app.before_request
    def _start_timer() -> None:
        request.environ[_STARTED] = time.perf_counter()

    @app.after_request
    def _observe(response):
        started = request.environ.get(_STARTED)
        if started is not None:
            metrics.observe_request(request.endpoint, request.method, response.status_code,
                                    time.perf_counter() - started)
        if request.endpoint == "sas.slot_search" and response.status_code == 200:
            metrics.count_search("sas")  # the R04 search has its own code path
        return response


_COUNTED_TABLES = {"bookings": "booking", "requests": "request"}
_PENDING = "agenda.metrics.created"
_listening = False


def install_session_hooks() -> None:
    """Count bookings and floating requests created during a web request, once their
    transaction commits (not the demo loader, the generator or a CLI command)."""
    global _listening
    if _listening:
        return
    _listening = True

    @event.listens_for(Session, "after_flush")
    def _collect(session, _context) -> None:
        from flask import has_request_context

        if not has_request_context():
            return
        for obj in session.new:
            kind = _COUNTED_TABLES.get(getattr(obj, "__tablename__", ""))
            if kind:
                session.info.setdefault(_PENDING, []).append(
                    (kind, getattr(obj, "channel", None), getattr(obj, "origin", None)))

    @event.listens_for(Session, "after_commit")
    def _count(session) -> None:
        for kind, channel, origin in session.info.pop(_PENDING, ()):
            metrics.count_booking(kind, channel, origin)

    @event.listens_for(Session, "after_rollback")
    def _forget(session) -> None:
        session.info.pop(_PENDING, None)
