"""FHIR R4 endpoints for the national SAS platform (ANS guide "Service d'Accès aux Soins").

Mounted at ``/fhir``: the FHIR base is ``/fhir/r4``. Thin: parse, call, answer.
``/sas/creneau/<id>`` is the landing page of the slot links (Slot.comment).
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, g, json, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from agenda.accounts.access import roles_required
from agenda.errors import DomainError
from agenda.extensions import db
from agenda.sas import auth
from agenda.sas import models as _models  # noqa: F401  (tables known to create_all)
from agenda.sas import panels as _panels  # noqa: F401  (coordinator dashboard panel)
from agenda.sas.fhir_errors import operation_outcome
from agenda.sas.resources import fhir_base

bp = Blueprint("sas", __name__)

FHIR_JSON = "application/fhir+json"


def _fhir(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=FHIR_JSON,
                    headers=headers or {})


def _is_fhir_path() -> bool:
    return request.path.startswith("/fhir/r4")


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError):
    db.session.rollback()
    if _is_fhir_path():
        return operation_outcome(exc.status, exc.message)
    from flask import render_template

    return render_template("error.html", message=exc.message, status=exc.status), exc.status


bp.after_request(auth.log_call)


def _strict() -> bool:
    prefer = request.headers.get("Prefer", "").replace(" ", "").lower()
    return "handling=strict" in prefer


def _json_body() -> object:
    if request.mimetype not in (FHIR_JSON, "application/json", "application/json+fhir"):
        from agenda.errors import ValidationError

        raise ValidationError(_("Type de contenu attendu : application/fhir+json."))
    data = request.get_json(silent=True)
    if data is None:
        from agenda.errors import ValidationError

        raise ValidationError(_("Le corps de la requête n'est pas un JSON valide."))
    return data


# --- INT_R04 ----------------------------------------------------------------------------

@bp.get("/r4/Slot")
@auth.fhir_client_required
def slot_search():
    from agenda.sas.search import search_bundle

    bundle = search_bundle(request.args, request.url, strict=_strict())
    return _fhir(bundle)


@bp.get("/r4/<resource_type>/<rid>")
@auth.fhir_client_required
def resource_read(resource_type: str, rid: str):
    from agenda.sas.search import read

    resource = read(resource_type, rid)
    if resource is None:
        return operation_outcome(404, _("Ressource introuvable : %(t)s/%(id)s",
                                        t=resource_type, id=rid[:64]))
    return _fhir(resource)


@bp.get("/r4/metadata")
@auth.fhir_client_required
def capability_statement():
    from agenda.sas.resources import base_url

    return _fhir({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-27",
        "kind": "instance",
        "software": {"name": "agenda SNP"},
        "implementation": {"description": "Agenda SNP – CPTS", "url": base_url() + "/fhir/r4"},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "rest": [{
            "mode": "server",
            "resource": [
                {"type": "Slot", "interaction": [{"code": "search-type"}],
                 "searchInclude": ["Slot:schedule", "Slot:service-type-reference"],
                 "searchRevInclude": [],
                 "searchParam": [{"name": "start", "type": "date"},
                                 {"name": "schedule.actor:Practitioner.identifier",
                                  "type": "token"},
                                 {"name": "status", "type": "token"}]},
                {"type": "Practitioner",
                 "interaction": [{"code": "create"}, {"code": "update"}],
                 "conditionalUpdate": True},
            ],
        }],
    })


# --- INT_R02 ----------------------------------------------------------------------------

@bp.post("/r4/Practitioner")
@auth.fhir_client_required
def practitioner_create():
    from agenda.sas import accounts

    account, created = accounts.create_or_update(_json_body())
    body = accounts.practitioner_of(account)
    location = f"{fhir_base()}/Practitioner/{body['id']}"
    return _fhir(body, 201 if created else 200, {"Location": location})


@bp.put("/r4/Practitioner")
@auth.fhir_client_required
def practitioner_conditional_update():
    from agenda.errors import ValidationError
    from agenda.sas import accounts

    identifier = request.args.get("identifier") or request.args.get("Identifier")
    if not identifier:
        raise ValidationError(_("La mise à jour conditionnelle demande ?identifier=…"))
    account, created = accounts.conditional_update(identifier, _json_body())
    body = accounts.practitioner_of(account)
    location = f"{fhir_base()}/Practitioner/{body['id']}"
    return _fhir(body, 201 if created else 200, {"Location": location})


# --- the slot link: the only path to the SAS regulator habilitation ---------------------

LANDING_ENDPOINT = "sas_slot_landing"


@roles_required("regulator")
def slot_landing(slot_id: int):
    """Land from the SAS platform on a slot (``/sas/creneau/<id>?sig=…``): authenticated
    regulator (else the login page, then back here), valid signature, then open the
    habilitation window and go to the booking page of that slot."""
    if not auth.check_slot_link(slot_id, request.args.get("sig", "")):
        abort(404)
    auth.open_habilitation(slot_id)
    from agenda import audit

    audit.record("sas.landing", "slot", slot_id)
    db.session.commit()
    return redirect(url_for("booking.book_slot", slot_id=slot_id, origin="sas"))


# A page, not a FHIR call: registered on the application (outside /fhir) so that it follows
# the rules of pages (login redirect, role check) rather than those of FHIR clients.
bp.record_once(lambda state: state.app.add_url_rule(
    "/sas/creneau/<int:slot_id>", endpoint=LANDING_ENDPOINT, view_func=slot_landing,
    methods=["GET"]))


# Endpoints an account managed by the SAS platform may reach outside the slot path.
_SAS_ACCOUNT_FREE = {"static", "health", "accounts.login", "accounts.logout",
                     "accounts.forgot_password", "accounts.reset_password",
                     LANDING_ENDPOINT}


# Pages of the booking flow a SAS-managed account may use while its window is open: the
# slot of the link, then the booking made (detail, cancellation) — the booking services
# check that it is the account's own organisation's booking.
_SAS_FLOW = {"booking.book_slot", "booking.detail", "booking.cancel", "booking.request_detail"}


@bp.before_app_request
def _confine_sas_accounts():
    """A SAS-managed regulator has the regulator habilitation only through the slot link."""
    endpoint = request.endpoint or ""
    if endpoint in _SAS_ACCOUNT_FREE or endpoint.startswith("sas."):
        return None
    # This hook may run before the app's own: never judge on the user of a previous
    # request left in a long-lived ``g`` (tests), load it from this request's session.
    g.pop("_login_user", None)
    if not getattr(current_user, "is_authenticated", False) \
            or not current_user.has_role("regulator") or not auth.is_sas_account(current_user):
        return None
    if endpoint in _SAS_FLOW:
        slot_id = (request.view_args or {}).get("slot_id")
        if auth.sas_booking_allowed(slot_id if endpoint == "booking.book_slot" else None):
            return None
    abort(403, description=_("Ce compte régulateur SAS n'est utilisable que depuis la "
                             "plateforme numérique SAS, par le lien d'un créneau."))
