"""Coverage and statistics API (coordinator): thin routes over agenda.coverage."""

from __future__ import annotations

from flask import g, jsonify
from flask_babel import gettext as _

from agenda import clock
from agenda.api import bp
from agenda.api import schemas
from agenda.api.core import api_roles, parse_query
from agenda.api.spec import document, query_parameters
from agenda.coverage import department, geo, hourly, stats
from agenda.errors import ValidationError
from agenda.timeutil import iso_week, parse_week, to_local

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


@bp.get("/coverage/department")
@api_roles(*department.DEPARTMENT_ROLES)
def coverage_department():
    """The department view (SAMU, emergency departments, platform operator)."""
    q = parse_query(schemas.DepartmentQuery)
    if (q.from_ is None) != (q.to is None):
        raise ValidationError(_("Indiquez from et to ensemble (AAAA-MM-JJ)."), field="from")
    if q.from_ is None:
        period = stats.period_for("month", to_local(clock.now()).date())
    else:
        if q.to < q.from_ or (q.to - q.from_).days > 3 * 366:
            raise ValidationError(_("Période invalide (from ≤ to, 3 ans au plus)."), field="to")
        period = stats.Period(q.from_, q.to)
    only = department.parse_cpts([q.cpts] if q.cpts else [])
    return jsonify(department.department(g.api_user, week=q.week or iso_week(clock.now()),
                                         horizon=q.horizon, period=period,
                                         only=only).to_dict())


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

_COUNTS = {"type": "object", "description": "appels, demandes flottantes (acceptées, "
           "expirées), rendez-vous (consultations réalisées, absents, annulés), "
           "réorientations vers le 15", "properties": {
               k: {"type": "integer"} for k in department.COUNTS}}

document("/coverage/department", "get", {
    "summary": "Vue départementale (SAMU, urgences, opérateur) : communes couvertes par "
               "aucune CPTS, grille horaire par CPTS et fusionnée, demandes par CPTS et par "
               "canal — sans identité de patient",
    "tags": ["coverage"],
    "parameters": query_parameters(schemas.DepartmentQuery),
    "responses": {
        "200": {"description": "vue départementale", "content": {"application/json": {
            "schema": {"type": "object", "properties": {
                "cpts": {"type": "array", "items": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "name": {"type": "string"},
                    "radius_km": {"type": "integer"}}}},
                "communes": {"type": "object", "description": "communes des départements "
                             "touchés ; covered : dans le rayon de la charte d'au moins une "
                             "CPTS", "properties": {
                                 "departments": {"type": "array",
                                                 "items": {"type": "string"}},
                                 "population": {"type": "integer"},
                                 "covered_population": {"type": "integer"},
                                 "communes": {"type": "array"},
                                 "uncovered": {"type": "array", "items": {
                                     "type": "object", "properties": {
                                         "insee": {"type": "string"},
                                         "name": {"type": "string"},
                                         "population": {"type": "integer"},
                                         "distance_km": {"type": ["number", "null"]},
                                         "nearest_cpts_id": {"type": ["integer", "null"]}}}}}},
                "hourly": {"type": "object", "properties": {
                    "week": {"type": "string"},
                    "merged": {"type": "object", "description": "somme des grilles",
                               "properties": {"cells": {"type": "array", "items": _CELL}}},
                    "per_cpts": {"type": "array", "items": {"type": "object"}}}},
                "requests": {"type": "object", "properties": {
                    "from": {"type": "string", "format": "date"},
                    "to": {"type": "string", "format": "date"},
                    "rows": {"type": "array", "items": {"allOf": [_COUNTS, {
                        "type": "object", "properties": {
                            "cpts_id": {"type": "integer"}, "cpts": {"type": "string"},
                            "channel": {"type": "string",
                                        "enum": ["secretariat", "samu", "ed"]},
                            "label": {"type": "string"}}}]}},
                    "by_cpts": {"type": "array", "items": _COUNTS},
                    "by_channel": {"type": "array", "items": _COUNTS},
                    "total": _COUNTS}}}}}}},
        "404": {"$ref": "#/components/responses/E404"}}})
