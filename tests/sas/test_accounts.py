"""INT_R02: regulator accounts created and updated by the SAS platform."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from agenda.accounts.models import User
from agenda.accounts.scope import served_cpts_ids
from agenda.extensions import db
from agenda.sas.models import SasAccount
from tests.sas.fhir_check import parse

NAT = "urn:oid:1.2.250.1.71.4.2.1"
SAS = "urn:oid:1.2.250.1.213.3.6"
V2 = "http://interopsante.org/fhir/CodeSystem/fr-v2-0203"


def regulator(national: str | None = "3456780581/11242343", technical: str | None = None,
              active: bool = True, email: str = "sebastien.loridon@test.fr",
              family: str = "Loridon") -> dict:
    identifiers = []
    if national:
        identifiers.append({"type": {"coding": [{"system": V2, "code": "IDNPS"}]},
                            "system": NAT, "value": national})
    if technical:
        identifiers.append({"type": {"coding": [{"system": V2, "code": "INTRN"}]},
                            "system": SAS, "value": technical})
    body = {"resourceType": "Practitioner", "meta": {"source": SAS},
            "identifier": identifiers, "active": active,
            "name": [{"family": family, "given": ["Sébastien"]}],
            "telecom": [{"system": "email", "value": email}]}
    parse(body)  # what we send in tests is valid R4 itself
    return body


def _user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def test_post_creates_account_without_verification(fhir, cpts):
    resp = fhir.post("/fhir/r4/Practitioner", regulator())
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.headers["Location"].startswith("http://localhost/fhir/r4/Practitioner/")
    parse(resp.get_json())
    user = _user("sebastien.loridon@test.fr")
    assert user.role == "regulator" and user.active
    assert user.national_id == "3456780581/11242343"
    assert user.password_hash  # a generated password nobody knows: reset through the form
    assert user.organisation.kind == "samu" and cpts.id in served_cpts_ids(user.organisation.id)
    # POST again: refused (the platform updates by PUT), nothing changed, no duplicate
    again = fhir.post("/fhir/r4/Practitioner", regulator(family="Loridon-Martin"))
    assert again.status_code == 422
    assert again.get_json()["resourceType"] == "OperationOutcome"
    assert db.session.scalar(select(db.func.count()).select_from(SasAccount)) == 1
    db.session.expire_all()
    assert _user("sebastien.loridon@test.fr").name == "Sébastien Loridon"


def test_technical_id_then_national_id_attached(fhir):
    assert fhir.post("/fhir/r4/Practitioner",
                     regulator(national=None, technical="tech-123")).status_code == 201
    resp = fhir.put(f"/fhir/r4/Practitioner?identifier={SAS}|tech-123",
                    regulator(national="810001234567", technical="tech-123"))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    user = _user("sebastien.loridon@test.fr")
    assert user.national_id == "810001234567"
    # now reachable by the national identifier, with or without system
    resp = fhir.put("/fhir/r4/Practitioner?identifier=810001234567",
                    regulator(national="810001234567", email="nouvelle@test.fr"))
    assert resp.status_code == 200
    db.session.expire_all()
    assert db.session.get(User, user.id).email == "nouvelle@test.fr"


def test_habilitation_removed_and_restored(fhir):
    fhir.post("/fhir/r4/Practitioner", regulator())
    resp = fhir.put(f"/fhir/r4/Practitioner?identifier={NAT}|3456780581/11242343",
                    regulator(active=False))
    assert resp.status_code == 200 and resp.get_json()["active"] is False
    db.session.expire_all()
    user = _user("sebastien.loridon@test.fr")
    assert not user.active
    account = db.session.scalar(select(SasAccount).where(SasAccount.user_id == user.id))
    assert not account.habilitated
    fhir.put(f"/fhir/r4/Practitioner?identifier={NAT}|3456780581/11242343", regulator())
    db.session.expire_all()
    assert _user("sebastien.loridon@test.fr").active


def test_conditional_update_without_match_creates(fhir):
    resp = fhir.put(f"/fhir/r4/Practitioner?identifier={SAS}|t-9",
                    regulator(national=None, technical="t-9"))
    assert resp.status_code == 201


def test_email_of_a_local_account_is_refused(fhir, make_user):
    user, _ = make_user("secretary", email="deja@test.fr")
    resp = fhir.post("/fhir/r4/Practitioner", regulator(email="deja@test.fr"))
    assert resp.status_code == 422
    assert resp.get_json()["resourceType"] == "OperationOutcome"
    db.session.expire_all()
    assert db.session.get(User, user.id).role == "secretary"


def test_two_accounts_designated_is_refused(fhir):
    fhir.post("/fhir/r4/Practitioner", regulator(national="810000000001", email="a@test.fr"))
    fhir.post("/fhir/r4/Practitioner", regulator(national=None, technical="t-2", email="b@test.fr"))
    resp = fhir.put(f"/fhir/r4/Practitioner?identifier={SAS}|t-2",
                    regulator(national="810000000001", technical="t-2", email="b@test.fr"))
    assert resp.status_code == 422


def test_malformed_bodies_are_400(fhir):
    good = regulator()
    cases = [
        {**good, "resourceType": "Patient"},
        {**good, "meta": {"source": "urn:oid:1.2.3"}},
        {**good, "identifier": []},
        {**good, "identifier": [{"system": "urn:autre", "value": "x"}]},
        {**good, "active": "yes"},
        {**good, "name": [{"family": "X"}]},
        {**good, "telecom": []},
        {**good, "telecom": [{"system": "email", "value": "pas-une-adresse"}]},
        [1, 2],
    ]
    for body in cases:
        resp = fhir.post("/fhir/r4/Practitioner", body)
        assert resp.status_code == 400, body
        assert resp.get_json()["resourceType"] == "OperationOutcome"
    raw = fhir.post("/fhir/r4/Practitioner", None, headers={"Content-Type": "text/plain"})
    assert raw.status_code == 400
    assert fhir.put("/fhir/r4/Practitioner", good).status_code == 400  # no ?identifier
    assert db.session.scalar(select(db.func.count()).select_from(SasAccount)) == 0



JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["resourceType", "meta", "source", "identifier", "system", "value",
                         "active", "name", "family", "given", "telecom", "x"]),
        children, max_size=6),
    max_leaves=20)


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=JSON, mutate=st.sampled_from(["raw", "merge"]), put=st.booleans())
def test_practitioner_bodies_never_5xx(fhir, body, mutate, put):
    if mutate == "merge" and isinstance(body, dict):
        body = {**regulator(), **body}
    if put:
        resp = fhir.put(f"/fhir/r4/Practitioner?identifier={NAT}|3456780581/11242343", body)
    else:
        resp = fhir.post("/fhir/r4/Practitioner", body)
    assert resp.status_code in (200, 201, 400, 412, 422), resp.get_data(as_text=True)
    assert resp.get_json()["resourceType"] in ("Practitioner", "OperationOutcome")


def test_national_id_moves_with_its_email_from_a_deactivated_account(fhir):
    """Guide page specifications_techniques-tous-gestion_regulateur.md, rule ID 1 (the
    national identifier is attached later by an update): the person's old, deactivated
    account gives up its national identifier and, when it is the same address, its e-mail."""
    assert fhir.post("/fhir/r4/Practitioner", regulator()).status_code == 201
    assert fhir.put(f"/fhir/r4/Practitioner?identifier={NAT}|3456780581/11242343",
                    regulator(active=False)).status_code == 200
    assert fhir.post("/fhir/r4/Practitioner", regulator(
        national=None, technical="t-new", email="autre@test.fr")).status_code == 201
    resp = fhir.put(f"/fhir/r4/Practitioner?identifier={SAS}|t-new",
                    regulator(technical="t-new"))
    assert resp.status_code == 200, resp.get_json()
    db.session.expire_all()
    user = _user("sebastien.loridon@test.fr")
    assert user.national_id == "3456780581/11242343" and user.active
    old = db.session.scalar(select(User).where(User.email.like("compte-sas-desactive-%")))
    assert old is not None and not old.active and old.national_id is None
