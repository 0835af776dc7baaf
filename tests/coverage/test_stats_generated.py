"""A generated year calibrated on the seeds: the statistics equal the generator's ground
truth, on the page, in the CSV exports and in the API."""

from __future__ import annotations

import csv
import io
import re

import pytest

from agenda.coverage.csvexport import parse_cell
from agenda.coverage.generator import generate_year


@pytest.fixture()
def year(app, cpts, communes):
    return generate_year(cpts, list(communes.values()), year=2025)


def _rate(a, b):
    return round(a / b, 4) if b else None


def _expected_summary(gt) -> dict:
    s = gt.summary
    return {
        "calls": s["calls"],
        "slots_made_available": s["slots_made_available"],
        "fixed_slots": s["fixed_slots"],
        "floating_capacity": s["floating_capacity"],
        "floating_hours": float(s["floating_hours"]),
        "bookings": s["bookings"],
        "cancelled_bookings": s["cancelled_bookings"],
        "consultations": s["consultations"],
        "no_shows": s["no_shows"],
        "no_show_rate": _rate(s["no_shows"], s["consultations"] + s["no_shows"]),
        "consulted_share": _rate(s["consultations"], s["slots_made_available"]),
        "requests": s["requests"],
        "requests_accepted": s["requests_accepted"],
        "requests_expired": s["requests_expired"],
        "acceptance_rate": _rate(s["requests_accepted"],
                                 s["requests_accepted"] + s["requests_expired"]),
        "treating_share": _rate(s["treating_seen"], s["bookings"]),
        "reorientations": s["reorientations"],
    }


def _csv(resp) -> list[dict]:
    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    text = resp.get_data(as_text=True).lstrip("\ufeff")
    return list(csv.DictReader(io.StringIO(text), delimiter=";"))


def test_generator_is_calibrated_on_the_seeds(year):
    s = year.summary
    assert 1990 <= s["slots_made_available"] <= 2010
    assert s["calls"] == 3748
    assert 0.57 <= s["consultations"] / s["slots_made_available"] <= 0.67
    assert 0.13 <= s["no_shows"] / (s["no_shows"] + s["consultations"]) <= 0.19


def test_year_statistics_equal_ground_truth_in_page_csv_and_api(year, login_as, api_client):
    expected = _expected_summary(year)
    client = login_as("coordinator")
    query = "period=custom&from=2025-01-01&to=2025-12-31"

    # The page: one row per indicator, the raw value in data-value.
    html = client.get(f"/coverage/stats?{query}").get_data(as_text=True)
    page = {k: v for k, v in re.findall(
        r'<tr data-key="([a-z_]+)"><th scope="row">[^<]*</th><td class="num" '
        r'data-value="([^"]*)"', html)}
    for key, value in expected.items():
        assert key in page, key
        got = float(page[key]) if page[key] != "" else None
        assert got == (float(value) if value is not None else None), key
    assert f"{expected['calls']} appels traités" in html
    assert f"{expected['consultations']} consultations réalisées" in html

    # The CSV of the summary.
    rows = _csv(client.get(f"/coverage/stats?{query}&format=csv&table=summary"))
    csv_summary = {r["indicator"]: parse_cell(r["value"]) for r in rows}
    for key, value in expected.items():
        got = csv_summary[key]
        assert (float(got) if got is not None else None) == \
            (float(value) if value is not None else None), key

    # Per channel.
    rows = _csv(client.get(f"/coverage/stats?{query}&format=csv&table=channels"))
    by_channel = {r["channel"]: r for r in rows}
    for channel, counts in year.channels.items():
        row = by_channel[channel]
        for key in ("calls", "requests", "requests_accepted", "requests_expired", "bookings",
                    "consultations", "no_shows", "reorientations"):
            assert int(row[key]) == counts[key], (channel, key)
        assert parse_cell(row["no_show_rate"]) == _rate(
            counts["no_shows"], counts["no_shows"] + counts["consultations"])
        assert f'data-channel="{channel}"' in html

    # Per doctor.
    rows = _csv(client.get(f"/coverage/stats?{query}&format=csv&table=doctors"))
    assert len(rows) == 25
    for row in rows:
        truth = year.doctors[int(row["doctor_id"])]
        for key in ("fixed_slots", "floating_capacity", "bookings", "consultations",
                    "no_shows", "requests_accepted"):
            assert int(row[key]) == truth[key], key
        assert parse_cell(row["floating_hours"]) == pytest.approx(truth["floating_hours"])

    # Timeline by month (a year is shown by month).
    rows = _csv(client.get(f"/coverage/stats?{query}&format=csv&table=timeline"))
    assert {r["period"] for r in rows} == set(year.months)
    for row in rows:
        truth = year.months[row["period"]]
        assert int(row["slots"]) == truth["slots"]
        assert int(row["consultations"]) == truth["consultations"]
        assert int(row["no_shows"]) == truth["no_shows"]

    # Reasons: bookings + requests per label.
    rows = _csv(client.get(f"/coverage/stats?{query}&format=csv&table=reasons"))
    total = sum(int(r["bookings"]) + int(r["requests"]) for r in rows)
    assert total == sum(year.reasons.values())

    # The API says the same.
    api, headers, _ = api_client("coordinator")
    data = api.get("/api/v1/stats?from=2025-01-01&to=2025-12-31", headers=headers).get_json()
    for key, value in expected.items():
        assert data["summary"][key] == value, key


def test_period_filter_excludes_other_years(year, login_as):
    client = login_as("coordinator")
    rows = _csv(client.get("/coverage/stats?period=year&day=2024-06-01&format=csv"))
    values = {r["indicator"]: parse_cell(r["value"]) for r in rows}
    assert values["slots_made_available"] == 0
    assert values["consultations"] == 0
    resp = client.get("/coverage/stats?period=month&day=2025-03-15")
    assert resp.status_code == 200
    assert "1 mars 2025" in resp.get_data(as_text=True)


def test_stats_refuse_bad_input(app, login_as, api_client):
    client = login_as("coordinator")
    assert client.get("/coverage/stats?period=custom&from=2025-02-01&to=2025-01-01"
                      ).status_code == 400
    assert client.get("/coverage/stats?period=custom&from=abc&to=2025-01-01").status_code == 400
    assert client.get("/coverage/stats?format=csv&table=nope").status_code == 400
    api, headers, _ = api_client("coordinator")
    resp = api.get("/api/v1/stats?from=2025-01-01", headers=headers)
    assert resp.status_code == 400 and resp.get_json()["error"]
    api, headers, _ = api_client("secretary")
    assert api.get("/api/v1/stats?from=2025-01-01&to=2025-01-31",
                   headers=headers).status_code == 403
