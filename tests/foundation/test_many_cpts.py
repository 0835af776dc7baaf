"""One instance, several CPTS: shared bookers, scoped administration, search across CPTS."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from agenda.accounts.models import User
from agenda.accounts.services import create_organisation, create_token, create_user
from agenda.booking import services
from agenda.booking.models import Booking
from agenda.extensions import db
from agenda.slots.models import Slot
from agenda.territory.models import Commune
from agenda.territory.services import DoctorData, add_place, create_doctor, rpps_with_check_digit
from agenda.timeutil import iso_week
from tests.conftest import csrf_token, login

PASSWORD = "motdepasse-solide"


def _doctor(cpts, insee: str, n: int):
    return create_doctor(DoctorData(rpps=rpps_with_check_digit(f"55{n:08d}"), first_name="Dr",
                                    last_name=f"Médecin{n}", commune_insee=insee,
                                    address=f"{n} rue de la Gare"), cpts.id)


def _slot(doctor, start, place=None, minutes=20):
    slot = Slot(doctor_id=doctor.id, kind="fixed", start=start,
                end=start + timedelta(minutes=minutes), week=iso_week(start), capacity=1,
                booked_count=0, mode="AMB", status="open", in_charter=True, source="web")
    if place is not None:
        slot.place_id, slot.cpts_id = place.id, place.cpts_id
    db.session.add(slot)
    db.session.commit()
    return slot


@pytest.fixture()
def department(app, frozen, communes):
    """CPTS A (Châteaubriant), B (Nantes), C (Issé); a SAMU serving all three; A's own
    secretariat; a doctor of A also practising in B."""
    now = frozen.set(frozen.advance(minutes=0))
    a = create_organisation("CPTS A", "cpts")
    b = create_organisation("CPTS B", "cpts")
    c = create_organisation("CPTS C", "cpts")
    samu = create_organisation("SAMU 44", "samu", serves=[a.id, b.id, c.id])
    sec_a = create_organisation("Secrétariat A", "secretariat", a.id)
    users = {}
    for key, role, org in (("regulator", "regulator", samu), ("sec_a", "secretary", sec_a),
                           ("admin_a", "admin", a), ("admin_b", "admin", b),
                           ("coord_b", "coordinator", b)):
        users[key] = create_user(f"{key}@dep.fr", key, role, org, PASSWORD)[0]
    doc_a = _doctor(a, "44036", 1)           # Châteaubriant
    doc_b = _doctor(b, "44109", 2)           # Nantes
    doc_c = _doctor(c, "44069", 3)           # Issé
    treating = _doctor(a, "44180", 4)        # Soudan, also at a place in CPTS B
    second = add_place(treating, b.id, address="5 quai de la Fosse",
                       commune=db.session.get(Commune, "44109"))
    db.session.commit()
    slots = {
        "a": _slot(doc_a, now + timedelta(hours=2)),
        "b": _slot(doc_b, now + timedelta(hours=3)),
        "c": _slot(doc_c, now + timedelta(hours=4)),
        "treating_b": _slot(treating, now + timedelta(hours=6), place=second),
        "far_a": _slot(doc_a, now + timedelta(days=6)),  # beyond A's 48 h horizon
    }
    return {"a": a, "b": b, "c": c, "samu": samu, "sec_a": sec_a, "users": users,
            "treating": treating, "slots": slots}


def test_samu_searches_every_cpts_it_serves_treating_doctor_first(department):
    d = department
    commune = db.session.get(Commune, "44036")
    results = services.search_slots(d["users"]["regulator"], commune,
                                    treating_doctor_id=d["treating"].id, radius_km=80)
    assert results[0].slot_id == d["slots"]["treating_b"].id  # wherever they practise
    assert results[0].cpts_name == "CPTS B"
    assert {r.cpts_id for r in results} == {d["a"].id, d["b"].id, d["c"].id}
    assert d["slots"]["far_a"].id not in {r.slot_id for r in results}  # A's horizon


def test_cpts_a_secretary_sees_only_cpts_a(department):
    d = department
    commune = db.session.get(Commune, "44036")
    results = services.search_slots(d["users"]["sec_a"], commune, radius_km=80)
    assert results and {r.cpts_id for r in results} == {d["a"].id}


def test_api_booking_refuses_outside_horizon_and_outside_scope(app, department):
    d = department
    client = app.test_client()
    sec = {"Authorization": f"Bearer {create_token(d['users']['sec_a'], 't')}"}
    db.session.commit()
    patient = {"last_name": "Martin", "first_name": "Léa", "commune": "44036",
               "phone": "06 11 22 33 44"}
    # Outside the charter's horizon: 422 naming the rule, nothing written.
    resp = client.post("/api/v1/bookings", headers=sec,
                       json={"slot_id": d["slots"]["far_a"].id, "patient": patient})
    assert resp.status_code == 422, resp.get_json()
    assert resp.get_json()["rule"] == "horizon"
    # A slot of a CPTS the secretariat does not serve: not found.
    resp = client.post("/api/v1/bookings", headers=sec,
                       json={"slot_id": d["slots"]["b"].id, "patient": patient})
    assert resp.status_code == 404
    assert db.session.scalar(select(Booking.id)) is None
    # The same slot for the SAMU, which serves B: booked, counted for B.
    reg = {"Authorization": f"Bearer {create_token(d['users']['regulator'], 't')}"}
    db.session.commit()
    resp = client.post("/api/v1/bookings", headers=reg,
                       json={"slot_id": d["slots"]["b"].id, "patient": patient})
    assert resp.status_code == 201, resp.get_json()
    booking = db.session.scalar(select(Booking))
    assert booking.cpts_id == d["b"].id


def test_ending_a_link_ends_the_access(department):
    from agenda.accounts.services import unlink_organisation

    d = department
    unlink_organisation(d["samu"], d["c"].id, actor=None)
    db.session.commit()
    commune = db.session.get(Commune, "44036")
    results = services.search_slots(d["users"]["regulator"], commune, radius_km=80)
    assert d["c"].id not in {r.cpts_id for r in results}
    from agenda.errors import DomainError

    with pytest.raises(DomainError) as exc:
        services.book(d["users"]["regulator"], services.BookingInput(
            slot_id=d["slots"]["c"].id, patient=services.PatientData(
                last_name="X", first_name="Y", commune_insee="44036")))
    assert getattr(exc.value, "status", None) == 404


def _page_client(app, email):
    client = app.test_client()
    assert login(client, email, PASSWORD).status_code == 302
    return client


def test_admin_of_cpts_b_is_refused_at_every_step_on_cpts_a(app, department):
    """The scenario reported: an admin of a second CPTS deactivated a user of the first,
    created a secretary in the first CPTS's secretariat, and read its patients."""
    d = department
    victim = d["users"]["sec_a"]
    # A booking of CPTS A with a patient's identity.
    booking = services.book(victim, services.BookingInput(
        slot_id=d["slots"]["a"].id, patient=services.PatientData(
            last_name="Confidentiel", first_name="Anne", commune_insee="44036")))
    client = _page_client(app, "admin_b@dep.fr")
    token = csrf_token(client, "/admin/utilisateurs")
    # 1. deactivate a user of CPTS A
    resp = client.post(f"/admin/utilisateurs/{victim.id}/activer",
                       data={"csrf_token": token})
    assert resp.status_code == 404
    db.session.expire_all()
    assert db.session.get(User, victim.id).active
    # 2. create a secretary account inside CPTS A's secretariat
    resp = client.post("/admin/utilisateurs", data={
        "csrf_token": token, "email": "intrus@dep.fr", "name": "Intrus", "role": "secretary",
        "organisation_id": d["sec_a"].id})
    assert resp.status_code == 400  # not one of the organisations they may choose
    assert db.session.scalar(select(User).where(User.email == "intrus@dep.fr")) is None
    # …nor through the service directly
    from agenda.errors import DomainError

    with pytest.raises(DomainError) as exc:
        create_user("intrus@dep.fr", "Intrus", "secretary", d["sec_a"],
                    actor=d["users"]["admin_b"])
    assert getattr(exc.value, "status", None) == 403
    # 3. read CPTS A's patients
    resp = client.get(f"/reservations/{booking.id}")
    assert resp.status_code == 404
    assert "Confidentiel" not in resp.get_data(as_text=True)
    # 4. the pages list nothing of CPTS A
    users_page = client.get("/admin/utilisateurs").get_data(as_text=True)
    assert victim.email not in users_page
    journal = client.get("/admin/journal").get_data(as_text=True)
    assert f"booking {booking.id}" not in journal.replace("\n", " ")
    # 5. nor grant themselves (or anyone) access to CPTS A's slots
    resp = client.post("/admin/liens", data={"csrf_token": token, "organisation_id":
                                             d["samu"].id, "cpts_id": d["a"].id})
    assert resp.status_code in (302, 303)
    from agenda.accounts.models import ServiceLink

    assert db.session.scalar(select(ServiceLink).where(
        ServiceLink.cpts_id == d["a"].id, ServiceLink.created_by_user_id ==
        d["users"]["admin_b"].id)) is None
    # The administrator of CPTS A, by contrast, may deactivate their own user.
    own = _page_client(app, "admin_a@dep.fr")
    resp = own.post(f"/admin/utilisateurs/{victim.id}/activer",
                    data={"csrf_token": csrf_token(own, "/admin/utilisateurs")})
    assert resp.status_code == 302
    db.session.expire_all()
    assert not db.session.get(User, victim.id).active


def test_coordinator_of_b_counts_a_samu_booking_without_identity(app, department):
    d = department
    booking = services.book(d["users"]["regulator"], services.BookingInput(
        slot_id=d["slots"]["b"].id, patient=services.PatientData(
            last_name="Secret", first_name="Paul", commune_insee="44036")))
    client = _page_client(app, "coord_b@dep.fr")
    page = client.get("/reservations").get_data(as_text=True)
    assert "Secret" not in page
    detail = client.get(f"/reservations/{booking.id}")
    assert detail.status_code == 200 and "Secret" not in detail.get_data(as_text=True)
    from agenda.booking.services.bookings import status_counts

    assert status_counts(d["users"]["coord_b"])["booked"] == 1


def test_floating_request_goes_to_the_patients_cpts_then_extends_to_a_neighbour(
        app, department, frozen):
    """A shared booker's floating request is offered in the CPTS whose territory holds the
    patient's commune; once expired there, one action offers it to a neighbouring CPTS."""
    from agenda.audit import AuditEntry
    from agenda.booking.models import FloatingRequest, RequestOffer
    from agenda.booking.services import requests as cascade
    from agenda.territory.models import Sector

    d = department
    now = frozen.advance(minutes=0)
    db.session.add_all([Sector(cpts_id=d["a"].id, name="A", communes=[
        db.session.get(Commune, "44036")]), Sector(cpts_id=d["b"].id, name="B", communes=[
            db.session.get(Commune, "44109")])])
    doc_a2 = _doctor(d["a"], "44180", 11)   # Soudan, CPTS A
    doc_b2 = _doctor(d["b"], "44150", 12)   # Rougé, volunteering in CPTS B
    window = {}
    for doctor in (doc_a2, doc_b2):
        slot = Slot(doctor_id=doctor.id, kind="floating", start=now + timedelta(hours=1),
                    end=now + timedelta(hours=6), week=iso_week(now), capacity=2,
                    booked_count=0, mode="AMB", status="open", in_charter=True, source="web")
        db.session.add(slot)
        window[doctor.id] = slot
    db.session.commit()
    regulator = d["users"]["regulator"]
    req = services.book(regulator, services.BookingInput(
        slot_id=window[doc_b2.id].id, patient=services.PatientData(
            last_name="Flottant", first_name="Léo", commune_insee="44036")))
    assert isinstance(req, FloatingRequest) and req.cpts_id == d["a"].id
    offered = set(db.session.scalars(select(RequestOffer.doctor_id).where(
        RequestOffer.request_id == req.id)))
    assert doc_a2.id in offered and doc_b2.id not in offered  # A's community only
    # Nobody in A accepts: expired; the SAMU serves B and C, nearest first.
    frozen.set(req.deadline_at + timedelta(minutes=1))
    assert cascade.expire_due() == 1
    db.session.refresh(req)
    choices = [cid for cid, _name in cascade.extension_choices(regulator, req)]
    assert set(choices) == {d["b"].id, d["c"].id}
    cascade.extend_request(regulator, req.id, d["b"].id)
    db.session.refresh(req)
    assert req.status == "pending" and req.cpts_id == d["b"].id
    assert req.extended_from_cpts_id == d["a"].id
    offered = set(db.session.scalars(select(RequestOffer.doctor_id).where(
        RequestOffer.request_id == req.id)))
    assert doc_b2.id in offered
    assert db.session.scalar(select(AuditEntry).where(
        AuditEntry.action == "extend", AuditEntry.object_id == req.id)) is not None
    # The secretariat of A alone cannot extend anything to B (it does not serve B).
    from agenda.errors import DomainError

    with pytest.raises(DomainError) as refused:
        cascade.extend_request(d["users"]["sec_a"], req.id, d["b"].id)
    assert refused.value.status == 404  # not their organisation's request


def test_cli_creates_a_departmental_samu_and_links(app, department):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-org", "--name", "SAMU 49", "--kind", "samu",
                                 "--serves", "CPTS A,CPTS B"])
    assert result.exit_code == 0, result.output
    from agenda.accounts.models import Organisation
    from agenda.accounts.scope import served_cpts_ids

    org = db.session.scalar(select(Organisation).where(Organisation.name == "SAMU 49"))
    assert org.cpts_id is None
    assert served_cpts_ids(org.id) == sorted([department["a"].id, department["b"].id])
    assert runner.invoke(args=["link", "--org", "SAMU 49", "--cpts", "CPTS C"]).exit_code == 0
    assert runner.invoke(args=["unlink", "--org", "SAMU 49", "--cpts", "CPTS A"]).exit_code == 0
    assert served_cpts_ids(org.id) == sorted([department["b"].id, department["c"].id])
    bad = runner.invoke(args=["create-org", "--name", "X", "--kind", "samu"])
    assert bad.exit_code != 0 and "au moins une CPTS" in bad.output
