"""CLI: ``flask --app agenda sync run|worker|status`` and
``flask --app agenda doctors set-caldav`` (+ the caldav_* columns of ``doctors import``)."""

from __future__ import annotations

import signal
import sys
import threading

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from agenda.cli import CLI_EXTENSIONS, DOCTOR_IMPORT_HOOKS
from agenda.errors import DomainError
from agenda.extensions import db


def register(app: Flask) -> None:
    sync_cli = AppGroup("sync", help="Synchronisation CalDAV et file d'envoi (outbox).")

    @sync_cli.command("run")
    @click.option("--threads", type=int, default=None, help="médecins en parallèle")
    def run_cmd(threads):
        """Une passe : file d'envoi, tâches périodiques, agenda de chaque médecin."""
        from agenda.sync import worker

        totals = {"read": 0, "written": 0}
        holder: dict = {}

        def show(_item):
            return f"{totals['read']} événements lus, {totals['written']} écrits"

        def on_start(n):
            bar = click.progressbar(length=max(n, 1), label="Médecins", show_pos=True,
                                    item_show_func=show, file=sys.stderr)
            bar.__enter__()
            holder["bar"] = bar
            if n == 0:
                bar.update(1)

        def progress(result):
            totals["read"] += result.events_read
            totals["written"] += result.events_written
            holder["bar"].update(1, current_item=result)

        try:
            report = worker.run_pass(current_app._get_current_object(), threads=threads,
                                     progress=progress, on_start=on_start)
        finally:
            if "bar" in holder:
                holder["bar"].__exit__(None, None, None)
        click.echo(f"{report.doctors} médecins synchronisés, {report.events_read} événements "
                   f"lus, {report.events_written} écrits, {report.delivered} envois faits, "
                   f"{report.retried} en attente, {report.failed} abandonnés.")
        for error in sorted(set(report.errors)):
            click.echo(f"  erreur : {error}", err=True)

    @sync_cli.command("worker")
    @click.option("--interval", type=int, default=None,
                  help="secondes entre deux passes (défaut : SYNC_INTERVAL_SECONDS)")
    @click.option("--threads", type=int, default=None,
                  help="médecins en parallèle (défaut : SYNC_THREADS)")
    def worker_cmd(interval, threads):
        """Boucle : une passe toutes les N secondes, jusqu'à Ctrl-C ou SIGTERM."""
        from agenda.sync import worker

        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        app_obj = current_app._get_current_object()
        click.echo(f"Worker de synchronisation démarré (toutes les "
                   f"{interval or app_obj.config.get('SYNC_INTERVAL_SECONDS')} s).")
        worker.run_forever(app_obj, interval=interval, threads=threads, stop=stop,
                           echo=click.echo)
        click.echo("Worker arrêté.")

    @sync_cli.command("status")
    def status_cmd():
        """État de chaque médecin connecté (à jour / en attente / erreur)."""
        from sqlalchemy import select

        from agenda.accounts.models import Organisation
        from agenda.sync.services import states_for_cpts

        for cpts in db.session.scalars(select(Organisation).where(Organisation.kind == "cpts")):
            for doctor, state in states_for_cpts(cpts.id):
                detail = f" — {state.detail}" if state.detail else ""
                click.echo(f"{doctor.rpps} {doctor.display_name:<32} {state.label}{detail}")

    app.cli.add_command(sync_cli)

    doctors = app.cli.commands.get("doctors")
    if doctors is None:
        return

    @doctors.command("set-caldav")
    @click.option("--rpps", required=True)
    @click.option("--url", required=True, help="adresse du serveur CalDAV")
    @click.option("--username", required=True)
    @click.option("--calendar", default="SNP", show_default=True,
                  help="nom (ou adresse) du calendrier des créneaux")
    @click.option("--busy", "busy", multiple=True,
                  help="calendrier lu pour ses heures occupées seulement (répétable)")
    def set_caldav(rpps, url, username, calendar, busy):
        """Connecter le calendrier d'un médecin ; le mot de passe d'application est lu sur
        l'entrée standard (jamais en argument)."""
        from agenda.sync import services

        stream = click.get_text_stream("stdin")
        if stream.isatty():
            password = click.prompt("Mot de passe d'application", hide_input=True)
        else:
            password = stream.readline().rstrip("\r\n")
        if not password:
            raise click.ClickException("Mot de passe vide (attendu sur l'entrée standard).")
        try:
            doctor = services.doctor_by_rpps(rpps)
            calendars = services.discover(url, username, password)
            by_name = {c.name: c.url for c in calendars}
            account = services.save_settings(doctor, services.CaldavSettings(
                url=url, username=username, password=password, calendar=calendar,
                busy_calendars=[by_name.get(b, b) for b in busy]), calendars=calendars)
        except DomainError as exc:
            db.session.rollback()
            raise click.ClickException(exc.message) from exc
        click.echo(f"{doctor.display_name} : calendrier « {account.calendar_name} » connecté "
                   f"({account.calendar_url}).")


def import_hook(report) -> None:
    """``doctors import``: columns caldav_url, caldav_username, caldav_password,
    caldav_calendar connect each doctor's calendar (checked against the server)."""
    from agenda.sync import services

    for index, (doctor, row) in enumerate(report.rows, start=2):
        url = (row.get("caldav_url") or "").strip()
        if not url:
            continue
        try:
            services.save_settings(doctor, services.CaldavSettings(
                url=url, username=(row.get("caldav_username") or "").strip(),
                password=(row.get("caldav_password") or "").strip() or None,
                calendar=(row.get("caldav_calendar") or "").strip() or "SNP"))
        except DomainError as exc:
            db.session.rollback()
            report.errors.append((index, f"RPPS {doctor.rpps} : calendrier non connecté : "
                                         f"{exc.message}"))


if register not in CLI_EXTENSIONS:
    CLI_EXTENSIONS.append(register)
if import_hook not in DOCTOR_IMPORT_HOOKS:
    DOCTOR_IMPORT_HOOKS.append(import_hook)
