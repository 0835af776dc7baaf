"""The demo step publishes realistic pools (and leaves the coordinator something to see)."""

from __future__ import annotations

from agenda import demo
from agenda.slots import services as slots


def test_demo_pools(app, frozen):
    built = demo.build()
    cpts_id = built.cpts.id
    this_week, next_week = slots.charter_report(cpts_id, "2026-W49"), \
        slots.charter_report(cpts_id, "2026-W50")
    doctors = [d for d in built.doctors if d.cpts_id == cpts_id]  # the main CPTS's
    counts = {r["doctor"].id: r["count"] for r in next_week["rows"]}
    # The login doctor's next week is left empty to try the phone page.
    assert counts[doctors[0].id] == 0
    assert counts[doctors[-1].id] == 0  # publishes nothing
    assert counts[doctors[-2].id] == 1 and counts[doctors[-3].id] == 1
    # Doctors 2 to 5 publish from their calendar (CalDAV): nothing from the web for them.
    assert all(counts[d.id] == 0 for d in doctors[1:demo.CALDAV_DOCTORS])
    within = [d for d in doctors[demo.CALDAV_DOCTORS:-3] if 2 <= counts[d.id] <= 6]
    assert len(within) >= len(doctors) - demo.CALDAV_DOCTORS - 6
    assert {r["doctor"].id for r in next_week["under_minimum"]} >= {
        doctors[-1].id, doctors[-2].id, doctors[-3].id}
    assert this_week["within"] >= len(doctors) // 2
    assert not next_week["hors_charte"]
    pool = slots.week_pool(doctors[demo.CALDAV_DOCTORS], "2026-W50")
    assert all(s.source == "web" and s.in_charter for s in pool)
