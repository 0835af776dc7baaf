"""agenda — the shared SNP agenda of a CPTS."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

from agenda import config as config_module
from agenda.errors import DomainError
from agenda.extensions import babel, csrf, db, login_manager

__version__ = "0.1.0"


def create_app(config: dict[str, Any] | None = None, *, migrations: bool = True) -> Flask:
    """Application factory: ``flask --app agenda …`` and ``wsgi.py`` both use it.

    ``migrations=False`` (``wsgi.py``): without Flask-Migrate and Alembic (~10 MB a
    process), which a web worker never uses; ``flask db …`` and the code that upgrades
    take the default."""
    import os
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    app = Flask(
        __name__,
        instance_path=os.environ.get("AGENDA_INSTANCE_PATH", str(root / "instance")),
        template_folder=str(root / "templates"),
        static_folder="static",
    )
    app.config.update(config_module.load(app.instance_path))
    if config:
        app.config.update(config)
        if "DATABASE_URL" in config:
            app.config["SQLALCHEMY_DATABASE_URI"] = config["DATABASE_URL"]
            app.config["SQLALCHEMY_ENGINE_OPTIONS"] = config_module.engine_options(
                config["DATABASE_URL"])
            config_module.private_sqlite_file(config["DATABASE_URL"])
    logging.basicConfig(level=app.config.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from agenda import security

    security.install(app)

    db.init_app(app)
    if migrations:
        from flask_migrate import Migrate

        Migrate(app, db, directory=str(Path(__file__).resolve().parent / "migrations"),
                render_as_batch=True, compare_type=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_select_locale,
                   default_translation_directories=str(Path(__file__).parent / "translations"))

    _import_models()
    _register_blueprints(app)
    _register_errors(app)
    _register_template_helpers(app)
    _register_cli(app)
    from agenda import ops

    ops.init_app(app)  # /healthz, /metrics, request metrics
    return app


def _select_locale() -> str:
    from flask import has_request_context

    if not has_request_context():  # CLI, worker, services called from tests
        return "fr"
    return request.accept_languages.best_match(["fr", "en"], default="fr")


def _import_models() -> None:
    """Every table is known to SQLAlchemy (and Alembic) once the app exists."""
    from agenda import alerts, audit, outbox  # noqa: F401
    from agenda.accounts import models as _a  # noqa: F401
    from agenda.booking import models as _b  # noqa: F401
    from agenda.slots import models as _s  # noqa: F401
    from agenda.sync import models as _y  # noqa: F401
    from agenda.territory import models as _t  # noqa: F401


def _register_blueprints(app: Flask) -> None:
    from agenda.accounts.views import bp as accounts_bp
    from agenda.api import bp as api_bp
    from agenda.booking.views import bp as booking_bp
    from agenda.coverage.views import bp as coverage_bp
    from agenda.sas.views import bp as sas_bp
    from agenda.slots.views import bp as slots_bp
    from agenda.sync.views import bp as sync_bp
    from agenda.territory.views import bp as territory_bp

    for bp in (accounts_bp, territory_bp, slots_bp, booking_bp, sync_bp, coverage_bp):
        app.register_blueprint(bp)
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    app.register_blueprint(sas_bp, url_prefix="/fhir")
    csrf.exempt(api_bp)
    csrf.exempt(sas_bp)

    @app.before_request
    def _fresh_user() -> None:
        # Tests run requests inside one long app context (shared ``g``): forget the user
        # of the previous request. In production every request has a fresh ``g`` anyway.
        from flask import g

        g.pop("_login_user", None)
        g.pop("csrf_token", None)

    @app.get("/health")
    def health():
        return jsonify(status="ok", version=__version__)


def _register_errors(app: Flask) -> None:
    def wants_json() -> bool:
        return (request.path.startswith("/api/")
                or request.accept_mimetypes.best == "application/json")

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        db.session.rollback()
        if request.path.startswith("/fhir/"):
            from agenda.sas.fhir_errors import operation_outcome

            return operation_outcome(exc.status, exc.message)
        if wants_json():
            return jsonify(exc.to_dict()), exc.status
        return render_template("error.html", message=exc.message, status=exc.status), exc.status

    from werkzeug.exceptions import HTTPException

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        from agenda.i18n import http_message

        message = http_message(exc)
        # Keep the exception's headers (``Allow`` on a 405).
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        if request.path.startswith("/fhir/"):
            from agenda.sas.fhir_errors import operation_outcome

            response = operation_outcome(exc.code or 500, message)
        elif wants_json():
            response = (jsonify(error=exc.name.lower().replace(" ", "_"), message=message),
                        exc.code)
        else:
            response = (render_template("error.html", message=message, status=exc.code),
                        exc.code)
        response = app.make_response(response)
        response.headers.extend(headers)
        return response


def _register_template_helpers(app: Flask) -> None:
    from agenda import i18n, labels

    app.jinja_env.globals.update(
        local_time=i18n.format_local_time,
        local_date=i18n.format_local_date,
        local_datetime=i18n.format_local_datetime,
        nav_items=i18n.nav_items,
        week_choice=i18n.week_choice,
    )
    app.jinja_env.filters["local_time"] = i18n.format_local_time
    app.jinja_env.filters["local_date"] = i18n.format_local_date
    app.jinja_env.filters["local_datetime"] = i18n.format_local_datetime
    # French names of codes and French numbers: {{ u.role|label('role') }}, {{ r|pct }},
    # {{ amount|money }}, {{ d|km }}, {{ n|num }}, {{ day|day }} ("1er novembre").
    labels.install(app)
    for name, fn in (("num", i18n.format_num), ("pct", i18n.format_pct),
                     ("money", i18n.format_money), ("km", i18n.format_km),
                     ("day", i18n.format_day)):
        app.jinja_env.filters[name] = fn


def _register_cli(app: Flask) -> None:
    from agenda.cli import register

    register(app)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """WAL, foreign keys and a busy timeout for SQLite; nothing for other engines."""
    import sqlite3

    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        # Deleted or overwritten rows (a purged patient) are zeroed, not left in free pages.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()
