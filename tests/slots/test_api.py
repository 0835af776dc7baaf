"""The doctor's /api/v1/me/slots API: same rules as the pages, errors as French JSON."""

from __future__ import annotations

import pytest

from agenda.extensions import db
from agenda.slots.models import Slot


@pytest.fixture()
def doctor_api(api_client, make_doctor, frozen):
    doctor = make_doctor(with_user=True)
    client, headers, user = api_client("doctor", user=doctor.user)
    return client, headers, doctor


def post(client, headers, **body):
    return client.post("/api/v1/me/slots", json=body, headers=headers)


def test_create_list_patch_delete(doctor_api):
    client, headers, doctor = doctor_api
    r = post(client, headers, kind="fixed", start="2026-12-08T14:00:00+01:00", mode="VR")
    assert r.status_code == 201, r.get_json()
    slot = r.get_json()
    assert slot["start"] == "2026-12-08T14:00:00+01:00"
    assert slot["end"] == "2026-12-08T14:20:00+01:00"  # charter default length
    assert slot["source"] == "api" and slot["week"] == "2026-W50" and slot["mode"] == "VR"
    assert slot["charter"]["count"] == 1 and slot["charter"]["state"] == "under"
    r = post(client, headers, kind="floating", start="2026-12-10T14:00",
             end="2026-12-10T18:00", capacity=2)
    assert r.status_code == 201
    assert r.get_json()["start"] == "2026-12-10T14:00:00+01:00"  # naive = Paris time

    r = client.get("/api/v1/me/slots?week=2026-W50", headers=headers)
    body = r.get_json()
    assert r.status_code == 200
    assert [s["kind"] for s in body["slots"]] == ["fixed", "floating"]
    assert body["charter"] == {"week": "2026-W50", "count": 3, "min": 2, "max": 6,
                               "state": "ok"}

    r = client.patch(f"/api/v1/me/slots/{slot['id']}", json={"start": "2026-12-08T15:00"},
                     headers=headers)
    assert r.status_code == 200
    assert (r.get_json()["start"], r.get_json()["end"]) == ("2026-12-08T15:00:00+01:00",
                                                            "2026-12-08T15:20:00+01:00")
    r = client.delete(f"/api/v1/me/slots/{slot['id']}", json={"reason": "formation"},
                      headers=headers)
    assert r.status_code == 200 and r.get_json()["status"] == "withdrawn"
    assert db.session.get(Slot, slot["id"]).withdraw_reason == "formation"
    r = client.get("/api/v1/me/slots?week=2026-W50", headers=headers)
    assert len(r.get_json()["slots"]) == 1


def test_seventh_refused_with_charter_rule(doctor_api):
    client, headers, _ = doctor_api
    for hour in range(9, 15):
        assert post(client, headers, start=f"2026-12-09T{hour:02d}:00").status_code == 201
    r = post(client, headers, start="2026-12-09T16:00")
    assert r.status_code == 422
    body = r.get_json()
    assert body["error"] == "rule" and body["rule"] == "charter_max"
    assert "charte SNP de la CPTS de test" in body["message"]
    assert Slot.query.count() == 6


def test_errors_are_french_json(doctor_api):
    client, headers, _ = doctor_api
    r = post(client, headers, start="2026-11-30T10:00")
    assert r.status_code == 422 and r.get_json()["rule"] == "past"
    r = post(client, headers, start="pas une date")
    assert r.status_code == 400 and r.get_json()["field"] == "start"
    r = post(client, headers, kind="floating", start="2026-12-08T14:00")
    assert r.status_code == 400 and "obligatoire" in r.get_json()["message"]
    r = post(client, headers, start="2026-12-08T14:00", colour="blue")
    assert r.status_code == 400
    post(client, headers, start="2026-12-08T14:00")
    r = post(client, headers, start="2026-12-08T14:10")
    assert r.status_code == 422 and r.get_json()["rule"] == "overlap"
    r = client.get("/api/v1/me/slots?week=W49", headers=headers)
    assert r.status_code == 400
    r = client.post("/api/v1/me/slots", data="x", headers=headers)
    assert r.status_code == 400


def test_other_doctors_slot_is_not_found(doctor_api, api_client, make_doctor):
    client, headers, _ = doctor_api
    other = make_doctor(with_user=True)
    other_client, other_headers, _ = api_client("doctor", user=other.user)
    slot_id = post(other_client, other_headers, start="2026-12-08T14:00").get_json()["id"]
    assert client.patch(f"/api/v1/me/slots/{slot_id}", json={"mode": "HH"},
                        headers=headers).status_code == 404
    assert client.delete(f"/api/v1/me/slots/{slot_id}", headers=headers).status_code == 404


def test_booked_slot_cannot_be_deleted(doctor_api):
    client, headers, _ = doctor_api
    slot_id = post(client, headers, start="2026-12-08T14:00").get_json()["id"]
    slot = db.session.get(Slot, slot_id)
    slot.status, slot.booked_count = "booked", 1
    db.session.commit()
    r = client.delete(f"/api/v1/me/slots/{slot_id}", headers=headers)
    assert r.status_code == 409 and r.get_json()["rule"] == "slot_booked"
    r = client.patch(f"/api/v1/me/slots/{slot_id}", json={"mode": "VR"}, headers=headers)
    assert r.status_code == 409


def test_roles_and_tokens(api_client, frozen):
    client, headers, _ = api_client("secretary")
    assert client.get("/api/v1/me/slots", headers=headers).status_code == 403
    assert client.get("/api/v1/me/slots").status_code == 401
    client, headers, _ = api_client("doctor")  # a doctor account with no doctor profile
    r = client.get("/api/v1/me/slots", headers=headers)
    assert r.status_code == 403 and "médecin" in r.get_json()["message"]


def test_documented_in_openapi(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert set(doc["paths"]["/me/slots"]) == {"get", "post"}
    assert set(doc["paths"]["/me/slots/{id}"]) == {"patch", "delete"}
    assert "Slot" in doc["components"]["schemas"]
