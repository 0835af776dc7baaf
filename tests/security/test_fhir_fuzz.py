"""The FHIR endpoints (``/fhir/r4``) fuzzed like the JSON API: schemathesis drives a small
OpenAPI description of them (below) against a live server, deterministic seed, bounded
examples. Every answer must be documented: a FHIR resource or an OperationOutcome with the
FHIR content type, never a server error; every 200/201 resource must also parse as FHIR.

Not checked: that invalid searches are refused (FHIR's lenient handling ignores unknown
parameters by design) or that every schema-valid body is accepted (the ANS guide's rules).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (ignored_auth, negative_data_rejection,
                                               positive_data_acceptance)

from agenda.extensions import db
from agenda.sas import resources as R
from tests.sas.fhir_check import parse

API_KEY = "cle-fhir-fuzz-0123456789"
FHIR = "application/fhir+json"


def _resource(name: str, status: str) -> dict:
    return {"description": name, "content": {FHIR: {"schema": {
        "$ref": f"#/components/schemas/{name}"}}}}


OUTCOME = _resource("OperationOutcome", "erreur")
ERRORS = {str(code): OUTCOME for code in (400, 401, 403, 404, 405, 409, 412, 422)}
_ident = {"type": "object", "properties": {
    "system": {"enum": [R.NATIONAL_ID_SYSTEM, R.SAS_SYSTEM, "urn:autre"]},
    "value": {"type": "string", "maxLength": 80}}}
PRACTITIONER_IN = {"type": "object", "required": ["resourceType"], "properties": {
    "resourceType": {"const": "Practitioner"},
    "meta": {"type": "object", "properties": {"source": {"enum": [R.SAS_SYSTEM, "x"]}}},
    "identifier": {"type": "array", "items": _ident, "maxItems": 3},
    "active": {"type": "boolean"},
    "name": {"type": "array", "maxItems": 2, "items": {"type": "object", "properties": {
        "family": {"type": "string", "maxLength": 120},
        "given": {"type": "array", "items": {"type": "string", "maxLength": 80},
                  "maxItems": 3}}}},
    "telecom": {"type": "array", "maxItems": 2, "items": {"type": "object", "properties": {
        "system": {"enum": ["email", "phone"]},
        "value": {"type": "string", "maxLength": 300}}}}}}
BODY = {"required": True, "content": {FHIR: {"schema": PRACTITIONER_IN}}}

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "FHIR R4 (SAS)", "version": "1"},
    "paths": {
        "/r4/metadata": {"get": {"responses": {
            "200": _resource("CapabilityStatement", "ok"), **ERRORS}}},
        "/r4/Slot": {"get": {
            "parameters": [
                {"name": "start", "in": "query", "style": "form", "explode": True,
                 "schema": {"type": "array", "maxItems": 3, "items": {
                     "type": "string", "pattern": r"^(ge|le|gt|lt|eq)?\d{4}-\d{2}-\d{2}"}}},
                {"name": "schedule.actor:Practitioner.identifier", "in": "query",
                 "schema": {"type": "string", "maxLength": 200}},
                {"name": "status", "in": "query", "schema": {"enum": ["free", "busy"]}},
                {"name": "_include", "in": "query", "schema": {
                    "enum": ["Slot:schedule", "Slot:service-type-reference"]}},
                {"name": "_count", "in": "query", "schema": {"type": "integer"}}],
            "responses": {"200": _resource("Bundle", "ok"), **ERRORS}}},
        "/r4/{resource_type}/{rid}": {"get": {
            "parameters": [
                {"name": "resource_type", "in": "path", "required": True,
                 "schema": {"enum": ["Slot", "Schedule", "Practitioner", "PractitionerRole",
                                     "HealthcareService", "Organization", "Location", "X"]}},
                {"name": "rid", "in": "path", "required": True,
                 "schema": {"type": "string", "minLength": 1, "maxLength": 80,
                            "pattern": r"^[A-Za-z0-9\-.]+$"}}],
            "responses": {"200": _resource("Resource", "ok"), **ERRORS}}},
        "/r4/Practitioner": {
            "post": {"requestBody": BODY, "responses": {
                "200": _resource("Practitioner", "ok"), "201": _resource("Practitioner", "ok"),
                **ERRORS}},
            "put": {"parameters": [{"name": "identifier", "in": "query", "required": True,
                                    "schema": {"type": "string", "maxLength": 120}}],
                    "requestBody": BODY, "responses": {
                "200": _resource("Practitioner", "ok"), "201": _resource("Practitioner", "ok"),
                **ERRORS}}},
    },
    "components": {"schemas": {
        name: {"type": "object", "required": ["resourceType"],
               "properties": {"resourceType": {"const": name}}}
        for name in ("CapabilityStatement", "Bundle", "Practitioner")} | {
        "OperationOutcome": {"type": "object", "required": ["resourceType", "issue"],
                             "properties": {"resourceType": {"const": "OperationOutcome"},
                                            "issue": {"type": "array", "minItems": 1}}},
        "Resource": {"type": "object", "required": ["resourceType", "id"]}}},
}

schema = schemathesis.openapi.from_dict(DOCUMENT)


@pytest.fixture()
def fhir_server(app, live_server, cpts, frozen, make_doctor, make_slot):
    app.config["FHIR_API_KEYS"] = f"sas-national:{API_KEY}"
    cpts.finess = "440012345"
    cpts.phone = "02 40 00 00 00"
    db.session.commit()
    now = frozen.advance(minutes=0)
    doctor = make_doctor()
    for hours in (2, 5, 30):
        make_slot(doctor, now + timedelta(hours=hours))
    return live_server + "/fhir"


@schema.parametrize()
@settings(max_examples=30, derandomize=True, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_fhir_endpoints_conform(case, fhir_server):
    import requests

    headers = {"X-API-Key": API_KEY, "Accept": FHIR}
    kwargs = case.as_transport_kwargs(base_url=fhir_server, headers=headers)
    response = requests.request(**kwargs, timeout=60, allow_redirects=False)
    case.validate_response(response, headers=headers, excluded_checks=[
        ignored_auth, negative_data_rejection, positive_data_acceptance])
    if response.status_code in (200, 201) and case.method.upper() in ("GET", "POST", "PUT"):
        parse(response.json())  # a real FHIR resource, not only the right shape
