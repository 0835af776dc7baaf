"""Access rules (pages and API agree) and the JSON API, including a lost race = 409."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from agenda.accounts.models import User
from agenda.audit import AuditEntry
from agenda.booking import services
from agenda.extensions import db


def _booking(user, slot, patient_data, **kw):
    return services.book(user, services.BookingInput(slot_id=slot.id,
                                                     patient=patient_data(**kw)))


def test_booker_sees_own_organisation_only(frozen, make_doctor, make_slot, make_user, make_org,
                                           patient_data, login_as):
    now = frozen.advance(minutes=0)
    doctor = make_doctor()
    mine = login_as("secretary")
    theirs, _ = make_user("ed_nurse")
    b_mine = _booking(mine.user, make_slot(doctor, now + timedelta(hours=1)), patient_data,
                      last_name="Nôtre")
    b_theirs = _booking(theirs, make_slot(doctor, now + timedelta(hours=2)), patient_data,
                        last_name="Autre")
    html = mine.get("/reservations").get_data(as_text=True)
    assert "Nôtre" in html and "Autre" not in html
    assert mine.get(f"/reservations/{b_mine.id}").status_code == 200
    assert mine.get(f"/reservations/{b_theirs.id}").status_code == 404
    assert db.session.scalar(select(AuditEntry).where(
        AuditEntry.patient_id == b_mine.patient_id, AuditEntry.action == "view")) is not None


def test_coordinator_sees_counts_and_statuses_without_identity(frozen, make_doctor, make_slot,
                                                               make_user, patient_data,
                                                               login_as):
    now = frozen.advance(minutes=0)
    user, _ = make_user("secretary")
    booking = _booking(user, make_slot(make_doctor(), now + timedelta(hours=1)), patient_data,
                       last_name="Secret")
    coord = login_as("coordinator")
    html = coord.get("/reservations").get_data(as_text=True)
    assert "Secret" not in html and 'data-count="booked"' in html
    html = coord.get(f"/reservations/{booking.id}").get_data(as_text=True)
    assert "Secret" not in html and "06 11" not in html and "réservé" in html


def test_doctor_sees_own_patients_only(frozen, make_doctor, make_slot, make_user, patient_data,
                                       app):
    from tests.conftest import login

    now = frozen.advance(minutes=0)
    doc_a = make_doctor(with_user=True)
    doc_b = make_doctor(with_user=True)
    user, _ = make_user("secretary")
    booking = _booking(user, make_slot(doc_a, now + timedelta(hours=1)), patient_data,
                       last_name="Patiente")
    for doctor, visible in ((doc_a, True), (doc_b, False)):
        u = db.session.get(User, doctor.user_id)
        from agenda.accounts.services import hash_password

        u.password_hash = hash_password("motdepasse-solide")
        db.session.commit()
        c = app.test_client()
        assert login(c, u.email, "motdepasse-solide").status_code == 302
        resp = c.get(f"/reservations/{booking.id}")
        if visible:
            assert resp.status_code == 200 and "Patiente" in resp.get_data(as_text=True)
        else:
            assert resp.status_code == 404


def test_pages_refuse_wrong_roles(login_as):
    doctor = login_as("doctor")
    assert doctor.get("/reservations/recherche").status_code == 403
    assert doctor.get("/urgences").status_code == 403
    sec = login_as("secretary")
    assert sec.get("/demandes").status_code == 403
    assert sec.get("/motifs").status_code == 403


def test_api_search_hold_book_and_lost_race(frozen, make_doctor, make_slot, api_client):
    now = frozen.advance(minutes=0)
    treating = make_doctor("44069")
    make_slot(make_doctor("44036"), now + timedelta(hours=1))
    wanted = make_slot(treating, now + timedelta(hours=3))
    c1, h1, _ = api_client("secretary")
    c2, h2, _ = api_client("regulator")
    resp = c1.get(f"/api/v1/slots?commune=44036&treating_doctor_id={treating.id}", headers=h1)
    assert resp.status_code == 200
    slots = resp.get_json()["slots"]
    assert slots[0]["slot_id"] == wanted.id and slots[0]["treating_doctor"]
    assert c1.post("/api/v1/holds", json={"slot_id": wanted.id}, headers=h1).status_code == 201
    lost = c2.post("/api/v1/holds", json={"slot_id": wanted.id}, headers=h2)
    assert lost.status_code == 409 and lost.get_json()["error"] == "conflict"
    assert lost.get_json()["message"]
    body = {"slot_id": wanted.id, "patient": {"last_name": "Martin", "first_name": "Léo",
                                              "commune": "Châteaubriant",
                                              "birth_date": "2015-04-02",
                                              "treating": {"kind": "doctor",
                                                           "doctor_id": treating.id}}}
    assert c2.post("/api/v1/bookings", json=body, headers=h2).status_code == 409
    # The SAS origin only exists through the platform's signed slot link, not the API.
    refused = c1.post("/api/v1/bookings", json=dict(body, origin="sas"), headers=h1)
    assert refused.status_code == 400 and "lien du créneau" in refused.get_json()["message"]
    resp = c1.post("/api/v1/bookings", json=body, headers=h1)
    assert resp.status_code == 201, resp.get_json()
    booking = resp.get_json()["booking"]
    assert booking["origin"] == "api" and booking["patient"]["last_name"] == "Martin"
    assert c1.post("/api/v1/bookings", json=body, headers=h1).status_code == 409
    # Another organisation cannot cancel it; the owner must give a reason.
    assert c2.post(f"/api/v1/bookings/{booking['id']}/cancel", json={"reason": "x"},
                   headers=h2).status_code == 404
    assert c1.post(f"/api/v1/bookings/{booking['id']}/cancel", json={},
                   headers=h1).status_code == 400
    resp = c1.post(f"/api/v1/bookings/{booking['id']}/cancel", json={"reason": "mieux"},
                   headers=h1)
    assert resp.status_code == 200 and resp.get_json()["status"] == "cancelled"


def test_api_requests_accept_refuse_and_roles(frozen, make_doctor, make_slot, api_client):
    now = frozen.advance(minutes=0)
    a = make_doctor("44036", with_user=True)
    b = make_doctor("44180", with_user=True)
    make_slot(b, now + timedelta(hours=5), minutes=240, kind="floating", capacity=2)
    slot_id = make_slot(a, now + timedelta(hours=6), minutes=120, kind="floating").id
    cs, hs, _ = api_client("secretary")
    body = {"slot_id": slot_id, "patient": {"last_name": "Roux", "first_name": "Zoé",
                                            "commune": "44036"}}
    resp = cs.post("/api/v1/bookings", json=body, headers=hs)
    assert resp.status_code == 202, resp.get_json()
    req = resp.get_json()["request"]
    ca, ha, _ = api_client("doctor", user=db.session.get(User, a.user_id))
    cb, hb, _ = api_client("doctor", user=db.session.get(User, b.user_id))
    listed = ca.get("/api/v1/requests", headers=ha).get_json()["requests"]
    assert [r["id"] for r in listed] == [req["id"]] and "patient" not in listed[0]
    assert cb.post(f"/api/v1/requests/{req['id']}/refuse", headers=hb).status_code == 200
    start = (now + timedelta(hours=6, minutes=30)).isoformat()
    resp = ca.post(f"/api/v1/requests/{req['id']}/accept", json={"start": start}, headers=ha)
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["patient"]["last_name"] == "Roux"
    assert ca.post(f"/api/v1/requests/{req['id']}/accept", json={"start": start},
                   headers=ha).status_code == 409
    mine = cs.get("/api/v1/requests", headers=hs).get_json()["requests"]
    assert mine[0]["status"] == "accepted" and mine[0]["start"] == resp.get_json()["start"]
    assert cs.post(f"/api/v1/requests/{req['id']}/accept", json={"start": start},
                   headers=hs).status_code == 403
    assert ca.get("/api/v1/slots?commune=44036", headers=ha).status_code == 403


def test_openapi_documents_the_booking_routes(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path, method in [("/slots", "get"), ("/holds", "post"), ("/bookings", "post"),
                         ("/bookings/{id}/cancel", "post"), ("/bookings/{id}/outcome", "post"),
                         ("/requests", "get"), ("/requests/{id}/accept", "post"),
                         ("/requests/{id}/refuse", "post")]:
        assert method in paths[path], path
    assert "409" in paths["/bookings"]["post"]["responses"]


def test_api_coordinator_reads_a_booking_without_identity(frozen, make_doctor, make_slot,
                                                          make_user, patient_data, api_client):
    now = frozen.advance(minutes=0)
    user, _ = make_user("secretary")
    booking = _booking(user, make_slot(make_doctor(), now + timedelta(hours=1)), patient_data)
    c, h, _ = api_client("coordinator")
    body = c.get(f"/api/v1/bookings/{booking.id}", headers=h).get_json()
    assert body["status"] == "booked" and "patient" not in body and "note" not in body
    c2, h2, _ = api_client("ed_nurse")
    assert c2.get(f"/api/v1/bookings/{booking.id}", headers=h2).status_code == 404
