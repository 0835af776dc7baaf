"""The chart of the year's requests by week and channel on the statistics page
(issue 14, part B.7)."""

from __future__ import annotations

import re
from datetime import date

from agenda.coverage import stats
from agenda.coverage.generator import generate_year


def test_requests_by_week_and_channel_over_the_year(app, cpts, communes, login_as):
    generate_year(cpts, list(communes.values()), year=2025, doctors=5, slots_target=300,
                  calls_target=400, reorientations=10)
    rows = stats.requests_by_week(cpts.id, 2025)
    # Every ISO week of 2025, empty ones too: 30 December 2024 … 28 December 2025.
    assert len(rows) == 52 and rows[0]["monday"] == date(2024, 12, 30)
    assert rows[-1]["week"] == "2025-W52"
    # The same figure as the statistics of those weeks, per channel and in all.
    whole = stats.compute(cpts.id, stats.Period(date(2024, 12, 30), date(2025, 12, 28)))
    assert sum(r["requests"] for r in rows) == whole.summary["requests"] > 300
    for ch in whole.channels:
        if ch["channel"] in stats.CHANNELS:
            assert sum(r[ch["channel"]] for r in rows) == ch["requests"], ch["channel"]
    assert all(r["requests"] == sum(r[c] for c in stats.CHANNELS) for r in rows)

    html = login_as("coordinator").get("/coverage/stats?period=year&day=2025-06-01") \
        .get_data(as_text=True)
    chart = html[html.index('id="weekly-channels"'):]
    chart = chart[:chart.index("</svg>")]
    totals = [int(t) for t in re.findall(r'<g class="col" data-total="(\d+)"', chart)]
    assert totals == [r["requests"] for r in rows]
    assert "Demandes (appels de soins non programmés) par semaine et par canal, 2025" in chart
    assert "Télésecrétariat" in chart and "SAMU / SAS" in chart  # the legend, in French
    busiest = max(rows, key=lambda r: r["requests"])
    assert f"semaine du {busiest['monday'].day}" in chart  # the tooltips name the weeks
