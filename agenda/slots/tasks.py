"""Periodic task of the worker: slots whose time has passed become "past"."""

from __future__ import annotations

from agenda.extensions import db
from agenda.outbox import periodic
from agenda.slots import services


@periodic
def sweep_past_slots() -> None:
    services.mark_past()
    db.session.commit()
