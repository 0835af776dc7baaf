"""Doctor's slots through the JSON API: ``/me/slots`` (the same service as the pages)."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import g, jsonify, request
from flask_babel import gettext as _

from agenda.api import bp
from agenda.api import schemas
from agenda.api.core import api_roles, parse_body, parse_query
from agenda.api.spec import document, path_id, query_parameters, request_body, schema
from agenda.errors import ValidationError
from agenda.extensions import db
from agenda.slots import services
from agenda.timeutil import local_to_utc, local_tz, parse_week


def aware(dt: datetime) -> datetime:
    """A datetime from the API: without an offset, it is wall-clock time in Europe/Paris."""
    if dt.tzinfo is None:
        return local_to_utc(dt.date(), dt.time())
    return dt


def _input_from(body: dict, base: services.SlotInput | None, doctor) -> services.SlotInput:
    """``body``: the fields the client sent (validated by schemas.SlotInput / SlotPatch)."""
    body = {k: v for k, v in body.items() if v is not None or k == "end"}
    kind = body.get("kind", base.kind if base else "fixed")
    if "start" in body:
        start = aware(body["start"])
    elif base:
        start = base.start
    else:
        raise ValidationError(_("Le début (start) est obligatoire."), field="start")
    if "end" in body and body["end"] is not None:
        end = aware(body["end"])
    elif base and "start" not in body:
        end = base.end
    elif base and "start" in body:  # moved: keep its length
        end = start + (base.end - base.start)
    elif kind == "fixed":
        end = start + timedelta(minutes=services.charter_for(doctor.cpts_id).default_length_min)
    else:
        raise ValidationError(_("La fin (end) d'une plage flottante est obligatoire."),
                              field="end")
    capacity = body.get("capacity", base.capacity if base and kind == "floating" else 1)
    mode = body.get("mode", base.mode if base else "AMB")
    place_id = body.get("place_id")
    if place_id is not None and (not isinstance(place_id, int) or isinstance(place_id, bool)):
        raise ValidationError(_("Le lieu (place_id) doit être un nombre entier."),
                              field="place_id")
    return services.SlotInput(kind=str(kind), start=start, end=end, mode=str(mode),
                              capacity=capacity, place_id=place_id)


def _summary(doctor, week: str) -> dict:
    s = services.pool_summary(doctor, week)
    return {"week": week, "count": s["count"], "min": s["min"], "max": s["max"],
            "state": s["state"]}


@bp.get("/me/slots")
@api_roles("doctor")
def my_slots():
    doctor = services.doctor_for_user(g.api_user)
    week = parse_query(schemas.WeekQuery).week or services.current_week()
    try:
        parse_week(week)
    except ValueError:
        raise ValidationError(_("Semaine invalide : format attendu 2026-W49."),
                              field="week") from None
    pool = services.week_pool(doctor, week, include_withdrawn=False)
    body = {"timezone": local_tz().key, "charter": _summary(doctor, week),
            "slots": [services.slot_to_dict(s) for s in pool]}
    db.session.commit()
    return jsonify(body)


@bp.post("/me/slots")
@api_roles("doctor")
def create_my_slot():
    doctor = services.doctor_for_user(g.api_user)
    data = _input_from(parse_body(schemas.SlotInput).model_dump(exclude_unset=True), None,
                       doctor)
    slot = services.create_slot(doctor, data, source="api")
    db.session.commit()
    out = services.slot_to_dict(slot)
    out["charter"] = _summary(doctor, slot.week)
    return jsonify(out), 201


@bp.patch("/me/slots/<int:slot_id>")
@api_roles("doctor")
def update_my_slot(slot_id: int):
    doctor = services.doctor_for_user(g.api_user)
    slot = services.get_own_slot(doctor, slot_id)
    base = services.SlotInput(kind=slot.kind, start=slot.start, end=slot.end, mode=slot.mode,
                              capacity=slot.capacity)
    data = _input_from(parse_body(schemas.SlotPatch).model_dump(exclude_unset=True), base,
                       doctor)
    services.update_slot(slot, data)
    db.session.commit()
    return jsonify(services.slot_to_dict(slot))


@bp.delete("/me/slots/<int:slot_id>")
@api_roles("doctor")
def withdraw_my_slot(slot_id: int):
    doctor = services.doctor_for_user(g.api_user)
    slot = services.get_own_slot(doctor, slot_id)
    reason = parse_body(schemas.WithdrawInput).reason if request.get_data() else None
    services.withdraw_slot(slot, reason)
    db.session.commit()
    return jsonify(services.slot_to_dict(slot))


# --------------------------------------------------------------------------- OpenAPI

schema("Slot", {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "kind": {"type": "string", "enum": ["fixed", "floating"]},
        "start": {"type": "string", "format": "date-time",
                  "description": "début (Europe/Paris, avec décalage)"},
        "end": {"type": "string", "format": "date-time"},
        "week": {"type": "string", "example": "2026-W49"},
        "mode": {"type": "string", "enum": ["AMB", "VR", "HH"],
                 "description": "cabinet, téléconsultation, visite à domicile"},
        "capacity": {"type": "integer", "minimum": 1},
        "booked_count": {"type": "integer"},
        "status": {"type": "string", "enum": ["open", "held", "booked", "seen", "no_show",
                                              "cancelled", "withdrawn", "past"]},
        "in_charter": {"type": "boolean",
                       "description": "faux : créneau « hors charte », non réservable"},
        "charter_note": {"type": ["string", "null"]},
        "source": {"type": "string", "enum": ["web", "api", "caldav"]},
        "conflict": {"type": ["string", "null"]},
        "warnings": {"type": "array", "items": {"type": "string"},
                     "description": "avertissements (jour férié, heures) non bloquants"},
    },
})
schema("WeekCharter", {
    "type": "object",
    "properties": {"week": {"type": "string"}, "count": {"type": "integer"},
                   "min": {"type": "integer"}, "max": {"type": "integer"},
                   "state": {"type": "string", "enum": ["under", "ok", "over"]}},
})

_SLOT = {"application/json": {"schema": {"$ref": "#/components/schemas/Slot"}}}
_INPUT = request_body(schemas.SlotInput)
_E = {"404": {"$ref": "#/components/responses/E404"},
      "409": {"$ref": "#/components/responses/E409"},
      "422": {"$ref": "#/components/responses/E422"}}

document("/me/slots", "get", {
    "summary": "Mes créneaux SNP d'une semaine (médecin)",
    "tags": ["créneaux"],
    "parameters": query_parameters(schemas.WeekQuery),
    "responses": {"200": {"description": "la semaine et son décompte selon la charte",
                          "content": {"application/json": {"schema": {
                              "type": "object", "properties": {
                                  "timezone": {"type": "string"},
                                  "charter": {"$ref": "#/components/schemas/WeekCharter"},
                                  "slots": {"type": "array", "items": {
                                      "$ref": "#/components/schemas/Slot"}}}}}}}},
})
document("/me/slots", "post", {
    "summary": "Publier un créneau fixe ou une plage flottante (médecin)",
    "description": "Règles : pas de chevauchement, pas dans le passé, heures de publication, "
                   "jours fériés, maximum hebdomadaire de la charte (422, rule "
                   "« charter_max », le message nomme la charte).",
    "tags": ["créneaux"],
    "requestBody": _INPUT,
    "responses": {"201": {"description": "créneau publié", "content": _SLOT}, **_E},
})
document("/me/slots/{id}", "patch", {
    "summary": "Modifier un de mes créneaux libres (médecin)",
    "tags": ["créneaux"],
    "parameters": [path_id()],
    "requestBody": request_body(schemas.SlotPatch),
    "responses": {"200": {"description": "créneau modifié", "content": _SLOT}, **_E},
})
document("/me/slots/{id}", "delete", {
    "summary": "Retirer un de mes créneaux libres (médecin)",
    "description": "Un créneau réservé ne se retire pas (409) : la réservation s'annule "
                   "avec un motif, qui prévient le réservant.",
    "tags": ["créneaux"],
    "parameters": [path_id()],
    "requestBody": request_body(schemas.WithdrawInput, required=False),
    "responses": {"200": {"description": "créneau retiré", "content": _SLOT}, **_E},
})
