"""Conformance of everything the SAS interface emits to the ANS guide's published profiles.

The checker (``tests/sas/profile_check.py``) reads the snapshots of package 1.1.0 and the
1.2.0 rules that differ (``tests/sas/profiles/``) and checks cardinalities, fixed values,
patterns, required bindings, primitive types and invariants. It runs on:
- the INT_R04 Bundles of the demo for 1, 5 and 25 RPPS (profile sas-cpts-bundle-aggregator,
  and through its entry slices every Slot, Schedule, Practitioner, PractitionerRole, the
  contained Location, HealthcareService and Organization);
- the INT_R02 answers (FrPractitionerRegul);
- the INT_R03 Appointments received by the SAS stand-in (FrAppointmentSAS).
Each test prints how many element rules it checked per profile.
"""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest

from agenda import demo
from agenda.booking import services as booking_services
from agenda.sas import resources as R
from agenda.sync.worker import drain_outbox
from tests.sas import profile_check
from tests.sas.conftest import API_KEY, NOW, search_url
from tests.sas.fhir_check import check_bundle
from tests.sas.test_accounts import NAT, SAS, regulator

BASE = "http://localhost"


def _show(capsys, title: str, report: profile_check.Report) -> None:
    with capsys.disabled():
        print("\n" + profile_check.counts_table(title, report))


@pytest.fixture()
def demo_data(app, frozen):
    app.config["FHIR_API_KEYS"] = f"sas:{API_KEY}"
    return demo.build()


def _doctors_with_exposed_slots(demo_data):
    from agenda.sas.search import SlotQuery, find_slots

    q = SlotQuery(lower=NOW, upper=NOW + timedelta(days=3),
                  national_ids=[R.national_id(d.rpps) for d in demo_data.doctors])
    found = find_slots(q)
    ids = {s.doctor_id for s in found.slots}
    return [d for d in demo_data.doctors if d.id in ids]


@pytest.mark.parametrize("n", [1, 5, 25])
def test_demo_r04_bundles_conform(client, demo_data, capsys, n):
    """Guide 1.1.0 package snapshots + 1.2.0 deltas: sas-cpts-bundle-aggregator and the
    profiles of its entry slices, on the demo's answer for ``n`` RPPS."""
    exposed = _doctors_with_exposed_slots(demo_data)
    others = [d for d in demo_data.doctors if d not in exposed]
    doctors = (exposed + others)[:n]
    assert len(doctors) == n and doctors[0] in exposed
    url = search_url(doctors, "2026-12-01T00:00:00.000+01:00", "2026-12-04T00:00:00.000+01:00")
    resp = client.get(url, headers={"X-API-Key": API_KEY})
    assert resp.status_code == 200
    bundle = resp.get_json()
    check_bundle(bundle, BASE)
    assert bundle["total"] >= 1
    assert bundle["meta"]["profile"] == [R.PROFILE_BUNDLE]
    report = profile_check.profiles().check(bundle, R.PROFILE_BUNDLE)
    assert report.problems == []
    checked = {url for url, _rule in report.rules}
    assert checked == {R.PROFILE_BUNDLE, R.PROFILE_SLOT, R.PROFILE_SCHEDULE,
                       R.PROFILE_PRACTITIONER, R.PROFILE_ROLE, R.PROFILE_LOCATION,
                       R.PROFILE_SERVICE, R.PROFILE_ORGANIZATION}
    _show(capsys, f"INT_R04 demo, {n} RPPS, {bundle['total']} slots", report)


def test_r02_answers_conform(fhir, capsys):
    """FrPractitionerRegul (guide 1.1.0 snapshot) on the answers of POST and PUT."""
    report = profile_check.Report()
    answers = [
        fhir.post("/fhir/r4/Practitioner", regulator()),
        fhir.put(f"/fhir/r4/Practitioner?identifier={NAT}|3456780581/11242343",
                 regulator(active=False)),
        fhir.post("/fhir/r4/Practitioner", regulator(national=None, technical="t-77",
                                                    email="t77@test.fr")),
        fhir.put(f"/fhir/r4/Practitioner?identifier={SAS}|t-77",
                 regulator(national="810001234567", technical="t-77", email="t77@test.fr")),
    ]
    assert [a.status_code for a in answers] == [201, 200, 201, 200]
    for answer in answers:
        body = answer.get_json()
        assert body["meta"]["profile"] == [R.PROFILE_REGULATOR]
        profile_check.profiles().check(body, R.PROFILE_REGULATOR, report)
    assert report.problems == []
    _show(capsys, "INT_R02 answers", report)


def test_r03_appointments_conform(sas_on, sas_regulator, make_doctor, make_slot, capsys):
    """FrAppointmentSAS (guide 1.1.0 snapshot) on every Appointment the stand-in received:
    booked then cancelled, with a national and with a technical operator identifier."""
    doctor = make_doctor()
    report = profile_check.Report()
    for i, who in enumerate([{"national": "810009999999"},
                             {"national": None, "technical": "3c9e2f1a-0000-4000-8000-01"}]):
        user = sas_regulator(**who)
        slot = make_slot(doctor, NOW + timedelta(hours=3 + i))
        booking = booking_services.book(user, booking_services.BookingInput(
            slot_id=slot.id, origin="sas",
            patient=booking_services.PatientData(last_name="Durand", first_name="Paul",
                                                 commune_insee="44036")))
        drain_outbox()
        booking_services.cancel_booking(user, booking.id, "Plus nécessaire")
        drain_outbox()
    assert [c.status for c in sas_on.calls] == [201, 200, 201, 200]
    for call in sas_on.calls:
        assert call.body["meta"]["profile"] == [R.PROFILE_APPOINTMENT]
        profile_check.profiles().check(call.body, R.PROFILE_APPOINTMENT, report)
    assert report.problems == []
    _show(capsys, "INT_R03 Appointments", report)


# --- the checker itself finds what it must ---------------------------------------------------

@pytest.fixture()
def one_bundle(fhir, make_doctor, make_slot):
    doctor = make_doctor()
    make_slot(doctor, NOW + timedelta(hours=3))
    bundle = fhir.get(search_url([doctor], "2026-12-01", "2026-12-02")).get_json()
    assert profile_check.check(bundle, R.PROFILE_BUNDLE) == []
    return bundle


def _entry(bundle, kind):
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind)


MUTATIONS = {
    # cardinality: FrLocationAgregateur address.line 1..1
    "address.line": (lambda b: _entry(b, "PractitionerRole")["contained"][0]["address"].pop("line"),
                     "Location.address.line"),
    # type: Slot.start is an instant (seconds required)
    "instant": (lambda b: _entry(b, "Slot").update(start="2026-12-01T11:00+01:00"), "instant"),
    # required binding: sas-cpts-valueset-typecreneau
    "binding": (lambda b: _entry(b, "Slot")["meta"]["security"].append(
        {"system": R.SLOT_TYPE_SYSTEM, "code": "PRIVE"}), "sas-cpts-valueset-typecreneau"),
    # pattern: Slot.status = free
    "pattern": (lambda b: _entry(b, "Slot").update(status="busy"), "patternCode"),
    # 1.2.0 delta: Organization.identifier.type fr-core-cs-v2-0203#IDNST
    "1.2.0": (lambda b: _entry(b, "Organization")["identifier"][0]["type"]["coding"].pop(),
              "fr-core-cs-v2-0203"),
    # invariant: FINESS-invariant ^1[0-9]{9}$
    "invariant": (lambda b: _entry(b, "Organization")["identifier"][0].update(value="3123"),
                  "FINESS-invariant"),
    # slice: referencecpts needs its extension 1..1
    "slice": (lambda b: _entry(b, "Slot")["serviceType"][1].pop("extension"),
              "referencecpts"),
    # Bundle entry 4..*: no Schedule entry
    "entry slices": (lambda b: b.update(entry=[e for e in b["entry"]
                                               if e["resource"]["resourceType"] != "Schedule"]),
                     "scheduleAgregateurCPTS"),
    # unknown element
    "unknown": (lambda b: _entry(b, "Practitioner").update(nom="x"), "not an element"),
    # contained reference
    "contained": (lambda b: _entry(b, "PractitionerRole")["location"][0].update(
        reference="#ailleurs"), "contained"),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_checker_catches_each_kind_of_rule(one_bundle, name):
    mutate, expected = MUTATIONS[name]
    bundle = copy.deepcopy(one_bundle)
    mutate(bundle)
    problems = profile_check.check(bundle, R.PROFILE_BUNDLE)
    assert any(expected in p for p in problems), problems


def test_appointment_checker_catches_wrong_operator_type():
    """FrAppointmentSAS: appointmentOperator identifier.type.coding 1..1 (max 1)."""
    appointment = R.appointment_resource(
        identifier="x", system="urn:agenda-snp:rendez-vous", status="booked",
        start=NOW, end=NOW + timedelta(minutes=20), created=NOW, doctor_rpps="10000000001",
        operator={"type": {"coding": [{"system": R.V2_0203, "code": "IDNPS"},
                                      {"system": R.V2_0203, "code": "INTRN"}]},
                  "system": R.NATIONAL_ID_SYSTEM, "value": "810009999999"})
    problems = profile_check.check(appointment, R.PROFILE_APPOINTMENT)
    assert any("max 1" in p for p in problems), problems


def test_the_guide_example_passes_1_1_0_and_only_misses_the_1_2_0_type():
    """The guide's own 1.1.0 example Organization (package 1.1.0,
    example/Organization-ExampleOrgaCPTS1.json) meets the 1.1.0 snapshot; it lacks the
    1.2.0 identifier type (the reason agenda sends both codings)."""
    example = {
        "resourceType": "Organization", "id": "ExampleOrgaCPTS1",
        "meta": {"profile": [R.PROFILE_ORGANIZATION]},
        "identifier": [{"type": {"coding": [{"system": R.LOCATION_ID_TYPE, "code": "IDNST"}]},
                        "system": R.STRUCTURE_ID_SYSTEM, "value": "1950047225"}],
        "name": "CPTS AXE MAJEUR", "telecom": [{"system": "phone", "value": "+33102030405"}]}
    problems = profile_check.check(example, R.PROFILE_ORGANIZATION)
    assert len(problems) == 1 and "fr-core-cs-v2-0203" in problems[0]
