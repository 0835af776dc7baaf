"""Finding 2: no patient data in the application log, ever.

Each database error of the review is provoked with a known patient, through the API (now
refused before the database) and straight at the database (the statement fails there);
the captured log and the error's own text must hold no name, phone or birth date.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import DBAPIError

from agenda.booking.models import Patient
from agenda.extensions import db
from tests.security.conftest import KNOWN, birth, known_patient, traces_in


def _patient_row(**overrides) -> dict:
    return {"last_name": KNOWN["last_name"], "first_name": KNOWN["first_name"],
            "phone": KNOWN["phone"], "birth_date": birth(KNOWN["birth_date"]),
            "commune_insee": "44036", "treating_kind": "external", "mobility": "mobile",
            **overrides}


def _engine_failures(dialect: str) -> dict[str, dict]:
    """Rows the database itself refuses, by engine (SQLite accepts NUL and long text)."""
    cases = {"unknown commune (foreign key)": _patient_row(commune_insee="99999")}
    if dialect == "postgresql":
        cases["203-character treating doctor name"] = _patient_row(
            treating_external_name="D" * 203)
        cases["NUL byte in the name"] = _patient_row(last_name=KNOWN["last_name"] + "\x00")
    return cases


@pytest.fixture()
def failing_route(app):
    """A route that writes a patient row with a Core INSERT (no ORM check in between):
    the statement reaches the database, which refuses it."""
    rows: dict[str, dict] = {}

    def write(case: str):
        db.session.execute(insert(Patient).values(**rows[case]))
        db.session.commit()
        return "written"

    app.add_url_rule("/_test/ecrire/<case>", "test_write_patient", write)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # log and answer 500, as in production
    return rows


def test_database_errors_leave_no_patient_data_in_the_log(app, client, communes, caplog,
                                                          failing_route):
    caplog.set_level(logging.DEBUG)
    cases = _engine_failures(db.engine.dialect.name)
    failing_route.update(cases)
    for case in cases:
        resp = client.get(f"/_test/ecrire/{case}")
        assert resp.status_code == 500, case
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == len(cases)  # each failure was logged…
    assert all("Unexpected error on GET /_test/ecrire/<case>" in r.getMessage() for r in errors)
    assert traces_in(caplog.text) == []  # …with no trace of the patient


def test_the_database_error_text_itself_hides_the_parameters(app, communes):
    for case, row in _engine_failures(db.engine.dialect.name).items():
        with pytest.raises(DBAPIError) as info:
            db.session.execute(insert(Patient).values(**row))
        db.session.rollback()
        assert traces_in(str(info.value)) == [], case
        assert "parameters hidden" in str(info.value), case


def test_the_same_inputs_through_the_api_are_refused_before_the_database(
        app, frozen, api_client, make_doctor, make_slot, caplog):
    caplog.set_level(logging.DEBUG)
    slot = make_slot(make_doctor(), frozen.advance(minutes=0) + timedelta(hours=2))
    client, headers, _ = api_client("secretary")
    bodies = {
        "long treating name": known_patient(treating={"kind": "external", "name": "D" * 203}),
        "NUL in the name": known_patient(last_name=KNOWN["last_name"] + "\x00"),
        "NUL in the phone": known_patient(phone="06\x0099887766"),
        "long first name": known_patient(first_name="O" * 150),
    }
    for case, patient in bodies.items():
        resp = client.post("/api/v1/bookings", headers=headers,
                           json={"slot_id": slot.id, "patient": patient})
        assert resp.status_code == 400, (case, resp.get_json())
        assert resp.get_json()["message"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert traces_in(caplog.text) == []
