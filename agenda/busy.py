"""The doctor's busy times for the pages of other packages, without importing
``agenda.sync`` (booking never imports sync): :mod:`agenda.sync.freebusy` registers itself
here; without it every answer is "nothing known"."""

from __future__ import annotations

from datetime import datetime

_provider = None


def register(provider) -> None:
    global _provider
    _provider = provider


def busy_for_page(doctor, start: datetime, end: datetime):
    """``PageBusy(periods, fetched_at, error)``, or None when the doctor has connected no
    main calendar."""
    return _provider.busy_for_page(doctor, start, end) if _provider else None


def flagged_slots(doctor_id: int, start: datetime | None = None,
                  end: datetime | None = None) -> dict:
    """Open fixed slots overlapping a busy time of the doctor's main calendar:
    slot id -> (busy start, busy end)."""
    return _provider.flagged_slots(doctor_id, start, end) if _provider else {}
