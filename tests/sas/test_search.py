"""INT_R04: the slot search, its Bundle and its edge cases."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

from agenda.extensions import db
from agenda.slots.models import CharterSettings
from tests.sas.conftest import NOW, identifier_param, search_url
from tests.sas.fhir_check import check_bundle

BASE = "http://localhost"


def _bundle(resp):
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.mimetype == "application/fhir+json"
    return resp.get_json()


def test_search_returns_open_fixed_slots_with_includes(fhir, make_doctor, make_slot):
    a, b, other = make_doctor(), make_doctor(insee="44109"), make_doctor()
    s1 = make_slot(a, NOW + timedelta(hours=3))
    s2 = make_slot(b, NOW + timedelta(hours=5), mode="VR")
    make_slot(other, NOW + timedelta(hours=4))  # not asked for
    make_slot(a, NOW + timedelta(hours=6), status="booked")
    make_slot(a, NOW + timedelta(hours=7), status="held")
    make_slot(a, NOW + timedelta(hours=8), kind="floating", capacity=3)
    make_slot(a, NOW + timedelta(hours=9), in_charter=False)
    make_slot(a, NOW + timedelta(hours=10), held_until=NOW + timedelta(minutes=3))  # on a call
    s3 = make_slot(a, NOW + timedelta(hours=11), held_until=NOW - timedelta(minutes=1))
    resp = fhir.get(search_url([a, b], "2026-12-01T00:00:00+01:00", "2026-12-02T23:59:59+01:00"))
    by_type = check_bundle(_bundle(resp), BASE)
    assert set(by_type["Slot"]) == {f"slot-{s1.id}", f"slot-{s2.id}", f"slot-{s3.id}"}
    assert len(by_type["Schedule"]) == 2 and len(by_type["Practitioner"]) == 2
    assert len(by_type["PractitionerRole"]) == 2
    assert len(by_type["HealthcareService"]) == 1 and len(by_type["Organization"]) == 1
    org = next(iter(by_type["Organization"].values()))
    assert org["identifier"][0]["value"] == "1440012345"
    slot2 = by_type["Slot"][f"slot-{s2.id}"]
    assert slot2["serviceType"][0]["coding"][0]["code"] == "VR"
    # Paris offset in December
    assert slot2["start"].endswith("+01:00")
    ids = {p["identifier"][0]["value"] for p in by_type["Practitioner"].values()}
    assert ids == {"8" + a.rpps, "8" + b.rpps}


def test_no_include_gives_only_slots(fhir, make_doctor, make_slot):
    a = make_doctor()
    make_slot(a, NOW + timedelta(hours=3))
    bundle = _bundle(fhir.get(search_url([a], "2026-12-01", "2026-12-02", includes=False)))
    by_type = check_bundle(bundle, BASE)
    assert list(by_type) == ["Slot"] and bundle["total"] == 1


def test_none_matching_total_zero(fhir, make_doctor):
    a = make_doctor()
    bundle = _bundle(fhir.get(search_url([a], "2026-12-01", "2026-12-02")))
    check_bundle(bundle, BASE)
    assert bundle["total"] == 0 and bundle.get("entry", []) == []


def test_unknown_identifier_and_other_system_match_nothing(fhir, make_doctor, make_slot):
    a = make_doctor()
    make_slot(a, NOW + timedelta(hours=3))
    ids = quote(f"urn:oid:1.2.250.1.71.4.2.1|899999999999,urn:oid:9.9|8{a.rpps},0123456789")
    url = (f"/fhir/r4/Slot?start=ge2026-12-01&start=le2026-12-03"
           f"&schedule.actor:Practitioner.identifier={ids}&status=free")
    assert _bundle(fhir.get(url))["total"] == 0


def test_identifier_without_system_matches(fhir, make_doctor, make_slot):
    a = make_doctor()
    make_slot(a, NOW + timedelta(hours=3))
    url = (f"/fhir/r4/Slot?start=ge2026-12-01&start=le2026-12-03"
           f"&schedule.actor:Practitioner.identifier=8{a.rpps}&status=free")
    assert _bundle(fhir.get(url))["total"] == 1


def test_25_identifiers_ok_26_refused(fhir, make_doctor, make_slot):
    a = make_doctor()
    make_slot(a, NOW + timedelta(hours=3))
    ids = [f"urn:oid:1.2.250.1.71.4.2.1|8{a.rpps}"] + [
        f"urn:oid:1.2.250.1.71.4.2.1|8{10000000000 + i}" for i in range(24)]
    base = "/fhir/r4/Slot?start=ge2026-12-01&start=le2026-12-03&status=free"
    ok = fhir.get(base + "&schedule.actor:Practitioner.identifier=" + quote(",".join(ids)))
    assert _bundle(ok)["total"] == 1
    # the 26th as a repeated parameter counts too
    more = fhir.get(base + "&schedule.actor:Practitioner.identifier=" + quote(",".join(ids))
                    + "&schedule.actor:Practitioner.identifier=" + quote("8" + "1" * 11))
    assert more.status_code == 400
    outcome = more.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["severity"] == "error"
    assert more.mimetype == "application/fhir+json"


def test_bounds_are_inclusive(fhir, make_doctor, make_slot):
    a = make_doctor()
    first = make_slot(a, NOW + timedelta(hours=1))   # 10:00 Paris
    last = make_slot(a, NOW + timedelta(hours=3))    # 12:00 Paris
    make_slot(a, NOW + timedelta(hours=3, minutes=1))
    url = search_url([a], "2026-12-01T10:00:00+01:00", "2026-12-01T12:00:00+01:00")
    ids = {e["resource"]["id"] for e in _bundle(fhir.get(url))["entry"]
           if e["search"]["mode"] == "match"}
    assert ids == {f"slot-{first.id}", f"slot-{last.id}"}
    # a second later on the lower bound, a second earlier on the upper: both out
    url = search_url([a], "2026-12-01T10:00:01+01:00", "2026-12-01T11:59:59+01:00")
    assert _bundle(fhir.get(url))["total"] == 0


def test_plus_sign_decoded_as_space_is_understood(fhir, make_doctor, make_slot):
    a = make_doctor()
    make_slot(a, NOW + timedelta(hours=2))
    # As the guide's example writes it: a raw "+" in the query string.
    url = (f"/fhir/r4/Slot?start=ge2026-12-01T09:00:00.000+01:00"
           f"&start=le2026-12-01T16:20:00.000+01:00"
           f"&schedule.actor:Practitioner.identifier={identifier_param(a)}&status=free")
    assert _bundle(fhir.get(url))["total"] == 1


def test_horizon_and_past_are_excluded(fhir, make_doctor, make_slot, cpts):
    a = make_doctor()
    make_slot(a, NOW - timedelta(hours=1))  # past
    inside = make_slot(a, NOW + timedelta(hours=47))
    make_slot(a, NOW + timedelta(hours=49))  # beyond the default 48 h horizon
    url = search_url([a], "2026-11-30", "2026-12-10")
    ids = {e["resource"]["id"] for e in _bundle(fhir.get(url))["entry"]
           if e["search"]["mode"] == "match"}
    assert ids == {f"slot-{inside.id}"}
    db.session.add(CharterSettings(cpts_id=cpts.id, horizon_hours=24))
    db.session.commit()
    assert _bundle(fhir.get(url))["total"] == 0


def test_cpts_without_finess_is_not_exposed(fhir, make_doctor, make_slot, cpts):
    a = make_doctor()
    make_slot(a, NOW + timedelta(hours=3))
    cpts.finess = None
    db.session.commit()
    assert _bundle(fhir.get(search_url([a], "2026-12-01", "2026-12-02")))["total"] == 0


def test_inactive_doctor_not_exposed(fhir, make_doctor, make_slot):
    a = make_doctor()
    make_slot(a, NOW + timedelta(hours=3))
    a.active = False
    db.session.commit()
    assert _bundle(fhir.get(search_url([a], "2026-12-01", "2026-12-02")))["total"] == 0


def test_dst_offset(fhir, make_doctor, make_slot, frozen):
    from datetime import UTC, datetime

    frozen.set(datetime(2026, 3, 28, 20, 0, tzinfo=UTC))
    a = make_doctor()
    before = make_slot(a, datetime(2026, 3, 29, 0, 30, tzinfo=UTC))  # 01:30 CET
    after = make_slot(a, datetime(2026, 3, 29, 8, 0, tzinfo=UTC))    # 10:00 CEST
    bundle = _bundle(fhir.get(search_url([a], "2026-03-29", "2026-03-29")))
    starts = {e["resource"]["id"]: e["resource"]["start"] for e in bundle["entry"]
              if e["search"]["mode"] == "match"}
    assert starts == {f"slot-{before.id}": "2026-03-29T01:30:00.000+01:00",
                      f"slot-{after.id}": "2026-03-29T10:00:00.000+02:00"}


def test_malformed_searches_are_400(fhir, make_doctor):
    a = make_doctor()
    ident = quote(identifier_param(a))
    bad = [
        f"/fhir/r4/Slot?schedule.actor:Practitioner.identifier={ident}&status=free",
        f"/fhir/r4/Slot?start=ge2026-12-01&schedule.actor:Practitioner.identifier={ident}&status=free",
        f"/fhir/r4/Slot?start=le2026-12-01&schedule.actor:Practitioner.identifier={ident}&status=free",
        f"/fhir/r4/Slot?start=ge2026-13-01&start=le2026-12-02&schedule.actor:Practitioner.identifier={ident}&status=free",
        f"/fhir/r4/Slot?start=gedemain&start=le2026-12-02&schedule.actor:Practitioner.identifier={ident}&status=free",
        f"/fhir/r4/Slot?start=ge2026-12-01T25:00&start=le2026-12-02&schedule.actor:Practitioner.identifier={ident}&status=free",
        "/fhir/r4/Slot?start=ge2026-12-01&start=le2026-12-02&status=free",
        f"/fhir/r4/Slot?start=ge2026-12-01&start=le2026-12-02&schedule.actor:Practitioner.identifier={ident}",
        "/fhir/r4/Slot?start=ge2026-12-01&start=le2026-12-02&schedule.actor:Practitioner.identifier=,&status=free",
    ]
    for url in bad:
        resp = fhir.get(url)
        assert resp.status_code == 400, url
        assert resp.get_json()["resourceType"] == "OperationOutcome"


def test_unknown_parameters_ignored_unless_strict(fhir, make_doctor, make_slot):
    a = make_doctor()
    make_slot(a, NOW + timedelta(hours=3))
    url = search_url([a], "2026-12-01", "2026-12-02", extra="&_sort=start&foo=bar")
    assert _bundle(fhir.get(url))["total"] == 1
    strict = fhir.get(url, headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400
    assert "foo" in strict.get_json()["issue"][0]["diagnostics"]


def test_status_other_than_free_matches_nothing(fhir, make_doctor, make_slot):
    a = make_doctor()
    make_slot(a, NOW + timedelta(hours=3))
    url = search_url([a], "2026-12-01", "2026-12-02").replace("status=free", "status=busy")
    assert _bundle(fhir.get(url))["total"] == 0


def test_metadata(fhir):
    resp = fhir.get("/fhir/r4/metadata")
    assert resp.status_code == 200
    from tests.sas.fhir_check import parse

    parse(resp.get_json())


def test_every_full_url_can_be_read(fhir, make_doctor, make_slot):
    a = make_doctor()
    slot = make_slot(a, NOW + timedelta(hours=3))
    bundle = _bundle(fhir.get(search_url([a], "2026-12-01", "2026-12-02")))
    for entry in bundle["entry"]:
        path = entry["fullUrl"].removeprefix(BASE)
        resp = fhir.get(path)
        assert resp.status_code == 200, path
        assert resp.get_json() == entry["resource"]
    for path in ["/fhir/r4/Slot/slot-999999", "/fhir/r4/Slot/doctor-1", "/fhir/r4/Slot/x",
                 "/fhir/r4/Practitioner/doctor-999", "/fhir/r4/Organization/cpts-999",
                 "/fhir/r4/Patient/1"]:
        resp = fhir.get(path)
        assert resp.status_code == 404, path
        assert resp.get_json()["resourceType"] == "OperationOutcome"
    slot.status = "booked"
    db.session.commit()
    assert fhir.get(f"/fhir/r4/Slot/slot-{slot.id}").status_code == 404


def test_three_statements_per_search_whatever_the_number_of_identifiers(fhir, make_doctor,
                                                                        make_slot):
    """The search stays set-based with the exposure rules (places, CPTS, SAS settings):
    horizons, slots with doctors and communes, CPTS with their settings."""
    from sqlalchemy import event

    doctors = [make_doctor() for _ in range(25)]
    for i, doctor in enumerate(doctors):
        make_slot(doctor, NOW + timedelta(hours=2, minutes=20 * i))
    counts = []
    for group in (doctors[:1], doctors[:5], doctors):
        seen = []

        def count(_conn, _cursor, statement, *_args, seen=seen):
            seen.append(statement)

        url = search_url(group, "2026-12-01", "2026-12-02")
        db.session.expire_all()  # nothing served from the identity map
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            bundle = _bundle(fhir.get(url))
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        assert bundle["total"] == len(group)
        counts.append(len(seen))
    assert counts == [3, 3, 3]
