"""The weekday x hour grid: every slot's capacity spread over its real hours in proportion
to its minutes (a week adds up to the capacity offered), flagged empty hours inside the
publication hours, demand averaged over past weeks, DST weeks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agenda.booking.models import Booking, FloatingRequest, Patient
from agenda.coverage.hourly import hourly_grid
from agenda.extensions import db
from tests.coverage.helpers import add_slot, local

TUE = date(2026, 12, 1)
WED = date(2026, 12, 2)


@pytest.fixture()
def week(app, frozen, make_doctor):
    doc = make_doctor()
    other = make_doctor(insee="44180")
    add_slot(doc, local(TUE, 9, 0))  # 09:00-09:20 -> Tue 9h
    add_slot(other, local(TUE, 9, 50))  # 09:50-10:10 -> Tue 9h and 10h
    add_slot(doc, local(WED, 14), minutes=180, kind="floating", capacity=3, booked=1)
    add_slot(doc, local(date(2026, 12, 6), 10))  # Sunday: outside publication hours
    add_slot(other, local(WED, 8), status="withdrawn")
    add_slot(other, local(WED, 9), in_charter=False)
    return doc, other


def test_grid_counts_fixed_and_floating_capacity(week):
    doc, _ = week
    grid = hourly_grid(doc.cpts_id, "2026-W49")
    # 09:00-09:20 counts 1 in 9h; 09:50-10:10 half in 9h, half in 10h.
    assert (grid.cell(2, 9).supply, grid.cell(2, 10).supply) == (1.5, 0.5)
    for h in (14, 15, 16):  # 3 places over 3 hours: one place per hour
        cell = grid.cell(3, h)
        assert (cell.supply, cell.booked, cell.open) == pytest.approx((1, 1 / 3, 2 / 3),
                                                                      abs=1e-3)
        assert not cell.flagged
    # The week adds up to the capacity offered (1 + 1 + 3 + the Sunday slot 1).
    assert grid.totals()["supply"] == 6
    assert grid.cell(3, 17).supply == 0 and grid.cell(3, 17).flagged
    assert grid.cell(3, 8).supply == 0 and grid.cell(3, 9).supply == 0  # withdrawn, hors charte
    sunday = grid.cell(7, 10)
    assert sunday.supply == 1 and not sunday.in_hours and not sunday.flagged
    # Default publication hours: Mon-Fri 08-20 (60 cells) + Saturday 08-12 (4 cells);
    # 5 of them have supply.
    assert grid.totals()["flagged"] == 64 - 5
    assert grid.cell(1, 7).in_hours is False and grid.cell(1, 8).in_hours is True
    assert grid.cell(6, 12).in_hours is False and grid.cell(6, 11).in_hours is True
    assert grid.hours[0] == 8 and grid.hours[-1] == 19


def test_publication_hours_of_the_charter(week):
    from agenda.slots.services import charter_for

    doc, _ = week
    charter = charter_for(doc.cpts_id)
    charter.publication_hours = {"1": ["09:00", "12:00"], "7": ["10:00", "11:30"], "3": None}
    charter.saturday_morning = False
    db.session.commit()
    grid = hourly_grid(doc.cpts_id, "2026-W49")
    assert [h for h in range(24) if grid.cell(1, h).in_hours] == [9, 10, 11]
    assert [h for h in range(24) if grid.cell(7, h).in_hours] == [10, 11]
    assert not any(grid.cell(3, h).in_hours for h in range(24))  # closed day
    assert not any(grid.cell(6, h).in_hours for h in range(24))  # no Saturday morning
    assert grid.cell(2, 8).in_hours  # unset weekday: default 08-20


def test_demand_is_averaged_over_past_weeks(week, make_org):
    doc, _ = week
    org = make_org("secretariat")
    patient = Patient(last_name="A", first_name="B", commune_insee="44036")
    db.session.add(patient)
    db.session.flush()
    slot = add_slot(doc, local(date(2026, 11, 3), 11))
    for weeks_ago in (1, 2, 3, 4):  # four direct bookings made on Tuesdays at 09:xx
        made = local(TUE - timedelta(weeks=weeks_ago), 9, 15)
        db.session.add(Booking(reference=f"R{weeks_ago}", slot_id=slot.id, doctor_id=doc.id,
                               patient_id=patient.id, booker_org_id=org.id,
                               channel="secretariat", start=slot.start, end=slot.end,
                               created_at=made))
    req_made = local(WED - timedelta(weeks=2), 14, 30)
    req = FloatingRequest(reference="Q1", patient_id=patient.id, booker_org_id=org.id,
                          channel="secretariat", window_start=req_made,
                          window_end=req_made + timedelta(hours=2), created_at=req_made,
                          t1_at=req_made, deadline_at=req_made, status="accepted")
    db.session.add(req)
    db.session.flush()
    # The booking of the accepted request is the same demand: not counted twice.
    db.session.add(Booking(reference="R9", slot_id=slot.id, doctor_id=doc.id,
                           patient_id=patient.id, booker_org_id=org.id, channel="secretariat",
                           start=slot.start, end=slot.end, created_at=req_made,
                           request_id=req.id))
    # Too old (9 weeks ago) and in the chosen week itself: outside the 8 past weeks.
    db.session.add(Booking(reference="R10", slot_id=slot.id, doctor_id=doc.id,
                           patient_id=patient.id, booker_org_id=org.id, channel="secretariat",
                           start=slot.start, end=slot.end,
                           created_at=local(TUE - timedelta(weeks=9), 9, 5)))
    db.session.add(Booking(reference="R11", slot_id=slot.id, doctor_id=doc.id,
                           patient_id=patient.id, booker_org_id=org.id, channel="secretariat",
                           start=slot.start, end=slot.end, created_at=local(TUE, 9, 5)))
    db.session.commit()
    grid = hourly_grid(doc.cpts_id, "2026-W49")
    assert grid.cell(2, 9).demand == pytest.approx(4 / 8)
    assert grid.cell(2, 9).ratio == pytest.approx(1.5 / 0.5)
    assert grid.cell(3, 14).demand == pytest.approx(1 / 8)
    assert grid.cell(3, 14).ratio == pytest.approx(8.0)
    assert grid.cell(2, 10).ratio is None  # no demand seen at that hour
    assert grid.totals()["demand"] == pytest.approx(5 / 8)
    assert hourly_grid(doc.cpts_id, "2026-W49", demand_weeks=2).cell(2, 9).demand == 1.0


def test_spring_forward_week(app, frozen, make_doctor):
    doc = make_doctor()
    # Sunday 29 March 2026, 01:30 CET -> 04:30 CEST: local hours 1, 3 and 4 (2h never was).
    add_slot(doc, datetime(2026, 3, 29, 0, 30, tzinfo=UTC), minutes=120, kind="floating",
             capacity=2)
    add_slot(doc, local(date(2026, 3, 30), 9), minutes=20)  # Monday after: W14
    add_slot(doc, local(date(2026, 3, 27), 9), minutes=20)  # Friday before (UTC+1)
    grid = hourly_grid(doc.cpts_id, "2026-W13")
    assert [h for h in range(24) if grid.cell(7, h).supply] == [1, 3, 4]
    assert grid.cell(5, 9).supply == 1 and grid.cell(5, 8).supply == 0
    assert hourly_grid(doc.cpts_id, "2026-W14").cell(1, 9).supply == 1


def test_fall_back_week(app, frozen, make_doctor):
    doc = make_doctor()
    add_slot(doc, local(date(2026, 10, 24), 9))  # Saturday before (UTC+2)
    add_slot(doc, local(date(2026, 10, 26), 9))  # Monday after (UTC+1): W44
    assert hourly_grid(doc.cpts_id, "2026-W43").cell(6, 9).supply == 1
    grid = hourly_grid(doc.cpts_id, "2026-W44")
    assert grid.cell(1, 9).supply == 1 and grid.cell(1, 8).supply == 0
    assert grid.days[0][1] == date(2026, 10, 26)


def test_autumn_repeated_hour_counts_each_real_hour_once(app, frozen, make_doctor):
    """Sunday 25 October 2026: 01:00 CEST -> 04:00 CET is four real hours (02:00 twice). A
    floating window of 4 places over them gives 1 place per real hour: the local 02:00
    holds two real hours (2), never the capacity twice over; the week adds up to 4."""
    doc = make_doctor()
    add_slot(doc, datetime(2026, 10, 24, 23, 0, tzinfo=UTC), minutes=240, kind="floating",
             capacity=4)
    grid = hourly_grid(doc.cpts_id, "2026-W43", demand_weeks=0)
    assert [grid.cell(7, h).supply for h in range(5)] == pytest.approx([0, 1, 2, 1, 0])
    assert grid.totals()["supply"] == 4


def test_floating_capacity_per_hour_adds_up_to_the_week(app, frozen, make_doctor):
    """Ten windows of 8 places over 4 hours: 80 places in the week, 2 per hour."""
    doc = make_doctor()
    for day in range(5):
        for hour in (8, 14):
            add_slot(doc, local(date(2026, 11, 30) + timedelta(days=day), hour), minutes=240,
                     kind="floating", capacity=8)
    grid = hourly_grid(doc.cpts_id, "2026-W49", demand_weeks=0)
    assert grid.totals()["supply"] == 80
    assert grid.cell(1, 9).supply == 2 and grid.cell(5, 17).supply == 2


def test_page_api_and_cli(week, login_as, api_client, app):
    doc, _ = week
    client = login_as("coordinator")
    html = client.get("/coverage/hourly?week=2026-W49").get_data(as_text=True)
    assert html.count('data-flagged="1"') == 59
    assert 'data-weekday="3" data-hour="15" data-supply="1" data-booked="0.33' in html
    assert 'id="supply-definition"' in html and "au prorata des minutes" in html
    assert client.get("/coverage/hourly?week=2026-49").status_code == 400
    body = client.get("/coverage/hourly?week=2026-W49&format=csv").get_data(as_text=True)
    lines = body.lstrip("\ufeff").strip().split("\r\n")
    assert len(lines) == 1 + 7 * 24
    assert "3;2026-12-02;15;1,0;0,333;0,667;0,0;;1;0" in lines
    assert sum(1 for line in lines[1:] if line.endswith(";1;1")) == 59
    assert login_as("secretary").get("/coverage/hourly").status_code == 403

    api, headers, _ = api_client("coordinator")
    data = api.get("/api/v1/coverage/hourly?week=2026-W49", headers=headers).get_json()
    cells = {(c["weekday"], c["hour"]): c for c in data["cells"]}
    assert cells[(3, 16)]["supply"] == 1 and cells[(3, 16)]["open"] == 0.667
    assert data["totals"]["supply"] == 6
    assert cells[(3, 17)]["flagged"] is True
    assert data["totals"]["flagged"] == 59
    assert api.get("/api/v1/coverage/hourly?week=W49", headers=headers).status_code == 400

    result = app.test_cli_runner().invoke(args=["coverage", "report", "--week", "2026-W49"])
    assert result.exit_code == 0, result.output
    assert "Heures sans offre dans les horaires de publication : 59" in result.output
    assert "mer 2026-12-02 : 08h-14h, 17h-20h" in result.output
    assert "Communes non couvertes" in result.output
    assert "Sous le minimum" in result.output
    bad = app.test_cli_runner().invoke(args=["coverage", "report", "--week", "49"])
    assert bad.exit_code != 0


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(slots=st.lists(st.tuples(st.integers(0, 6), st.integers(0, 23), st.sampled_from(
    [0, 20, 40]), st.integers(1, 240), st.integers(1, 4)), min_size=1, max_size=12))
def test_grid_totals_match_an_independent_count(app, frozen, make_doctor, slots):
    """Supply summed over the grid (and the next week, for a slot across Sunday midnight) =
    the capacity offered; flagged + supplied = open cells."""
    from sqlalchemy import delete

    from agenda.slots.models import Slot

    db.session.execute(delete(Slot))
    doc = make_doctor()
    expected = 0
    monday = date(2026, 11, 30)
    for day, hour, minute, length, cap in slots:
        start = local(monday + timedelta(days=day), hour, minute)
        add_slot(doc, start, minutes=length, kind="floating" if cap > 1 else "fixed",
                 capacity=cap)
        expected += cap
    grid = hourly_grid(doc.cpts_id, "2026-W49", demand_weeks=0)
    in_next_week = hourly_grid(doc.cpts_id, "2026-W50", demand_weeks=0)
    spill = sum(c.supply for (wd, h), c in in_next_week.cells.items())
    assert sum(c.supply for c in grid.cells.values()) + spill == pytest.approx(expected)
    open_cells = [c for c in grid.cells.values() if c.in_hours]
    assert len(open_cells) == 64
    assert len(grid.flagged) + sum(1 for c in open_cells if c.supply) == 64
