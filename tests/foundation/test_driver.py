"""``agenda.driver``: the hot reads sent to the driver keep SQLAlchemy's behaviour — the
types' conversions both ways, the engine's hooks, the handling of a database error and of
a lost connection — and the objects made of a row behave as a query's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Integer, String, bindparam, cast, event, func, select, update
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.orm.attributes import instance_state

from agenda import clock, driver
from agenda.accounts.models import Organisation, User
from agenda.errors import ValidationError
from agenda.extensions import db
from agenda.types import UTCDateTime

_READ = (select(User.id, User.email, User.created_at, User.active, Organisation.name)
         .join(Organisation, Organisation.id == User.organisation_id)
         .where(User.id == bindparam("id"),
                User.created_at < bindparam("before", type_=UTCDateTime),
                User.role != "nobody"))  # an anonymous parameter too


def test_rows_converts_parameters_and_columns(make_user):
    user, _pw = make_user("secretary")
    db.session.commit()
    found = driver.rows(_READ, {"id": user.id, "before": clock.now() + timedelta(hours=1)})
    assert len(found) == 1
    uid, email, created_at, active, org_name = found[0]
    assert (uid, email, active, org_name) == (user.id, user.email, True,
                                              user.organisation.name)
    # UTCDateTime's result processing: aware, in UTC, on both databases.
    assert created_at.tzinfo is not None and created_at.utcoffset() == timedelta(0)
    assert created_at == user.created_at
    assert driver.rows(_READ, {"id": user.id, "before": user.created_at}) == []
    # UTCDateTime's bind processing: a naive datetime is refused before anything is sent.
    with pytest.raises((ValueError, StatementError)):
        driver.rows(_READ, {"id": user.id, "before": datetime(2030, 1, 1)})


def test_rows_runs_the_engines_hooks(make_user):
    user, _pw = make_user("secretary")
    params = {"id": user.id, "before": clock.now() + timedelta(hours=1)}
    seen = []

    def hook(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", hook)
    try:
        driver.rows(_READ, params)
    finally:
        event.remove(db.engine, "before_cursor_execute", hook)
    assert len(seen) == 1 and "FROM users" in seen[0][0]
    # The application's own hook (agenda.security): an id beyond 64 bits is bad input (a
    # 4xx), not a database error.
    with pytest.raises(ValidationError):
        driver.rows(_READ, {"id": 2**70, "before": clock.now()})


def test_a_database_error_is_sqlalchemys_and_the_session_goes_on(make_user):
    user, _pw = make_user("secretary")
    db.session.commit()
    number = select(cast(bindparam("text", type_=String), Integer))
    if db.engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError) as caught:
            driver.rows(number, {"text": "douze"})
        assert caught.value.orig.sqlstate == "22P02"  # invalid text representation
        assert not caught.value.connection_invalidated
        db.session.rollback()
    else:
        assert driver.rows(number, {"text": "douze"}) == [(0,)]  # SQLite's answer
    assert driver.rows(_READ, {"id": user.id, "before": clock.now() + timedelta(hours=1)})


def test_a_lost_connection_is_invalidated_and_the_next_read_reconnects(make_user):
    user, _pw = make_user("secretary")
    db.session.commit()
    params = {"id": user.id, "before": clock.now() + timedelta(hours=1)}
    if db.engine.dialect.name != "postgresql":
        assert driver.rows(_READ, params)
        return
    pid = db.session.execute(select(func.pg_backend_pid())).scalar()
    with db.engine.connect() as other:
        other.execute(select(func.pg_terminate_backend(pid)))
    with pytest.raises(DBAPIError) as caught:
        driver.rows(_READ, params)
    assert caught.value.connection_invalidated
    db.session.rollback()
    assert driver.rows(_READ, params)[0][0] == user.id


def test_attach_makes_a_persistent_object_as_a_query_would(make_user):
    user, _pw = make_user("secretary")
    db.session.commit()
    uid, org_id, email = user.id, user.organisation_id, user.email
    db.session.expunge_all()
    attached = driver.attach(User, {"id": uid, "email": email, "organisation_id": org_id})
    state = instance_state(attached)
    assert state.persistent and attached in db.session
    assert db.session.get(User, uid) is attached  # in the identity map: no second object
    # What was not read loads on first access; the object is the session's like any.
    assert attached.role == "secretary"
    attached.name = "Nouveau nom"
    db.session.commit()
    assert db.session.scalar(select(User.name).where(User.id == uid)) == "Nouveau nom"


def test_attach_gives_the_held_object_filling_what_a_commit_expired(make_user):
    user, _pw = make_user("secretary")
    uid, org_id = user.id, user.organisation_id
    db.session.expire(user)  # as a commit leaves it
    statements = []

    def hook(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", hook)
    try:
        again = driver.attach(User, {"id": uid, "email": "lu@example.org",
                                     "organisation_id": org_id})
        assert again is user
        assert user.email == "lu@example.org"  # the row's value, no refresh query
    finally:
        event.remove(db.engine, "before_cursor_execute", hook)
    assert statements == []
    # A loaded attribute is kept (a query does not overwrite it either).
    user.name = "Changé"
    driver.attach(User, {"id": user.id, "name": "Autre"})
    assert user.name == "Changé"
    db.session.rollback()


def test_a_revoked_or_changed_token_is_seen_at_once(make_user, client):
    """The token read runs on the driver: a revocation, a deactivation take effect on
    the next call (nothing is cached between requests)."""
    from agenda.accounts.models import ApiToken
    from agenda.accounts.services import create_token

    user, _pw = make_user("secretary")
    token = create_token(user)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    db.session.execute(update(User).where(User.id == user.id).values(active=False))
    db.session.commit()
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    db.session.execute(update(User).where(User.id == user.id).values(active=True))
    db.session.execute(update(ApiToken).where(ApiToken.user_id == user.id)
                       .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    db.session.commit()
    assert client.get("/api/v1/me", headers=headers).status_code == 401
