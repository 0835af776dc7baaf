"""Checks of what the app emits against FHIR R4 and the ANS SAS guide.

fhir.resources 8 ships R5 as its default model set, plus R4B and STU3, but no R4 package.
R4B (4.3) keeps the R4 (4.0.1) shape of every resource used here (Slot.serviceType is
still a CodeableConcept, Appointment and Practitioner unchanged), whereas R5 changes them;
so R4B is the closest R4 parser available, and the guide-level checks below do the rest.
"""

from __future__ import annotations

import re

from fhir.resources.R4B import get_fhir_model_class

from agenda.sas import resources as R

ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
DATETIME_OFFSET_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def parse(resource: dict):
    """Parse with the R4B model class of its resourceType (raises on any error)."""
    cls = get_fhir_model_class(resource["resourceType"])
    return cls.model_validate(resource)


def codes(codings: list[dict], system: str) -> set[str]:
    return {c["code"] for c in codings if c.get("system") == system}


def check_slot(slot: dict, base: str) -> None:
    assert slot["status"] == "free"
    assert ID_RE.match(slot["id"])
    assert R.PROFILE_SLOT in slot["meta"]["profile"]
    security = codes(slot["meta"]["security"], R.SLOT_TYPE_SYSTEM)
    assert "CPTS" in security and security <= {"SNP", "PRO", "PUBLIC", "CPTS"}, security
    assert DATETIME_OFFSET_RE.match(slot["start"]) and DATETIME_OFFSET_RE.match(slot["end"])
    assert slot["start"] < slot["end"] or slot["start"][:10] <= slot["end"][:10]
    types = slot["serviceType"]
    consult = [t for t in types if codes(t.get("coding", []), R.ACT_CODE_SYSTEM)]
    assert len(consult) == 1
    assert codes(consult[0]["coding"], R.ACT_CODE_SYSTEM) <= {"AMB", "VR", "HH"}
    assert "extension" not in consult[0]
    cpts = [t for t in types if codes(t.get("coding", []), R.CATEGORY_SYSTEM)]
    assert len(cpts) == 1 and codes(cpts[0]["coding"], R.CATEGORY_SYSTEM) == {"604"}
    ext = cpts[0]["extension"]
    assert len(ext) == 1 and ext[0]["url"] == R.SERVICE_TYPE_EXT
    assert ext[0]["valueReference"]["reference"].startswith("HealthcareService/")
    assert codes(slot["appointmentType"]["coding"], R.APPOINTMENT_REASON_SYSTEM) == {"ROUTINE"}
    assert slot["schedule"]["reference"].startswith("Schedule/")
    assert slot["comment"].startswith(base + "/sas/creneau/") and "sig=" in slot["comment"]


def check_bundle(bundle: dict, base: str) -> dict[str, dict[str, dict]]:
    """Check a searchset Bundle; returns {resourceType: {id: resource}}."""
    parse(bundle)
    assert bundle["type"] == "searchset"
    entries = bundle.get("entry", [])
    matches = [e for e in entries if e["search"]["mode"] == "match"]
    assert bundle["total"] == len(matches)
    by_type: dict[str, dict[str, dict]] = {}
    for e in entries:
        res = e["resource"]
        parse(res)
        assert e["fullUrl"] == f"{base}/fhir/r4/{res['resourceType']}/{res['id']}"
        assert e["search"]["mode"] in ("match", "include")
        assert (e["search"]["mode"] == "match") == (res["resourceType"] == "Slot")
        assert res["id"] not in by_type.setdefault(res["resourceType"], {}), "duplicate"
        by_type[res["resourceType"]][res["id"]] = res
    for slot in by_type.get("Slot", {}).values():
        check_slot(slot, base)
    for pr in by_type.get("Practitioner", {}).values():
        ident = pr["identifier"][0]
        assert ident["system"] == R.NATIONAL_ID_SYSTEM
        assert re.match(r"^8\d{11}$", ident["value"])
        assert codes(ident["type"]["coding"], R.V2_0203) == {"IDNPS"}
        assert pr["name"][0]["family"]
    for role in by_type.get("PractitionerRole", {}).values():
        (loc,) = role["contained"]
        assert loc["resourceType"] == "Location"
        assert role["location"][0]["reference"] == "#" + loc["id"]
        assert loc["address"].get("city")
    for org in by_type.get("Organization", {}).values():
        (ident,) = org["identifier"]
        assert ident["system"] == R.STRUCTURE_ID_SYSTEM
        assert re.match(r"^1\d{9}$", ident["value"])
        assert codes(ident["type"]["coding"], R.LOCATION_ID_TYPE) == {"IDNST"}
        assert codes(ident["type"]["coding"], R.FR_CORE_V2_0203) == {"IDNST"}
    for hs in by_type.get("HealthcareService", {}).values():
        assert hs["providedBy"]["reference"].startswith("Organization/")
    # every reference between included resources resolves inside the bundle
    if "Schedule" in by_type:
        for slot in by_type.get("Slot", {}).values():
            kind, rid = slot["schedule"]["reference"].split("/")
            assert rid in by_type[kind]
    return by_type


def check_appointment(resource: dict) -> list[str]:
    """Problems of an FrAppointmentSAS resource (empty list: valid)."""
    problems: list[str] = []
    try:
        parse(resource)
    except Exception as exc:  # noqa: BLE001 - reported as a problem
        return [f"not a FHIR R4 Appointment: {exc}"]
    if resource.get("resourceType") != "Appointment":
        problems.append("resourceType")
    if resource.get("meta", {}).get("profile") != [R.PROFILE_APPOINTMENT]:
        problems.append("meta.profile")
    ids = resource.get("identifier") or []
    if len(ids) != 1 or not ids[0].get("system") or not ids[0].get("value"):
        problems.append("identifier 1..1 with system and value")
    ops = [e for e in resource.get("extension", []) if e.get("url") == R.OPERATOR_EXT]
    if len(ops) != 1:
        problems.append("appointmentOperator extension")
    else:
        ident = ops[0].get("valueReference", {}).get("identifier", {})
        coding = ident.get("type", {}).get("coding", [])
        if len(coding) != 1 or coding[0].get("system") != R.V2_0203 \
                or coding[0].get("code") not in ("IDNPS", "INTRN"):
            problems.append("operator identifier type")
        national = coding and coding[0].get("code") == "IDNPS"
        expected = R.NATIONAL_ID_SYSTEM if national else R.SAS_SYSTEM
        if ident.get("system") != expected or not ident.get("value"):
            problems.append("operator identifier system/value")
    if resource.get("status") not in ("booked", "fulfilled", "noshow", "cancelled"):
        problems.append("status")
    for key in ("start", "end", "created"):
        if not DATETIME_OFFSET_RE.match(resource.get(key, "")):
            problems.append(key)
    parts = resource.get("participant") or []
    if not parts:
        problems.append("participant")
    for p in parts:
        ident = p.get("actor", {}).get("identifier", {})
        if ident.get("system") != R.NATIONAL_ID_SYSTEM or \
                codes(ident.get("type", {}).get("coding", []), R.V2_0203) != {"IDNPS"} \
                or not re.match(r"^[80]\d+$", ident.get("value", "")):
            problems.append("participant.actor.identifier")
        if p.get("status") != "accepted":
            problems.append("participant.status")
    return problems
