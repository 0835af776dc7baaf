"""The one source of "now" for the whole application.

Production code calls :func:`now`; tests move time with :func:`set_now` /
:func:`advance` (see the ``clock`` fixture in ``tests/conftest.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_frozen: datetime | None = None


def now() -> datetime:
    """Current time, timezone-aware, in UTC."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC)


def set_now(value: datetime | None) -> None:
    """Freeze the clock at ``value`` (aware datetime), or unfreeze with ``None``."""
    global _frozen
    if value is not None and value.tzinfo is None:
        raise ValueError("clock.set_now needs a timezone-aware datetime")
    _frozen = value.astimezone(UTC) if value is not None else None


def advance(delta: timedelta) -> datetime:
    """Move a frozen clock forward (freezing it at the current time first)."""
    set_now(now() + delta)
    return now()
