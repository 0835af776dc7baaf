"""Deny by default: walk every route of the app.

Every route other than the public ones refuses an anonymous user, every view carries a role
rule, and each role reaches only the pages of its rule.
"""

import re

import pytest
from werkzeug.routing import IntegerConverter

from agenda.accounts.access import PUBLIC_ENDPOINTS
from agenda.accounts.models import Role

# Authenticate by a secret in the URL or a client credential: checked in their own tests.
SECRET_URL_ENDPOINTS = {"sync.ics_feed"}


def _sample_url(rule) -> str:
    url = rule.rule
    for arg in rule.arguments:
        conv = rule._converters.get(arg)
        value = "1" if isinstance(conv, IntegerConverter) else "x"
        url = re.sub(r"<[^>]*" + re.escape(arg) + ">", value, url)
    return url


def _rules(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        yield rule


def _view(app, endpoint):
    return app.view_functions[endpoint]


def test_every_view_declares_its_roles(app):
    missing = []
    for rule in _rules(app):
        if rule.endpoint.startswith("sas.") or rule.endpoint in SECRET_URL_ENDPOINTS:
            continue
        if not hasattr(_view(app, rule.endpoint), "allowed_roles"):
            missing.append(rule.endpoint)
    assert missing == [], f"views without an access rule: {missing}"


def test_anonymous_is_refused_everywhere(app, client):
    checked = 0
    for rule in _rules(app):
        url = _sample_url(rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            resp = client.open(url, method=method)
            if rule.endpoint.startswith(("api.", "sas.")):
                assert resp.status_code in (401, 403), (method, url, resp.status_code)
            elif rule.endpoint in SECRET_URL_ENDPOINTS:
                assert resp.status_code in (403, 404), (method, url, resp.status_code)
            elif method == "GET":
                assert resp.status_code == 302, (method, url, resp.status_code)
                assert "/login" in resp.headers["Location"]
            else:
                # POST without a session: CSRF refuses first (400) or login redirect (302).
                assert resp.status_code in (302, 400), (method, url, resp.status_code)
            checked += 1
    assert checked > 10


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_each_role_reaches_only_its_pages(app, login_as, role):
    client = login_as(role)
    for rule in _rules(app):
        if "GET" not in (rule.methods or ()) or rule.arguments:
            continue
        if rule.endpoint.startswith(("api.", "sas.")) or rule.endpoint in SECRET_URL_ENDPOINTS:
            continue
        allowed = getattr(_view(app, rule.endpoint), "allowed_roles", None)
        resp = client.get(rule.rule)
        if allowed is None or role in allowed:
            assert resp.status_code < 500, (role, rule.rule, resp.status_code)
            assert resp.status_code != 403, (role, rule.rule)
        else:
            assert resp.status_code == 403, (role, rule.rule, resp.status_code)
            assert "Accès refusé" in resp.get_data(as_text=True)


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_api_roles_are_enforced(app, api_client, role):
    client, headers, _user = api_client(role)
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api.") or rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        allowed = getattr(_view(app, rule.endpoint), "allowed_roles", "missing")
        assert allowed != "missing", f"API route without api_roles: {rule.endpoint}"
        if allowed is None or role in allowed or "GET" not in rule.methods or rule.arguments:
            continue
        resp = client.get(rule.rule, headers=headers)
        assert resp.status_code == 403, (role, rule.rule, resp.status_code)
        assert resp.get_json()["message"]
