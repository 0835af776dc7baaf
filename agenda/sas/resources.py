"""Builders of the FHIR R4 resources exchanged with the national SAS platform.

Plain dictionaries (JSON-ready), following the ANS guide "Service d'Accès aux Soins":
INT_R04 (CPTS use case: FrSlotAgregateurCPTS and the included resources) and INT_R03
(FrAppointmentSAS). The codes and systems live here, in one place.
"""

from __future__ import annotations

from datetime import datetime

import re

from flask import current_app, has_request_context, request
from flask_babel import gettext as _

from agenda.timeutil import to_local

# --- systems and codes of the guide ------------------------------------------------------

NATIONAL_ID_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"  # national identifier of a professional
STRUCTURE_ID_SYSTEM = "urn:oid:1.2.250.1.71.4.2.2"  # national identifier of a structure
SAS_SYSTEM = "urn:oid:1.2.250.1.213.3.6"  # SAS platform (technical ids, meta.source)
V2_0203 = "http://interopsante.org/fhir/CodeSystem/fr-v2-0203"
# Guide 1.2.0 types the CPTS Organization's identifier with the fr-core code system; 1.1.0
# with fr-location-identifier-type: both codings are sent (a pattern on a CodeableConcept
# asks that its coding be among the instance's codings).
FR_CORE_V2_0203 = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
LOCATION_ID_TYPE = "http://interopsante.org/fhir/CodeSystem/fr-location-identifier-type"
SLOT_TYPE_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_R314-TypeCreneau/FHIR/TRE-R314-TypeCreneau"
ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CATEGORY_SYSTEM = ("https://mos.esante.gouv.fr/NOS/TRE_R66-CategorieEtablissement/FHIR/"
                   "TRE-R66-CategorieEtablissement")
CPTS_CATEGORY_CODE = "604"
SERVICE_TYPE_EXT = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Slot.serviceType"
APPOINTMENT_REASON_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0276"
OPERATOR_EXT = "http://interopsante.org/fhir/StructureDefinition/FrAppointmentOperator"

PROFILE_BUNDLE = "https://interop.esante.gouv.fr/ig/fhir/sas/StructureDefinition/sas-cpts-bundle-aggregator"
PROFILE_SLOT = "https://interop.esante.gouv.fr/ig/fhir/sas/StructureDefinition/sas-cpts-slot-aggregator"
PROFILE_SCHEDULE = "http://sas.fr/fhir/StructureDefinition/FrScheduleAgregateur"
PROFILE_PRACTITIONER = "http://sas.fr/fhir/StructureDefinition/FrPractitionerAgregateur"
PROFILE_ROLE = "http://sas.fr/fhir/StructureDefinition/FrPractitionerRoleExerciceAgregateur"
PROFILE_LOCATION = "http://sas.fr/fhir/StructureDefinition/FrLocationAgregateur"
PROFILE_SERVICE = ("https://interop.esante.gouv.fr/ig/fhir/sas/StructureDefinition/"
                   "sas-cpts-healthcareservice-aggregator")
PROFILE_ORGANIZATION = ("https://interop.esante.gouv.fr/ig/fhir/sas/StructureDefinition/"
                        "sas-cpts-organization-aggregator")
# The canonical URL of FrAppointmentSAS (package 1.1.0 and sources 1.2.0); the
# "interopsante.org/…/FrAppointmentSAS" of a guide page names no profile.
PROFILE_APPOINTMENT = "http://sas.fr/fhir/StructureDefinition/FrAppointmentSAS"
PROFILE_REGULATOR = ("https://interop.esante.gouv.fr/ig/fhir/sas/StructureDefinition/"
                     "FrPractitionerRegul")
GUIDE_URL = "https://interop.esante.gouv.fr/ig/fhir/sas"

# Slot types (TRE_R314, value set sas-cpts-valueset-typecreneau): every slot we expose is a
# CPTS slot; the CPTS chooses who else sees it (SAS settings, default: SNP — regulators).
CPTS_SLOT_TYPE = "CPTS"
VISIBILITY_CODES = ("SNP", "PRO", "PUBLIC")
DEFAULT_VISIBILITY = ("SNP",)
MODE_LABELS = {"AMB": "Consultation au cabinet", "VR": "Téléconsultation",
               "HH": "Visite à domicile"}
# Booking status -> FHIR AppointmentStatus (the four values the SAS platform reads).
APPOINTMENT_STATUS = {"booked": "booked", "seen": "fulfilled", "no_show": "noshow",
                      "cancelled": "cancelled"}


def national_id(rpps: str) -> str:
    """The national identifier of a doctor: ``8`` followed by the RPPS."""
    return "8" + rpps


def fhir_instant(dt: datetime) -> str:
    """An aware datetime as a FHIR instant with milliseconds and the Europe/Paris offset
    (``2026-11-30T14:00:00.000+01:00``, as the guide's examples and the platform's checks)."""
    return to_local(dt).isoformat(timespec="milliseconds")


def base_url() -> str:
    """BASE_URL; behind trusted reverse proxies, the public scheme and host they forward."""
    from flask import has_request_context, request

    if has_request_context() and current_app.config.get("TRUSTED_PROXIES"):
        return request.host_url.rstrip("/")
    return current_app.config["BASE_URL"].rstrip("/")


def fhir_base() -> str:
    """The FHIR base of fullUrls, self links and Location headers: in a request, the
    address the client called (scheme and host as the proxy passed them), so that a
    Bundle's self link and its fullUrls always agree; outside a request, ``BASE_URL``."""
    root = request.url_root.rstrip("/") if has_request_context() else base_url()
    return root + "/fhir/r4"


def self_link() -> str:
    """The self link of a search answer: the request, on the same base as the fullUrls."""
    query = request.query_string.decode("latin-1")
    return request.url_root.rstrip("/") + request.path + (f"?{query}" if query else "")


def identifier_system(kind: str) -> str:
    """A FHIR identifier system of this software (``AGENDA_SAS_IDENTIFIER_SYSTEM:kind``):
    fixed for the software, never derived from the host, so a domain change does not
    turn later updates into duplicates on the platform."""
    return f"{current_app.config.get('SAS_IDENTIFIER_SYSTEM') or 'urn:agenda-snp'}:{kind}"


def full_url(resource: dict) -> str:
    return f"{fhir_base()}/{resource['resourceType']}/{resource['id']}"


def _coding(system: str, code: str, display: str | None = None) -> dict:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _idnps(value: str) -> dict:
    return {"type": {"coding": [_coding(V2_0203, "IDNPS")]}, "system": NATIONAL_ID_SYSTEM,
            "value": value}


# --- who a slot belongs to: one function each (issue 10 moves them to place and CPTS) --

def doctor_of(slot):
    """The doctor of the Practitioner and PractitionerRole of ``slot``."""
    return slot.doctor


def place_of(slot):
    """The place of ``slot`` (``address``, ``commune``, ``lat``, ``lon``, ``id``): its
    Location, and with the doctor its PractitionerRole and Schedule (one per place)."""
    return slot.place


def cpts_id_of(slot) -> int:
    """The CPTS of ``slot`` (its place's): its HealthcareService and Organization."""
    return slot.cpts_id


# --- what must be known before a slot is exposed (FrLocationAgregateur, CPTS Organization)

FINESS_RE = re.compile(r"^\d{9}$")
SIRET_RE = re.compile(r"^\d{14}$")


def place_problems(place) -> list[str]:
    """Why ``place`` cannot make a valid FrLocationAgregateur (empty: it can).
    Guide 1.1.0/1.2.0 FrLocationAgregateur: address 1..1, address.line 1..1,
    address.city 1..1, address.postalCode 1..1."""
    problems = []
    if not (place.address or "").strip():
        problems.append(_("adresse (voie) du lieu de consultation absente"))
    commune = place.commune
    if commune is None or not (commune.name or "").strip():
        problems.append(_("commune du lieu de consultation absente"))
    elif not postal_code(place):
        problems.append(_("code postal de la commune inconnu"))
    return problems


def cpts_problems(cpts) -> list[str]:
    """Why the slots of ``cpts`` cannot be exposed (empty: they can). Guide 1.2.0
    FrOrganizationAgregateurCPTS: identifier 1..1, FINESS-invariant ``^1[0-9]{9}$``."""
    if not cpts.finess:
        return [_("FINESS de la CPTS absent (l'Organization CPTS du guide l'exige)")]
    if not FINESS_RE.match(cpts.finess):
        return [_("FINESS de la CPTS mal formé (9 chiffres attendus)")]
    return []


def cpts_warnings(cpts) -> list[str]:
    """What the platform would miss without blocking the slots (telecom 0..* MS)."""
    if not cpts.phone:
        return [_("téléphone de la CPTS absent (Organization.telecom)")]
    if international_phone(cpts.phone) is None:
        return [_("téléphone de la CPTS illisible (format +33XXXXXXXXX attendu)")]
    return []


def postal_code(place) -> str | None:
    commune = place.commune
    postcodes = ((commune.postcodes if commune is not None else "") or "").split()
    return postcodes[0] if postcodes else None


def international_phone(phone: str | None) -> str | None:
    """A French number in the form the guide asks (FAQ: ``+33XXXXXXXXX``), or None."""
    digits = re.sub(r"[\s.\-()]", "", phone or "")
    if digits.startswith("+"):
        return digits if re.fullmatch(r"\+\d{8,15}", digits) else None
    if digits.startswith("0033"):
        digits = "0" + digits[4:]
    if re.fullmatch(r"0[1-9]\d{8}", digits):
        return "+33" + digits[1:]
    return None


def structure_identifier(org) -> dict | None:
    """The national structure identifier (IDNST) of ``org``, in the guide's order: FINESS
    (prefix 1), else SIRET (prefix 3) — guide FAQ "ID nationaux de structure", and
    FrPractitionerRoleExerciceAgregateur.organization.identifier (type IDNST of fr-v2-0203,
    system urn:oid:1.2.250.1.71.4.2.2)."""
    if org.finess:
        value = "1" + org.finess
    elif getattr(org, "siret", None):
        value = "3" + org.siret
    else:
        return None
    return {"type": {"coding": [_coding(V2_0203, "IDNST")]}, "system": STRUCTURE_ID_SYSTEM,
            "value": value}


# --- ids of the resources we expose (stable, derived from our primary keys) -------------

def slot_id(slot) -> str:
    return f"slot-{slot.id}"


def schedule_id(place) -> str:
    """One Schedule per PractitionerRole, that is per place (guide FAQ)."""
    return f"schedule-{place.id}"


def practitioner_id(doctor) -> str:
    return f"doctor-{doctor.id}"


def role_id(place) -> str:
    """One PractitionerRole per place of practice (a doctor with two places has two)."""
    return f"role-{place.id}"


def service_id(cpts) -> str:
    return f"cpts-service-{cpts.id}"


def organization_id(cpts) -> str:
    return f"cpts-{cpts.id}"


def ref(resource_type: str, rid: str) -> dict:
    return {"reference": f"{resource_type}/{rid}"}


# --- INT_R04 ----------------------------------------------------------------------------

def booking_link(slot) -> str:
    """The URL (Slot.comment) that opens the booking of ``slot`` for a SAS regulator.

    No ``origin`` of ours: the SAS platform appends its own (guide, INT_R04 rule ID 20);
    the landing page reads it even when appended with a second ``?``."""
    from agenda.sas.auth import sign_slot_link

    return f"{base_url()}/sas/creneau/{slot.id}?sig={sign_slot_link(slot.id)}"


def slot_types(visibility: str | None) -> list[str]:
    """The TRE_R314 codes of a CPTS slot: the CPTS's chosen visibility, then ``CPTS``."""
    chosen = [c for c in (visibility or "").split() if c in VISIBILITY_CODES]
    return [*dict.fromkeys(chosen), CPTS_SLOT_TYPE]


def slot_resource(slot, cpts, visibility: str | None = None) -> dict:
    return {
        "resourceType": "Slot",
        "id": slot_id(slot),
        "meta": {"profile": [PROFILE_SLOT],
                 "security": [_coding(SLOT_TYPE_SYSTEM, code) for code in slot_types(
                     " ".join(DEFAULT_VISIBILITY) if visibility is None else visibility)]},
        "serviceType": [
            {"coding": [_coding(ACT_CODE_SYSTEM, slot.mode)],
             "text": MODE_LABELS.get(slot.mode, slot.mode)},
            {"extension": [{"url": SERVICE_TYPE_EXT,
                            "valueReference": ref("HealthcareService", service_id(cpts))}],
             "coding": [_coding(CATEGORY_SYSTEM, CPTS_CATEGORY_CODE)]},
        ],
        "appointmentType": {"coding": [_coding(APPOINTMENT_REASON_SYSTEM, "ROUTINE")]},
        "schedule": ref("Schedule", schedule_id(place_of(slot))),
        "status": "free",
        "start": fhir_instant(slot.start),
        "end": fhir_instant(slot.end),
        "comment": booking_link(slot),
    }


def schedule_resource(doctor, place) -> dict:
    return {
        "resourceType": "Schedule",
        "id": schedule_id(place),
        "meta": {"profile": [PROFILE_SCHEDULE]},
        "active": True,
        "actor": [ref("Practitioner", practitioner_id(doctor)),
                  ref("PractitionerRole", role_id(place))],
    }


def practitioner_resource(doctor) -> dict:
    return {
        "resourceType": "Practitioner",
        "id": practitioner_id(doctor),
        "meta": {"profile": [PROFILE_PRACTITIONER]},
        "identifier": [_idnps(national_id(doctor.rpps))],
        "name": [{"family": doctor.last_name, "given": [doctor.first_name],
                  "prefix": ["Dr"]}],
    }


def location_resource(place) -> dict:
    """The contained FrLocationAgregateur (``place_problems(place)`` must be empty)."""
    address = {"use": "work", "line": [place.address.strip()], "city": place.commune.name,
               "postalCode": postal_code(place)}
    location = {
        "resourceType": "Location",
        "id": "lieu",
        "meta": {"profile": [PROFILE_LOCATION]},
        "identifier": [{"type": {"coding": [_coding(LOCATION_ID_TYPE, "INTRN")]},
                        "system": identifier_system("lieu"), "value": f"place-{place.id}"}],
        "address": address,
    }
    if place.lat is not None and place.lon is not None:
        location["position"] = {"latitude": place.lat, "longitude": place.lon}
    return location


def role_resource(doctor, place, cpts) -> dict:
    organization = ref("Organization", organization_id(cpts))
    identifier = structure_identifier(cpts)
    if identifier is not None:
        organization["identifier"] = identifier
    return {
        "resourceType": "PractitionerRole",
        "id": role_id(place),
        "meta": {"profile": [PROFILE_ROLE]},
        "contained": [location_resource(place)],
        "active": True,
        "practitioner": ref("Practitioner", practitioner_id(doctor)),
        "organization": organization,
        "location": [{"reference": "#lieu"}],
    }


def service_resource(cpts) -> dict:
    return {
        "resourceType": "HealthcareService",
        "id": service_id(cpts),
        "meta": {"profile": [PROFILE_SERVICE]},
        "active": True,
        "providedBy": ref("Organization", organization_id(cpts)),
        "category": [{"coding": [_coding(CATEGORY_SYSTEM, CPTS_CATEGORY_CODE)]}],
        "name": f"Soins non programmés – {cpts.name}",
    }


def organization_resource(cpts) -> dict:
    """The CPTS Organization (``cpts_problems(cpts)`` must be empty)."""
    org = {
        "resourceType": "Organization",
        "id": organization_id(cpts),
        "meta": {"profile": [PROFILE_ORGANIZATION]},
        "identifier": [{"type": {"coding": [_coding(LOCATION_ID_TYPE, "IDNST"),
                                            _coding(FR_CORE_V2_0203, "IDNST")]},
                        "system": STRUCTURE_ID_SYSTEM, "value": "1" + cpts.finess}],
        "active": True,
        "name": cpts.name,
    }
    phone = international_phone(cpts.phone)
    if phone:
        org["telecom"] = [{"system": "phone", "value": phone}]
    return org


# The minimum of sas-cpts-bundle-aggregator: one entry at least of each of these.
_BUNDLE_REQUIRED = ("Slot", "Schedule", "Practitioner", "PractitionerRole")


def searchset(matches: list[dict], includes: list[dict], self_url: str) -> dict:
    """A searchset Bundle; it claims the CPTS Bundle profile only when it meets its minimum
    (entry 4..*: a Slot, a Schedule, a Practitioner and a PractitionerRole at least) — an
    empty answer or one without ``_include`` is a plain searchset."""
    import uuid

    def entry(resource: dict, mode: str) -> dict:
        return {"fullUrl": full_url(resource), "resource": resource, "search": {"mode": mode}}

    bundle = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "searchset",
        "total": len(matches),
        "link": [{"relation": "self", "url": self_url}],
        "entry": [entry(r, "match") for r in matches] + [entry(r, "include") for r in includes],
    }
    present = {e["resource"]["resourceType"] for e in bundle["entry"]}
    if all(kind in present for kind in _BUNDLE_REQUIRED):
        bundle["meta"] = {"profile": [PROFILE_BUNDLE]}
    if not bundle["entry"]:
        del bundle["entry"]
    return bundle


# --- INT_R03 ----------------------------------------------------------------------------

def operator_identifier(national: str | None, technical: str | None) -> dict | None:
    """The regulator's identifier for the appointmentOperator extension."""
    if national:
        return _idnps(national)
    if technical:
        return {"type": {"coding": [_coding(V2_0203, "INTRN")]}, "system": SAS_SYSTEM,
                "value": technical}
    return None


def appointment_identifier_system() -> str:
    """The system of our Appointment identifiers (INT_R03), fixed for the software."""
    return identifier_system("rendez-vous")


def legacy_appointment_identifier_system() -> str:
    """The system used before it was fixed (derived from ``BASE_URL``): kept for the
    updates of appointments first sent with it."""
    return f"{base_url()}/fhir/r4/identifiants/rendez-vous"


def appointment_resource(*, identifier: str, system: str, status: str, start: datetime,
                         end: datetime, created: datetime, doctor_rpps: str,
                         operator: dict) -> dict:
    return {
        "resourceType": "Appointment",
        "meta": {"profile": [PROFILE_APPOINTMENT]},
        "extension": [{"url": OPERATOR_EXT, "valueReference": {"identifier": operator}}],
        "identifier": [{"system": system, "value": identifier}],
        "status": status,
        "start": fhir_instant(start),
        "end": fhir_instant(end),
        "created": fhir_instant(created),
        "participant": [{"actor": {"identifier": _idnps(national_id(doctor_rpps))},
                         "status": "accepted"}],
    }
