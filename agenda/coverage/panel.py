"""The coordinator's dashboard panel: this week's coverage at a glance."""

from __future__ import annotations

from flask_babel import gettext as _

from agenda import clock
from agenda.coverage import geo, hourly, supervision
from agenda.dashboard import panel
from agenda.timeutil import iso_week


@panel("coordinator", "admin")
def coverage_panel(user) -> dict:
    week = iso_week(clock.now())
    grid = hourly.hourly_grid(user.cpts_id, week, demand_weeks=0)
    cov = geo.geo_coverage(user.cpts_id, "48h")
    comp = supervision.compliance(user.cpts_id, week)
    return {"title": _("Couverture de la semaine"), "template": "coverage/_panel.html",
            "week": week, "flagged": len(grid.flagged), "totals": grid.totals(),
            "uncovered": cov.uncovered[:5], "uncovered_count": len(cov.uncovered),
            "covered_share": cov.covered_share, "under": len(comp.under[week]),
            "silent": len(comp.silent),
            "alerts": supervision.alert_counts(supervision.alerts(user.cpts_id))}
