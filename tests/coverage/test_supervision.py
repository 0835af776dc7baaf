"""Charter compliance lists, alerts with who must act, what-if."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from agenda import clock
from agenda.alerts import Alert
from agenda.booking.models import Booking, FloatingRequest, Patient
from agenda.coverage import supervision
from agenda.errors import NotFound, ValidationError
from agenda.extensions import db
from agenda.sync.models import CalendarAccount
from tests.coverage.helpers import add_slot, local

W49_TUE = date(2026, 12, 1)


def test_compliance_lists(app, frozen, make_doctor, login_as):
    a = make_doctor(last_name="Assidu")
    b = make_doctor(last_name="Bref")
    c = make_doctor(last_name="Copieux")
    d = make_doctor(last_name="Discret")
    make_doctor(last_name="Parti").active = False
    db.session.commit()
    for i in range(2):
        add_slot(a, local(W49_TUE, 9 + i))
        add_slot(a, local(W49_TUE + timedelta(weeks=1), 9 + i))
    add_slot(a, local(W49_TUE, 14), minutes=120, kind="floating", capacity=2)  # counts 2
    add_slot(b, local(W49_TUE, 9))
    for i in range(6):
        add_slot(c, local(W49_TUE, 8 + i))
        add_slot(c, local(W49_TUE + timedelta(weeks=1), 8 + i))
    add_slot(c, local(W49_TUE, 15), in_charter=False)  # kept "hors charte"
    add_slot(c, local(W49_TUE + timedelta(weeks=1), 16))  # 7 counted: max lowered since
    add_slot(d, local(W49_TUE - timedelta(weeks=3), 9))
    add_slot(d, local(W49_TUE, 11), status="withdrawn")
    comp = supervision.compliance(a.cpts_id, "2026-W49")
    assert comp.weeks == ["2026-W49", "2026-W50"]
    names = {w: [r["doctor"] for r in rows] for w, rows in comp.under.items()}
    assert [n.split()[-1] for n in names["2026-W49"]] == ["Bref", "Discret"]
    assert [n.split()[-1] for n in names["2026-W50"]] == ["Bref", "Discret"]
    over = {w: [(r["doctor"].split()[-1], r["count"], r["hors_charte"]) for r in rows]
            for w, rows in comp.over.items()}
    assert over == {"2026-W49": [("Copieux", 6, 1)], "2026-W50": [("Copieux", 7, 0)]}
    assert [(r["doctor"].split()[-1], r["last_slot"][:10]) for r in comp.silent] == [
        ("Discret", "2026-11-10")]
    # The one charter page (/coverage/charter leads to /charte) shows the same.
    client = login_as("coordinator")
    resp = client.get("/coverage/charter?week=2026-W49")
    assert resp.status_code == 302 and resp.location.endswith("/charte?week=2026-W49")
    html = client.get(resp.location).get_data(as_text=True)
    w49 = html[html.index('data-week="2026-W49"'):html.index('data-week="2026-W50"')]
    under = w49[w49.index('class="under"'):w49.index('class="outside"')]
    assert "Bref — 1 consultation" in under and "Discret — aucun créneau" in under
    outside = w49[w49.index('class="outside"'):]
    assert "Copieux — 1 créneau au-delà du maximum" in outside
    silent = html[html.index('id="silent"'):]
    assert "Discret — dernier créneau le 10 novembre 2026" in silent
    assert "Semaine du lundi 30 novembre 2026" in html


def test_alerts_with_who_must_act(app, frozen, make_doctor, make_org, login_as):
    now = clock.now()
    doc = make_doctor(last_name="Calendrier")
    samu = make_org("samu", name="SAMU 44")
    patient = Patient(last_name="P", first_name="Q", commune_insee="44036")
    db.session.add(patient)
    db.session.flush()

    def request(ref, deadline):
        return FloatingRequest(reference=ref, patient_id=patient.id, booker_org_id=samu.id,
                               channel="samu", window_start=deadline, window_end=deadline,
                               created_at=deadline - timedelta(hours=2), t1_at=deadline,
                               deadline_at=deadline, status="expired", expired_at=deadline)

    recent = request("RQ-NEW", now - timedelta(hours=3))
    db.session.add_all([recent, request("RQ-OLD", now - timedelta(days=30))])
    db.session.add(CalendarAccount(doctor_id=doc.id, state="error",
                                   last_error="401 Unauthorized", last_sync_at=now))
    slot = add_slot(doc, now + timedelta(hours=5), booked=1,
                    conflict="événement supprimé du calendrier")
    db.session.add(Booking(reference="B1", slot_id=slot.id, doctor_id=doc.id,
                           patient_id=patient.id, booker_org_id=samu.id, channel="samu",
                           start=slot.start, end=slot.end))
    db.session.flush()
    db.session.add(Alert(kind="request_expired", cpts_id=doc.cpts_id, object_type="request",
                         object_id=recent.id, message="doublon", created_at=now))
    db.session.add(Alert(kind="slot_cancelled", cpts_id=doc.cpts_id, organisation_id=samu.id,
                         message="Créneau annulé par le médecin", created_at=now))
    db.session.add(Alert(kind="slot_cancelled", cpts_id=doc.cpts_id, message="résolue",
                         created_at=now, resolved_at=now))
    db.session.commit()
    rows = supervision.alerts(doc.cpts_id)
    # The resolved one comes last, shown for a week as handled.
    assert [r.state for r in rows] == ["open"] * 4 + ["resolved"]
    rows = rows[:4]
    kinds = sorted(r.kind for r in rows)
    assert kinds == ["event_conflict", "request_expired", "slot_cancelled", "sync_error"]
    by_kind = {r.kind: r for r in rows}
    assert "RQ-NEW" in by_kind["request_expired"].what
    assert by_kind["request_expired"].who == "SAMU 44"
    assert "Calendrier" in by_kind["sync_error"].who and "401" in by_kind["sync_error"].what
    assert "SAMU 44" in by_kind["event_conflict"].who
    assert "Calendrier" in by_kind["event_conflict"].who
    assert by_kind["slot_cancelled"].who == "SAMU 44"
    html = login_as("coordinator").get("/coverage/alerts").get_data(as_text=True)
    assert html.count('" data-state="open"') == 4
    assert html.count('" data-state="resolved"') == 1
    assert "RQ-OLD" not in html


def test_what_if(line, frozen):
    frozen.set(datetime(2026, 11, 30, 8, 0, tzinfo=UTC))  # Monday: Tuesday is ahead
    doc_a, doc_b = line
    add_slot(doc_a, local(W49_TUE, 9))  # Tuesday 9h: Aval and Bourg covered
    # A practice in Dune, Tuesday 9h-11h: Dune (4000) gained at 9h and 10h; 10h had no supply.
    r = supervision.what_if(doc_a.cpts_id, "2026-W49", 2, 9, 11, commune_insee="99004")
    assert (r.hours_filled, r.population_added, r.population_hours) == (1, 4000, 8000)
    assert r.communes_added == ["Dune"]
    # Doctor A at 9h adds nothing (already there); at 10h-12h: Aval + Bourg for 2 hours.
    r = supervision.what_if(doc_a.cpts_id, "2026-W49", 2, 9, 10, doctor_id=doc_a.id)
    assert (r.hours_filled, r.population_added, r.population_hours) == (0, 0, 0)
    r = supervision.what_if(doc_a.cpts_id, "2026-W49", 2, 10, 12, doctor_id=doc_a.id)
    assert (r.hours_filled, r.population_added, r.population_hours) == (2, 3000, 6000)
    assert r.communes_added == ["Bourg", "Aval"]
    with pytest.raises(ValidationError):
        supervision.what_if(doc_a.cpts_id, "2026-W49", 2, 12, 10, doctor_id=doc_a.id)
    with pytest.raises(ValidationError):
        supervision.what_if(doc_a.cpts_id, "2026-W49", 2, 9, 10)
    with pytest.raises(NotFound):
        supervision.what_if(doc_a.cpts_id, "2026-W49", 2, 9, 10, commune_insee="00000")


def test_what_if_page(line, frozen, login_as):
    doc_a, _ = line
    client = login_as("coordinator")
    html = client.get("/coverage/what-if?week=2026-W49&commune=99004&weekday=2&hour_from=9"
                      "&hour_to=11").get_data(as_text=True)
    assert 'id="whatif-result"' in html and "4\u202f000 habitants" in html
    assert client.get("/coverage/what-if?weekday=2&hour_from=a&hour_to=3").status_code == 400


def test_what_if_baseline_is_bookable_capacity_and_the_territory(line, frozen):
    """A booked-out doctor is not present in the baseline (the map's definition); a commune
    outside the CPTS's territory is refused."""
    from tests.coverage.helpers import add_commune

    frozen.set(datetime(2026, 11, 30, 8, 0, tzinfo=UTC))
    doc_a, _doc_b = line
    add_slot(doc_a, local(W49_TUE, 9), booked=1)  # full: Aval and Bourg not covered at 9h
    r = supervision.what_if(doc_a.cpts_id, "2026-W49", 2, 9, 10, doctor_id=doc_a.id)
    assert (r.hours_filled, r.population_added) == (1, 3000)
    add_commune("98001", "Ailleurs", 47.05, -1.5, 500)  # loaded, not in the sector
    with pytest.raises(ValidationError) as exc:
        supervision.what_if(doc_a.cpts_id, "2026-W49", 2, 9, 10, commune_insee="98001")
    assert "territoire" in exc.value.message
