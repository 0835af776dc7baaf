"""The sync workers' heartbeats, read by ``/healthz`` and ``/metrics``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from agenda import clock
from agenda.extensions import db
from agenda.types import UTCDateTime


class WorkerHeartbeat(db.Model):
    """One row per running ``sync worker`` process, stamped at the end of every pass."""

    __tablename__ = "worker_heartbeats"

    worker_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(64))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
