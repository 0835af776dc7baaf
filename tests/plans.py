"""The database's plan of a statement the application sent (PostgreSQL's EXPLAIN in JSON,
SQLite's EXPLAIN QUERY PLAN lines): the plan tests' helpers."""

from __future__ import annotations

import re

from sqlalchemy import event

from agenda.extensions import db


def plan_of(call, table: str, which: int = -1, generic: bool = False) -> tuple[int, list]:
    """The count of what ``call`` returned and the database's plan of the last query it
    sent that names ``table`` (or of another: ``which``, as a list index); on PostgreSQL
    with ``generic``, the plan of the statement once prepared (:func:`generic_plan`)."""
    sent = []

    def grab(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", grab)
    try:
        results = call()
    finally:
        event.remove(db.engine, "before_cursor_execute", grab)
    statement, parameters = [s for s in sent if table in s[0]][which]
    conn = db.session.connection()
    if db.engine.dialect.name == "postgresql":
        if generic:
            return len(results), generic_plan(statement, parameters)
        plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).scalar()
        return len(results), plan
    rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    return len(results), [r[-1] for r in rows]


def generic_plan(statement: str, parameters: dict) -> list:
    """PostgreSQL's plan of ``statement`` (as sent, psycopg's ``%(name)s`` parameters) once
    prepared by the server: its generic plan, made without the parameters' values — the
    one psycopg's prepared statements run on after their first executions."""
    conn = db.session.connection()
    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", statement)))
    numbered = re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m.group(1)) + 1}", statement)
    conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
    conn.exec_driver_sql("PREPARE generic_plan AS " + numbered.replace("%%", "%"))
    from psycopg.sql import Literal

    raw = conn.connection.dbapi_connection
    arguments = ", ".join(Literal(parameters[n]).as_string(raw) for n in names)
    try:
        return conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) EXECUTE generic_plan({arguments})"
                                    .replace("%", "%%")).scalar()
    finally:
        conn.exec_driver_sql("DEALLOCATE generic_plan")
        conn.exec_driver_sql("SET LOCAL plan_cache_mode = auto")


def forget_sqlite_statistics(conn) -> None:
    """SQLite: the statistics ANALYZE gathered, deleted (the planner's state of a database
    that never ran it). Each connection loads them when it opens: one already open keeps
    those it loaded."""
    if conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first():
        conn.exec_driver_sql("DELETE FROM sqlite_stat1")


def plan_nodes(node: dict):
    yield node
    for child in node.get("Plans", ()):
        yield from plan_nodes(child)
