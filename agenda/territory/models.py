"""Communes of the territory, sectors and doctors (the volunteers)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Column, Float, ForeignKey, Index, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from agenda import clock
from agenda.extensions import db
from agenda.types import UTCDateTime

sector_communes = Table(
    "sector_communes",
    db.metadata,
    Column("sector_id", ForeignKey("sectors.id", ondelete="CASCADE"), primary_key=True),
    Column("insee", ForeignKey("communes.insee", ondelete="CASCADE"), primary_key=True),
)


class Commune(db.Model):
    __tablename__ = "communes"
    __table_args__ = (Index("ix_communes_lat_lon", "lat", "lon"),)

    insee: Mapped[str] = mapped_column(String(5), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    department: Mapped[str] = mapped_column(String(3), index=True)
    postcodes: Mapped[str] = mapped_column(String(200), default="")
    population: Mapped[int | None] = mapped_column(Integer)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)


class Sector(db.Model):
    __tablename__ = "sectors"

    id: Mapped[int] = mapped_column(primary_key=True)
    cpts_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))

    communes: Mapped[list[Commune]] = relationship(secondary=sector_communes)


class Doctor(db.Model):
    """A volunteer GP (médecin effecteur) of a CPTS."""

    __tablename__ = "doctors"
    __table_args__ = (Index("ix_doctors_lat_lon", "lat", "lon"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rpps: Mapped[str] = mapped_column(String(11), unique=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(30))
    address: Mapped[str] = mapped_column(String(300), default="")
    commune_insee: Mapped[str] = mapped_column(ForeignKey("communes.insee"), index=True)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    accepts_floating: Mapped[bool] = mapped_column(Boolean, default=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    cpts_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    commune: Mapped[Commune] = relationship()
    user = relationship("User")

    @property
    def display_name(self) -> str:
        return f"Dr {self.first_name} {self.last_name}"
