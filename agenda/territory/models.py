"""Communes of the territory, sectors and doctors (the volunteers)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (Boolean, Column, Float, ForeignKey, Index, Integer, String, Table,
                        event)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from agenda import clock
from agenda.extensions import db
from agenda.types import UTCDateTime

sector_communes = Table(
    "sector_communes",
    db.metadata,
    Column("sector_id", ForeignKey("sectors.id", ondelete="CASCADE"), primary_key=True),
    Column("insee", ForeignKey("communes.insee", ondelete="CASCADE"), primary_key=True),
)


# On PostgreSQL a B-tree serves ``LIKE 'abc%'`` only when its operator class compares
# bytes (``varchar_pattern_ops``) or the database's collation is "C": under any other
# collation (fr_FR.UTF-8, C.UTF-8 before PostgreSQL 17…) the finder's prefix searches read
# the whole table. SQLite's GLOB uses a plain index.
_PREFIX_OPS = "varchar_pattern_ops"

# Each postcode of a commune (``Commune.postcodes`` holds them space-separated): the
# finder reads every commune sharing a postcode through this table's primary key, and the
# communes whose postcode starts with the digits typed through its prefix index. Kept in
# step with ``Commune.postcodes`` by ``_index_postcodes`` below.
commune_postcodes = Table(
    "commune_postcodes",
    db.metadata,
    Column("postcode", String(5), primary_key=True),
    Column("insee", ForeignKey("communes.insee", ondelete="CASCADE"), primary_key=True,
           index=True),
    Index("ix_commune_postcodes_postcode_prefix", "postcode",
          postgresql_ops={"postcode": _PREFIX_OPS}),
)


class Commune(db.Model):
    __tablename__ = "communes"
    __table_args__ = (Index("ix_communes_lat_lon", "lat", "lon"),
                      # The finder's name prefix search (and equality): see _PREFIX_OPS.
                      Index("ix_communes_search_name", "search_name",
                            postgresql_ops={"search_name": _PREFIX_OPS}))

    insee: Mapped[str] = mapped_column(String(5), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    department: Mapped[str] = mapped_column(String(3), index=True)
    postcodes: Mapped[str] = mapped_column(String(200), default="")
    # The name folded for search (no accents, hyphens or apostrophes, lower case): kept in
    # step with ``name`` by ``_fold_commune_name`` below.
    search_name: Mapped[str] = mapped_column(String(200), default="")
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
    """A volunteer GP (médecin effecteur): one record per RPPS, whatever the CPTS.

    A doctor practises at one or more :class:`Place` s, each in one CPTS; they volunteer in
    every CPTS where they have an active place. ``cpts_id``, ``address``, ``commune_insee``,
    ``lat`` and ``lon`` mirror the *main* place (kept in step by
    ``agenda.territory.services``) for the pages that show one practice.
    """

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


class Place(db.Model):
    """A place where a doctor practises (lieu d'exercice), in one CPTS.

    Every slot belongs to one place, and so to the CPTS of that place: that CPTS's charter
    counts it and its bookers see it. The SAS interface shows one PractitionerRole and
    Location per place.
    """

    __tablename__ = "places"
    __table_args__ = (Index("ix_places_lat_lon", "lat", "lon"),
                      Index("ix_places_doctor", "doctor_id"),
                      Index("ix_places_cpts", "cpts_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    doctor_id: Mapped[int] = mapped_column(ForeignKey("doctors.id"))
    cpts_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    label: Mapped[str] = mapped_column(String(100), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    commune_insee: Mapped[str] = mapped_column(ForeignKey("communes.insee"))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    phone: Mapped[str | None] = mapped_column(String(30))
    is_main: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    commune: Mapped[Commune] = relationship()
    doctor: Mapped[Doctor] = relationship()

    @property
    def display(self) -> str:
        name = self.commune.name if self.commune is not None else self.commune_insee
        return self.label or f"{self.address}, {name}".strip(", ")


def doctor_in_cpts(cpts_id: int | list[int], column=None):
    """SQL condition: the doctor (``column``, default ``Doctor.id``) volunteers in
    ``cpts_id`` (one id or several): an active place there."""
    from sqlalchemy import select

    ids = [cpts_id] if isinstance(cpts_id, int) else list(cpts_id)
    column = Doctor.id if column is None else column
    return column.in_(select(Place.doctor_id).where(Place.cpts_id.in_(ids),
                                                    Place.active.is_(True)))


@event.listens_for(Session, "before_flush")
def _every_doctor_has_a_main_place(session, flush_context, instances) -> None:
    """A doctor written without any place (an import, a factory) practises at the address
    of its record, in its CPTS: that is its main place."""
    new_doctors = [obj for obj in session.new if isinstance(obj, Doctor)]
    if not new_doctors:
        return
    with_place = {id(obj.doctor) for obj in session.new
                  if isinstance(obj, Place) and obj.doctor is not None}
    for doctor in new_doctors:
        if id(doctor) in with_place or doctor.cpts_id is None:
            continue
        session.add(Place(doctor=doctor, cpts_id=doctor.cpts_id, address=doctor.address or "",
                          commune_insee=doctor.commune_insee, lat=doctor.lat, lon=doctor.lon,
                          phone=doctor.phone, is_main=True, active=True))


@event.listens_for(Commune, "before_insert")
@event.listens_for(Commune, "before_update")
def _fold_commune_name(mapper, connection, commune: Commune) -> None:
    from agenda.territory.services import fold_name

    commune.search_name = fold_name(commune.name)


@event.listens_for(Commune, "after_insert")
@event.listens_for(Commune, "after_update")
def _index_postcodes(mapper, connection, commune: Commune) -> None:
    from sqlalchemy import inspect

    state = inspect(commune)
    if state.has_identity and not state.attrs.postcodes.history.has_changes():
        return  # an update that leaves the postcodes alone
    codes = sorted(set((commune.postcodes or "").split()))
    connection.execute(commune_postcodes.delete().where(
        commune_postcodes.c.insee == commune.insee))
    if codes:
        connection.execute(commune_postcodes.insert(),
                           [{"postcode": pc[:5], "insee": commune.insee} for pc in codes])
