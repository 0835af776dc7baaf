"""The settings page, the coordinator's overview, the ICS feed, the CLI, the encryption."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from agenda.extensions import db
from agenda.slots.models import Slot
from agenda.sync import crypto, worker
from agenda.sync.freebusy import refresh_account
from agenda.sync.inbound import sync_account
from agenda.sync.models import CalendarAccount
from tests.conftest import CSRF_RE
from tests.sync.conftest import RADICALE_PASSWORD, RADICALE_USER, paris, vevent

TOMORROW = date(2026, 12, 2)


def _csrf(client, path):
    html = client.get(path).get_data(as_text=True)
    return CSRF_RE.search(html).group(1)


def doctor_client(login_as, make_doctor):
    from agenda.errors import Forbidden
    from agenda.slots.services import doctor_for_user

    client = login_as("doctor")
    try:
        doctor = doctor_for_user(client.user)
    except Forbidden:
        doctor = make_doctor()
        doctor.user_id = client.user.id
        db.session.commit()
    return client, doctor


def test_password_encryption_roundtrip(app):
    token = crypto.encrypt("s3cret-app-pw")
    assert "s3cret" not in token
    assert crypto.decrypt(token) == "s3cret-app-pw"
    assert crypto.decrypt("garbage") is None
    other = dict(app.config, SECRET_KEY="another")
    assert crypto.decrypt(token, other) is None  # the key comes from the configuration
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    with_key = dict(app.config, ENCRYPTION_KEY=key)
    assert crypto.decrypt(crypto.encrypt("x", with_key), with_key) == "x"


def test_settings_page_test_connection_then_choose_calendar(frozen, login_as, make_doctor,
                                                            radicale_dav):
    cal = radicale_dav.new_calendar("SNP-page")
    other = radicale_dav.new_calendar("Perso-page")
    client, doctor = doctor_client(login_as, make_doctor)
    page = client.get("/mon-calendrier")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Tester la connexion" in html and "flottant" in html and "×2" in html

    # Wrong password: a plain French error, nothing stored.
    resp = client.post("/mon-calendrier/tester", data={
        "url": radicale_dav.url, "username": RADICALE_USER, "password": "faux",
        "csrf_token": _csrf(client, "/mon-calendrier")}, follow_redirects=True)
    assert "refusé" in resp.get_data(as_text=True)

    resp = client.post("/mon-calendrier/tester", data={
        "url": radicale_dav.url, "username": RADICALE_USER, "password": RADICALE_PASSWORD,
        "csrf_token": _csrf(client, "/mon-calendrier")}, follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "Connexion réussie" in html and "SNP-page" in html
    assert RADICALE_PASSWORD not in html  # never shown back
    account = db.session.scalar(select(CalendarAccount).where(
        CalendarAccount.doctor_id == doctor.id))
    assert account.password_encrypted and RADICALE_PASSWORD not in account.password_encrypted

    resp = client.post("/mon-calendrier/calendrier", data={
        "calendar": cal, "busy": [other], "csrf_token": _csrf(client, "/mon-calendrier")},
        follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "connecté" in html
    db.session.refresh(account)
    assert account.calendar_url == cal and account.busy_calendar_urls == [other]
    assert RADICALE_PASSWORD not in html

    # The slot arrives through the worker; the busy-only calendar warns about an overlap.
    radicale_dav.put(cal, "page-1", vevent("page-1", paris(TOMORROW, 14), paris(TOMORROW, 14, 20)))
    radicale_dav.put(other, "perso-1", vevent("perso-1", paris(TOMORROW, 14, 10),
                                              paris(TOMORROW, 15), summary="Dentiste"))
    sync_account(account)
    assert db.session.scalar(select(Slot).where(Slot.caldav_uid == "page-1")) is not None
    assert refresh_account(account) is None
    html = client.get("/mon-calendrier").get_data(as_text=True)
    assert "à jour" in html and "agenda principal est occupé" in html
    assert "Dentiste" not in html  # busy times only, never titles


def test_coordinator_sees_each_doctor_state(frozen, login_as, make_doctor, connect,
                                            radicale_dav):
    ok_doctor = make_doctor(last_name="Alpha")
    bad_doctor = make_doctor(last_name="Beta")
    account, _cal = connect(ok_doctor, radicale_dav)
    sync_account(account)
    bad, _cal2 = connect(bad_doctor, radicale_dav)
    bad.password_encrypted = crypto.encrypt("faux")
    db.session.commit()
    sync_account(bad)
    client = login_as("coordinator")
    html = client.get("/synchronisation").get_data(as_text=True)
    assert "Alpha" in html and "à jour" in html
    assert "Beta" in html and "erreur" in html and "mot de passe" in html
    dash = client.get("/").get_data(as_text=True)
    assert "Calendriers des médecins" in dash or client.get("/").status_code in (200, 302)


def test_pages_refuse_other_roles(login_as):
    client = login_as("secretary")
    assert client.get("/mon-calendrier").status_code == 403
    assert client.get("/synchronisation").status_code == 403


def test_ics_feed_at_secret_url_without_patient_data(app, frozen, make_doctor, connect,
                                                     radicale_dav, book):
    doctor = make_doctor()
    account, cal = connect(doctor, radicale_dav)
    radicale_dav.put(cal, "ics-1", vevent("ics-1", paris(TOMORROW, 14), paris(TOMORROW, 14, 20)))
    radicale_dav.put(cal, "ics-2", vevent("ics-2", paris(TOMORROW, 16), paris(TOMORROW, 16, 20)))
    sync_account(account)
    slot = db.session.scalar(select(Slot).where(Slot.caldav_uid == "ics-1"))
    booking = book(slot)
    client = app.test_client()
    assert client.get("/calendrier/not-the-right-token-at-all.ics").status_code == 404
    from agenda.sync.services import new_ics_token

    resp = client.get(f"/calendrier/{new_ics_token(doctor)}.ics")
    assert resp.status_code == 200 and resp.mimetype == "text/calendar"
    body = resp.get_data(as_text=True)
    import icalendar

    events = icalendar.Calendar.from_ical(body).walk("VEVENT")
    summaries = sorted(str(e["SUMMARY"]) for e in events)
    assert summaries == ["SNP – libre", "SNP – réservé (Télésecrétariat)"]
    assert booking.reference in body
    for secret in ("Dupontel", "Gisèle", "06 12", "1961", "thoracique"):
        assert secret not in body


def test_cli_set_caldav_reads_password_from_stdin(app, frozen, make_doctor, radicale_dav):
    cal = radicale_dav.new_calendar("SNP-cli")
    doctor = make_doctor()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["doctors", "set-caldav", "--rpps", doctor.rpps, "--url",
                                 radicale_dav.url, "--username", RADICALE_USER,
                                 "--calendar", "SNP-cli"], input=RADICALE_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    account = db.session.scalar(select(CalendarAccount).where(
        CalendarAccount.doctor_id == doctor.id))
    assert account.calendar_url == cal
    assert crypto.decrypt(account.password_encrypted) == RADICALE_PASSWORD
    assert RADICALE_PASSWORD not in result.output

    bad = runner.invoke(args=["doctors", "set-caldav", "--rpps", doctor.rpps, "--url",
                              radicale_dav.url, "--username", RADICALE_USER, "--calendar",
                              "Inexistant"], input=RADICALE_PASSWORD + "\n")
    assert bad.exit_code != 0 and "introuvable" in bad.output


def test_cli_doctors_import_with_caldav_columns(app, frozen, cpts, communes, radicale_dav,
                                                tmp_path):
    radicale_dav.new_calendar("SNP-import")
    from agenda.territory.services import rpps_with_check_digit

    rpps = rpps_with_check_digit("1000077700")
    csv_file = tmp_path / "medecins.csv"
    csv_file.write_text(
        "rpps,first_name,last_name,email,phone,address,insee,caldav_url,caldav_username,"
        "caldav_password,caldav_calendar\n"
        f"{rpps},Anne,Import,,,,44036,{radicale_dav.url},{RADICALE_USER},{RADICALE_PASSWORD},"
        "SNP-import\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["doctors", "import", str(csv_file),
                                                "--cpts", str(cpts.id)])
    assert "1 créés" in result.output, result.output
    account = db.session.scalar(select(CalendarAccount))
    assert account.calendar_name == "SNP-import"


def test_cli_sync_run_prints_progress_and_totals(app, frozen, make_doctor, connect,
                                                 radicale_dav):
    doctor = make_doctor()
    account, cal = connect(doctor, radicale_dav)
    radicale_dav.put(cal, "cli-1", vevent("cli-1", paris(TOMORROW, 11), paris(TOMORROW, 11, 20)))
    result = app.test_cli_runner().invoke(args=["sync", "run", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "1 médecins synchronisés, 1 événements lus" in result.output
    assert db.session.scalar(select(Slot).where(Slot.caldav_uid == "cli-1")) is not None
    status = app.test_cli_runner().invoke(args=["sync", "status"])
    assert "à jour" in status.output


def test_worker_loop_stops_on_request(app, frozen):
    import threading

    stop = threading.Event()
    stop.set()
    worker.run_forever(app, interval=1, stop=stop)  # returns at once, no exception
