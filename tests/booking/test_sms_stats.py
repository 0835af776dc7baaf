"""Issue 18, point 3: the statistics show no-shows with and without a text reminder, the
patients' cancellations and their delay before the consultation — a day played through
the services, the gateway and the link, against its known ground truth, on the page, the
CSV and the API."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from agenda import clock
from agenda.accounts.models import User
from agenda.booking import reminders, services
from agenda.coverage.csvexport import parse_cell
from agenda.extensions import db
from agenda.sync.worker import drain_outbox
from tests.conftest import csrf_token

H = timedelta(hours=1)
M = timedelta(minutes=1)


def test_reminder_and_patient_cancellation_figures(frozen, make_doctor, make_slot, make_user,
                                                   patient_data, sms_gateway, client,
                                                   login_as, api_client):
    t0 = clock.now()  # Tuesday 1 December 2026, 09:00 in Paris
    doctor = make_doctor("44036", address="1 rue Neuve", phone="02 40 00 00 01",
                         with_user=True)
    doctor_user = db.session.get(User, doctor.user_id)
    secretary, _ = make_user("secretary")

    def book(start, consent):
        slot = make_slot(doctor, t0 + start)
        return services.book(secretary, services.BookingInput(
            slot_id=slot.id, patient=patient_data(sms_consent=consent)))

    reminded = [book(5 * H + i * 20 * M, True) for i in range(4)]  # A1..A4
    plain = [book(6 * H + 20 * M + i * 20 * M, False) for i in range(3)]  # B1..B3
    late_start = 7 * H + 20 * M  # C1: booked inside its reminder window (below)
    p1, p2 = book(10 * H, True), book(8 * H, True)  # cancelled by the patient
    x1 = book(9 * H, True)  # cancelled by the secretary
    drain_outbox()
    link = {m["key"].rsplit("-", 1)[0]: m["text"] for m in sms_gateway.messages}

    def tap(booking):
        token = re.search(r"/a/([A-Za-z0-9_-]+)", link[booking.reference]).group(1)
        resp = client.post(f"/a/{token}", data={"csrf_token": csrf_token(client, "/login")})
        assert "Rendez-vous annulé" in resp.get_data(as_text=True)

    late = None
    for step in range(1, 11 * 2 + 1):  # every 30 minutes, as the worker would
        now = frozen.set(t0 + step * 30 * M)
        if now == t0 + 1 * H:
            tap(p1)  # 9 h before its consultation
        if now == t0 + 3 * H:
            tap(p2)  # 5 h before
        if now == t0 + 4 * H:
            services.cancel_booking(secretary, x1.id, "le patient a trouvé ailleurs")
        if now == t0 + 6 * H:
            late = book(late_start, True)  # its reminder was due at 5:20: none
        reminders.send_due_reminders()
        drain_outbox()
    assert sms_gateway.problems == []
    reminder_keys = sorted(m["key"] for m in sms_gateway.messages
                           if m["key"].endswith("-reminder"))
    assert reminder_keys == sorted(f"{b.reference}-reminder" for b in reminded)

    outcomes = {reminded[0]: "seen", reminded[1]: "seen", reminded[2]: "seen",
                reminded[3]: "no_show", plain[0]: "seen", plain[1]: "no_show",
                plain[2]: "no_show", late: "no_show"}
    for booking, outcome in outcomes.items():
        services.record_outcome(doctor_user, booking.id, outcome)

    want = {"bookings": 8, "cancelled_bookings": 3, "consultations": 4, "no_shows": 4,
            "reminded_bookings": 4, "no_shows_reminded": 1, "no_show_rate_reminded": 0.25,
            "no_shows_not_reminded": 3, "no_show_rate_not_reminded": 0.75,
            "patient_cancellations": 2, "patient_cancel_median_hours": 7.0}

    coordinator = login_as("coordinator")
    query = "period=custom&from=2026-12-01&to=2026-12-01"
    html = coordinator.get(f"/coverage/stats?{query}").get_data(as_text=True)
    rows = {r["indicator"]: r for r in csv.DictReader(io.StringIO(coordinator.get(
        f"/coverage/stats?{query}&format=csv&technique=1&table=summary").get_data(as_text=True)
        .lstrip("\ufeff")), delimiter=";")}
    api, headers, _user = api_client("coordinator")
    data = api.get("/api/v1/stats?from=2026-12-01&to=2026-12-01", headers=headers).get_json()
    for key, value in want.items():
        cell = re.search(rf'<tr data-key="{key}">.*?data-value="([^"]*)"', html, re.S)
        assert cell and float(cell.group(1)) == value, (key, cell and cell.group(1))
        assert float(parse_cell(rows[key]["value"])) == value, key
        assert rows[key]["definition"], key
        assert data["summary"][key] == value, (key, data["summary"][key])
        assert data["definitions"][key]
