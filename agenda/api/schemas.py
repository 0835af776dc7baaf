"""What the JSON API accepts, declared once: these pydantic models validate the requests
(:func:`agenda.api.core.parse_body` / :func:`~agenda.api.core.parse_query`) and are the
OpenAPI document's schemas (:func:`agenda.api.spec.model_ref`), so the two cannot drift.

Every id fits the database's integer, every string its column, every date the years the
service deals with; a NUL byte is refused everywhere.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field,
                      StringConstraints)

from agenda.security import MAX_DB_INT
from agenda.timeutil import MAX_YEAR, MIN_YEAR


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("nul")
    return value


def _service_year(value: date | datetime) -> date | datetime:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError("year")
    return value


def _birth_year(value: date) -> date:
    if not 1900 <= value.year <= MAX_YEAR:
        raise ValueError("year")
    return value


def Text(max_length: int, min_length: int = 0):  # noqa: N802 - a type factory
    """A string of at most ``max_length`` characters, without NUL byte."""
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length),
                     AfterValidator(_no_nul), Field(pattern=r"^[^\x00]*$")]


def _integral(value):
    """JSON Schema's integer includes 3.0: accepted as 3 (a bool stays refused)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


_YEARS = r"^(20\d\d|2100)-"  # MIN_YEAR..MAX_YEAR, stated in the document too

Int = Annotated[int, BeforeValidator(_integral)]
DbId = Annotated[Int, Field(ge=1, le=MAX_DB_INT)]
ServiceDate = Annotated[date, AfterValidator(_service_year),
                        Field(description=f"AAAA-MM-JJ, années {MIN_YEAR} à {MAX_YEAR}",
                              json_schema_extra={"pattern": _YEARS})]
ServiceDateTime = Annotated[datetime, AfterValidator(_service_year),
                            Field(description="ISO 8601 ; sans décalage = heure de Paris",
                                  json_schema_extra={"pattern": _YEARS})]
BirthDate = Annotated[date, AfterValidator(_birth_year),
                      Field(json_schema_extra={"pattern": r"^(19\d\d|20\d\d|2100)-"})]
Week = Annotated[str, Field(pattern=r"^(20\d\d|2100)-W(0[1-9]|[1-4]\d|5[0-3])$",
                            examples=["2026-W49"],
                            description=f"semaine ISO, années {MIN_YEAR} à {MAX_YEAR}")]


class Body(BaseModel):
    """A JSON request body: exact types, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Query(BaseModel):
    """Query-string parameters (strings converted to the declared types)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --- booking ------------------------------------------------------------------------------

class TreatingInput(Body):
    kind: Literal["doctor", "none", "unknown", "external"] = "unknown"
    doctor_id: DbId | None = None
    name: Text(200) | None = None
    rpps: Text(11) | None = None


class CommuneFields(BaseModel):
    """How a commune is named: ``commune_insee``, or ``postcode`` + ``commune_name``; the
    former ``commune`` field still when it designates a single commune."""

    commune_insee: Text(5) | None = Field(None, description="code INSEE de la commune")
    postcode: Text(5) | None = Field(None, description="code postal (avec commune_name)")
    commune_name: Text(100) | None = Field(None, description="nom (avec postcode)")
    commune: Text(100) | None = Field(None, deprecated=True, description=(
        "ancien champ : accepté s'il désigne une seule commune"))


class PatientInput(CommuneFields, Body):
    last_name: Text(100, 1)
    first_name: Text(100, 1)
    birth_date: BirthDate | None = None
    phone: Text(30) | None = None
    mobility: Literal["mobile", "tele", "home"] = "mobile"
    treating: TreatingInput | None = None
    sms_consent: bool = Field(False, description=(
        "accord du patient pour recevoir un SMS de confirmation et de rappel avec un lien "
        "d'annulation (numéro de portable requis dans phone)"))


class BookingInput(Body):
    slot_id: DbId
    patient: PatientInput
    reason_id: DbId | None = None
    note: Text(1000) | None = None
    origin: Literal["api"] = "api"
    regulation_number: Text(40) | None = Field(None, description=(
        "n° de dossier de régulation SAMU/SAS"))
    duplicate_reason: Text(300) | None = Field(None, description=(
        "raison de réserver malgré un doublon possible (réponse 409 possible_duplicate)"))


class HoldInput(Body):
    slot_id: DbId


class CancelInput(Body):
    reason: Text(300, 1)


class OutcomeInput(Body):
    outcome: Literal["seen", "no_show", "cancelled"]
    synthesis: Text(4000) | None = None


class AcceptInput(Body):
    start: ServiceDateTime


class SlotSearchQuery(CommuneFields, Query):
    order: Literal["earliest", "nearest"] | None = None
    treating_doctor_id: DbId | None = None
    horizon_hours: Annotated[Int, Field(ge=1, le=24 * 14)] | None = None
    mode: Literal["AMB", "VR", "HH"] | None = None
    day: ServiceDate | None = None
    sector_id: DbId | None = None
    kind: Literal["fixed", "floating"] | None = None
    limit: Annotated[Int, Field(ge=1, le=200)] | None = None


# --- doctor's slots -----------------------------------------------------------------------

class SlotInput(Body):
    kind: Literal["fixed", "floating"] = "fixed"
    start: ServiceDateTime
    end: ServiceDateTime | None = Field(
        None, description="facultatif pour un créneau fixe (durée de la charte)")
    mode: Literal["AMB", "VR", "HH"] = "AMB"
    capacity: Annotated[Int, Field(ge=1, le=50)] = Field(
        1, description="plage flottante : nombre de patients")
    place_id: DbId | None = Field(None, description="lieu d'exercice (un des lieux actifs "
                                  "du médecin) ; par défaut le lieu principal")


class SlotPatch(Body):
    kind: Literal["fixed", "floating"] | None = None
    start: ServiceDateTime | None = None
    end: ServiceDateTime | None = None
    mode: Literal["AMB", "VR", "HH"] | None = None
    capacity: Annotated[Int, Field(ge=1, le=50)] | None = None


class WithdrawInput(Body):
    reason: Text(300) | None = None


class WeekQuery(Query):
    week: Week | None = None


# --- coverage -----------------------------------------------------------------------------

class CommunesQuery(Query):
    horizon: Literal["24h", "48h", "week"] = "48h"
    week: Week | None = Field(None, description="une semaine précise (remplace horizon)")


class ReportQuery(Query):
    year: Annotated[Int, Field(ge=MIN_YEAR, le=MAX_YEAR)] | None = None


class MonthQuery(Query):
    month: Annotated[str, Field(pattern=r"^(20\d\d|2100)-(0[1-9]|1[0-2])$",
                                examples=["2026-03"])] | None = None


class CallInput(Body):
    outcome: Literal["no_slot", "declined", "other"]
    commune: Text(100) | None = Field(None, description="code INSEE ou nom (facultatif)")
    reason_id: DbId | None = None


class DepartmentQuery(Query):
    week: Week | None = None
    horizon: Literal["24h", "48h", "week"] = "48h"
    from_: ServiceDate | None = Field(default=None, alias="from",
                                      description="début de la période (défaut : mois courant)")
    to: ServiceDate | None = Field(default=None, description="fin de la période, incluse")
    cpts: str | None = Field(default=None, pattern=r"^\d{1,9}(,\d{1,9}){0,49}$",
                             description="restreindre à ces CPTS de votre périmètre "
                                         "(identifiants séparés par des virgules)")


class StatsQuery(Query):
    from_: ServiceDate = Field(alias="from")
    to: ServiceDate = Field(description="inclus")
