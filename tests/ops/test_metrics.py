"""/metrics: closed unless a token or a trusted address; latency by endpoint; bookings,
searches, outbox backlog and sync errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agenda import create_app, outbox
from agenda.extensions import db
from agenda.ops.health import record_heartbeat
from agenda.sync.models import CalendarAccount
from tests.booking.test_pages import PATIENT
from tests.conftest import csrf_token
from tests.ops.conftest import TOKEN, samples, value

LATENCY = "agenda_http_request_duration_seconds"


def test_closed_when_nothing_is_configured(client):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
                      ).status_code == 404


def test_the_token_opens_it(app, client):
    app.config["METRICS_TOKEN"] = TOKEN
    assert client.get("/metrics").status_code == 403
    for wrong in (f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN, "Bearer "):
        assert client.get("/metrics", headers={"Authorization": wrong}).status_code == 403
    resp = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 200
    assert resp.mimetype == "text/plain" and "version=" in resp.content_type
    assert "# TYPE agenda_http_request_duration_seconds histogram" in resp.get_data(as_text=True)


def test_a_trusted_address_opens_it(app, client):
    app.config["METRICS_TRUSTED_ADDRESSES"] = "10.20.0.0/16, 192.0.2.7, 2001:db8::/32"
    for addr, expected in (("10.20.3.4", 200), ("10.21.0.1", 403), ("192.0.2.7", 200),
                           ("192.0.2.8", 403), ("::ffff:10.20.9.9", 200),
                           ("2001:db8::1", 200), ("2001:db9::1", 403), ("127.0.0.1", 403)):
        resp = client.get("/metrics", environ_base={"REMOTE_ADDR": addr})
        assert resp.status_code == expected, addr
    # A forwarded header is no proof of the client's address.
    resp = client.get("/metrics", headers={"X-Forwarded-For": "10.20.3.4"})
    assert resp.status_code == 403


def test_a_wrong_trusted_address_stops_the_start(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("AGENDA_INSTANCE_PATH", str(tmp_path))
    with pytest.raises(ValueError, match="10.0.0.300"):
        create_app({"DATABASE_URL": database_url, "METRICS_TRUSTED_ADDRESSES": "10.0.0.300"})


def test_latency_histogram_by_endpoint_not_by_url(client, scrape):
    before = scrape()
    for _ in range(3):
        assert client.get("/health").status_code == 200
    assert client.get("/no-such-page/123456").status_code == 404
    assert client.post("/health").status_code == 405
    assert client.open("/health", method="BREW").status_code == 405
    text = scrape()
    labels = {"endpoint": "health", "method": "GET", "status": "200"}
    assert value(text, LATENCY + "_count", **labels) - value(before, LATENCY + "_count",
                                                             **labels) == 3
    assert value(text, LATENCY + "_bucket", le="+Inf", **labels) == value(
        text, LATENCY + "_count", **labels)
    assert value(text, LATENCY + "_bucket", le="0.005", **labels) <= value(
        text, LATENCY + "_bucket", le="10.0", **labels)
    assert value(text, LATENCY + "_sum", **labels) > 0
    assert value(text, LATENCY + "_count", endpoint="aucun", method="GET", status="404") >= 1
    assert value(text, LATENCY + "_count", endpoint="aucun", method="POST", status="405") >= 1
    assert value(text, LATENCY + "_count", endpoint="aucun", method="autre", status="405") >= 1
    assert "BREW" not in text
    assert "123456" not in text and "no-such-page" not in text
    # The scrapes themselves are timed under their endpoint name.
    assert value(text, LATENCY + "_count", endpoint="ops.metrics", method="GET",
                 status="200") >= 1


def test_bookings_and_searches_are_counted(frozen, make_doctor, make_slot, api_client, scrape,
                                           login_as):
    now = frozen.advance(minutes=0)
    doctor = make_doctor("44036")
    slot = make_slot(doctor, now + timedelta(hours=2))
    floating = make_slot(doctor, now + timedelta(hours=4), minutes=120, kind="floating")
    c, h, _ = api_client("secretary")
    before = scrape()
    resp = c.get("/api/v1/slots?commune=44036", headers=h)
    assert resp.status_code == 200 and resp.get_json()["slots"]
    patient = {"last_name": "Martin", "first_name": "Léo", "commune": "44036"}
    resp = c.post("/api/v1/bookings", json={"slot_id": slot.id, "patient": patient}, headers=h)
    assert resp.status_code == 201, resp.get_json()
    # A lost race books nothing and counts nothing.
    assert c.post("/api/v1/bookings", json={"slot_id": slot.id, "patient": patient},
                  headers=h).status_code == 409
    resp = c.post("/api/v1/bookings", json={"slot_id": floating.id, "patient": patient},
                  headers=h)
    assert resp.status_code == 202, resp.get_json()
    # A search from the secretary's page (the web origin).
    page = login_as("secretary")
    data = dict(PATIENT, csrf_token=csrf_token(page, "/reservations/recherche"), horizon="48",
                mode="", sector="0", action="search")
    html = page.post("/reservations/recherche", data=data).get_data(as_text=True)
    assert f'data-slot-id="{floating.id}"' in html
    after = scrape()

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("agenda_searches_total", origin="api") == 1
    assert moved("agenda_searches_total", origin="web") == 1
    assert moved("agenda_bookings_total", channel="secretariat", origin="api") == 1
    assert moved("agenda_floating_requests_total", channel="secretariat", origin="api") == 1
    # No patient data in the exposition.
    assert "Martin" not in after and "Léo" not in after


def test_sas_platform_searches_are_counted(app, frozen, client, make_doctor, scrape):
    from tests.sas.conftest import search_url

    app.config["FHIR_API_KEYS"] = "sas-national:cle-sas-de-test-0123456789"
    doctor = make_doctor()
    before = value(scrape(), "agenda_searches_total", origin="sas")
    resp = client.get(search_url([doctor], "2026-12-01T00:00:00+01:00",
                                 "2026-12-02T23:59:59+01:00"),
                      headers={"X-API-Key": "cle-sas-de-test-0123456789",
                               "Accept": "application/fhir+json"})
    assert resp.status_code == 200
    assert client.get("/fhir/r4/Slot?start=bad", headers={
        "X-API-Key": "cle-sas-de-test-0123456789"}).status_code == 400
    assert value(scrape(), "agenda_searches_total", origin="sas") - before == 1


def test_outbox_backlog_and_sync_errors_are_read_at_scrape_time(frozen, make_doctor, scrape):
    start = frozen.advance(minutes=0)
    text = scrape()
    assert value(text, "agenda_database_up") == 1
    assert value(text, "agenda_sync_accounts_in_error") == 0
    assert value(text, "agenda_outbox_due_rows") == 0
    assert ("agenda_worker_heartbeat_age_seconds", frozenset()) not in samples(text)
    record_heartbeat("worker-a")
    for kind in ("mail", "mail", "caldav.booking"):
        outbox.enqueue(kind, {})
    failed = outbox.enqueue("mail", {})
    failed.status = "failed"
    doctors = [make_doctor() for _ in range(3)]
    for doctor, state in zip(doctors, ("ok", "error", "error"), strict=True):
        db.session.add(CalendarAccount(doctor_id=doctor.id, calendar_url="http://x/cal/",
                                       state=state))
    db.session.commit()
    frozen.advance(seconds=90)
    text = scrape()
    assert value(text, "agenda_outbox_pending_rows", kind="mail") == 2
    assert value(text, "agenda_outbox_pending_rows", kind="caldav.booking") == 1
    assert value(text, "agenda_outbox_due_rows") == 3
    assert value(text, "agenda_outbox_failed_rows") == 1
    assert value(text, "agenda_outbox_oldest_pending_age_seconds") == 90
    assert value(text, "agenda_outbox_oldest_due_delay_seconds") == 90
    assert value(text, "agenda_sync_accounts_in_error") == 2
    assert value(text, "agenda_calendar_accounts", state="ok") == 1
    assert value(text, "agenda_calendar_accounts", state="error") == 2
    assert value(text, "agenda_worker_heartbeat_age_seconds") == 90
    assert value(text, "agenda_workers_recent") == 1
    assert start  # frozen


def test_a_dead_database_still_gives_the_other_metrics(other_app, tmp_path):
    app = other_app(f"sqlite:///{tmp_path / 'missing' / 'agenda.sqlite3'}",
                    METRICS_TOKEN=TOKEN)
    resp = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 200
    text = resp.get_data(as_text=True)
    assert value(text, "agenda_database_up") == 0
    assert "agenda_outbox_pending_rows" not in text
    assert "# TYPE agenda_http_request_duration_seconds histogram" in text
