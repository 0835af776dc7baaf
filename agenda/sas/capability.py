"""The CapabilityStatement of ``GET /fhir/r4/metadata``: what this server does of the ANS
guide "Service d'Accès aux Soins" (INT_R04 server of the CPTS use case, INT_R02 server)."""

from __future__ import annotations

from agenda.sas import resources as R

# The guide's CapabilityStatements this server implements (package 1.1.0, sources 1.2.0).
INSTANTIATES = [f"{R.GUIDE_URL}/CapabilityStatement/SAS-GestionnaireAgenda-CPTS",
                f"{R.GUIDE_URL}/CapabilityStatement/SAS-GestionnaireStructure"]
SLOT_INCLUDES = ["Slot:schedule", "Schedule:actor", "Slot:service-type-reference",
                 "HealthcareService:organization"]
READ = [{"code": "read"}]


def _read(resource_type: str, profile: str) -> dict:
    return {"type": resource_type, "profile": profile, "interaction": list(READ)}


def capability_statement() -> dict:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-30",
        "publisher": "agenda SNP",
        "kind": "instance",
        "instantiates": list(INSTANTIATES),
        "software": {"name": "agenda SNP"},
        "implementation": {"description": "Agenda SNP – CPTS", "url": R.fhir_base()},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "implementationGuide": [R.GUIDE_URL],
        "rest": [{
            "mode": "server",
            "documentation": "Guide ANS « Service d'Accès aux Soins » "
                             f"({R.GUIDE_URL}) : INT_R04 cas d'usage CPTS, INT_R02.",
            "security": {"cors": False,
                         "description": "Certificat client IGC-Santé (mTLS) ou clé d'API."},
            "resource": [
                {"type": "Slot", "profile": R.PROFILE_SLOT,
                 "interaction": [*READ, {"code": "search-type"}],
                 "searchInclude": list(SLOT_INCLUDES),
                 "searchParam": [
                     {"name": "start", "type": "date",
                      "definition": f"{R.GUIDE_URL}/SearchParameter/slot-sp-start"},
                     {"name": "schedule.actor:Practitioner.identifier", "type": "token"},
                     {"name": "status", "type": "token"}]},
                _read("Schedule", R.PROFILE_SCHEDULE),
                {"type": "Practitioner", "profile": R.PROFILE_PRACTITIONER,
                 "supportedProfile": [R.PROFILE_REGULATOR],
                 "interaction": [*READ, {"code": "create"}, {"code": "update"}],
                 "conditionalCreate": False, "conditionalUpdate": True},
                _read("PractitionerRole", R.PROFILE_ROLE),
                _read("HealthcareService", R.PROFILE_SERVICE),
                _read("Organization", R.PROFILE_ORGANIZATION),
            ],
        }],
    }
