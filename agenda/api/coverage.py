"""Coverage and statistics API (coordinator): thin routes over agenda.coverage."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask import g, jsonify
from flask_babel import gettext as _

from agenda import clock
from agenda.api import bp
from agenda.api import schemas
from agenda.api.core import api_roles, parse_body, parse_query
from agenda.api.spec import document, query_parameters, request_body
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
    q = parse_query(schemas.CommunesQuery)
    horizon = q.week or q.horizon
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


@bp.get("/stats/report")
@api_roles(*COORD)
def stats_report_api():
    """The yearly report (the page's and the CSV's rows: each month, then the year)."""
    from agenda.coverage.views import _report_rows, year_arg

    year = parse_query(schemas.ReportQuery).year or year_arg()
    result = stats.compute(g.api_user.cpts_id, stats.Period(date(year, 1, 1), date(year, 12, 31)))
    return jsonify({"year": year, "rows": _report_rows(result),
                    "definitions": {k: stats.definition(k) for k in stats.FIGURES}})


@bp.get("/indemnities")
@api_roles(*COORD)
def indemnities_api():
    from agenda.coverage import indemnities
    from agenda.coverage.common import charter

    month = parse_query(schemas.MonthQuery).month or to_local(clock.now()).strftime("%Y-%m")
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

    body = parse_body(schemas.CallInput)
    insee = resolve_commune(body.commune).insee if body.commune else None
    call = close_call(g.api_user, body.outcome, insee, body.reason_id)
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
                                        "enum": list(stats.CHANNELS)},
                            "label": {"type": "string"}}}]}},
                    "by_cpts": {"type": "array", "items": _COUNTS},
                    "by_channel": {"type": "array", "items": _COUNTS},
                    "total": _COUNTS}}}}}}},
        "404": {"$ref": "#/components/responses/E404"}}})

document("/stats/report", "get", {
    "summary": "Rapport annuel (indicateurs des financeurs) : une ligne par mois puis "
               "l'année ; définitions de chaque indicateur",
    "tags": ["coverage"],
    "parameters": query_parameters(schemas.ReportQuery),
    "responses": {"200": {"description": "rapport", "content": {"application/json": {
        "schema": {"type": "object", "properties": {
            "year": {"type": "integer"}, "rows": {"type": "array"},
            "definitions": {"type": "object"}}}}}}}})

document("/indemnities", "get", {
    "summary": "Indemnités par médecin pour un mois (montants exacts, arrondis au centime "
               "une fois par ligne)",
    "tags": ["coverage"],
    "parameters": query_parameters(schemas.MonthQuery),
    "responses": {"200": {"description": "indemnités", "content": {"application/json": {
        "schema": {"type": "object", "properties": {
            "month": {"type": "string"}, "rows": {"type": "array"},
            "total": {"type": "string", "description": "euros, au centime"}}}}}}}})

document("/calls", "post", {
    "summary": "Clore un appel sans rendez-vous (« Aucun créneau ne convient »)",
    "tags": ["booking"],
    "requestBody": request_body(schemas.CallInput),
    "responses": {"201": {"description": "appel enregistré"},
                  "400": {"description": "issue inconnue"}}})
