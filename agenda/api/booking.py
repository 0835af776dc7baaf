"""Booking through the JSON API: search, holds, bookings, cancel, outcome, requests.

The same services as the pages, so the same rules; a lost race is a 409.
"""

from __future__ import annotations


from flask import g, jsonify
from flask_babel import gettext as _

from agenda import audit
from agenda.api import bp
from agenda.api import schemas
from agenda.api.core import api_roles, json_body, parse_body, parse_query
from agenda.api.slots import aware  # wall-clock = Europe/Paris
from agenda.api.spec import document, path_id, query_parameters, request_body, schema
from agenda.booking import services
from agenda.booking.models import Booking, FloatingRequest
from agenda.booking.services import requests as cascade
from agenda.errors import ValidationError
from agenda.extensions import db

BOOKERS = ("secretary", "regulator", "ed_nurse")


def _patient(p: schemas.PatientInput) -> services.PatientData:
    data = p.model_dump()
    if data.get("commune_insee") and not (data.get("postcode") or data.get("commune_name")
                                          or data.get("commune")):
        # The INSEE code alone: checked by the service (the booking's slot read), not here.
        commune, insee = None, str(data["commune_insee"]).strip().upper()
    else:
        commune = api_commune(data)
        insee = commune.insee
    treating = p.treating or schemas.TreatingInput()
    return services.PatientData(
        last_name=p.last_name, first_name=p.first_name, commune_insee=insee,
        birth_date=p.birth_date, phone=p.phone, treating_kind=treating.kind,
        treating_doctor_id=treating.doctor_id, treating_external_name=treating.name,
        treating_external_rpps=treating.rpps, mobility=p.mobility, commune=commune,
        sms_consent=p.sms_consent)


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
    q = parse_query(schemas.SlotSearchQuery)
    commune = api_commune(q.model_dump())
    results = services.search_slots(
        g.api_user, commune, treating_doctor_id=q.treating_doctor_id,
        horizon_hours=q.horizon_hours, mode=q.mode, day=q.day, sector_id=q.sector_id,
        kind=q.kind, limit=q.limit or 50, order=q.order)
    return jsonify({"commune": commune.insee, "slots": [r.to_dict() for r in results]})


@bp.post("/holds")
@api_roles(*BOOKERS)
def create_hold():
    body = parse_body(schemas.HoldInput)
    slot = services.hold_slot(g.api_user, body.slot_id)
    return jsonify({"slot_id": slot.id, "held_until": slot.held_until.isoformat()}), 201


@bp.post("/bookings")
@api_roles(*BOOKERS)
def create_booking():
    if json_body().get("origin", "api") != "api":
        # A SAS booking exists only through the signed slot link of the national platform.
        raise ValidationError(_("Origine refusée : seule l'origine « api » est possible ici ; "
                                "une réservation SAS passe par le lien du créneau."),
                              field="origin")
    body = parse_body(schemas.BookingInput)
    result = services.book(g.api_user, services.BookingInput(
        slot_id=body.slot_id, patient=_patient(body.patient), reason_id=body.reason_id,
        note=body.note, origin=body.origin, duplicate_reason=body.duplicate_reason,
        regulation_number=body.regulation_number))
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
    body = parse_body(schemas.CancelInput)
    booking = services.cancel_booking(g.api_user, booking_id, body.reason)
    return jsonify(booking_dict(booking, True))


@bp.post("/bookings/<int:booking_id>/outcome")
@api_roles("doctor")
def booking_outcome(booking_id: int):
    body = parse_body(schemas.OutcomeInput)
    booking = services.record_outcome(g.api_user, booking_id, body.outcome, body.synthesis)
    return jsonify(booking_dict(booking, True))


@bp.get("/requests")
@api_roles(*BOOKERS, "doctor")
def list_requests():
    user = g.api_user
    if user.role == "doctor":
        # No identity here, but commune and reason of each patient: audited all the same.
        offers = services.offers_for(user)
        shown = [r for r, _o in offers]
        items = [dict(request_dict(r), offer_phase=o.phase, distance_km=o.distance_km)
                 for r, o in offers]
    else:
        shown = services.requests_for(user)
        items = [request_dict(r, identity=True) for r in shown]
    audit.record_list("request", shown, user_id=user.id)
    db.session.commit()
    return jsonify({"requests": items})


@bp.post("/requests/<int:request_id>/accept")
@api_roles("doctor")
def accept_request(request_id: int):
    body = parse_body(schemas.AcceptInput)
    booking = services.accept_request(g.api_user, request_id, aware(body.start))
    return jsonify(booking_dict(booking, True)), 201


@bp.post("/requests/<int:request_id>/refuse")
@api_roles("doctor")
def refuse_request(request_id: int):
    req = services.refuse_request(g.api_user, request_id)
    return jsonify({"id": req.id, "refused": True})


# --------------------------------------------------------------------------- OpenAPI

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
    "parameters": query_parameters(schemas.SlotSearchQuery),
    "responses": {"200": {"description": "créneaux", "content": {"application/json": {
        "schema": {"type": "object", "properties": {"slots": {
            "type": "array", "items": {"$ref": "#/components/schemas/SlotResult"}}}}}}},
        "404": _E404}})
document("/holds", "post", {
    "summary": "Bloquer un créneau fixe quelques minutes pendant l'appel",
    "description": "Au plus 2 créneaux bloqués par utilisateur et 20 par organisation "
                   "(charte) ; un blocage renouvelé prend fin 15 minutes après son début "
                   "(422, rule « hold_max_per_user », « hold_max_per_org », "
                   "« hold_max_total »).",
    "requestBody": request_body(schemas.HoldInput),
    "responses": {"201": {"description": "bloqué"}, "404": _E404, "409": _E409,
                  "422": _E422}})
document("/bookings", "post", {
    "summary": "Réserver un créneau fixe (201) ou envoyer une demande sur un créneau "
               "flottant (202)",
    "requestBody": request_body(schemas.BookingInput),
    "responses": {"201": {"description": "réservé", **_json("Booking")},
                  "202": {"description": "demande envoyée", **_json("Request")},
                  "404": _E404, "409": _E409}})
document("/bookings/{id}", "get", {
    "summary": "Une réservation (l'identité selon le rôle)",
    "parameters": [path_id()],
    "responses": {"200": {"description": "réservation", **_json("Booking")}, "404": _E404}})
document("/bookings/{id}/cancel", "post", {
    "summary": "Annuler une réservation (motif obligatoire)",
    "parameters": [path_id()],
    "requestBody": request_body(schemas.CancelInput),
    "responses": {"200": {"description": "annulée", **_json("Booking")}, "404": _E404,
                  "409": _E409}})
document("/bookings/{id}/outcome", "post", {
    "summary": "Issue de la consultation (médecin, après l'heure)",
    "parameters": [path_id()],
    "requestBody": request_body(schemas.OutcomeInput),
    "responses": {"200": {"description": "enregistrée", **_json("Booking")}, "404": _E404,
                  "409": _E409, "422": _E422}})
document("/requests", "get", {
    "summary": "Demandes : celles proposées au médecin, ou celles de l'organisme du réservant",
    "responses": {"200": {"description": "demandes"}}})
document("/requests/{id}/accept", "post", {
    "summary": "Accepter une demande en choisissant l'heure (le premier gagne)",
    "parameters": [path_id()],
    "requestBody": request_body(schemas.AcceptInput),
    "responses": {"201": {"description": "acceptée", **_json("Booking")}, "404": _E404,
                  "409": _E409, "422": _E422}})
document("/requests/{id}/refuse", "post", {
    "summary": "Refuser une demande",
    "parameters": [path_id()],
    "responses": {"200": {"description": "refusée"}, "404": _E404, "409": _E409}})
