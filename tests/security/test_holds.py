"""Finding 4: one booker can no longer hide every slot. Holds are capped per user (2) and
per organisation (20) by the charter, a renewed hold ends 15 minutes after it began, and
the caps hold under concurrency."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import func, select

from agenda.accounts.services import create_token
from agenda.extensions import db
from agenda.slots.models import CharterSettings, Slot


def _hold(client, headers, slot):
    return client.post("/api/v1/holds", json={"slot_id": slot.id}, headers=headers)


def _held_count() -> int:
    from agenda import clock

    return db.session.scalar(select(func.count()).select_from(Slot).where(
        Slot.held_until > clock.now()))


def test_sixty_holds_in_a_row_stop_at_the_user_cap(app, slots, api_client):
    free = slots(60)
    client, headers, _ = api_client("secretary")
    codes = [_hold(client, headers, s) for s in free]
    assert [r.status_code for r in codes[:2]] == [201, 201]
    assert {r.status_code for r in codes[2:]} == {422}
    assert codes[2].get_json()["rule"] == "hold_max_per_user"
    assert "2 créneaux" in codes[2].get_json()["message"]
    assert _held_count() == 2


def test_the_organisation_cap_counts_every_member(app, slots, api_client, make_user):
    free = slots(24)
    first, _ = make_user("secretary")
    organisation = first.organisation
    users = [first] + [make_user("secretary", organisation=organisation)[0] for _ in range(11)]
    results = []
    for i, user in enumerate(users):
        client, headers, _ = api_client("secretary", user=user)
        for slot in free[2 * i:2 * i + 2]:
            results.append(_hold(client, headers, slot))
    assert [r.status_code for r in results].count(201) == 20
    refused = [r.get_json() for r in results if r.status_code != 201]
    assert [r["rule"] for r in refused] == ["hold_max_per_org"] * 4
    # Another organisation is not blocked by this one.
    client, headers, _ = api_client("regulator")
    assert _hold(client, headers, free[0]).status_code == 409  # held by the first org
    assert _hold(client, headers, slots(1)[0]).status_code == 201


def test_a_renewed_hold_ends_after_the_total_limit(app, frozen, slots, api_client):
    slot = slots(1)[0]
    client, headers, _ = api_client("secretary")
    other, other_headers, _ = api_client("regulator")
    assert _hold(client, headers, slot).status_code == 201
    for _ in range(3):  # renewed every 4 minutes: minutes 4, 8, 12
        frozen.advance(minutes=4)
        resp = _hold(client, headers, slot)
        assert resp.status_code == 201
    # Renewed at minute 12, it ends at minute 15 (not 17): the total limit.
    assert resp.get_json()["held_until"].startswith("2026-12-01T08:15")
    frozen.advance(minutes=2, seconds=59)
    again = _hold(client, headers, slot)  # a renewal now does not extend it any more
    assert again.status_code == 201
    assert again.get_json()["held_until"].startswith("2026-12-01T08:15:00")
    assert _hold(other, other_headers, slot).status_code == 409
    frozen.advance(seconds=1)  # minute 15: the hold has ended, someone else may take it
    assert _hold(other, other_headers, slot).status_code == 201


def test_no_renewal_once_the_total_limit_is_reached(app, frozen, slots, api_client):
    slot = slots(1)[0]
    client, headers, _ = api_client("secretary")
    assert _hold(client, headers, slot).status_code == 201
    slot_row = db.session.get(Slot, slot.id)
    # A hold that lasted its 15 minutes (held_until pushed by hand beyond them).
    from datetime import timedelta

    slot_row.held_until = slot_row.held_since + timedelta(minutes=20)
    db.session.commit()
    frozen.advance(minutes=15)
    refused = _hold(client, headers, slot)
    assert refused.status_code == 422 and refused.get_json()["rule"] == "hold_max_total"


def test_concurrent_holds_of_one_user_respect_the_cap(app, slots, make_user, live_server):
    free = [s.id for s in slots(20)]
    user, _ = make_user("secretary")
    token = create_token(user)
    db.session.commit()
    start = threading.Barrier(20)

    def hold(slot_id):
        start.wait(timeout=10)
        return requests.post(live_server + "/api/v1/holds", json={"slot_id": slot_id},
                             headers={"Authorization": f"Bearer {token}"}, timeout=60
                             ).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        codes = list(pool.map(hold, free))
    assert codes.count(201) == 2, codes
    assert set(codes) <= {201, 422, 409}
    db.session.expire_all()
    assert _held_count() == 2


def test_charter_defaults(app, cpts):
    from agenda.slots.services import charter_for

    charter = charter_for(cpts.id)
    db.session.commit()
    row = db.session.get(CharterSettings, cpts.id)
    assert (charter.hold_max_per_user, row.hold_max_per_org, row.hold_max_total_min) == (
        2, 20, 15)
