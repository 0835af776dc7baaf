"""Fixtures of the SAS interop tests: a FHIR client, slots, the SAS stand-in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agenda.accounts.services import create_user
from agenda.extensions import db
from agenda.sas.accounts import sas_organisation
from agenda.sas.models import SasAccount
from agenda.slots.models import Slot
from agenda.timeutil import iso_week
from tests.sas.standin import SasStandIn

API_KEY = "cle-sas-de-test-0123456789"
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # the `frozen` fixture's start


@pytest.fixture()
def fhir(app, client, cpts, frozen):
    """A test client with the SAS platform's API key, the CPTS given a FINESS."""
    app.config["FHIR_API_KEYS"] = f"sas-national:{API_KEY}"
    cpts.finess = "440012345"
    cpts.phone = "02 40 00 00 00"
    db.session.commit()

    class Fhir:
        headers = {"X-API-Key": API_KEY, "Accept": "application/fhir+json"}

        def get(self, path, **kw):
            return client.get(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

        def post(self, path, json, **kw):
            return client.post(path, data=__import__("json").dumps(json),
                               headers={**self.headers, "Content-Type": "application/fhir+json",
                                        **kw.pop("headers", {})}, **kw)

        def put(self, path, json, **kw):
            return client.put(path, data=__import__("json").dumps(json),
                              headers={**self.headers, "Content-Type": "application/fhir+json",
                                       **kw.pop("headers", {})}, **kw)

    return Fhir()


@pytest.fixture()
def make_doctor(make_doctor):
    """The shared factory, with a street address: a doctor without one is not exposed
    (FrLocationAgregateur.address.line 1..1), see test_conformance_rules."""

    def _make(insee: str = "44036", **kwargs):
        kwargs.setdefault("address", "3 rue de la Gare")
        return make_doctor(insee, **kwargs)

    return _make


@pytest.fixture()
def make_slot(app):
    def _make(doctor, start: datetime, minutes: int = 20, **kwargs) -> Slot:
        slot = Slot(doctor_id=doctor.id, start=start, end=start + timedelta(minutes=minutes),
                    week=iso_week(start), **kwargs)
        db.session.add(slot)
        db.session.commit()
        return slot

    return _make


def identifier_param(*doctors) -> str:
    return ",".join(f"urn:oid:1.2.250.1.71.4.2.1|8{d.rpps}" for d in doctors)


def search_url(doctors, ge: str, le: str, extra: str = "", includes: bool = True) -> str:
    from urllib.parse import quote

    inc = ("_include=Slot:schedule&_include:iterate=Schedule:actor"
           "&_include=Slot:service-type-reference"
           "&_include:iterate=HealthcareService:organization&") if includes else ""
    return (f"/fhir/r4/Slot?{inc}start=ge{quote(ge)}&start=le{quote(le)}"
            f"&schedule.actor:Practitioner.identifier={quote(identifier_param(*doctors))}"
            f"&status=free{extra}")


@pytest.fixture()
def standin():
    server = SasStandIn()
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def sas_on(app, standin, frozen):
    app.config["SAS_ENDPOINT"] = standin.url
    app.config["SAS_API_KEY"] = standin.api_key
    return standin


@pytest.fixture()
def sas_regulator(app, cpts):
    def _make(national: str | None = "810009999999", technical: str | None = None):
        user, _ = create_user(f"reg{national or technical}@sas-test.fr", "Régulateur SAS",
                              "regulator", sas_organisation())
        user.national_id = national
        db.session.add(SasAccount(user_id=user.id, technical_id=technical))
        db.session.commit()
        return user

    return _make
