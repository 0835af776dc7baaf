"""Acceptance of issue 13: a year replayed through the services (``agenda.coverage.replay``)
with its own ground truth; every figure of the statistics page, its CSV exports, the API,
the yearly report and the indemnities equals that truth (to the cent for money)."""

from __future__ import annotations

import csv
import io
import re
import statistics
from collections import Counter, defaultdict
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

from agenda.coverage.csvexport import parse_cell
from agenda.coverage.replay import replay_year
from agenda.outbox import OutboxItem
from agenda.extensions import db
from agenda.timeutil import to_local

YEAR = 2025
CHANNELS = ("secretariat", "samu", "ed", "cpts", "other")


def _rate(a, b):
    return round(a / b, 4) if b else None


def _in_year(dt) -> bool:
    return to_local(dt).year == YEAR


def _month(dt) -> str:
    return to_local(dt).strftime("%Y-%m")


def _figures(calls, requests, slots, bookings, end) -> dict:
    """The expected figures of one bucket, computed from the replay's truth (this test's own
    arithmetic, not the application's)."""
    keys = Counter(c["key"] for c in calls)
    found = keys["calls_booked"] + keys["calls_request_accepted"]
    acc = sum(r["status"] == "accepted" for r in requests)
    exp = sum(r["status"] == "expired" for r in requests)
    fixed = sum(s["kind"] == "fixed" for s in slots)
    floating = sum(s["capacity"] for s in slots if s["kind"] == "floating")
    minutes = sum(s["minutes"] for s in slots if s["kind"] == "floating")
    live = [b for b in bookings if b["status"] != "cancelled"]
    seen = [b for b in live if b["status"] == "seen"]
    absent = sum(b["status"] == "no_show" for b in live)
    with_treating = [b for b in seen if b["treating"] is not None]
    own = sum(b["treating"] == b["doctor"] for b in with_treating)
    delays = [(b["start"] - b["call_at"]).total_seconds() / 60 for b in seen]
    # Text reminders and patients' cancellations (issue 18): the replay sends none, so
    # these follow from the bookings' own flags.
    reminded = [b for b in live if b.get("reminded")]
    seen_r = sum(b["status"] == "seen" for b in reminded)
    absent_r = sum(b["status"] == "no_show" for b in reminded)
    by_patient = [b for b in bookings if b["status"] == "cancelled"
                  and b.get("path") == "patient"]
    cancel_hours = [(b["start"] - b["cancelled_at"]).total_seconds() / 3600
                    for b in by_patient]
    out = {
        "requests": len(calls),
        "calls_booked": keys["calls_booked"],
        "calls_request_accepted": keys["calls_request_accepted"],
        "calls_request_expired": keys["calls_request_expired"],
        "calls_request_open": keys["calls_request_open"],
        "calls_no_slot": keys["calls_no_slot"],
        "calls_reoriented": keys["calls_reoriented"],
        "calls_declined": keys["calls_declined"],
        "calls_other": keys["calls_other"],
        "found_slot": found,
        "field_acceptance_rate": _rate(found, len(calls)),
        "floating_requests": len(requests),
        "floating_accepted": acc,
        "floating_expired": exp,
        "floating_acceptance_rate": _rate(acc, acc + exp),
        "slots_offered": fixed + floating,
        "fixed_slots": fixed,
        "floating_capacity": floating,
        "floating_hours": round(minutes / 60, 2),
        "bookings": len(live),
        "cancelled_bookings": len(bookings) - len(live),
        "consultations": len(seen),
        "no_shows": absent,
        "no_show_rate": _rate(absent, len(seen) + absent),
        "reminded_bookings": len(reminded),
        "no_shows_reminded": absent_r,
        "no_show_rate_reminded": _rate(absent_r, seen_r + absent_r),
        "no_shows_not_reminded": absent - absent_r,
        "no_show_rate_not_reminded": _rate(absent - absent_r,
                                           len(seen) - seen_r + absent - absent_r),
        "patient_cancellations": len(by_patient),
        "patient_cancel_median_hours": round(statistics.median(cancel_hours), 1)
        if cancel_hours else None,
        "consulted_share": _rate(len(seen), fixed + floating),
        "outcome_missing": sum(b["status"] == "booked" and b["start"] <= end - timedelta(hours=48)
                               for b in live),
        "own_doctor_seen": own,
        "own_doctor_patients": len(with_treating),
        "own_doctor_share": _rate(own, len(with_treating)),
        "call_to_consultation_median_min": round(statistics.median(delays), 1) if delays
        else None,
    }
    for ch in CHANNELS:
        out[ch] = sum(c["channel"] == ch for c in calls)
    return out


def _same(got, want) -> bool:
    if want is None:
        return got in (None, "")
    return got not in (None, "") and float(got) == float(want)


def _csv(resp) -> list[dict]:
    assert resp.status_code == 200, resp.status_code
    assert resp.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff")),
                               delimiter=";"))


def _money(minutes, fixed, seen, formula) -> Decimal:
    total = (Decimal(formula["per_slot"]) * fixed
             + Decimal(formula["per_floating_hour"]) * minutes / 60
             + Decimal(formula["per_consultation"]) * seen)
    return min(total, Decimal(formula["monthly_cap"])).quantize(Decimal("0.01"),
                                                                 rounding=ROUND_HALF_UP)


@pytest.fixture()
def year(app, cpts, communes):
    return replay_year(cpts, list(communes.values()), year=YEAR)


def test_replayed_year_equals_its_truth_on_page_csv_api_report_and_indemnities(
        year, login_as, api_client):
    t = year
    calls = [c for c in t.calls if _in_year(c["at"])]
    requests = [r for r in t.requests.values() if _in_year(r["at"])]
    slots = [s for s in t.slots.values() if _in_year(s["start"])]
    bookings = [b for b in t.bookings.values() if _in_year(b["start"])]

    # The year is what the acceptance asks for.
    keys = Counter(c["key"] for c in calls)
    assert len(calls) >= 2000
    assert {c["channel"] for c in calls} >= {"secretariat", "samu", "ed", "cpts"}
    for key in ("calls_booked", "calls_request_accepted", "calls_request_expired",
                "calls_no_slot", "calls_reoriented", "calls_declined", "calls_other"):
        assert keys[key] > 0, key
    statuses = Counter(b["status"] for b in bookings)
    assert statuses["seen"] and statuses["no_show"] and statuses["booked"]
    paths = Counter(b.get("path") for b in bookings if b["status"] == "cancelled")
    assert paths["outcome"] and paths["doctor"]
    assert {"secretary", "regulator", "ed_nurse"} & set(paths)
    assert any(to_local(c["at"]).month == 12 and to_local(c["at"]).day >= 30 for c in calls)

    expected = _figures(calls, requests, slots, bookings, t.end)
    client = login_as("coordinator")
    query = f"period=custom&from={YEAR}-01-01&to={YEAR}-12-31"
    html = client.get(f"/coverage/stats?{query}").get_data(as_text=True)
    api, headers, _u = api_client("coordinator")
    data = api.get(f"/api/v1/stats?from={YEAR}-01-01&to={YEAR}-12-31",
                   headers=headers).get_json()

    # Summary: page (data-value, with each figure's definition beside it), CSV, API.
    page = dict(re.findall(r'<tr data-key="([a-z_]+)"><th scope="row"><abbr class="def" '
                           r'title="[^"]+">[^<]+</abbr></th><td class="num" '
                           r'data-value="([^"]*)"', html))
    summary_csv = {r["indicator"]: r for r in _csv(client.get(
        f"/coverage/stats?{query}&format=csv&technique=1&table=summary"))}
    for key in data["summary"]:
        want = expected[key]
        assert _same(page[key], want), (key, page[key], want)
        assert _same(parse_cell(summary_csv[key]["value"]), want), key
        assert summary_csv[key]["definition"], key
        assert _same(data["summary"][key], want), (key, data["summary"][key], want)
        assert data["definitions"][key]
    assert set(data["summary"]) >= set(expected) - set(CHANNELS)

    # Per channel.
    by_channel = {r["channel"]: r for r in _csv(client.get(
        f"/coverage/stats?{query}&format=csv&technique=1&table=channels"))}
    api_channels = {r["channel"]: r for r in data["channels"]}
    for ch in CHANNELS:
        want = _figures([c for c in calls if c["channel"] == ch],
                        [r for r in requests if r["channel"] == ch], [],
                        [b for b in bookings if b["channel"] == ch], t.end)
        want["channel_share"] = _rate(want["requests"], len(calls))
        for key, value in api_channels[ch].items():
            if key in ("channel", "label"):
                continue
            assert _same(value, want[key]), (ch, key, value, want[key])
            assert _same(parse_cell(by_channel[ch][key]), want[key]), (ch, key)
            cell = re.search(rf'<tr data-channel="{ch}">.*?data-key="{key}" '
                             r'data-value="([^"]*)"', html, re.S)
            assert _same(cell.group(1), want[key]), (ch, key)

    # Per month (the year is shown by month), on the page, the CSV and the API.
    months = sorted({_month(c["at"]) for c in calls} | {_month(s["start"]) for s in slots})
    timeline = {r["period"]: r for r in _csv(client.get(
        f"/coverage/stats?{query}&format=csv&technique=1&table=timeline"))}
    api_timeline = {r["period"]: r for r in data["timeline"]}
    assert sorted(timeline) == months == sorted(api_timeline)
    month_truth = {}
    for m in months:
        want = _figures([c for c in calls if _month(c["at"]) == m],
                        [r for r in requests if _month(r["at"]) == m],
                        [s for s in slots if _month(s["start"]) == m],
                        [b for b in bookings if _month(b["start"]) == m], t.end)
        month_truth[m] = want
        for key, value in api_timeline[m].items():
            if key == "period":
                continue
            assert _same(value, want[key]), (m, key, value, want[key])
            assert _same(parse_cell(timeline[m][key]), want[key]), (m, key)

    # The yearly report: page, CSV and API, months then the year.
    report_csv = {r["period"]: r for r in _csv(client.get(
        f"/coverage/report?year={YEAR}&format=csv&technique=1"))}
    report_api = {r["period"]: r for r in api.get(f"/api/v1/stats/report?year={YEAR}",
                                                  headers=headers).get_json()["rows"]}
    report_html = client.get(f"/coverage/report?year={YEAR}").get_data(as_text=True)
    month_truth[str(YEAR)] = expected
    assert set(report_csv) == set(report_api) == set(month_truth)
    for period, want in month_truth.items():
        for ch in CHANNELS:
            want[f"channel_share_{ch}"] = _rate(want[ch], want["requests"])
        for key, value in report_api[period].items():
            if key == "period":
                continue
            assert _same(value, want[key]), (period, key, value, want[key])
            assert _same(parse_cell(report_csv[period][key]), want[key]), (period, key)
            cell = re.search(rf'<tr data-key="{key}">.*?<td class="num" '
                             rf'data-period="{period}" data-value="([^"]*)"', report_html, re.S)
            assert _same(cell.group(1), want[key]), (period, key)

    # Bookings still without an outcome: listed, and each doctor reminded once by mail.
    missing = [r for r in data["missing_outcomes"]]
    all_missing = [b for b in t.bookings.values()
                   if b["status"] == "booked" and b["start"] <= t.end - timedelta(hours=48)]
    assert len(missing) == len(all_missing) > 0
    assert all(r["reminded_at"] for r in missing)
    reminders = [o for o in db.session.query(OutboxItem).filter_by(kind="mail")
                 if o.payload["subject"].startswith("SNP : issue de consultation")]
    assert len(reminders) == len({b["doctor"] for b in all_missing})

    # Indemnities, every month, to the cent: page, CSV and API.
    for m in [f"{YEAR}-{i:02d}" for i in range(1, 13)]:
        per_doctor = defaultdict(lambda: {"fixed": 0, "minutes": 0, "seen": 0, "any": False})
        for s in slots:
            if _month(s["start"]) == m:
                d = per_doctor[s["doctor"]]
                d["any"] = True
                if s["kind"] == "fixed":
                    d["fixed"] += 1
                else:
                    d["minutes"] += s["minutes"]
        for b in bookings:
            if _month(b["start"]) == m and b["status"] in ("seen", "no_show"):
                per_doctor[b["doctor"]]["any"] = True
                per_doctor[b["doctor"]]["seen"] += b["status"] == "seen"
        want = {doc: _money(d["minutes"], d["fixed"], d["seen"], t.formula)
                for doc, d in per_doctor.items() if d["any"]}
        got_api = api.get(f"/api/v1/indemnities?month={m}", headers=headers).get_json()
        assert {r["doctor_id"]: Decimal(r["amount"]) for r in got_api["rows"]} == want, m
        assert Decimal(got_api["total"]) == sum(want.values(), Decimal("0.00"))
        rows = _csv(client.get(f"/coverage/indemnities?month={m}&format=csv&technique=1"))
        assert {int(r["doctor_id"]): Decimal(r["amount"].replace(",", ".")) for r in rows} \
            == want, m
        ind_html = client.get(f"/coverage/indemnities?month={m}").get_data(as_text=True)
        page_amounts = {int(d): Decimal(a.replace("\u202f", "").replace(",", "."))
                        for d, a in re.findall(r'<tr data-doctor="(\d+)">.*?'
                                               r'<td class="num amount">([0-9\u202f]+,\d\d)'
                                               r'\u00a0€', ind_html)}
        assert page_amounts == want, m
