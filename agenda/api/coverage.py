"""Coverage and statistics API (coordinator): thin routes over agenda.coverage."""

from __future__ import annotations

from flask import g, jsonify, request
from flask_babel import gettext as _

from agenda import clock
from agenda.api import bp
from agenda.api.core import api_roles
from agenda.api.spec import document
from agenda.coverage import department, geo, hourly, stats
from agenda.errors import ValidationError
from agenda.timeutil import iso_week, parse_week, to_local

COORD = ("coordinator", "admin")


def _week() -> str:
    week = request.args.get("week") or iso_week(clock.now())
    try:
        parse_week(week)
    except ValueError:
        raise ValidationError(_("Semaine invalide : %(w)s (attendu AAAA-Wss, ex. 2026-W49).",
                                w=week), field="week") from None
    return week


def _horizon() -> str:
    horizon = request.args.get("horizon") or "48h"
    if horizon not in geo.HORIZONS:
        raise ValidationError(_("Horizon invalide : %(h)s (24h, 48h ou week).", h=horizon),
                              field="horizon")
    return horizon


def _period(default: stats.Period | None = None) -> stats.Period:
    """``from`` and ``to`` (required unless a default period is given)."""
    from datetime import date

    if default is not None and not request.args.get("from") and not request.args.get("to"):
        return default
    try:
        start = date.fromisoformat(request.args.get("from", ""))
        end = date.fromisoformat(request.args.get("to", ""))
    except ValueError:
        raise ValidationError(_("Indiquez from et to au format AAAA-MM-JJ."),
                              field="from") from None
    if end < start or (end - start).days > 3 * 366:
        raise ValidationError(_("Période invalide (from ≤ to, 3 ans au plus)."), field="to")
    return stats.Period(start, end)


@bp.get("/coverage/hourly")
@api_roles(*COORD)
def coverage_hourly():
    return jsonify(hourly.hourly_grid(g.api_user.cpts_id, _week()).to_dict())


@bp.get("/coverage/communes")
@api_roles(*COORD)
def coverage_communes():
    return jsonify(geo.geo_coverage(g.api_user.cpts_id, _horizon()).to_dict())


@bp.get("/stats")
@api_roles(*COORD)
def stats_api():
    return jsonify(stats.compute(g.api_user.cpts_id, _period()).to_dict())


@bp.get("/coverage/department")
@api_roles(*department.DEPARTMENT_ROLES)
def coverage_department():
    month = stats.period_for("month", to_local(clock.now()).date())
    only = department.parse_cpts(request.args.getlist("cpts"))
    return jsonify(department.department(g.api_user, week=_week(), horizon=_horizon(),
                                         period=_period(month), only=only).to_dict())


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

_COUNTS = {"type": "object", "description": "appels, demandes flottantes (acceptées, "
           "expirées), rendez-vous (consultations réalisées, absents, annulés), "
           "réorientations vers le 15", "properties": {
               k: {"type": "integer"} for k in department.COUNTS}}

document("/coverage/department", "get", {
    "summary": "Vue départementale (SAMU, urgences, opérateur) : communes couvertes par "
               "aucune CPTS, grille horaire par CPTS et fusionnée, demandes par CPTS et par "
               "canal — sans identité de patient",
    "tags": ["coverage"],
    "parameters": [
        {"name": "week", "in": "query", "schema": {"type": "string", "example": "2026-W49"},
         "description": "semaine ISO de la grille horaire (défaut : courante)"},
        {"name": "horizon", "in": "query", "schema": {
            "type": "string", "enum": ["24h", "48h", "week"], "default": "48h"}},
        {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"},
         "description": "début de la période des demandes (défaut : mois courant)"},
        {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"},
         "description": "fin de la période, incluse"},
        {"name": "cpts", "in": "query", "schema": {"type": "string", "example": "3,5"},
         "description": "restreindre à ces CPTS de votre périmètre (identifiants)"}],
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
