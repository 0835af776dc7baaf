"""Issue 15: each fix, with the rule of the ANS guide "Service d'Accès aux Soins" it checks.

Sources: package ``ans.fhir.fr.sas`` 1.1.0 (snapshots, ``tests/sas/profiles/``) and the
1.2.0 FSH sources (commit d765be27), repository ``ansforge/IG-fhir-service-acces-aux-soins``;
the guide's pages are cited by their ``input/pagecontent/`` file.
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import select

from agenda.accounts.models import User
from agenda.alerts import Alert
from agenda.audit import AuditEntry
from agenda.booking import services as booking_services
from agenda.extensions import db
from agenda.outbox import OutboxItem
from agenda.sas import resources as R
from agenda.sas.auth import sign_slot_link
from agenda.sas.models import SasAccount, SasAppointment, SasSettings
from agenda.sync.worker import drain_outbox
from tests.conftest import CSRF_RE
from tests.sas import profile_check
from tests.sas.conftest import API_KEY, NOW, search_url
from tests.sas.test_accounts import NAT, SAS, V2, regulator

MS_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2}$")


def _search(fhir, *doctors, includes=True, **kw):
    resp = fhir.get(search_url(list(doctors), "2026-12-01", "2026-12-02", includes=includes),
                    **kw)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def _resources(bundle, kind):
    return [e["resource"] for e in bundle.get("entry", [])
            if e["resource"]["resourceType"] == kind]


def _book(user, slot):
    return booking_services.book(user, booking_services.BookingInput(
        slot_id=slot.id, origin="sas",
        patient=booking_services.PatientData(last_name="Durand", first_name="Paul",
                                             commune_insee="44036")))


# --- 1. instants with milliseconds ------------------------------------------------------------

def test_1_slot_and_appointment_instants_carry_milliseconds(fhir, make_doctor, make_slot,
                                                           sas_on, sas_regulator):
    """Guide 1.2.0 examples/CPTS/example-slotcpts1.fsh: ``start =
    "2024-06-12T16:40:00.000+02:00"`` (FrSlotAgregateurCPTS Slot.start/end, instant); the
    same form for FrAppointmentSAS start/end/created (1.1.0 example Appointment-1.json)."""
    doctor = make_doctor()
    slot = make_slot(doctor, NOW + timedelta(hours=3))
    (found,) = _resources(_search(fhir, doctor), "Slot")
    assert MS_INSTANT.match(found["start"]) and MS_INSTANT.match(found["end"])
    assert found["start"] == "2026-12-01T12:00:00.000+01:00"
    _book(sas_regulator(), slot)
    drain_outbox()
    body = sas_on.valid_calls[0].body
    assert all(MS_INSTANT.match(body[k]) for k in ("start", "end", "created"))


# --- 2. Organization identifier typed for 1.1.0 and 1.2.0 ------------------------------------

def test_2_organization_identifier_type_satisfies_both_versions(fhir, make_doctor, make_slot):
    """1.1.0 StructureDefinition-sas-cpts-organization-aggregator ``Organization.identifier.
    type`` patternCodeableConcept fr-location-identifier-type#IDNST; 1.2.0
    profiles/CPTS/FrOrganizationAgregateurCPTS.fsh ``identifier.type = $fr-v2-0203#IDNST``
    (https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203): both codings are sent."""
    doctor = make_doctor()
    make_slot(doctor, NOW + timedelta(hours=3))
    (org,) = _resources(_search(fhir, doctor), "Organization")
    codings = org["identifier"][0]["type"]["coding"]
    assert {"system": R.LOCATION_ID_TYPE, "code": "IDNST"} in codings
    assert {"system": R.FR_CORE_V2_0203, "code": "IDNST"} in codings
    assert profile_check.check(org, R.PROFILE_ORGANIZATION) == []


# --- 3. INT_R02 semantics: the scenario list of the issue --------------------------------------

def _typed(body, index, system=None, code=None):
    ident = body["identifier"][index]
    if system:
        ident["system"] = system
    if code:
        ident["type"] = {"coding": [{"system": V2, "code": code}]}
    return body


R02_SCENARIOS = [
    # (step, method, identifier query, body, expected status)
    ("create with a national id", "POST", None, regulator(), 201),
    ("POST of an existing regulator is refused", "POST", None,
     regulator(family="Autre"), 422),
    ("INTRN type with the national system", "POST", None,
     _typed(regulator(national="810000000077", email="x1@test.fr"), 0, code="INTRN"), 400),
    ("IDNPS type with the SAS system", "POST", None,
     _typed(regulator(national=None, technical="t-x2", email="x2@test.fr"), 0, code="IDNPS"),
     400),
    ("identifier without type", "POST", None,
     {**regulator(national="810000000078", email="x3@test.fr"),
      "identifier": [{"system": NAT, "value": "810000000078"}]}, 400),
    ("meta.source absent is accepted (0..1)", "POST", None,
     {**regulator(national=None, technical="t-b", email="b@test.fr"), "meta": {}}, 201),
    ("meta.source of another value", "POST", None,
     {**regulator(national="810000000079", email="x4@test.fr"),
      "meta": {"source": "urn:oid:1.2.3"}}, 400),
    ("deactivate the first account", "PUT", f"{NAT}|3456780581/11242343",
     regulator(active=False), 200),
    ("move its national id to the technical account", "PUT", f"{SAS}|t-b",
     regulator(technical="t-b", email="b@test.fr"), 200),
    ("the first account no longer answers to it", "PUT", f"{NAT}|3456780581/11242343",
     regulator(email="b@test.fr", technical="t-b"), 200),
    ("conditional update without match creates", "PUT", f"{SAS}|t-c",
     regulator(national=None, technical="t-c", email="c@test.fr"), 201),
    ("an active holder keeps its national id", "PUT", f"{SAS}|t-c",
     regulator(technical="t-c", email="c@test.fr"), 422),
]


def test_3_r02_scenarios_replay_with_expected_status(fhir):
    """Guide page specifications_techniques-tous-gestion_regulateur.md: create = POST
    (201), update = conditional PUT (200), failures 400 (malformed) / 422 (business rule)
    with an OperationOutcome; rule ID 1 (the national id is attached later by an update),
    ID 2/3 (system urn:oid:1.2.250.1.71.4.2.1 ↔ IDNPS, urn:oid:1.2.250.1.213.3.6 ↔ INTRN:
    1.1.0 StructureDefinition-FrPractitionerRegul identifier:IdentifiantNatPS.type and
    identifier:IdentifiantInterne.type patterns), ID 5 (meta.source, 0..1 pattern)."""
    seen = []
    for step, method, query, body, expected in R02_SCENARIOS:
        if method == "POST":
            resp = fhir.post("/fhir/r4/Practitioner", body)
        else:
            resp = fhir.put(f"/fhir/r4/Practitioner?identifier={quote(query)}", body)
        seen.append((step, resp.status_code))
        kind = "Practitioner" if expected < 300 else "OperationOutcome"
        assert resp.get_json()["resourceType"] == kind, (step, resp.get_json())
    assert seen == [(step, expected) for step, _m, _q, _b, expected in R02_SCENARIOS]
    first = db.session.scalar(select(User).where(User.email == "sebastien.loridon@test.fr"))
    moved = db.session.scalar(select(User).where(User.email == "b@test.fr"))
    assert first.national_id is None and not first.active
    assert moved.national_id == "3456780581/11242343" and moved.active
    # the refused POST changed nothing
    assert first.name == "Sébastien Loridon"
    assert db.session.scalar(select(db.func.count()).select_from(SasAccount)) == 3


# --- 4. a doctor without a street address ------------------------------------------------------

def test_4_place_without_street_address_is_not_exposed_and_listed(fhir, make_doctor, make_slot,
                                                                   login_as):
    """1.1.0 StructureDefinition-FrLocationAgregateur (and 1.2.0 FrLocationAgregateur.fsh):
    ``address 1..``, ``address.line 1..1``, ``address.city 1..``, ``address.postalCode 1..``.
    A doctor without a street address has no valid Location: its slots are not exposed and
    the coordinator's "données incomplètes pour le SAS" list names it."""
    good = make_doctor()
    bare = make_doctor(address="   ", last_name="SansAdresse")
    shown = make_slot(good, NOW + timedelta(hours=3))
    hidden = make_slot(bare, NOW + timedelta(hours=4))
    bundle = _search(fhir, good, bare)
    assert {s["id"] for s in _resources(bundle, "Slot")} == {f"slot-{shown.id}"}
    assert profile_check.check(bundle, R.PROFILE_BUNDLE) == []
    assert fhir.get(f"/fhir/r4/Slot/slot-{hidden.id}").status_code == 404
    assert fhir.get(f"/fhir/r4/PractitionerRole/role-{bare.id}").status_code == 404
    coordinator = login_as("coordinator")
    html = coordinator.get("/sas/cpts").get_data(as_text=True)
    assert "SansAdresse" in html and "adresse (voie)" in html
    assert good.last_name not in html
    dashboard = coordinator.get("/").get_data(as_text=True)
    assert 'data-sas-missing-count="1"' in dashboard


# --- 5. a fixed INT_R03 identifier system ------------------------------------------------------

def test_5_appointment_identifier_system_does_not_follow_the_host(app, sas_on, sas_regulator,
                                                                  make_doctor, make_slot):
    """Guide page specifications_techniques-tous-gestion_rdv.md (INT_R03): the Appointment
    is updated by ``PUT [base]/Appointment?identifier=system|value``; 1.1.0
    StructureDefinition-FrAppointmentSAS ``Appointment.identifier.system 1..1``. The system
    is ``AGENDA_SAS_IDENTIFIER_SYSTEM:rendez-vous``, so a change of domain between the
    creation and the update still matches (no duplicate on the platform)."""
    doctor = make_doctor()
    slot = make_slot(doctor, NOW + timedelta(hours=3))
    user = sas_regulator()
    app.config["BASE_URL"] = "https://ancien-domaine.example.fr"
    booking = _book(user, slot)
    drain_outbox()
    app.config["BASE_URL"] = "https://nouveau-domaine.example.fr"
    booking_services.cancel_booking(user, booking.id, "Plus nécessaire")
    drain_outbox()
    post, put = sas_on.calls
    assert (post.status, put.status) == (201, 200)  # 200: the update matched, no creation
    assert post.body["identifier"] == put.body["identifier"]
    assert post.body["identifier"][0]["system"] == "urn:agenda-snp:rendez-vous"
    assert len(sas_on.store) == 1


def test_5_an_appointment_sent_before_keeps_its_legacy_system(app, sas_on, sas_regulator,
                                                              make_doctor, make_slot):
    """Same rule: an Appointment created with the former host-derived system is updated
    with that system (its identifier on the platform)."""
    doctor = make_doctor()
    user = sas_regulator()
    booking = _book(user, make_slot(doctor, NOW + timedelta(hours=3)))
    legacy = f"{app.config['BASE_URL'].rstrip('/')}/fhir/r4/identifiants/rendez-vous"
    db.session.add(SasAppointment(booking_id=booking.id, identifier="ancien-1",
                                  created_remote=True, last_status="booked"))
    db.session.commit()
    sas_on.store[f"{legacy}|ancien-1"] = {"id": "1"}
    drain_outbox()
    (put,) = sas_on.calls
    assert put.method == "PUT" and put.status == 200
    assert put.body["identifier"] == [{"system": legacy, "value": "ancien-1"}]


# --- 6. the canonical FrAppointmentSAS profile only --------------------------------------------

def test_6_appointment_meta_profile_is_the_canonical_url(sas_on, sas_regulator, make_doctor,
                                                         make_slot):
    """1.1.0 StructureDefinition-FrAppointmentSAS.json ``url`` =
    http://sas.fr/fhir/StructureDefinition/FrAppointmentSAS (1.2.0 FrAppointmentSAS.fsh
    ``^url``); no other URL is claimed."""
    _book(sas_regulator(), make_slot(make_doctor(), NOW + timedelta(hours=3)))
    drain_outbox()
    assert sas_on.valid_calls[0].body["meta"] == {
        "profile": ["http://sas.fr/fhir/StructureDefinition/FrAppointmentSAS"]}
    assert R.PROFILE_APPOINTMENT in profile_check.profiles().sd


# --- 7. PractitionerRole.organization carries the structure identifier -------------------------

def test_7_role_organization_carries_the_structure_identifier(fhir, make_doctor, make_slot):
    """1.1.0 StructureDefinition-FrPractitionerRoleExerciceAgregateur
    ``PractitionerRole.organization.identifier.type`` pattern fr-v2-0203#IDNST and
    ``.system`` urn:oid:1.2.250.1.71.4.2.2; guide FAQ (faq.md, "ID nationaux de structure"):
    FINESS with prefix 1, else SIRET with prefix 3."""
    doctor = make_doctor()
    make_slot(doctor, NOW + timedelta(hours=3))
    (role,) = _resources(_search(fhir, doctor), "PractitionerRole")
    assert role["organization"]["identifier"] == {
        "type": {"coding": [{"system": R.V2_0203, "code": "IDNST"}]},
        "system": R.STRUCTURE_ID_SYSTEM, "value": "1440012345"}
    assert role["organization"]["reference"].startswith("Organization/cpts-")

    class SiretOnly:
        finess, siret = None, "12345678900011"

    assert R.structure_identifier(SiretOnly())["value"] == "312345678900011"


def test_7_a_coordinator_records_finess_siret_phone_and_the_search_uses_them(
        app, fhir, cpts, make_doctor, make_slot, login_as):
    """1.2.0 FrOrganizationAgregateurCPTS.fsh ``identifier 1..1`` with FINESS-invariant
    ``^1[0-9]{9}$``, ``telecom 0..* MS``; guide FAQ (faq.md, erreur 2): phone as
    +33XXXXXXXXX. The CPTS's SAS page sets them."""
    doctor = make_doctor()
    make_slot(doctor, NOW + timedelta(hours=3))
    coordinator = login_as("coordinator")
    page = coordinator.get("/sas/cpts")
    token = CSRF_RE.search(page.get_data(as_text=True)).group(1)
    bad = coordinator.post("/sas/cpts", data={"csrf_token": token, "finess": "44-001",
                                               "siret": "", "phone": ""})
    assert bad.status_code == 400 and "9 chiffres" in bad.get_data(as_text=True)
    done = coordinator.post("/sas/cpts", data={
        "csrf_token": token, "finess": "440099999", "siret": "123 456 789 00011",
        "phone": "02 40 11 22 33", "visibility": ["SNP"]})
    assert done.status_code == 302
    db.session.expire_all()
    assert (cpts.finess, cpts.siret, cpts.phone) == ("440099999", "12345678900011",
                                                    "02 40 11 22 33")
    (org,) = _resources(_search(fhir, doctor), "Organization")
    assert org["identifier"][0]["value"] == "1440099999"
    assert org["telecom"] == [{"system": "phone", "value": "+33240112233"}]


def test_7_a_cpts_without_finess_exposes_nothing_and_says_why(fhir, cpts, make_doctor,
                                                             make_slot, login_as):
    """Same invariant: without FINESS no CPTS Organization is valid, so nothing is exposed;
    the page says it."""
    doctor = make_doctor()
    make_slot(doctor, NOW + timedelta(hours=3))
    cpts.finess, cpts.siret = None, "12345678900011"
    db.session.commit()
    assert _search(fhir, doctor)["total"] == 0
    html = login_as("coordinator").get("/sas/cpts").get_data(as_text=True)
    assert "FINESS de la CPTS absent" in html


# --- 8. Slot.meta.security: the CPTS slot type and the CPTS's visibility -----------------------

@pytest.mark.parametrize("visibility, expected", [
    (None, ["SNP", "CPTS"]), ("PUBLIC", ["PUBLIC", "CPTS"]), ("", ["CPTS"]),
    ("SNP PRO PUBLIC", ["SNP", "PRO", "PUBLIC", "CPTS"])])
def test_8_slots_carry_cpts_and_the_chosen_visibility(fhir, cpts, make_doctor, make_slot,
                                                      visibility, expected):
    """1.1.0 StructureDefinition-sas-cpts-slot-aggregator ``Slot.meta.security`` binding
    required to sas-cpts-valueset-typecreneau (PUBLIC, SNP, PRO, CPTS); guide page
    specifications_techniques-cpts-recherche_creneaux.md ID 14 (a slot may combine them)
    and the CPTS examples (example-slotcpts1.fsh: PUBLIC + CPTS); faq.md ID 11 (without
    CPTS the slot is not a CPTS slot). CPTS always; the rest is the CPTS's choice."""
    if visibility is not None:
        db.session.add(SasSettings(cpts_id=cpts.id, slot_visibility=visibility))
        db.session.commit()
    doctor = make_doctor()
    make_slot(doctor, NOW + timedelta(hours=3))
    bundle = _search(fhir, doctor)
    (slot,) = _resources(bundle, "Slot")
    assert [c["code"] for c in slot["meta"]["security"]] == expected
    assert {c["system"] for c in slot["meta"]["security"]} == {R.SLOT_TYPE_SYSTEM}
    assert profile_check.check(bundle, R.PROFILE_BUNDLE) == []


# --- 9. the smaller points ------------------------------------------------------------------

def test_9_permanent_refusal_stops_alerts_and_shows_the_body(app, sas_on, sas_regulator,
                                                             make_doctor, make_slot, frozen,
                                                             login_as):
    """FHIR R4 http.html (referenced by the guide's INT_R03 pages): a 4xx says the request
    itself is wrong; sending it again cannot succeed. The delivery stops, the coordinator
    is alerted with the platform's diagnostics; a 429 (too many requests) is retried."""
    doctor = make_doctor()
    sas_on.refuse = (422, "Rendez-vous refusé : praticien inconnu de la plateforme")
    booking = _book(sas_regulator(), make_slot(doctor, NOW + timedelta(hours=3)))
    drain_outbox()
    (item,) = db.session.scalars(select(OutboxItem).where(OutboxItem.kind == "sas.appointment"))
    assert item.status == "done" and item.attempts == 0
    frozen.advance(hours=2)
    drain_outbox()
    assert len(sas_on.calls) == 1  # not retried
    alert = db.session.scalar(select(Alert).where(Alert.kind == "sas_error"))
    assert "422" in alert.message and "praticien inconnu" in alert.message
    html = login_as("coordinator").get("/").get_data(as_text=True)
    assert f'data-sas-rejected="{booking.reference}"' in html and "praticien inconnu" in html

    # once the cause is fixed, the coordinator sends it again: nothing refused is lost
    sas_on.refuse = None
    coordinator = login_as("coordinator")
    token = CSRF_RE.search(coordinator.get("/").get_data(as_text=True)).group(1)
    resp = coordinator.post(f"/sas/rendez-vous/{booking.id}/renvoyer",
                            data={"csrf_token": token})
    assert resp.status_code == 302
    drain_outbox()
    assert sas_on.calls[-1].status == 201
    row = db.session.scalar(select(SasAppointment).where(SasAppointment.booking_id == booking.id))
    assert row.created_remote and row.last_status == "booked" and row.last_error is None
    assert coordinator.post(f"/sas/rendez-vous/{booking.id}/renvoyer",
                            data={"csrf_token": token}).status_code == 302  # nothing to resend
    assert len(sas_on.calls) == 2

    sas_on.refuse = (429, "Trop de requêtes")
    _book(sas_regulator(national="810009999998"), make_slot(doctor, NOW + timedelta(hours=5)))
    drain_outbox()
    retried = db.session.scalars(select(OutboxItem).where(OutboxItem.kind == "sas.appointment")
                                 .order_by(OutboxItem.id.desc())).first()
    assert retried.status == "pending" and retried.attempts == 1


@pytest.mark.parametrize("suffix", ["&origin=sas", "?origin=sas", ""])
def test_9_landing_reads_the_origin_appended_by_the_platform(app, fhir, make_doctor, make_slot,
                                                            login_as, suffix):
    """Guide page specifications_techniques-cpts-recherche_creneaux.md ID 20: the platform
    appends an ``origin`` parameter to the URL of Slot.comment; appended naively (second
    ``?``) it must still open the slot, and it is recorded."""
    doctor = make_doctor()
    slot = make_slot(doctor, NOW + timedelta(hours=3))
    (found,) = _resources(_search(fhir, doctor), "Slot")
    assert "origin=" not in found["comment"]
    assert found["comment"].endswith(f"/sas/creneau/{slot.id}?sig={sign_slot_link(slot.id)}")
    regulator_client = login_as("regulator")
    path = found["comment"].split("localhost", 1)[1] + suffix
    resp = regulator_client.get(path)
    assert resp.status_code == 302, resp.status_code
    assert resp.headers["Location"].endswith(f"/reservations/creneau/{slot.id}?origin=sas")
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "sas.landing")
                               .order_by(AuditEntry.id.desc())).first()
    assert entry.detail == ("origin=sas" if suffix else "origin=-")


def test_9_self_link_and_full_urls_share_the_request_base(app, fhir, make_doctor, make_slot):
    """FHIR R4 bundle.html / search.html: ``link`` self and ``entry.fullUrl`` are absolute
    URLs of the server; behind a TLS proxy both say https (same base, derived from the
    request as the proxy passes it)."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    doctor = make_doctor()
    make_slot(doctor, NOW + timedelta(hours=3))
    app.wsgi_app = ProxyFix(app.wsgi_app, x_proto=1, x_host=1)
    bundle = _search(fhir, doctor, headers={"X-Forwarded-Proto": "https",
                                            "X-Forwarded-Host": "snp.example-cpts.fr"})
    base = "https://snp.example-cpts.fr/fhir/r4/"
    assert bundle["link"][0]["url"].startswith(base + "Slot?")
    assert all(e["fullUrl"].startswith(base) for e in bundle["entry"])


def test_9_profile_claimed_only_when_its_minimum_is_met(fhir, make_doctor, make_slot):
    """1.1.0 StructureDefinition-sas-cpts-bundle-aggregator: ``Bundle.entry 4..*`` with the
    slices slotAgregateurCPTS, scheduleAgregateurCPTS, practitionerAgregateur and
    practitionerRole ``1..*``: an empty answer or one without ``_include`` is a plain
    searchset (faq.md ID 8: an empty Bundle is expected, total 0)."""
    doctor = make_doctor()
    empty = _search(fhir, doctor)
    assert empty["total"] == 0 and "meta" not in empty and "entry" not in empty
    make_slot(doctor, NOW + timedelta(hours=3))
    bare = _search(fhir, doctor, includes=False)
    assert bare["total"] == 1 and "meta" not in bare
    full = _search(fhir, doctor)
    assert full["meta"]["profile"] == [R.PROFILE_BUNDLE]


def test_9_metadata_is_public_complete_and_names_the_guide(client):
    """1.1.0 CapabilityStatement-SAS-GestionnaireAgenda-CPTS: Slot read + search-type with
    the four searchInclude, Schedule and Practitioner read; CapabilityStatement-SAS-
    GestionnaireStructure: Practitioner create/update; FHIR R4 http.html#capabilities."""
    resp = client.get("/fhir/r4/metadata")  # no API key
    assert resp.status_code == 200 and resp.mimetype == "application/fhir+json"
    cs = resp.get_json()
    assert cs["implementationGuide"] == ["https://interop.esante.gouv.fr/ig/fhir/sas"]
    assert f"{R.GUIDE_URL}/CapabilityStatement/SAS-GestionnaireAgenda-CPTS" in cs["instantiates"]
    resources = {r["type"]: r for r in cs["rest"][0]["resource"]}
    assert resources["Slot"]["searchInclude"] == [
        "Slot:schedule", "Schedule:actor", "Slot:service-type-reference",
        "HealthcareService:organization"]
    for kind in ("Slot", "Schedule", "Practitioner", "PractitionerRole", "HealthcareService",
                 "Organization"):
        assert {"code": "read"} in resources[kind]["interaction"], kind
    assert {"code": "create"} in resources["Practitioner"]["interaction"]
    assert {"code": "search-type"} in resources["Slot"]["interaction"]
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement

    CapabilityStatement.model_validate(cs)


def test_9_demo_cpts_has_a_phone(client, app, frozen):
    """1.2.0 examples/CPTS/example-orgacpts1.fsh: ``telecom[0].system = #phone`` (the
    guide's CPTS Organization carries the CPTS phone)."""
    from agenda import demo

    app.config["FHIR_API_KEYS"] = f"sas:{API_KEY}"
    data = demo.build()
    org = client.get(f"/fhir/r4/Organization/cpts-{data.cpts.id}",
                     headers={"X-API-Key": API_KEY}).get_json()
    assert org["telecom"] == [{"system": "phone", "value": "+33240810000"}]
