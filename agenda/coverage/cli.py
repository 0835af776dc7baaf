"""``flask --app agenda coverage report --week 2026-W49``: hourly gaps, uncovered communes
and charter lists, as plain text (for cron and email).

The geographic part covers the week asked for (``--week``: that week, from now at the
earliest); without ``--week`` it uses ``--horizon``, whose default (48 h) is the API's and
the map page's."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from agenda.cli import CLI_EXTENSIONS


def report_text(cpts_id: int, week: str, horizon: str | None = None) -> str:
    """``horizon`` None: the geographic coverage of ``week`` itself."""
    from agenda.coverage import geo, hourly, supervision

    days = ["lun", "mar", "mer", "jeu", "ven", "sam", "dim"]
    grid = hourly.hourly_grid(cpts_id, week)
    lines = [f"Couverture SNP — semaine {week}", "",
             f"Heures sans offre dans les horaires de publication : {len(grid.flagged)}"]
    by_day: dict[int, list[int]] = {}
    for cell in sorted(grid.flagged, key=lambda c: (c.weekday, c.hour)):
        by_day.setdefault(cell.weekday, []).append(cell.hour)
    for wd, hours in by_day.items():
        spans, start = [], hours[0]
        for a, b in zip(hours, hours[1:] + [None], strict=True):
            if b != a + 1:
                spans.append(f"{start:02d}h-{a + 1:02d}h")
                if b is not None:
                    start = b
        lines.append(f"  {days[wd - 1]} {grid.days[wd - 1][1].isoformat()} : {', '.join(spans)}")
    cov = geo.geo_coverage(cpts_id, horizon or week)
    label = f"horizon {horizon}" if horizon else f"semaine {week}"
    lines += ["", f"Communes non couvertes (> {cov.radius_km} km, {label}) : "
                  f"{len(cov.uncovered)} — population couverte "
                  f"{cov.covered_share * 100:.1f} %"]
    lines += [f"ATTENTION : {w}" for w in cov.warnings]
    for c in cov.uncovered:
        dist = "aucun médecin" if c.distance_km is None else f"{c.distance_km:.1f} km"
        lines.append(f"  {c.name} ({c.insee}) — {c.population} hab. — {dist}")
    comp = supervision.compliance(cpts_id, week)
    for w in comp.weeks:
        lines += ["", f"Sous le minimum ({comp.min_per_week}) en {w} : {len(comp.under[w])}"]
        lines += [f"  {r['doctor']} : {r['count']}" for r in comp.under[w]]
        lines += [f"Au-dessus du maximum ({comp.max_per_week}) en {w} : {len(comp.over[w])}"]
        lines += [f"  {r['doctor']} : {r['count']} (+{r['hors_charte']} hors charte)"
                  for r in comp.over[w]]
    lines += ["", f"Rien publié depuis 2 semaines ou plus : {len(comp.silent)}"]
    lines += [f"  {r['doctor']}" for r in comp.silent]
    return "\n".join(lines) + "\n"


def register(app: Flask) -> None:
    group = AppGroup("coverage", help="Coverage supervision reports.")

    @group.command("report")
    @click.option("--week", default=None, help="ISO week, e.g. 2026-W49 (default: this week)")
    @click.option("--cpts", "cpts", default=None, help="CPTS name or id (default: the only one)")
    @click.option("--horizon", default=None, type=click.Choice(["24h", "48h", "week"]),
                  help="without --week: 48h (as the API); with --week: that week")
    def report(week, cpts, horizon):
        """Print the hourly gaps, the uncovered communes and the charter lists."""
        from agenda import clock
        from agenda.errors import DomainError
        from agenda.timeutil import iso_week, parse_week

        if week is None and horizon is None:
            horizon = "48h"  # the API's and the map page's default
        week = week or iso_week(clock.now())
        try:
            parse_week(week)
        except ValueError:
            raise click.BadParameter(f"semaine invalide : {week} (ex. 2026-W49)") from None
        from agenda.cli import resolve_cpts

        try:
            org = resolve_cpts(cpts)
        except DomainError as exc:
            raise click.ClickException(exc.message) from None
        click.echo(report_text(org.id, week, horizon), nl=False)

    app.cli.add_command(group)


CLI_EXTENSIONS.append(register)
