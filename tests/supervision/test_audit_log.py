"""The access log answers "who opened Mrs X's record?" (issue 14, part B.1)."""

from __future__ import annotations

import csv
import io
from sqlalchemy import select

from agenda import audit
from agenda.accounts.services import create_organisation
from agenda.audit import AuditEntry
from agenda.extensions import db
from tests.conftest import login


def _client(app, user, pw):
    c = app.test_client()
    assert login(c, user.email, pw).status_code == 302
    return c


def _entries(**where):
    stmt = select(AuditEntry)
    for k, v in where.items():
        stmt = stmt.where(getattr(AuditEntry, k) == v)
    return db.session.scalars(stmt).all()


def test_from_a_name_to_every_access_of_that_patient(app, supervised, make_user, login_as):
    helene = supervised.book("Lefèvre", "Hélène", 2)
    other = supervised.book("Martin", "Paul", 3)
    sec = _client(app, supervised.secretary, supervised.secretary_pw)
    assert sec.get(f"/reservations/{helene.id}").status_code == 200  # one "view"
    assert sec.get("/reservations").status_code == 200  # one "list" showing both
    admin = login_as("admin")

    # Step 1: a name typed -> the matching patients (and only them).
    page = admin.get("/admin/journal?q=lefev").get_data(as_text=True)
    assert "LEFÈVRE Hélène" in page and "MARTIN" not in page.split('id="patient-hits"')[1] \
        .split("</ul>")[0]
    # Step 2: the patient picked -> her accesses: booked, opened, shown in a list.
    resp = admin.get(f"/admin/journal?patient={helene.patient_id}")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200
    table = body.split('id="audit"')[1]
    actions = [a.split('"')[0] for a in table.split('data-action="')[1:]]
    assert sorted(actions) == ["create", "list", "view"], actions
    assert f'href="/reservations/{helene.id}"' in table
    assert helene.reference in table
    assert supervised.secretary.name in table and "secretary test" in table
    assert other.reference not in table
    assert "Accès au dossier de LEFÈVRE Hélène" in body


def test_a_name_search_outside_the_scope_finds_nobody(app, supervised, make_user):
    supervised.book("Lefèvre", "Hélène", 2)
    other = create_organisation("CPTS voisine", "cpts")
    db.session.commit()
    admin_b, pw = make_user("admin", organisation=other, email="admin.b@test.fr")
    client = _client(app, admin_b, pw)
    body = client.get("/admin/journal?q=lefevre").get_data(as_text=True)
    assert "LEFÈVRE" not in body
    assert "Aucun patient de votre périmètre" in body
    # Nor through a patient id typed in the address.
    pid = db.session.scalar(select(AuditEntry.patient_id).where(AuditEntry.action == "create"))
    body = client.get(f"/admin/journal?patient={pid}").get_data(as_text=True)
    assert "Hélène" not in body and "Aucun accès pour ces critères" in body


def test_filters_csv_and_the_reading_is_logged(app, supervised, frozen, make_user, login_as):
    first = supervised.book("Durand", "Anne", 2)
    frozen.advance(days=3)
    supervised.book("Durand", "Bernard", 4 + 72)
    admin = login_as("admin")
    n_before = len(_entries(object_type="audit"))
    # Period: the first day only.
    day = "2026-11-30"
    body = admin.get(f"/admin/journal?from={day}&to={day}").get_data(as_text=True)
    assert first.reference in body and "Bernard" not in body.split('id="audit"')[1]
    # User and organisation.
    body = admin.get(f"/admin/journal?user={supervised.secretary.id}").get_data(as_text=True)
    assert body.count('data-action="create"') == 2
    body = admin.get(f"/admin/journal?organisation={supervised.secretary.organisation_id}"
                     ).get_data(as_text=True)
    assert body.count('data-action="create"') == 2
    # A reversed period: a French message at the field, 400.
    resp = admin.get("/admin/journal?from=2026-12-05&to=2026-12-01")
    assert resp.status_code == 400
    assert "La fin de la période précède son début." in resp.get_data(as_text=True)
    assert admin.get("/admin/journal?from=demain").status_code == 400
    # CSV: French headers, names, the patient's name.
    resp = admin.get(f"/admin/journal?format=csv&patient={first.patient_id}")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff")),
                               delimiter=";"))
    assert [r["Patient"] for r in rows] == ["DURAND Anne"]
    assert rows[0]["Qui"] == supervised.secretary.name
    assert (rows[0]["Rôle"], rows[0]["Action"]) == ("télésecrétaire", "création")
    # Every reading and the export went to the log, with ids only.
    logged = _entries(object_type="audit")
    assert len(logged) - n_before == 6  # 5 pages (the 400s included) + 1 export
    assert [e.action for e in logged].count("audit.export") == 1
    export = next(e for e in logged if e.action == "audit.export")
    assert export.detail == f"patient={first.patient_id}"
    # The "technique" export keeps the codes.
    resp = admin.get(f"/admin/journal?format=csv&technique=1&patient={first.patient_id}")
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff")),
                               delimiter=";"))
    assert (rows[0]["role"], rows[0]["action"], rows[0]["patient"]) == (
        "secretary", "create", "DURAND Anne")
    assert _entries(object_type="patient", action="audit.search") == []  # no name typed


def test_paging(app, supervised, login_as):
    booking = supervised.book("Page", "Pierre", 2)
    for _ in range(60):
        audit.record("view", "booking", booking.id, patient_id=booking.patient_id,
                     user_id=supervised.secretary.id)
    db.session.commit()
    admin = login_as("admin")
    body = admin.get(f"/admin/journal?patient={booking.patient_id}").get_data(as_text=True)
    assert body.count("<tr data-entry=") == 50 and "page 1 sur 2" in body
    body = admin.get(f"/admin/journal?patient={booking.patient_id}&page=2").get_data(as_text=True)
    assert body.count("<tr data-entry=") == 11  # 60 views + the booking
    assert 'rel="prev"' in body and 'rel="next"' not in body
    assert admin.get("/admin/journal?page=abc").status_code == 400
