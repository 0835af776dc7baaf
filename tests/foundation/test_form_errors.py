"""A refused form is shown again with what was typed and the message under its field."""

import re

from tests.conftest import csrf_token


def _field_block(html: str, name: str) -> str:
    """The ``<div class="field">`` that holds the input ``name``."""
    m = re.search(r'<div class="field[^"]*">(?:(?!<div class="field).)*?name="' + name
                  + r'"(?:(?!<div class="field).)*</div>', html, re.S)
    assert m, f"no field {name}"
    return m.group(0)


def test_duplicate_email_is_said_at_the_field_and_the_form_is_kept(login_as):
    admin = login_as("admin")
    token = csrf_token(admin, "/admin/utilisateurs")
    resp = admin.post("/admin/utilisateurs", data={
        "csrf_token": token, "email": admin.user.email.upper(), "name": "Camille Durand",
        "role": "doctor", "organisation_id": admin.user.organisation_id})
    assert resp.status_code == 409
    html = resp.get_data(as_text=True)
    email = _field_block(html, "email")
    assert "has-error" in email and "Un compte existe déjà avec l&#39;adresse" in email
    assert f'value="{admin.user.email.upper()}"' in email  # what was typed is kept
    assert 'value="Camille Durand"' in _field_block(html, "name")
    assert "<title>Utilisateurs — Agenda SNP</title>" in html  # the page, not "Erreur 409"
    assert 'class="flash flash-error"' not in html  # said once, at the field
    # A new address goes through.
    resp = admin.post("/admin/utilisateurs", data={
        "csrf_token": token, "email": "camille@example.org", "name": "Camille Durand",
        "role": "doctor", "organisation_id": admin.user.organisation_id})
    assert resp.status_code == 200 and "Compte créé pour camille@example.org" in \
        resp.get_data(as_text=True)


def test_missing_organisation_name_is_said_at_the_field(login_as):
    admin = login_as("admin")
    token = csrf_token(admin, "/admin/organisations")
    resp = admin.post("/admin/organisations", data={
        "csrf_token": token, "name": "   ", "kind": "secretariat", "finess": "123456789",
        "cpts_id": admin.user.organisation_id, "serves": [admin.user.organisation_id]})
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert 'value="123456789"' in _field_block(html, "finess")
    assert "has-error" in _field_block(html, "name")


def test_short_new_password_is_said_at_the_field(login_as):
    user = login_as("secretary")
    token = csrf_token(user, "/compte")
    resp = user.post("/compte", data={"csrf_token": token, "action": "password",
                                      "pw-csrf_token": token, "pw-current": "x",
                                      "pw-new": "court"})
    assert resp.status_code == 400
    assert "has-error" in _field_block(resp.get_data(as_text=True), "pw-current")
    resp = user.post("/compte", data={"csrf_token": token, "action": "password",
                                      "pw-csrf_token": token,
                                      "pw-current": "motdepasse-solide", "pw-new": "court"})
    assert resp.status_code == 400
    new = _field_block(resp.get_data(as_text=True), "pw-new")
    assert "has-error" in new and "au moins 10 caractères" in new
