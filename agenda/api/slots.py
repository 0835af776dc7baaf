"""Doctor's slots through the JSON API: ``/me/slots`` (the same service as the pages)."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import g, jsonify, request
from flask_babel import gettext as _

from agenda.api import bp
from agenda.api.core import api_roles, json_body
from agenda.api.spec import document, schema
from agenda.errors import ValidationError
from agenda.extensions import db
from agenda.slots import services
from agenda.timeutil import local_to_utc, local_tz, parse_week

_FIELDS = {"kind", "start", "end", "mode", "capacity"}


def _parse_dt(value, field: str) -> datetime:
    if not isinstance(value, str):
        raise ValidationError(_("Date et heure ISO 8601 attendues (%(f)s).", f=field),
                              field=field)
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(_("Date et heure ISO 8601 attendues (%(f)s).", f=field),
                              field=field) from None
    if dt.tzinfo is None:  # wall-clock time in Europe/Paris
        return local_to_utc(dt.date(), dt.time())
    return dt


def _input_from(body: dict, base: services.SlotInput | None, doctor) -> services.SlotInput:
    unknown = set(body) - _FIELDS - {"reason"}
    if unknown:
        raise ValidationError(_("Champ inconnu : %(f)s.", f=", ".join(sorted(unknown))),
                              field=sorted(unknown)[0])
    kind = body.get("kind", base.kind if base else "fixed")
    if "start" in body:
        start = _parse_dt(body["start"], "start")
    elif base:
        start = base.start
    else:
        raise ValidationError(_("Le début (start) est obligatoire."), field="start")
    if "end" in body and body["end"] is not None:
        end = _parse_dt(body["end"], "end")
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
    if not isinstance(capacity, int) or isinstance(capacity, bool):
        raise ValidationError(_("La capacité doit être un nombre entier."), field="capacity")
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
    week = request.args.get("week") or services.current_week()
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
    data = _input_from(json_body(), None, doctor)
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
    data = _input_from(json_body(), base, doctor)
    services.update_slot(slot, data)
    db.session.commit()
    return jsonify(services.slot_to_dict(slot))


@bp.delete("/me/slots/<int:slot_id>")
@api_roles("doctor")
def withdraw_my_slot(slot_id: int):
    doctor = services.doctor_for_user(g.api_user)
    slot = services.get_own_slot(doctor, slot_id)
    body = request.get_json(silent=True) or {}
    reason = body.get("reason") if isinstance(body, dict) else None
    services.withdraw_slot(slot, reason if isinstance(reason, str) else None)
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
schema("SlotInput", {
    "type": "object",
    "properties": {
        "kind": {"type": "string", "enum": ["fixed", "floating"], "default": "fixed"},
        "start": {"type": "string", "format": "date-time",
                  "description": "ISO 8601 ; sans décalage = heure de Paris"},
        "end": {"type": "string", "format": "date-time",
                "description": "facultatif pour un créneau fixe (durée de la charte)"},
        "mode": {"type": "string", "enum": ["AMB", "VR", "HH"], "default": "AMB"},
        "capacity": {"type": "integer", "minimum": 1, "default": 1,
                     "description": "plage flottante : nombre de patients"},
        "place_id": {"type": "integer",
                     "description": "lieu d'exercice (un des lieux actifs du médecin) ; "
                                    "par défaut le lieu principal"},
    },
})
schema("WeekCharter", {
    "type": "object",
    "properties": {"week": {"type": "string"}, "count": {"type": "integer"},
                   "min": {"type": "integer"}, "max": {"type": "integer"},
                   "state": {"type": "string", "enum": ["under", "ok", "over"]}},
})

_SLOT = {"application/json": {"schema": {"$ref": "#/components/schemas/Slot"}}}
_INPUT = {"required": True,
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SlotInput"}}}}
_E = {"404": {"$ref": "#/components/responses/E404"},
      "409": {"$ref": "#/components/responses/E409"},
      "422": {"$ref": "#/components/responses/E422"}}

document("/me/slots", "get", {
    "summary": "Mes créneaux SNP d'une semaine (médecin)",
    "tags": ["créneaux"],
    "parameters": [{"name": "week", "in": "query", "required": False,
                    "schema": {"type": "string", "example": "2026-W49"},
                    "description": "semaine ISO (Europe/Paris) ; défaut : la semaine en cours"}],
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
    "parameters": [{"name": "id", "in": "path", "required": True,
                    "schema": {"type": "integer"}}],
    "requestBody": _INPUT,
    "responses": {"200": {"description": "créneau modifié", "content": _SLOT}, **_E},
})
document("/me/slots/{id}", "delete", {
    "summary": "Retirer un de mes créneaux libres (médecin)",
    "description": "Un créneau réservé ne se retire pas (409) : la réservation s'annule "
                   "avec un motif, qui prévient le réservant.",
    "tags": ["créneaux"],
    "parameters": [{"name": "id", "in": "path", "required": True,
                    "schema": {"type": "integer"}}],
    "requestBody": {"required": False, "content": {"application/json": {"schema": {
        "type": "object", "properties": {"reason": {"type": "string"}}}}}},
    "responses": {"200": {"description": "créneau retiré", "content": _SLOT}, **_E},
})
