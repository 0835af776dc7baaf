"""Factories for the objects most tests need (a pytest plugin, see conftest)."""

from __future__ import annotations

import itertools

import pytest

from agenda.accounts.models import Organisation
from agenda.accounts.services import create_organisation, create_token, create_user
from agenda.extensions import db
from agenda.territory.models import Commune
from agenda.territory.services import DoctorData, create_doctor, rpps_with_check_digit

_seq = itertools.count(1)

# A few real communes of Loire-Atlantique (INSEE, name, postcodes, population, lat, lon).
COMMUNES = [
    ("44036", "Châteaubriant", "44110", 12260, 47.72021, -1.39411),
    ("44109", "Nantes", "44000 44100 44200 44300", 327734, 47.23833, -1.53756),
    ("44180", "Soudan", "44110", 1977, 47.73737, -1.30585),
    ("44150", "Rougé", "44660", 2211, 47.78306, -1.44857),
    ("44069", "Issé", "44520", 1858, 47.62439, -1.45286),
]


@pytest.fixture()
def communes(app):
    rows = []
    for insee, name, postcodes, pop, lat, lon in COMMUNES:
        c = db.session.get(Commune, insee) or Commune(insee=insee, name=name, department="44",
                                                      postcodes=postcodes, population=pop,
                                                      lat=lat, lon=lon)
        db.session.add(c)
        rows.append(c)
    db.session.commit()
    return {c.insee: c for c in rows}


@pytest.fixture()
def cpts(app) -> Organisation:
    org = create_organisation("CPTS de test", "cpts")
    db.session.commit()
    return org


@pytest.fixture()
def make_org(app, cpts):
    def _make(kind: str = "secretariat", name: str | None = None) -> Organisation:
        org = create_organisation(name or f"{kind} {next(_seq)}", kind, cpts.id)
        db.session.commit()
        return org

    return _make


@pytest.fixture()
def make_user(app, cpts):
    kinds = {"secretary": "secretariat", "regulator": "samu", "ed_nurse": "ed",
             "operator": "platform"}
    orgs: dict[str, Organisation] = {}

    def _make(role: str = "secretary", organisation: Organisation | None = None,
              email: str | None = None, password: str = "motdepasse-solide"):
        if organisation is None:
            kind = kinds.get(role, "cpts")
            if kind == "cpts":
                organisation = cpts
            elif kind == "platform":
                organisation = orgs.get(kind) or create_organisation("Plateforme test", kind)
            else:
                organisation = orgs.get(kind) or create_organisation(f"{kind} test", kind, cpts.id)
                orgs[kind] = organisation
        user, pw = create_user(email or f"{role}{next(_seq)}@test.fr", f"{role} test", role,
                               organisation, password)
        db.session.commit()
        return user, pw

    return _make


@pytest.fixture()
def make_doctor(app, cpts, communes, make_user):
    def _make(insee: str = "44036", with_user: bool = False, **kwargs):
        n = next(_seq)
        data = DoctorData(rpps=kwargs.pop("rpps", rpps_with_check_digit(f"{1000000000 + n}")),
                          first_name=kwargs.pop("first_name", "Jeanne"),
                          last_name=kwargs.pop("last_name", f"Médecin{n}"),
                          commune_insee=insee, **kwargs)
        doctor = create_doctor(data, cpts.id)
        if with_user:
            user, _ = make_user("doctor", email=f"doc{n}@test.fr")
            doctor.user_id = user.id
        db.session.commit()
        return doctor

    return _make


@pytest.fixture()
def api_client(app, make_user):
    """``api_client("doctor")`` -> (client, headers, user) with a bearer token."""

    def _make(role: str, user=None):
        if user is None:
            user, _ = make_user(role)
        token = create_token(user, "test")
        db.session.commit()
        return app.test_client(), {"Authorization": f"Bearer {token}"}, user

    return _make
