"""Coverage and statistics API (coordinator): thin routes over agenda.coverage."""

from __future__ import annotations

from flask import g, jsonify
from flask_babel import gettext as _

from agenda import clock
from agenda.api import bp
from agenda.api import schemas
from agenda.api.core import api_roles, parse_query
from agenda.api.spec import document, query_parameters
from agenda.coverage import geo, hourly, stats
from agenda.errors import ValidationError
from agenda.timeutil import iso_week, parse_week

COORD = ("coordinator", "admin")


@bp.get("/coverage/hourly")
@api_roles(*COORD)
def coverage_hourly():
    week = parse_query(schemas.WeekQuery).week or iso_week(clock.now())
    try:
        parse_week(week)
    except ValueError:
        raise ValidationError(_("Semaine invalide : %(w)s (attendu AAAA-Wss, ex. 2026-W49).",
                                w=week), field="week") from None
    return jsonify(hourly.hourly_grid(g.api_user.cpts_id, week).to_dict())


@bp.get("/coverage/communes")
@api_roles(*COORD)
def coverage_communes():
    horizon = parse_query(schemas.CommunesQuery).horizon
    return jsonify(geo.geo_coverage(g.api_user.cpts_id, horizon).to_dict())


@bp.get("/stats")
@api_roles(*COORD)
def stats_api():
    q = parse_query(schemas.StatsQuery)
    start, end = q.from_, q.to
    if end < start or (end - start).days > 3 * 366:
        raise ValidationError(_("Période invalide (from ≤ to, 3 ans au plus)."), field="to")
    return jsonify(stats.compute(g.api_user.cpts_id, stats.Period(start, end)).to_dict())


_CELL = {"type": "object", "properties": {
    "weekday": {"type": "integer", "description": "ISO weekday, 1 = lundi"},
    "date": {"type": "string", "format": "date"}, "hour": {"type": "integer"},
    "supply": {"type": "integer", "description": "capacité offerte (plage flottante : sur "
                                                  "toute la plage)"},
    "booked": {"type": "integer"}, "open": {"type": "integer"},
    "demand": {"type": "number", "description": "demandes + réservations moyennes / semaine"},
    "ratio": {"type": ["number", "null"], "description": "offre / demande"},
    "in_publication_hours": {"type": "boolean"},
    "flagged": {"type": "boolean", "description": "aucune offre dans les horaires de la charte"}}}

document("/coverage/hourly", "get", {
    "summary": "Couverture horaire d'une semaine (grille jour × heure)",
    "tags": ["coverage"],
    "parameters": query_parameters(schemas.WeekQuery),
    "responses": {"200": {"description": "grille", "content": {"application/json": {"schema": {
        "type": "object", "properties": {"week": {"type": "string"},
                                         "demand_weeks": {"type": "integer"},
                                         "totals": {"type": "object"},
                                         "cells": {"type": "array", "items": _CELL}}}}}}}})

document("/coverage/communes", "get", {
    "summary": "Couverture géographique : distance de chaque commune au médecin disponible "
               "le plus proche",
    "tags": ["coverage"],
    "parameters": query_parameters(schemas.CommunesQuery),
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
    "parameters": query_parameters(schemas.StatsQuery),
    "responses": {"200": {"description": "statistiques", "content": {"application/json": {
        "schema": {"type": "object", "properties": {
            "summary": {"type": "object"}, "channels": {"type": "array"},
            "reasons": {"type": "array"}, "doctors": {"type": "array"},
            "communes": {"type": "array"}, "timeline": {"type": "array"}}}}}}}})
