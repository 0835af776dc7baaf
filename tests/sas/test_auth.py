"""Who may call the FHIR endpoints: API keys, certificate subjects, deny by default."""

from __future__ import annotations

import logging

from tests.sas.conftest import API_KEY

URL = ("/fhir/r4/Slot?start=ge2026-12-01&start=le2026-12-02"
       "&schedule.actor:Practitioner.identifier=812345678901&status=free")
SUBJECT = "CN=sas.sante.fr,OU=0002 130029754,O=AGENCE DU NUMERIQUE EN SANTE,C=FR"


def test_denied_by_default(app, client, frozen):
    app.config["FHIR_API_KEYS"] = ""
    app.config["FHIR_CLIENT_SUBJECTS"] = ""
    for headers in ({}, {"X-API-Key": "anything"}, {"X-SSL-Client-S-DN": SUBJECT,
                                                    "X-SSL-Client-Verify": "SUCCESS"}):
        resp = client.get(URL, headers=headers)
        assert resp.status_code == 401
        assert resp.get_json()["resourceType"] == "OperationOutcome"
    assert client.post("/fhir/r4/Practitioner", json={}).status_code == 401
    assert client.put("/fhir/r4/Practitioner?identifier=x", json={}).status_code == 401


def test_api_key(app, client, frozen):
    app.config["FHIR_API_KEYS"] = f"autre:k2-xxxxxxxx,sas:{API_KEY}"
    assert client.get(URL, headers={"X-API-Key": API_KEY}).status_code == 200
    assert client.get(URL, headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 200
    assert client.get(URL, headers={"X-API-Key": API_KEY + "x"}).status_code == 401
    assert client.get(URL, headers={"X-API-Key": API_KEY[:-1]}).status_code == 401


def test_client_certificate_subject(app, client, frozen):
    app.config["FHIR_CLIENT_SUBJECTS"] = f"{SUBJECT},CN=autre.example,O=X,C=FR"
    ok = {"X-SSL-Client-S-DN": SUBJECT, "X-SSL-Client-Verify": "SUCCESS"}
    assert client.get(URL, headers=ok).status_code == 200
    # attribute order and spaces do not matter; the other listed subject works too
    swapped = {"X-SSL-Client-S-DN": "C=FR, O=AGENCE DU NUMERIQUE EN SANTE, "
               "OU=0002 130029754, CN=sas.sante.fr", "X-SSL-Client-Verify": "SUCCESS"}
    assert client.get(URL, headers=swapped).status_code == 200
    assert client.get(URL, headers={"X-SSL-Client-S-DN": "CN=autre.example,O=X,C=FR",
                                    "X-SSL-Client-Verify": "SUCCESS"}).status_code == 200
    # not verified by the proxy, or another subject: refused
    assert client.get(URL, headers={**ok, "X-SSL-Client-Verify": "FAILED:x"}).status_code == 401
    assert client.get(URL, headers={"X-SSL-Client-S-DN": "CN=intrus,O=X,C=FR",
                                    "X-SSL-Client-Verify": "SUCCESS"}).status_code == 401
    # a subset of the subject is not the subject
    assert client.get(URL, headers={"X-SSL-Client-S-DN": "CN=sas.sante.fr",
                                    "X-SSL-Client-Verify": "SUCCESS"}).status_code == 401


def test_semicolon_separated_subjects(app, client, frozen):
    app.config["FHIR_CLIENT_SUBJECTS"] = f"CN=a,O=b;{SUBJECT}"
    ok = {"X-SSL-Client-S-DN": SUBJECT, "X-SSL-Client-Verify": "SUCCESS"}
    assert client.get(URL, headers=ok).status_code == 200


def test_every_call_is_logged(app, client, frozen, caplog):
    app.config["FHIR_API_KEYS"] = f"sas:{API_KEY}"
    with caplog.at_level(logging.INFO, logger="agenda.sas.access"):
        client.get(URL, headers={"X-API-Key": API_KEY})
        client.get(URL)
    lines = [r.getMessage() for r in caplog.records if r.name == "agenda.sas.access"]
    assert len(lines) == 2
    assert "client=key:sas" in lines[0] and "-> 200" in lines[0]
    assert "client=-" in lines[1] and "-> 401" in lines[1]
    assert API_KEY not in " ".join(lines)
