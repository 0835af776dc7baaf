"""The hottest statements, run on the driver's cursor, and their rows made ORM objects.

Every API call reads its token (with the user and the organisation); every booking reads
its slot (with the doctor, the place and the charter) and takes it and writes its rows in
one statement (``booking.services.batch``). Through SQLAlchemy each of those costs about
three times the CPU of the statement sent to psycopg: an execution context, a result, a
loading context and the row processors are built at each call.
On PostgreSQL :func:`rows` sends the statement compiled once (its text, the processing of
its parameters and of its columns kept) to the session's own connection, in the session's
transaction, with the engine's ``before_cursor_execute`` hooks run as for any statement;
a database error is handled as SQLAlchemy handles it (wrapped, the connection invalidated
when it is lost). SQLAlchemy's own ``echo`` log does not list them (the hooks see them).
Elsewhere (SQLite) the same statement runs through SQLAlchemy Core.

:func:`attach` then makes a persistent object of a row's columns, as a query would leave
it: in the session's identity map, the columns read loaded, the others loaded on first
access (what ``load_only`` gives). Only plain ``select()`` of columns are meant here; a
statement the ORM must interpret (entities, eager loads) goes through the session.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import inspect
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from agenda.extensions import db

T = TypeVar("T")


def rows(stmt, params: dict) -> Sequence[Sequence[Any]]:
    """The rows of ``stmt`` (a Core ``select()``, built once by the caller) with
    ``params``, in the session's transaction."""
    conn = db.session.connection()
    if conn.dialect.name != "postgresql":
        return conn.execute(stmt, params).all()
    compiled = _compiled(stmt, conn.dialect)
    sql, values = compiled.sql, compiled.parameters(params)
    cursor = _cursor(conn.connection)
    try:
        # The engine's hooks, as SQLAlchemy runs them (one may rewrite the statement); an
        # error of theirs (bad input) goes up as it is.
        for hook in conn.dispatch.before_cursor_execute:
            sql, values = hook(conn, cursor, sql, values, None, False)
        try:
            cursor.execute(sql, values)
            fetched = cursor.fetchall()
        except Exception as exc:  # noqa: BLE001 - SQLAlchemy's handling wraps or re-raises
            conn._handle_dbapi_exception(exc, sql, values, cursor, None)
        for hook in conn.dispatch.after_cursor_execute:
            hook(conn, cursor, sql, values, None, False)
    except BaseException:
        cursor.close()
        raise
    return compiled.results(fetched)


def _cursor(fairy):
    """The driver connection's cursor for these statements, kept with the connection (in
    the pool's record of it): psycopg's cursor keeps the loaders of the column types it
    has met, which a new cursor looks up again for every column of every statement."""
    connection = fairy.driver_connection
    cursor = fairy.info.get("agenda.driver.cursor")
    if cursor is None or cursor.closed or cursor.connection is not connection:
        cursor = fairy.info["agenda.driver.cursor"] = connection.cursor()
    return cursor


class _Compiled:
    """A statement compiled for one dialect: its text, how each parameter is completed and
    converted, how each column of a row is converted."""

    __slots__ = ("sql", "_compiled", "_bind", "_result")

    def __init__(self, stmt, dialect) -> None:
        compiled = stmt.compile(dialect=dialect)
        sql = compiled.string
        # Literals rendered at execution (a separator given to string_agg): rendered once.
        for bind in compiled.literal_execute_params:
            name = compiled.bind_names[bind]
            sql = sql.replace(f"__[POSTCOMPILE_{name}]",
                              compiled.render_literal_value(bind.effective_value, bind.type))
        if "__[POSTCOMPILE_" in sql:
            raise ValueError("an expanding parameter cannot run on the driver")
        self.sql = sql
        self._compiled = compiled
        self._bind = [(name, proc) for name, proc in
                      ((compiled.bind_names[b], b.type.dialect_impl(dialect)
                        .bind_processor(dialect)) for b in set(compiled.binds.values()))
                      if proc is not None]
        self._result = [(i, proc) for i, proc in
                        ((i, column.type.dialect_impl(dialect).result_processor(dialect, None))
                         for i, column in enumerate(stmt.selected_columns))
                        if proc is not None]

    def parameters(self, params: dict) -> dict:
        values = self._compiled.construct_params(params)
        for name, proc in self._bind:
            values[name] = proc(values[name])
        return values

    def results(self, fetched: list) -> list:
        if not self._result:
            return fetched
        out = []
        for row in fetched:
            row = list(row)
            for i, proc in self._result:
                row[i] = proc(row[i])
            out.append(row)
        return out


@functools.lru_cache(maxsize=64)
def _compiled(stmt, dialect) -> _Compiled:
    return _Compiled(stmt, dialect)


def attach_row(model: type[T], columns: tuple, row: Sequence[Any], start: int = 0) -> T:
    """:func:`attach` for ``columns`` (attributes of ``model``) read at ``row[start:]``."""
    values = row[start:start + len(columns)]
    return attach(model, {c.key: v for c, v in zip(columns, values, strict=True)})


def attach(model: type[T], values: dict) -> T:
    """The persistent ``model`` object whose columns are ``values`` (attribute keys): the
    one the session already holds for that primary key, else a new one, as loaded by a
    query (the other columns load on first access)."""
    session = db.session()
    mapper = inspect(model)
    key = mapper.identity_key_from_primary_key(
        [values[mapper.get_property_by_column(c).key] for c in mapper.primary_key])
    held = session.identity_map.get(key)
    if held is not None:
        # As a query does: what the row read fills the attributes not loaded (expired by
        # a commit, deferred); the loaded ones are kept.
        for name in inspect(held).unloaded.intersection(values):
            set_committed_value(held, name, values[name])
        return held
    obj = mapper.class_manager.new_instance()
    inspect(obj).dict.update(values)
    make_transient_to_detached(obj)
    session.add(obj)
    return obj
