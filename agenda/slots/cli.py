"""``flask slots …``: the charter report and the "past" sweep from the command line."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from agenda.cli import CLI_EXTENSIONS
from agenda.errors import DomainError
from agenda.extensions import db


def register(app: Flask) -> None:
    from agenda.cli import resolve_cpts
    from agenda.slots import services

    group = AppGroup("slots", help="SNP slots and the CPTS charter.")

    @group.command("report")
    @click.option("--cpts", "cpts", default=None, help="CPTS name or id (default: the only one)")
    @click.option("--week", default=None, help="ISO week, e.g. 2026-W49 (default: this week)")
    def report_cmd(cpts, week):
        """Each volunteer's count for a week against the charter."""
        try:
            org = resolve_cpts(cpts)
            report = services.charter_report(org.id, week or services.current_week())
            db.session.commit()
        except (DomainError, ValueError) as exc:
            db.session.rollback()
            raise click.ClickException(getattr(exc, "message", str(exc))) from None
        click.echo(f"{report['week']} — charte {report['min']} à {report['max']}")
        for row in report["rows"]:
            extra = f" (+{row['hors_charte']} hors charte)" if row["hors_charte"] else ""
            click.echo(f"  {row['doctor'].display_name:<36} {row['count']:>2}  "
                       f"{row['state']}{extra}")
        click.echo(f"sous le minimum : {len(report['under_minimum'])}")

    @group.command("mark-past")
    def mark_past_cmd():
        """Open slots whose time has passed become "past"."""
        n = services.mark_past()
        db.session.commit()
        click.echo(f"{n} créneaux passés")

    app.cli.add_command(group)


CLI_EXTENSIONS.append(register)
