"""A generated year calibrated on the seeds (rows inserted directly: the bench's and the
browser test's data). The statistics are checked against a year replayed through the
services in test_stats_replay.py; here: calibration, the period filter, bad input."""

from __future__ import annotations

import csv
import io

import pytest

from agenda.coverage.csvexport import parse_cell
from agenda.coverage.generator import generate_year


@pytest.fixture()
def year(app, cpts, communes):
    return generate_year(cpts, list(communes.values()), year=2025)


def _rate(a, b):
    return round(a / b, 4) if b else None


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


def test_period_filter_excludes_other_years(year, login_as):
    client = login_as("coordinator")
    rows = _csv(client.get("/coverage/stats?period=year&day=2024-06-01&format=csv&technique=1"))
    values = {r["indicator"]: parse_cell(r["value"]) for r in rows}
    assert values["slots_offered"] == 0
    assert values["requests"] == 0
    assert values["consultations"] == 0
    resp = client.get("/coverage/stats?period=month&day=2025-03-15")
    assert resp.status_code == 200
    assert "1 mars 2025" in resp.get_data(as_text=True)


def test_stats_refuse_bad_input(app, login_as, api_client):
    client = login_as("coordinator")
    assert client.get("/coverage/stats?period=custom&from=2025-02-01&to=2025-01-01"
                      ).status_code == 400
    assert client.get("/coverage/stats?period=custom&from=abc&to=2025-01-01").status_code == 400
    assert client.get("/coverage/stats?format=csv&technique=1&table=nope").status_code == 400
    api, headers, _ = api_client("coordinator")
    resp = api.get("/api/v1/stats?from=2025-01-01", headers=headers)
    assert resp.status_code == 400 and resp.get_json()["error"]
    api, headers, _ = api_client("secretary")
    assert api.get("/api/v1/stats?from=2025-01-01&to=2025-01-31",
                   headers=headers).status_code == 403
