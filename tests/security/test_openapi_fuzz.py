"""The whole OpenAPI document, run against a live server by schemathesis (property-based,
deterministic seed, bounded examples): no server error, no response outside the document
(status, content type, body schema, headers) and no request the document calls invalid
accepted. Not checked: that every schema-valid request succeeds — business rules (an
unknown commune, a slot in the past) rightly answer a documented 400/404/409/422.

Each operation is called with the token of a role that may use it, on a seeded CPTS (a
doctor with slots, a secretariat, a coordinator), so the calls reach the services.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from agenda.accounts.services import create_token
from agenda.extensions import db

ROLE_BY_PREFIX = [("/me/slots", "doctor"), ("/bookings/{id}/outcome", "doctor"),
                  ("/requests/{id}", "doctor"), ("/coverage", "coordinator"),
                  ("/stats", "coordinator")]


def role_for(path: str) -> str:
    return next((role for prefix, role in ROLE_BY_PREFIX if path.startswith(prefix)),
                "secretary")


@pytest.fixture()
def api_tokens(frozen, make_user, make_doctor, make_slot):
    """A token per role; a doctor (with a user) who has slots in the coming hours."""
    now = frozen.advance(minutes=0)
    doctor = make_doctor(with_user=True)
    for hours in range(1, 12):
        make_slot(doctor, now + timedelta(hours=hours))
    make_slot(doctor, now + timedelta(hours=13), minutes=120, kind="floating", capacity=2)
    tokens = {"doctor": create_token(doctor.user)}
    for role in ("secretary", "coordinator"):
        user, _ = make_user(role)
        tokens[role] = create_token(user)
    db.session.commit()
    return tokens


def _document() -> dict:
    import agenda.api  # noqa: F401  (the routes declare their operations on import)
    from agenda.api.spec import openapi_document

    return openapi_document()


schema = schemathesis.openapi.from_dict(_document())


@schema.parametrize()
@settings(max_examples=25, derandomize=True, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case, live_server, api_tokens):
    token = api_tokens[role_for(case.operation.path)]
    call(case, live_server + "/api/v1", {"Authorization": f"Bearer {token}"})


def call(case, base_url: str, headers: dict) -> None:
    """Send the case over real HTTP and check the response against the document (our own
    ``requests`` call: schemathesis's transport trips over the urllib3 fork installed here)."""
    import requests

    kwargs = case.as_transport_kwargs(base_url=base_url, headers=headers)
    response = requests.request(**kwargs, timeout=60, allow_redirects=False)
    # ``ignored_auth`` re-sends through that transport; authentication is proven route by
    # route in tests/foundation/test_access.py.
    case.validate_response(response, headers=headers,
                           excluded_checks=[ignored_auth, positive_data_acceptance])
