"""A booking's rows in one statement on PostgreSQL, taken and written together.

A booking writes a patient, the booking, its call, its audit entries and its outbox rows
(and whatever else its transaction adds). The ORM's flush sends one INSERT per row, each
its own round trip. On PostgreSQL :func:`take_and_insert` sends the conditional UPDATE
that takes the slot and the INSERT of every new object of the session as ONE statement,
with data-modifying CTEs::

    WITH taken AS (UPDATE slots SET … WHERE id = … AND status = 'open' … RETURNING id),
         w0 AS (INSERT INTO patients (…) SELECT … FROM taken,
                json_populate_record(NULL::patients, :w0) RETURNING id),
         w1 AS (INSERT INTO bookings (…) SELECT … FROM taken, … RETURNING id), …
    SELECT taken.id, w0.id, w1.id, … FROM taken, w0, w1, …

Each INSERT selects from ``taken``: when the UPDATE matched no row (the slot was taken,
held or withdrawn meanwhile) nothing is written. The conditional UPDATE stays the only
arbiter, in the same transaction as every row it causes (foreign keys are checked at the
end of the statement, so the rows may refer to each other).

The session's flush hooks run as for a flush (``before_flush``: the column checks, the
CPTS of each record; ``after_flush``: the metrics), and the objects are then persistent
in the session, their attributes loaded, as after a flush: nothing is read back.
Ids that other rows must carry (the patient's in the booking, the booking's in the audit
entry and the outbox payload) are drawn beforehand from their sequences
(:func:`next_id_columns`, added to a read the booking makes anyway).

Other databases (SQLite) flush as usual: :func:`single_statement` says which path runs.
"""

from __future__ import annotations

import functools
from datetime import date, datetime

from sqlalchemy import (JSON, Date, DateTime, bindparam, func, insert, inspect,
                        literal_column, select, true)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm.interfaces import MANYTOONE
from sqlalchemy.sql.dml import Update
from sqlalchemy.types import TypeDecorator

from agenda import driver
from agenda.extensions import db


def single_statement() -> bool:
    """Whether the database takes a slot and writes its rows in one statement."""
    return db.session.get_bind().dialect.name == "postgresql"


def next_id_columns(*models) -> list:
    """Columns drawing the next id of each model from its sequence (PostgreSQL), to add to
    a read made before the write; none elsewhere (the flush assigns the ids)."""
    if not single_statement():
        return []
    # The table names written in the text (code, not input): no parameters to send.
    return [literal_column(f"nextval(pg_get_serial_sequence('{m.__table__.name}', 'id'))")
            .label(f"next_{m.__table__.name}_id") for m in models]


def take_and_insert(take: Update, params: dict) -> bool:
    """Run ``take`` (a conditional UPDATE of one row, with its ``params``) and INSERT every
    new object of the session, in one statement; the objects are written only if ``take``
    matched a row. Returns whether it did (if not, the caller rolls back). PostgreSQL
    only. Each row travels as one JSON parameter (``json_populate_record``): the
    statement's text depends only on the tables and columns written, so that it is built
    once and prepared by the server like any other."""
    session = db.session()
    session.dispatch.before_flush(session, None, None)
    order = _table_order()
    objects = sorted(session.new, key=lambda o: order[inspect(o).mapper.local_table])
    rows = [_row_of(obj) for obj in objects]
    shape = tuple((inspect(o).mapper, tuple(names)) for o, (names, _values) in
                  zip(objects, rows, strict=True))
    stmt = _statement(take, shape)
    params = dict(params)
    for i, (_names, values) in enumerate(rows):
        params[f"w{i}"] = values
    # On the driver (no autoflush of the very objects written here; ``agenda.driver``).
    found = driver.rows(stmt, params)
    if not found:
        return False
    row = found[0]
    values = iter(row[1:])
    for obj, (mapper, _names) in zip(objects, shape, strict=True):
        for column in mapper.local_table.primary_key.columns:
            setattr(obj, mapper.get_property_by_column(column).key, next(values))
    session.dispatch.after_flush(session, None)
    # Pending to persistent, as a flush leaves them after its INSERTs: their identity, their
    # attributes committed as written (nothing left to read back), the transaction's
    # record of new objects. SQLAlchemy's own step (``Session._register_persistent``,
    # 2.0 and 2.1); the expunge / re-add it replaces walked every cascade twice.
    session._register_persistent({inspect(obj) for obj in objects})
    session.dispatch.after_flush_postexec(session, None)
    return True


_QUOTE = postgresql.dialect().identifier_preparer.quote  # "end" is a reserved word


@functools.cache
def _table_order() -> dict:
    """Each table's rank in the order of its foreign keys (the order a flush inserts in)."""
    return {t: i for i, t in enumerate(db.metadata.sorted_tables)}


@functools.lru_cache(maxsize=64)
def _statement(take: Update, shape: tuple):
    """``WITH taken AS (take RETURNING id), w0 AS (INSERT … SELECT … FROM taken,
    json_populate_record(NULL::table, :w0)) … SELECT taken.id, w0.id, …``."""
    taken = take.returning(*take.table.primary_key.columns).cte("taken")
    ctes = []
    for i, (mapper, names) in enumerate(shape):
        table = mapper.local_table
        record = (func.json_populate_record(literal_column(f"NULL::{table.name}"),
                                            bindparam(f"w{i}", type_=JSON))
                  .table_valued(*names).alias(f"r{i}"))
        # Unlabelled ("r0.at", not "r0.at AS at"): the text stays under psycopg's 4 kB for
        # caching a statement's conversion.
        values = [literal_column(f"r{i}.{_QUOTE(name)}") for name in names]
        ins = (insert(table).from_select(list(names), select(*values).select_from(taken)
                                         .join(record, true()))
               .returning(*table.primary_key.columns))
        ctes.append(ins.cte(f"w{i}"))
    stmt = select(*taken.c, *[c for cte in ctes for c in cte.c]).select_from(taken)
    for cte in ctes:
        stmt = stmt.join(cte, true())
    return stmt


def _row_of(obj) -> tuple[list[str], dict]:
    """The columns ``obj`` writes and their values as JSON (what a flush would send)."""
    _copy_many_to_one_keys(obj)
    state = inspect(obj)
    given = state.dict
    dialect = db.session.get_bind().dialect
    names, values = [], {}
    for name, key, primary, default, bind in _columns_of(state.mapper):
        if key in given:
            value = given[key]
        elif default is _DATABASE:
            continue  # the database's default (a sequence for the id), as a flush does
        else:
            # What a flush would have set (the object is then marked as loaded as is).
            value = given[key] = default() if callable(default) else default
        if value is None and primary:
            continue
        names.append(name)
        if value is not None and bind is not None:
            value = bind(value, dialect)
        values[name] = value
    return names, values


_DATABASE = object()  # a column the database fills when the INSERT leaves it out


@functools.cache
def _columns_of(mapper) -> tuple:
    """Per column of the mapper's table (worked out once): its name, its attribute, whether
    it is the primary key, what a flush writes when the attribute is unset (a value, a
    function of nothing, or ``_DATABASE``) and how its value goes into JSON (None: as it
    is)."""
    table = mapper.local_table
    if mapper.persist_selectable is not table:
        raise TypeError(f"{mapper.class_.__name__}: one table per class only")
    out = []
    for column in table.columns:
        key = mapper.get_property_by_column(column).key
        if column.default is not None and column.default.is_scalar:
            default = column.default.arg
        elif column.default is not None and column.default.is_callable:
            default = functools.partial(column.default.arg, None)
        elif column.server_default is not None or column.primary_key:
            default = _DATABASE
        else:
            default = None
        out.append((column.name, key, column.primary_key, default, _json_bind(column)))
    return tuple(out)


def _json_bind(column):
    """How a value of ``column`` goes into the row's JSON document: a JSON column's
    document as it is (None), a TypeDecorator through its bind processing (UTCDateTime's
    checks), dates as ISO text."""
    if isinstance(column.type, JSON):
        return None
    decorator = column.type if isinstance(column.type, TypeDecorator) else None
    if decorator is None and not isinstance(column.type, Date | DateTime):
        return None  # text, numbers, booleans: as they are

    def bind(value, dialect):
        if decorator is not None:
            value = decorator.process_bind_param(value, dialect)
        if isinstance(value, datetime | date):
            return value.isoformat()
        return value

    return bind


def _copy_many_to_one_keys(obj) -> None:
    """``booking.patient = patient`` sets ``patient_id`` at the flush; do it here."""
    state = inspect(obj)
    for rel in _many_to_one(state.mapper):
        target = state.dict.get(rel.key)
        if target is None:
            continue
        target_mapper = inspect(target).mapper
        for local, remote in rel.local_remote_pairs:
            value = getattr(target, target_mapper.get_property_by_column(remote).key)
            if value is None:
                raise ValueError(f"{rel}: the related object has no id yet")
            setattr(obj, state.mapper.get_property_by_column(local).key, value)


@functools.cache
def _many_to_one(mapper) -> tuple:
    return tuple(rel for rel in mapper.relationships if rel.direction is MANYTOONE)
