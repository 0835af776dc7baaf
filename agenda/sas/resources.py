"""Builders of the FHIR R4 resources exchanged with the national SAS platform.

Plain dictionaries (JSON-ready), following the ANS guide "Service d'Accès aux Soins":
INT_R04 (CPTS use case: FrSlotAgregateurCPTS and the included resources) and INT_R03
(FrAppointmentSAS). The codes and systems live here, in one place.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app

from agenda.timeutil import to_local

# --- systems and codes of the guide ------------------------------------------------------

NATIONAL_ID_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"  # national identifier of a professional
STRUCTURE_ID_SYSTEM = "urn:oid:1.2.250.1.71.4.2.2"  # national identifier of a structure
SAS_SYSTEM = "urn:oid:1.2.250.1.213.3.6"  # SAS platform (technical ids, meta.source)
V2_0203 = "http://interopsante.org/fhir/CodeSystem/fr-v2-0203"
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
PROFILES_APPOINTMENT = ["http://interopsante.org/fhir/StructureDefinition/FrAppointmentSAS",
                        "http://sas.fr/fhir/StructureDefinition/FrAppointmentSAS"]

# Our slots are SNP slots of a CPTS pool: both types of TRE_R314.
SLOT_TYPES = ("SNP", "CPTS")
MODE_LABELS = {"AMB": "Consultation au cabinet", "VR": "Téléconsultation",
               "HH": "Visite à domicile"}
# Booking status -> FHIR AppointmentStatus (the four values the SAS platform reads).
APPOINTMENT_STATUS = {"booked": "booked", "seen": "fulfilled", "no_show": "noshow",
                      "cancelled": "cancelled"}


def national_id(rpps: str) -> str:
    """The national identifier of a doctor: ``8`` followed by the RPPS."""
    return "8" + rpps


def fhir_instant(dt: datetime) -> str:
    """An aware datetime as a FHIR dateTime with the Europe/Paris offset."""
    return to_local(dt).isoformat(timespec="seconds")


def base_url() -> str:
    """BASE_URL; behind trusted reverse proxies, the public scheme and host they forward."""
    from flask import has_request_context, request

    if has_request_context() and current_app.config.get("TRUSTED_PROXIES"):
        return request.host_url.rstrip("/")
    return current_app.config["BASE_URL"].rstrip("/")


def fhir_base() -> str:
    return base_url() + "/fhir/r4"


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


# --- ids of the resources we expose (stable, derived from our primary keys) -------------

def slot_id(slot) -> str:
    return f"slot-{slot.id}"


def schedule_id(doctor) -> str:
    return f"schedule-{doctor.id}"


def practitioner_id(doctor) -> str:
    return f"doctor-{doctor.id}"


def role_id(doctor) -> str:
    return f"role-{doctor.id}"


def service_id(cpts) -> str:
    return f"cpts-service-{cpts.id}"


def organization_id(cpts) -> str:
    return f"cpts-{cpts.id}"


def ref(resource_type: str, rid: str) -> dict:
    return {"reference": f"{resource_type}/{rid}"}


# --- INT_R04 ----------------------------------------------------------------------------

def booking_link(slot) -> str:
    """The URL (Slot.comment) that opens the booking of ``slot`` for a SAS regulator."""
    from agenda.sas.auth import sign_slot_link

    return f"{base_url()}/sas/creneau/{slot.id}?origin=sas&sig={sign_slot_link(slot.id)}"


def slot_resource(slot, cpts) -> dict:
    return {
        "resourceType": "Slot",
        "id": slot_id(slot),
        "meta": {"profile": [PROFILE_SLOT],
                 "security": [_coding(SLOT_TYPE_SYSTEM, code) for code in SLOT_TYPES]},
        "serviceType": [
            {"coding": [_coding(ACT_CODE_SYSTEM, slot.mode)],
             "text": MODE_LABELS.get(slot.mode, slot.mode)},
            {"extension": [{"url": SERVICE_TYPE_EXT,
                            "valueReference": ref("HealthcareService", service_id(cpts))}],
             "coding": [_coding(CATEGORY_SYSTEM, CPTS_CATEGORY_CODE)]},
        ],
        "appointmentType": {"coding": [_coding(APPOINTMENT_REASON_SYSTEM, "ROUTINE")]},
        "schedule": ref("Schedule", schedule_id(slot.doctor)),
        "status": "free",
        "start": fhir_instant(slot.start),
        "end": fhir_instant(slot.end),
        "comment": booking_link(slot),
    }


def schedule_resource(doctor) -> dict:
    return {
        "resourceType": "Schedule",
        "id": schedule_id(doctor),
        "meta": {"profile": [PROFILE_SCHEDULE]},
        "active": True,
        "actor": [ref("Practitioner", practitioner_id(doctor)),
                  ref("PractitionerRole", role_id(doctor))],
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


def role_resource(doctor, cpts) -> dict:
    commune = doctor.commune
    address: dict = {"use": "work"}
    if doctor.address:
        address["line"] = [doctor.address]
    if commune is not None:
        address["city"] = commune.name
        postcodes = (commune.postcodes or "").split()
        if postcodes:
            address["postalCode"] = postcodes[0]
    location = {
        "resourceType": "Location",
        "id": "lieu",
        "meta": {"profile": [PROFILE_LOCATION]},
        "identifier": [{"type": {"coding": [_coding(LOCATION_ID_TYPE, "INTRN")]},
                        "system": f"{fhir_base()}/Location", "value": f"doctor-{doctor.id}"}],
        "address": address,
    }
    if doctor.lat is not None and doctor.lon is not None:
        location["position"] = {"latitude": doctor.lat, "longitude": doctor.lon}
    return {
        "resourceType": "PractitionerRole",
        "id": role_id(doctor),
        "meta": {"profile": [PROFILE_ROLE]},
        "contained": [location],
        "active": True,
        "practitioner": ref("Practitioner", practitioner_id(doctor)),
        "organization": ref("Organization", organization_id(cpts)),
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
    org = {
        "resourceType": "Organization",
        "id": organization_id(cpts),
        "meta": {"profile": [PROFILE_ORGANIZATION]},
        "identifier": [{"type": {"coding": [_coding(LOCATION_ID_TYPE, "IDNST")]},
                        "system": STRUCTURE_ID_SYSTEM, "value": "1" + cpts.finess}],
        "active": True,
        "name": cpts.name,
    }
    if cpts.phone:
        org["telecom"] = [{"system": "phone", "value": cpts.phone}]
    return org


def searchset(matches: list[dict], includes: list[dict], self_url: str) -> dict:
    import uuid

    def entry(resource: dict, mode: str) -> dict:
        return {"fullUrl": full_url(resource), "resource": resource, "search": {"mode": mode}}

    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [PROFILE_BUNDLE]},
        "type": "searchset",
        "total": len(matches),
        "link": [{"relation": "self", "url": self_url}],
        "entry": [entry(r, "match") for r in matches] + [entry(r, "include") for r in includes],
    }


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
    return f"{base_url()}/fhir/r4/identifiants/rendez-vous"


def appointment_resource(*, identifier: str, status: str, start: datetime, end: datetime,
                         created: datetime, doctor_rpps: str, operator: dict) -> dict:
    return {
        "resourceType": "Appointment",
        "meta": {"profile": list(PROFILES_APPOINTMENT)},
        "extension": [{"url": OPERATOR_EXT, "valueReference": {"identifier": operator}}],
        "identifier": [{"system": appointment_identifier_system(), "value": identifier}],
        "status": status,
        "start": fhir_instant(start),
        "end": fhir_instant(end),
        "created": fhir_instant(created),
        "participant": [{"actor": {"identifier": _idnps(national_id(doctor_rpps))},
                         "status": "accepted"}],
    }
