"""Alerts are acknowledged and resolved, with who and when (issue 14, part B.2)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from agenda.accounts.services import create_organisation
from agenda.alerts import Alert, raise_alert
from agenda.extensions import db
from tests.conftest import csrf_token
from tests.supervision.conftest import NOW


def _post(client, **data):
    token = csrf_token(client, "/coverage/alerts")
    return client.post("/coverage/alerts/handle", data={"csrf_token": token, **data})


def _states(body: str) -> list[str]:
    return [s.split('"')[0] for s in body.split('data-state="')[1:]]


def test_acknowledge_then_resolve_with_who_and_when(app, supervised, frozen, login_as):
    old = raise_alert("booking_cancelled", "Réservation ABC annulée.", cpts_id=supervised.org.id)
    old.created_at = NOW - timedelta(hours=3)
    new = raise_alert("booking_cancelled", "Réservation DEF annulée.", cpts_id=supervised.org.id)
    db.session.commit()
    coord = login_as("coordinator")
    body = coord.get("/coverage/alerts").get_data(as_text=True)
    assert _states(body) == ["open", "open"]
    assert "2 alertes à traiter ·" in body

    frozen.advance(minutes=10)
    resp = _post(coord, alert_id=old.id, action="acknowledge")
    assert resp.status_code == 303
    db.session.expire_all()
    alert = db.session.get(Alert, old.id)
    assert alert.state == "acknowledged" and alert.acknowledged_by_id == coord.user.id
    assert alert.acknowledged_at == NOW + timedelta(minutes=10)
    body = coord.get("/coverage/alerts").get_data(as_text=True)
    assert _states(body) == ["open", "acknowledged"]  # open ones first
    assert f"Prise en charge par {coord.user.name} le lun. 30 nov. 09:10" in body
    # The dashboard counts them.
    dash = coord.get("/").get_data(as_text=True)
    assert "Alertes à traiter : 1 · en cours de traitement : 1" in dash

    frozen.advance(minutes=20)
    _post(coord, alert_id=old.id, action="resolve")
    db.session.expire_all()
    alert = db.session.get(Alert, old.id)
    assert alert.resolved_by_id == coord.user.id
    assert alert.resolved_at == NOW + timedelta(minutes=30)
    body = coord.get("/coverage/alerts").get_data(as_text=True)
    assert _states(body) == ["open", "resolved"]
    assert f"Résolue par {coord.user.name}" in body
    # Resolving twice: refused in French, nothing changed.
    _post(coord, alert_id=old.id, action="resolve")
    assert "Cette alerte est déjà résolue." in coord.get("/coverage/alerts").get_data(
        as_text=True)
    assert new.id  # still open
    assert _post(coord, alert_id=new.id, action="delete").status_code == 303
    db.session.expire_all()
    assert db.session.get(Alert, new.id).state == "open"


def test_another_cpts_alert_cannot_be_touched(app, supervised, login_as):
    other = create_organisation("CPTS voisine", "cpts")
    db.session.flush()
    alert = raise_alert("sync_error", "Calendrier en erreur.", cpts_id=other.id)
    db.session.commit()
    coord = login_as("coordinator")
    assert _post(coord, alert_id=alert.id, action="acknowledge").status_code == 404
    db.session.expire_all()
    assert db.session.get(Alert, alert.id).acknowledged_at is None


def test_a_condition_seen_now_is_acknowledged_through_a_new_stored_alert(app, supervised,
                                                                         login_as):
    slot = supervised.slot(5)
    slot.booked_count, slot.status, slot.conflict = 1, "booked", "événement supprimé"
    db.session.commit()
    coord = login_as("coordinator")
    body = coord.get("/coverage/alerts").get_data(as_text=True)
    assert 'data-kind="event_conflict" data-state="open">' in body
    assert _post(coord, kind="event_conflict", object_id=slot.id,
                 action="acknowledge").status_code == 303
    stored = db.session.scalars(select(Alert)).all()
    assert [(a.kind, a.object_type, a.object_id, a.state) for a in stored] == [
        ("event_conflict", "slot", slot.id, "acknowledged")]
    body = coord.get("/coverage/alerts").get_data(as_text=True)
    assert _states(body) == ["acknowledged"]
    # A condition that does not exist is not invented.
    assert _post(coord, kind="event_conflict", object_id=slot.id + 99,
                 action="acknowledge").status_code == 404
