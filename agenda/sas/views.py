"""FHIR R4 endpoints for the national SAS platform (ANS guide "Service d'Accès aux Soins")."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("sas", __name__)
