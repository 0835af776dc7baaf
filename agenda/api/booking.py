"""Booking through the JSON API: search, holds, bookings, cancel, outcome, requests.

The same services as the pages, so the same rules; a lost race is a 409.
"""

from __future__ import annotations

from datetime import date

from flask import g, jsonify, request
from flask_babel import gettext as _

from agenda.api import bp
from agenda.api.core import api_roles, json_body
from agenda.api.slots import _parse_dt  # ISO 8601, wall-clock = Europe/Paris
from agenda.api.spec import document, schema
from agenda.booking import services
from agenda.booking.models import Booking, FloatingRequest
from agenda.booking.services import requests as cascade
from agenda.errors import ValidationError
from agenda.extensions import db

BOOKERS = ("secretary", "regulator", "ed_nurse")


def _int(value, field: str, *, required: bool = True) -> int | None:
    if value in (None, "") and not required:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationError(_("Entier attendu (%(f)s).", f=field), field=field) from None


def _date(value, field: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValidationError(_("Date AAAA-MM-JJ attendue (%(f)s).", f=field),
                              field=field) from None


def _text(value) -> str | None:
    return value if isinstance(value, str) else None


def _patient(body: dict) -> services.PatientData:
    p = body.get("patient")
    if not isinstance(p, dict):
        raise ValidationError(_("Objet « patient » attendu."), field="patient")
    commune = api_commune(p)
    treating = p.get("treating") or {}
    if not isinstance(treating, dict):
        raise ValidationError(_("Objet « treating » attendu."), field="treating")
    return services.PatientData(
        last_name=str(p.get("last_name") or ""), first_name=str(p.get("first_name") or ""),
        commune_insee=commune.insee, birth_date=_date(p.get("birth_date"), "birth_date"),
        phone=p.get("phone") if isinstance(p.get("phone"), str) else None,
        treating_kind=str(treating.get("kind") or "unknown"),
        treating_doctor_id=_int(treating.get("doctor_id"), "doctor_id", required=False),
        treating_external_name=treating.get("name"), treating_external_rpps=treating.get("rpps"),
        mobility=str(p.get("mobility") or "mobile"))


def api_commune(data):
    """``commune_insee``, or ``postcode`` + ``commune_name``; the former ``commune`` field
    still when it designates a single commune (an ambiguous one: 400 with candidates)."""
    from agenda.booking.services.patients import resolve_legacy_commune

    if data.get("commune_insee") or data.get("postcode") or data.get("commune_name"):
        return services.resolve_commune(insee=str(data.get("commune_insee") or "") or None,
                                        postcode=str(data.get("postcode") or "") or None,
                                        name=str(data.get("commune_name") or "") or None)
    return resolve_legacy_commune(str(data.get("commune") or ""))


def booking_dict(b: Booking, identity: bool) -> dict:
    out = {"id": b.id, "reference": b.reference, "slot_id": b.slot_id, "doctor_id": b.doctor_id,
           "status": b.status, "start": b.start.isoformat(), "end": b.end.isoformat(),
           "channel": b.channel, "origin": b.origin, "request_id": b.request_id,
           "doctor": {"name": b.doctor.display_name, "address": b.doctor.address},
           "regulation_number": b.regulation_number}
    if identity:
        p = b.patient
        out["patient"] = {"last_name": p.last_name, "first_name": p.first_name,
                          "birth_date": p.birth_date.isoformat() if p.birth_date else None,
                          "phone": p.phone, "commune": p.commune_insee}
        out["reason"] = b.reason.label if b.reason else None
        out["note"] = b.note
    return out


def request_dict(r: FloatingRequest, *, identity: bool = False) -> dict:
    out = {"id": r.id, "reference": r.reference, "status": r.status, "phase": r.phase,
           "window_start": r.window_start.isoformat(), "window_end": r.window_end.isoformat(),
           "mode": r.mode, "deadline": r.deadline_at.isoformat(), "t1": r.t1_at.isoformat(),
           "commune": r.patient.commune_insee, "reason": r.reason.label if r.reason else None}
    booking = cascade.booking_of_request(r)
    if booking is not None:
        out["booking_id"] = booking.id
        out["start"] = booking.start.isoformat()
    if identity:
        out["patient"] = {"last_name": r.patient.last_name, "first_name": r.patient.first_name}
    return out


@bp.get("/slots")
@api_roles(*BOOKERS)
def search_slots():
    args = request.args
    commune = api_commune(args)
    results = services.search_slots(
        g.api_user, commune,
        treating_doctor_id=_int(args.get("treating_doctor_id"), "treating_doctor_id",
                                required=False),
        horizon_hours=_int(args.get("horizon_hours"), "horizon_hours", required=False),
        mode=args.get("mode") or None, day=_date(args.get("day"), "day"),
        sector_id=_int(args.get("sector_id"), "sector_id", required=False),
        kind=args.get("kind") or None,
        limit=_int(args.get("limit"), "limit", required=False) or 50,
        order=args.get("order") or None)
    return jsonify({"commune": commune.insee, "slots": [r.to_dict() for r in results]})


@bp.post("/holds")
@api_roles(*BOOKERS)
def create_hold():
    body = json_body()
    slot = services.hold_slot(g.api_user, _int(body.get("slot_id"), "slot_id"))
    return jsonify({"slot_id": slot.id, "held_until": slot.held_until.isoformat()}), 201


@bp.post("/bookings")
@api_roles(*BOOKERS)
def create_booking():
    body = json_body()
    origin = body.get("origin") or "api"
    if origin != "api":
        # A SAS booking exists only through the signed slot link of the national platform.
        raise ValidationError(_("Origine refusée : seule l'origine « api » est possible ici ; "
                                "une réservation SAS passe par le lien du créneau."),
                              field="origin")
    result = services.book(g.api_user, services.BookingInput(
        slot_id=_int(body.get("slot_id"), "slot_id"), patient=_patient(body),
        reason_id=_int(body.get("reason_id"), "reason_id", required=False),
        note=body.get("note") if isinstance(body.get("note"), str) else None, origin=origin,
        duplicate_reason=_text(body.get("duplicate_reason")),
        regulation_number=_text(body.get("regulation_number"))))
    if isinstance(result, Booking):
        return jsonify({"type": "booking", "booking": booking_dict(result, True)}), 201
    return jsonify({"type": "request", "request": request_dict(result, identity=True)}), 202


@bp.get("/bookings/<int:booking_id>")
@api_roles(*BOOKERS, "doctor", "coordinator")
def get_booking(booking_id: int):
    booking, identity = services.get_booking(g.api_user, booking_id)
    return jsonify(booking_dict(booking, identity))


@bp.post("/bookings/<int:booking_id>/cancel")
@api_roles(*BOOKERS, "doctor")
def cancel_booking(booking_id: int):
    body = json_body()
    booking = services.cancel_booking(g.api_user, booking_id, str(body.get("reason") or ""))
    return jsonify(booking_dict(booking, True))


@bp.post("/bookings/<int:booking_id>/outcome")
@api_roles("doctor")
def booking_outcome(booking_id: int):
    body = json_body()
    synthesis = body.get("synthesis") if isinstance(body.get("synthesis"), str) else None
    booking = services.record_outcome(g.api_user, booking_id, str(body.get("outcome") or ""),
                                      synthesis)
    return jsonify(booking_dict(booking, True))


@bp.get("/requests")
@api_roles(*BOOKERS, "doctor")
def list_requests():
    user = g.api_user
    if user.role == "doctor":
        items = [dict(request_dict(r), offer_phase=o.phase, distance_km=o.distance_km)
                 for r, o in services.offers_for(user)]
    else:
        items = [request_dict(r, identity=True) for r in services.requests_for(user)]
        db.session.commit()
    return jsonify({"requests": items})


@bp.post("/requests/<int:request_id>/accept")
@api_roles("doctor")
def accept_request(request_id: int):
    body = json_body()
    booking = services.accept_request(g.api_user, request_id,
                                      _parse_dt(body.get("start"), "start"))
    return jsonify(booking_dict(booking, True)), 201


@bp.post("/requests/<int:request_id>/refuse")
@api_roles("doctor")
def refuse_request(request_id: int):
    req = services.refuse_request(g.api_user, request_id)
    return jsonify({"id": req.id, "refused": True})


# --------------------------------------------------------------------------- OpenAPI

schema("PatientInput", {
    "type": "object", "required": ["last_name", "first_name"],
    "properties": {
        "last_name": {"type": "string"}, "first_name": {"type": "string"},
        "birth_date": {"type": "string", "format": "date"}, "phone": {"type": "string"},
        "commune_insee": {"type": "string", "description": "code INSEE de la commune"},
        "postcode": {"type": "string", "description": "code postal (avec commune_name)"},
        "commune_name": {"type": "string", "description": "nom de la commune (avec postcode)"},
        "commune": {"type": "string", "deprecated": True,
                    "description": "ancien champ : accepté s'il désigne une seule commune"},
        "mobility": {"enum": ["mobile", "tele", "home"]},
        "treating": {"type": "object", "properties": {
            "kind": {"enum": ["doctor", "none", "unknown", "external"]},
            "doctor_id": {"type": "integer"}, "name": {"type": "string"},
            "rpps": {"type": "string"}}}}})
schema("BookingInput", {
    "type": "object", "required": ["slot_id", "patient"],
    "properties": {"slot_id": {"type": "integer"},
                   "patient": {"$ref": "#/components/schemas/PatientInput"},
                   "reason_id": {"type": "integer"}, "note": {"type": "string"},
                   "origin": {"enum": ["api"]},
                   "regulation_number": {"type": "string", "maxLength": 40,
                                         "description": "n° de dossier de régulation SAMU/SAS"},
                   "duplicate_reason": {"type": "string", "description": (
                       "raison de réserver malgré un doublon possible (réponse 409 "
                       "possible_duplicate)")}}})
schema("Booking", {"type": "object", "properties": {
    "id": {"type": "integer"}, "reference": {"type": "string"}, "slot_id": {"type": "integer"},
    "status": {"enum": ["booked", "seen", "no_show", "cancelled"]},
    "start": {"type": "string", "format": "date-time"},
    "end": {"type": "string", "format": "date-time"}, "channel": {"type": "string"},
    "origin": {"type": "string"}, "patient": {"type": "object"}}})
schema("Request", {"type": "object", "properties": {
    "id": {"type": "integer"}, "reference": {"type": "string"},
    "status": {"enum": ["pending", "accepted", "expired", "cancelled"]},
    "phase": {"enum": ["treating", "community"]},
    "window_start": {"type": "string", "format": "date-time"},
    "window_end": {"type": "string", "format": "date-time"},
    "deadline": {"type": "string", "format": "date-time"}, "booking_id": {"type": "integer"}}})
schema("SlotResult", {"type": "object", "properties": {
    "slot_id": {"type": "integer"}, "kind": {"enum": ["fixed", "floating"]},
    "start": {"type": "string", "format": "date-time"},
    "end": {"type": "string", "format": "date-time"}, "mode": {"type": "string"},
    "distance_km": {"type": ["number", "null"]}, "treating_doctor": {"type": "boolean"},
    "doctor": {"type": "object"}}})


def _json(ref: str) -> dict:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


_E404 = {"$ref": "#/components/responses/E404"}
_E409 = {"$ref": "#/components/responses/E409"}
_E422 = {"$ref": "#/components/responses/E422"}

document("/slots", "get", {
    "summary": "Chercher les créneaux réservables (médecin traitant d'abord, puis le plus "
               "tôt ; order=nearest : le plus proche)",
    "parameters": [
        {"name": n, "in": "query", "required": False, "schema": {"type": t}}
        for n, t in [("commune_insee", "string"), ("postcode", "string"),
                     ("commune_name", "string"), ("commune", "string"), ("order", "string"),
                     ("treating_doctor_id", "integer"),
                     ("horizon_hours", "integer"), ("mode", "string"), ("day", "string"),
                     ("sector_id", "integer"), ("kind", "string"), ("limit", "integer")]],
    "responses": {"200": {"description": "créneaux", "content": {"application/json": {
        "schema": {"type": "object", "properties": {"slots": {
            "type": "array", "items": {"$ref": "#/components/schemas/SlotResult"}}}}}}},
        "404": _E404}})
document("/holds", "post", {
    "summary": "Bloquer un créneau fixe quelques minutes pendant l'appel",
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["slot_id"],
        "properties": {"slot_id": {"type": "integer"}}}}}},
    "responses": {"201": {"description": "bloqué"}, "404": _E404, "409": _E409}})
document("/bookings", "post", {
    "summary": "Réserver un créneau fixe (201) ou envoyer une demande sur un créneau "
               "flottant (202)",
    "requestBody": {"required": True, **_json("BookingInput")},
    "responses": {"201": {"description": "réservé", **_json("Booking")},
                  "202": {"description": "demande envoyée", **_json("Request")},
                  "404": _E404, "409": _E409}})
document("/bookings/{id}", "get", {
    "summary": "Une réservation (l'identité selon le rôle)",
    "parameters": [{"name": "id", "in": "path", "required": True,
                    "schema": {"type": "integer"}}],
    "responses": {"200": {"description": "réservation", **_json("Booking")}, "404": _E404}})
document("/bookings/{id}/cancel", "post", {
    "summary": "Annuler une réservation (motif obligatoire)",
    "parameters": [{"name": "id", "in": "path", "required": True,
                    "schema": {"type": "integer"}}],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["reason"], "properties": {"reason": {
            "type": "string"}}}}}},
    "responses": {"200": {"description": "annulée", **_json("Booking")}, "404": _E404,
                  "409": _E409}})
document("/bookings/{id}/outcome", "post", {
    "summary": "Issue de la consultation (médecin, après l'heure)",
    "parameters": [{"name": "id", "in": "path", "required": True,
                    "schema": {"type": "integer"}}],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["outcome"], "properties": {
            "outcome": {"enum": ["seen", "no_show", "cancelled"]},
            "synthesis": {"type": "string"}}}}}},
    "responses": {"200": {"description": "enregistrée", **_json("Booking")}, "404": _E404,
                  "409": _E409, "422": _E422}})
document("/requests", "get", {
    "summary": "Demandes : celles proposées au médecin, ou celles de l'organisme du réservant",
    "responses": {"200": {"description": "demandes"}}})
document("/requests/{id}/accept", "post", {
    "summary": "Accepter une demande en choisissant l'heure (le premier gagne)",
    "parameters": [{"name": "id", "in": "path", "required": True,
                    "schema": {"type": "integer"}}],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["start"], "properties": {
            "start": {"type": "string", "format": "date-time"}}}}}},
    "responses": {"201": {"description": "acceptée", **_json("Booking")}, "404": _E404,
                  "409": _E409, "422": _E422}})
document("/requests/{id}/refuse", "post", {
    "summary": "Refuser une demande",
    "parameters": [{"name": "id", "in": "path", "required": True,
                    "schema": {"type": "integer"}}],
    "responses": {"200": {"description": "refusée"}, "404": _E404, "409": _E409}})
