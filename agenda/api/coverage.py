"""Coverage and statistics API (coordinator): thin routes over agenda.coverage."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask import g, jsonify, request
from flask_babel import gettext as _

from agenda import clock
from agenda.api import bp
from agenda.api.core import api_roles, json_body
from agenda.api.spec import document
from agenda.coverage import geo, hourly, stats
from agenda.errors import ValidationError
from agenda.timeutil import iso_week, parse_week, to_local

COORD = ("coordinator", "admin")


@bp.get("/coverage/hourly")
@api_roles(*COORD)
def coverage_hourly():
    week = request.args.get("week") or iso_week(clock.now())
    try:
        parse_week(week)
    except ValueError:
        raise ValidationError(_("Semaine invalide : %(w)s (attendu AAAA-Wss, ex. 2026-W49).",
                                w=week), field="week") from None
    return jsonify(hourly.hourly_grid(g.api_user.cpts_id, week).to_dict())


@bp.get("/coverage/communes")
@api_roles(*COORD)
def coverage_communes():
    horizon = request.args.get("week") or request.args.get("horizon") or "48h"
    if horizon not in geo.HORIZONS:
        try:
            parse_week(horizon)
        except ValueError:
            raise ValidationError(_("Horizon invalide : %(h)s (24h, 48h, week ou une "
                                    "semaine AAAA-Wss).", h=horizon), field="horizon") from None
    return jsonify(geo.geo_coverage(g.api_user.cpts_id, horizon).to_dict())


@bp.get("/stats")
@api_roles(*COORD)
def stats_api():
    try:
        start = date.fromisoformat(request.args.get("from", ""))
        end = date.fromisoformat(request.args.get("to", ""))
    except ValueError:
        raise ValidationError(_("Indiquez from et to au format AAAA-MM-JJ."),
                              field="from") from None
    if end < start or (end - start).days > 3 * 366:
        raise ValidationError(_("Période invalide (from ≤ to, 3 ans au plus)."), field="to")
    return jsonify(stats.compute(g.api_user.cpts_id, stats.Period(start, end)).to_dict())


@bp.get("/stats/report")
@api_roles(*COORD)
def stats_report_api():
    """The yearly report (the page's and the CSV's rows: each month, then the year)."""
    from agenda.coverage.views import _report_rows, year_arg

    year = year_arg()
    result = stats.compute(g.api_user.cpts_id, stats.Period(date(year, 1, 1), date(year, 12, 31)))
    return jsonify({"year": year, "rows": _report_rows(result),
                    "definitions": {k: stats.definition(k) for k in stats.FIGURES}})


@bp.get("/indemnities")
@api_roles(*COORD)
def indemnities_api():
    from agenda.coverage import indemnities
    from agenda.coverage.common import charter

    month = request.args.get("month") or to_local(clock.now()).strftime("%Y-%m")
    formula = charter(g.api_user.cpts_id).indemnity_formula
    rows = indemnities.monthly(g.api_user.cpts_id, month, formula)
    return jsonify({"month": month, "formula": formula, "rows": [r.to_dict() for r in rows],
                    "total": str(sum((r.amount for r in rows), Decimal("0.00")))})


@bp.post("/calls")
@api_roles("secretary", "regulator", "ed_nurse")
def close_call_api():
    """"Aucun créneau ne convient": close a call without a booking (201)."""
    from agenda.booking.services import resolve_commune
    from agenda.booking.services.calls import close_call

    body = json_body()
    insee = None
    if body.get("commune"):
        insee = resolve_commune(str(body["commune"])).insee
    reason = body.get("reason_id")
    if reason is not None and not isinstance(reason, int):
        raise ValidationError(_("Entier attendu (%(f)s).", f="reason_id"), field="reason_id")
    call = close_call(g.api_user, str(body.get("outcome") or ""), insee, reason)
    return jsonify({"id": call.id, "outcome": call.outcome, "channel": call.channel,
                    "cpts_id": call.cpts_id, "commune": call.commune_insee,
                    "at": call.created_at.isoformat()}), 201


_CELL = {"type": "object", "properties": {
    "weekday": {"type": "integer", "description": "ISO weekday, 1 = lundi"},
    "date": {"type": "string", "format": "date"}, "hour": {"type": "integer"},
    "supply": {"type": "number", "description": "patients que les créneaux peuvent recevoir "
                                                 "pendant l'heure : capacité de chaque créneau "
                                                 "répartie au prorata de ses minutes"},
    "booked": {"type": "number"}, "open": {"type": "number"},
    "demand": {"type": "number", "description": "demandes + réservations moyennes / semaine"},
    "ratio": {"type": ["number", "null"], "description": "offre / demande"},
    "in_publication_hours": {"type": "boolean"},
    "flagged": {"type": "boolean", "description": "aucune offre dans les horaires de la charte"}}}

document("/coverage/hourly", "get", {
    "summary": "Couverture horaire d'une semaine (grille jour × heure)",
    "tags": ["coverage"],
    "parameters": [{"name": "week", "in": "query", "schema": {"type": "string",
                    "example": "2026-W49"}, "description": "semaine ISO (défaut : courante)"}],
    "responses": {"200": {"description": "grille", "content": {"application/json": {"schema": {
        "type": "object", "properties": {"week": {"type": "string"},
                                         "demand_weeks": {"type": "integer"},
                                         "totals": {"type": "object"},
                                         "cells": {"type": "array", "items": _CELL}}}}}}}})

document("/coverage/communes", "get", {
    "summary": "Couverture géographique : distance de chaque commune au médecin disponible "
               "le plus proche",
    "tags": ["coverage"],
    "parameters": [{"name": "horizon", "in": "query", "schema": {
        "type": "string", "enum": ["24h", "48h", "week"], "default": "48h"}}],
    "responses": {"200": {"description": "communes", "content": {"application/json": {
        "schema": {"type": "object", "properties": {
            "horizon": {"type": "string"}, "radius_km": {"type": "integer"},
            "population": {"type": "integer"}, "covered_population": {"type": "integer"},
            "covered_share": {"type": "number"},
            "communes": {"type": "array", "items": {"type": "object", "properties": {
                "insee": {"type": "string"}, "name": {"type": "string"},
                "population": {"type": "integer"},
                "distance_km": {"type": ["number", "null"]},
                "nearest_doctor_id": {"type": ["integer", "null"]},
                "band": {"type": "string"}, "covered": {"type": "boolean"}}}},
            "uncovered": {"type": "array", "items": {"type": "string"},
                          "description": "codes INSEE, population décroissante"}}}}}}}})

document("/stats", "get", {
    "summary": "Statistiques d'une période (appels, créneaux, demandes, rendez-vous, "
               "lapins, canaux, motifs, médecins, communes)",
    "tags": ["coverage"],
    "parameters": [
        {"name": "from", "in": "query", "required": True,
         "schema": {"type": "string", "format": "date"}},
        {"name": "to", "in": "query", "required": True,
         "schema": {"type": "string", "format": "date"}, "description": "inclus"}],
    "responses": {"200": {"description": "statistiques", "content": {"application/json": {
        "schema": {"type": "object", "properties": {
            "summary": {"type": "object"}, "channels": {"type": "array"},
            "reasons": {"type": "array"}, "doctors": {"type": "array"},
            "communes": {"type": "array"}, "timeline": {"type": "array"}}}}}}}})

document("/stats/report", "get", {
    "summary": "Rapport annuel (indicateurs des financeurs) : une ligne par mois puis "
               "l'année ; définitions de chaque indicateur",
    "tags": ["coverage"],
    "parameters": [{"name": "year", "in": "query", "schema": {"type": "integer",
                    "example": 2025}}],
    "responses": {"200": {"description": "rapport", "content": {"application/json": {
        "schema": {"type": "object", "properties": {
            "year": {"type": "integer"}, "rows": {"type": "array"},
            "definitions": {"type": "object"}}}}}}}})

document("/indemnities", "get", {
    "summary": "Indemnités par médecin pour un mois (montants exacts, arrondis au centime "
               "une fois par ligne)",
    "tags": ["coverage"],
    "parameters": [{"name": "month", "in": "query", "schema": {"type": "string",
                    "example": "2025-03"}}],
    "responses": {"200": {"description": "indemnités", "content": {"application/json": {
        "schema": {"type": "object", "properties": {
            "month": {"type": "string"}, "rows": {"type": "array"},
            "total": {"type": "string", "description": "euros, au centime"}}}}}}}})

document("/calls", "post", {
    "summary": "Clore un appel sans rendez-vous (« Aucun créneau ne convient »)",
    "tags": ["booking"],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["outcome"], "properties": {
            "outcome": {"type": "string", "enum": ["no_slot", "declined", "other"]},
            "commune": {"type": "string", "description": "code INSEE ou nom (facultatif)"},
            "reason_id": {"type": "integer"}}}}}},
    "responses": {"201": {"description": "appel enregistré"},
                  "400": {"description": "issue inconnue"}}})
