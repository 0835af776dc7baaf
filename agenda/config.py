"""Settings from ``AGENDA_*`` environment variables, with embedded defaults.

The embedded default is a SQLite file under ``instance/`` (WAL mode); PostgreSQL is one
variable away: ``AGENDA_DATABASE_URL=postgresql+psycopg://user:pass@host/agenda``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

# name -> (default, cast, description); the README's configuration table follows this.
SETTINGS: dict[str, tuple[object, type, str]] = {
    "DATABASE_URL": (None, str, "SQLAlchemy URL; default: SQLite file instance/agenda.sqlite3"),
    "SECRET_KEY": (None, str, "session and CSRF key; generated into instance/ when unset"),
    "ENCRYPTION_KEY": (None, str,
                       "Fernet key for CalDAV passwords; derived from SECRET_KEY when unset"),
    "TIMEZONE": ("Europe/Paris", str, "timezone shown to people"),
    "BASE_URL": ("http://127.0.0.1:5000", str, "public address, used in links sent out"),
    "MAIL_HOST": ("localhost", str, "SMTP server"),
    "MAIL_PORT": (25, int, "SMTP port"),
    "MAIL_USERNAME": ("", str, "SMTP login (optional)"),
    "MAIL_PASSWORD": ("", str, "SMTP password (optional)"),
    "MAIL_STARTTLS": (False, bool, "use STARTTLS"),
    "MAIL_FROM": ("agenda-snp@localhost", str, "sender address"),
    "SESSION_COOKIE_SECURE": (False, bool, "send the session cookie over HTTPS only"),
    "LOGIN_MAX_FAILURES": (10, int, "failed logins per account from one address before a pause"),
    "LOGIN_MAX_FAILURES_ACCOUNT": (50, int, "failed logins per account, all addresses"),
    "LOGIN_MAX_FAILURES_ADDRESS": (100, int, "failed logins per address, all accounts"),
    "LOGIN_WINDOW_MINUTES": (15, int, "window of the login rate limit"),
    "TRUSTED_PROXIES": (0, int, "number of reverse proxies in front (client address, scheme "
                        "and host are read from X-Forwarded-* only when > 0)"),
    "API_TOKEN_DAYS": (365, int, "lifetime of a new API token, in days"),
    "SYNC_INTERVAL_SECONDS": (60, int, "pause between two passes of the sync worker"),
    "SYNC_THREADS": (4, int, "doctors synchronised in parallel by one worker"),
    "CALDAV_ALLOWED_HOSTS": ("", str, "hosts (or host:port) on a loopback or private network "
                             "the CalDAV client may call, comma-separated (demo: its Radicale)"),
    "SAS_ENDPOINT": ("", str, "base URL of the national SAS platform (INT_R03), empty = off"),
    "SAS_API_KEY": ("", str, "API key sent to the SAS platform"),
    "SAS_IDENTIFIER_SYSTEM": ("urn:agenda-snp", str, "base of this software's FHIR "
                              "identifier systems (INT_R03 …:rendez-vous); never change it"),
    "FHIR_API_KEYS": ("", str, "comma-separated API keys allowed on the FHIR endpoints"),
    "FHIR_CLIENT_SUBJECTS": ("", str, "certificate subjects allowed (mTLS), separated by ';' "
                             "(or ',' when each starts with CN=)"),
    "DB_POOL_SIZE": (5, int, "PostgreSQL: connections each process keeps open"),
    "DB_POOL_MAX_OVERFLOW": (10, int, "PostgreSQL: extra connections opened under load, closed "
                             "when returned"),
    "DB_POOL_RECYCLE_SECONDS": (1800, int, "PostgreSQL: a connection older than this is "
                                "replaced before use (below any idle timeout of a firewall, "
                                "pgbouncer or the server)"),
    "DB_POOL_PRE_PING": (False, bool, "PostgreSQL: test every connection before each request "
                         "(one more round trip; for networks that drop idle connections "
                         "sooner than the recycle)"),
    "SMS_GATEWAY_URL": ("", str, "HTTP gateway of the text messages to patients, empty = off "
                        "(docs/sms.md; placeholders allowed)"),
    "SMS_GATEWAY_METHOD": ("POST", str, "HTTP method of the SMS gateway"),
    "SMS_GATEWAY_FORMAT": ("json", str, "body of the SMS gateway request: json or form"),
    "SMS_GATEWAY_TEMPLATE": ('{"to": "{to}", "text": "{text}", "sender": "{sender}"}', str,
                             "JSON object sent to the SMS gateway; placeholders {to} "
                             "{to_digits} {to_national} {text} {sender} {key}"),
    "SMS_GATEWAY_HEADERS": ("{}", str, "JSON object of extra headers (e.g. an API key)"),
    "SMS_GATEWAY_USERNAME": ("", str, "SMS gateway basic-auth login (optional)"),
    "SMS_GATEWAY_PASSWORD": ("", str, "SMS gateway basic-auth password (optional)"),
    "SMS_GATEWAY_TIMEOUT": (10.0, float, "seconds given to the SMS gateway"),
    "SMS_SENDER": ("CPTS", str, "sender name shown on the patient's phone (11 characters)"),
    "LOG_LEVEL": ("INFO", str, "logging level"),
    "HEALTH_MAX_HEARTBEAT_AGE_SECONDS": (300, int,
                                         "/healthz: oldest acceptable sync worker heartbeat"),
    "HEALTH_REQUIRE_WORKER": (True, bool, "/healthz: unhealthy when no sync worker ever ran"),
    "HEALTH_MAX_OUTBOX_DELAY_SECONDS": (600, int,
                                        "/healthz: how late a due outbox row may be"),
    "HEALTH_TIMEOUT_SECONDS": (2.0, float, "/healthz: time given to the database"),
    "METRICS_TOKEN": ("", str, "bearer token that opens /metrics (empty: closed)"),
    "METRICS_TRUSTED_ADDRESSES": ("", str, "addresses or networks (CIDR) allowed on /metrics"),
}


def _cast(value: str, kind: type) -> object:
    if kind is bool:
        return value.strip().lower() in {"1", "true", "yes", "on", "oui"}
    return kind(value)


def load(instance_path: str) -> dict:
    """Configuration from the environment, with embedded defaults."""
    cfg: dict[str, object] = {}
    for name, (default, kind, _doc) in SETTINGS.items():
        raw = os.environ.get(f"AGENDA_{name}")
        cfg[name] = _cast(raw, kind) if raw not in (None, "") else default
    _private_folder(Path(instance_path))
    if not cfg["DATABASE_URL"]:
        cfg["DATABASE_URL"] = f"sqlite:///{Path(instance_path) / 'agenda.sqlite3'}"
    private_sqlite_file(str(cfg["DATABASE_URL"]))
    if not cfg["SECRET_KEY"]:
        cfg["SECRET_KEY"] = _instance_secret(Path(instance_path) / "secret_key")
    return {
        **cfg,
        "SQLALCHEMY_DATABASE_URI": cfg["DATABASE_URL"],
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(str(cfg["DATABASE_URL"]), cfg),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": cfg["SESSION_COOKIE_SECURE"],
        "WTF_CSRF_TIME_LIMIT": None,
        "BABEL_DEFAULT_LOCALE": "fr",
        "BABEL_DEFAULT_TIMEZONE": cfg["TIMEZONE"],
        "MAX_CONTENT_LENGTH": 5 * 1024 * 1024,
    }


def engine_options(url: str, cfg: dict | None = None) -> dict:
    """Statement parameters (patient names, phones…) never appear in an error message or a
    log line. PostgreSQL: a pool per process, its connections recycled after
    ``DB_POOL_RECYCLE_SECONDS`` rather than tested before each use (a test costs a round
    trip on every request); after a server restart the first statement on a dead
    connection fails, and the pool then replaces every connection opened before it
    (``DB_POOL_PRE_PING=true`` trades the round trip for that one error). SQLite needs no
    pool settings. ``cfg``: the settings (read from the environment when not given)."""
    if url.startswith("sqlite"):
        return {"hide_parameters": True}
    cfg = cfg or {}

    def setting(name: str):
        if name in cfg:
            return cfg[name]
        default, kind, _doc = SETTINGS[name]
        raw = os.environ.get(f"AGENDA_{name}")
        return _cast(raw, kind) if raw not in (None, "") else default

    return {"hide_parameters": True, "pool_pre_ping": setting("DB_POOL_PRE_PING"),
            "pool_recycle": setting("DB_POOL_RECYCLE_SECONDS"),
            "pool_size": setting("DB_POOL_SIZE"),
            "max_overflow": setting("DB_POOL_MAX_OVERFLOW")}


def _private_folder(path: Path) -> None:
    """The instance folder holds the database and the keys: created readable by us only."""
    if not path.exists():
        path.mkdir(parents=True, mode=0o700)
        path.chmod(0o700)


def private_sqlite_file(url: str) -> None:
    """Create a SQLite database file as 0600 before SQLite does (it would follow the umask;
    its -wal and -shm files copy the database file's mode)."""
    if not url.startswith("sqlite:///") or ":memory:" in url:
        return
    path = Path(url.removeprefix("sqlite:///").split("?", 1)[0])
    if path.name and not path.exists() and path.parent.is_dir():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _instance_secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(48)
    path.write_text(value)
    path.chmod(0o600)
    return value
