"""Command-line interface: ``flask --app agenda …``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from agenda.errors import DomainError
from agenda.extensions import db


def _fail(exc: DomainError) -> None:
    db.session.rollback()
    raise click.ClickException(exc.message)


def resolve_cpts(ref: str | None):
    """The CPTS named by ``--cpts`` (name or id), or the only one of the database."""
    from sqlalchemy import select

    from agenda.accounts.models import Organisation, OrgKind
    from agenda.accounts.services import find_organisation

    if ref:
        return find_organisation(ref)
    orgs = db.session.scalars(select(Organisation).where(
        Organisation.kind == OrgKind.CPTS.value)).all()
    if len(orgs) != 1:
        raise click.ClickException("Précisez --cpts (plusieurs CPTS ou aucune).")
    return orgs[0]


def register(app: Flask) -> None:
    from agenda.accounts import services as accounts
    from agenda.territory import services as territory

    @app.cli.command("create-user")
    @click.option("--email", required=True)
    @click.option("--role", required=True,
                  type=click.Choice(["doctor", "secretary", "regulator", "ed_nurse",
                                     "coordinator", "admin", "operator"]))
    @click.option("--org", "org", required=True, help="organisation name or id")
    @click.option("--name", default=None)
    @click.option("--password", default=None, help="default: generated and printed")
    def create_user_cmd(email, role, org, name, password):
        """Create a user account."""
        try:
            organisation = accounts.find_organisation(org)
            user, pw = accounts.create_user(email, name or email, role, organisation, password)
            db.session.commit()
        except DomainError as exc:
            _fail(exc)
        click.echo(f"{user.email} ({user.role}, {organisation.name})")
        if password is None:
            click.echo(f"mot de passe : {pw}")

    @app.cli.command("create-org")
    @click.option("--name", required=True)
    @click.option("--kind", required=True,
                  type=click.Choice(["cpts", "secretariat", "samu", "ed", "platform"]))
    @click.option("--cpts", "cpts", default=None,
                  help="the CPTS that administers it (name or id); none: the platform")
    @click.option("--serves", default="",
                  help="CPTS it books for, comma-separated names or ids (default: --cpts)")
    def create_org_cmd(name, kind, cpts, serves):
        """Create an organisation (a CPTS, or one that books for one or more CPTS)."""
        try:
            cpts_id = accounts.find_organisation(cpts).id if cpts else None
            served = [accounts.find_organisation(ref.strip()).id
                      for ref in serves.split(",") if ref.strip()]
            org = accounts.create_organisation(name, kind, cpts_id, serves=served)
            db.session.commit()
        except DomainError as exc:
            _fail(exc)
        click.echo(f"{org.id} {org.name}")

    @app.cli.command("link")
    @click.option("--org", "org", required=True, help="booking organisation (name or id)")
    @click.option("--cpts", "cpts", required=True, help="CPTS it will book for (name or id)")
    def link_cmd(org, cpts):
        """Let an organisation book the slots of one more CPTS (from today)."""
        try:
            organisation = accounts.find_organisation(org)
            link = accounts.link_organisation(organisation, accounts.find_organisation(cpts).id)
            db.session.commit()
        except DomainError as exc:
            _fail(exc)
        click.echo(f"{organisation.name} réserve pour {link.cpts.name} "
                   f"depuis le {link.started_on:%d/%m/%Y}")

    @app.cli.command("unlink")
    @click.option("--org", "org", required=True, help="booking organisation (name or id)")
    @click.option("--cpts", "cpts", required=True, help="CPTS (name or id)")
    def unlink_cmd(org, cpts):
        """End an organisation's access to a CPTS's slots (today; the history is kept)."""
        try:
            organisation = accounts.find_organisation(org)
            n = accounts.unlink_organisation(organisation, accounts.find_organisation(cpts).id)
            db.session.commit()
        except DomainError as exc:
            _fail(exc)
        click.echo(f"{n} lien(s) terminé(s)")

    @app.cli.command("create-token")
    @click.option("--email", required=True)
    @click.option("--name", default="cli")
    def create_token_cmd(email, name):
        """Create an API token for a user (printed once)."""
        from sqlalchemy import select

        from agenda.accounts.models import User

        user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None:
            raise click.ClickException(f"Aucun compte pour {email}")
        token = accounts.create_token(user, name)
        db.session.commit()
        click.echo(token)

    territory_cli = AppGroup("territory", help="Communes of the territory.")

    @territory_cli.command("import")
    @click.option("--department", "departments", multiple=True, help="e.g. 44 (repeatable)")
    @click.option("--communes", default="", help="INSEE codes, comma-separated")
    def territory_import(departments, communes):
        """Load communes from the shipped COG 2026 file."""
        try:
            n = territory.import_communes(departments, communes.split(","))
        except DomainError as exc:
            _fail(exc)
        click.echo(f"{n} communes chargées")

    app.cli.add_command(territory_cli)

    doctors_cli = AppGroup("doctors", help="Volunteer doctors.")

    @doctors_cli.command("import")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--cpts", "cpts", default=None, help="CPTS name or id (default: the only one)")
    def doctors_import(file, cpts):
        """Bulk onboarding from CSV (rpps, first_name, last_name, email, phone, address,
        insee[, caldav_url, caldav_username, caldav_password, caldav_calendar])."""
        try:
            org = resolve_cpts(cpts)
            try:
                text = file.read_text(encoding="utf-8-sig")
            except UnicodeDecodeError:
                text = file.read_text(encoding="latin-1")
            report = territory.import_doctors_csv(text, org.id)
            for hook in DOCTOR_IMPORT_HOOKS:
                hook(report)
        except DomainError as exc:
            _fail(exc)
        for line, message in report.errors:
            click.echo(f"ligne {line} : {message}", err=True)
        click.echo(f"{report.created} créés, {report.updated} mis à jour, "
                   f"{len(report.errors)} en erreur")
        if report.errors:
            sys.exit(1)

    app.cli.add_command(doctors_cli)

    @app.cli.command("demo")
    @click.option("--force", is_flag=True, help="even if the database is not empty")
    @click.option("--save-logins", is_flag=True,
                  help="also keep the demo logins in instance/demo-logins.txt (mode 600)")
    def demo_cmd(force, save_logins):
        """Load the demo CPTS (only into an empty database) and print its logins."""
        from agenda import demo

        if not demo.is_empty() and not force:
            click.echo("Base déjà remplie : démo non rechargée.")
            return
        built = demo.build()
        lines = [f"  {role:<12} {email:<32} {password}" for role, email, password in built.logins]
        names = ", ".join(o.name for o in [built.cpts, *built.neighbours])
        click.echo(f"Démo chargée : {len(built.neighbours) + 1} CPTS ({names}), "
                   f"{len(built.doctors)} médecins.")
        click.echo("Comptes de démonstration (mots de passe affichés une seule fois) :")
        click.echo("\n".join(lines))
        if save_logins:
            path = Path(app.instance_path) / "demo-logins.txt"
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            path.chmod(0o600)

    for extra in CLI_EXTENSIONS:
        extra(app)


# Hooks other packages add to (kept here so that the CLI has one entry point).
DOCTOR_IMPORT_HOOKS: list = []
CLI_EXTENSIONS: list = []
