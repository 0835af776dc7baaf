"""Fixtures of the operations tests: a scrape helper, slots and patients of the booking
tests, another app on another database."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agenda import create_app
from tests.booking.conftest import make_slot, patient_data  # noqa: F401  (fixtures)
from tests.conftest import _test_config

TOKEN = "jeton-de-collecte-de-test"


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Exposition text -> {(sample name, labels): value}."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(text: str, name: str, **labels) -> float:
    """A sample's value, 0 when absent (a counter not moved yet)."""
    return samples(text).get((name, frozenset(labels.items())), 0.0)


@pytest.fixture()
def scrape(app, client):
    """``scrape()`` -> the /metrics text, read with the token."""
    app.config["METRICS_TOKEN"] = TOKEN

    def _scrape() -> str:
        resp = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert resp.status_code == 200, resp.status_code
        return resp.get_data(as_text=True)

    return _scrape


@pytest.fixture()
def other_app(tmp_path, monkeypatch):
    """``other_app(database_url, **config)``: an app of its own, e.g. on a dead database."""
    monkeypatch.setenv("AGENDA_INSTANCE_PATH", str(tmp_path / "other"))

    def _make(database_url: str, **config):
        return create_app({**_test_config(database_url, tmp_path), **config})

    return _make
