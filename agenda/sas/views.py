"""FHIR R4 endpoints for the national SAS platform (ANS guide "Service d'Accès aux Soins").

Mounted at ``/fhir``: the FHIR base is ``/fhir/r4``. Thin: parse, call, answer.
``/sas/creneau/<id>`` is the landing page of the slot links (Slot.comment).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs

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

    from agenda.sas.resources import self_link

    bundle = search_bundle(request.args, self_link(), strict=_strict())
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
def capability_statement():
    """The CapabilityStatement: public (FHIR http: ``metadata`` needs no authentication),
    complete (the four ``_include`` of the guide, read interactions) and naming the guide
    and the guide's CapabilityStatements it implements."""
    from agenda.sas.capability import capability_statement as build

    return _fhir(build())


# --- INT_R02 ----------------------------------------------------------------------------

@bp.post("/r4/Practitioner")
@auth.fhir_client_required
def practitioner_create():
    from agenda.sas import accounts

    account = accounts.create(_json_body())
    body = accounts.practitioner_of(account)
    location = f"{fhir_base()}/Practitioner/{body['id']}"
    return _fhir(body, 201, {"Location": location})


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


_LINK_SIG = re.compile(r"^([0-9a-f]{32})(?:\?(.*))?$", re.S)
_ORIGIN = re.compile(r"^[A-Za-z0-9_.:-]{1,40}$")


def _link_params() -> tuple[str, str | None]:
    """The signature and the ``origin`` of a slot link. The SAS platform appends
    ``origin`` to the link (guide INT_R04, rule ID 20); appended naively with a second
    ``?`` (``…?sig=…?origin=sas``), it lands inside ``sig``: read back from there."""
    raw = request.args.get("sig", "")
    m = _LINK_SIG.match(raw)
    if not m:
        return raw, None
    sig, tail = m.group(1), m.group(2)
    origins = request.args.getlist("origin") + parse_qs(tail or "").get("origin", [])
    origin = next((o for o in origins if _ORIGIN.match(o)), None)
    return sig, origin


@roles_required("regulator")
def slot_landing(slot_id: int):
    """Land from the SAS platform on a slot (``/sas/creneau/<id>?sig=…&origin=…``):
    authenticated regulator (else the login page, then back here), valid signature, then
    open the habilitation window and go to the booking page of that slot. The ``origin``
    the platform appended is written to the audit log."""
    sig, origin = _link_params()
    if not auth.check_slot_link(slot_id, sig):
        abort(404)
    auth.open_habilitation(slot_id)
    from agenda import audit

    audit.record("sas.landing", "slot", slot_id, detail=f"origin={origin or '-'}")
    db.session.commit()
    return redirect(url_for("booking.book_slot", slot_id=slot_id, origin="sas"))


# A page, not a FHIR call: registered on the application (outside /fhir) so that it follows
# the rules of pages (login redirect, role check) rather than those of FHIR clients.
bp.record_once(lambda state: state.app.add_url_rule(
    "/sas/creneau/<int:slot_id>", endpoint=LANDING_ENDPOINT, view_func=slot_landing,
    methods=["GET"]))


# --- the CPTS's SAS page: identifiers, phone, slot visibility, incomplete data ----------

CPTS_PAGE_ENDPOINT = "sas_cpts_settings"


@roles_required("coordinator", "admin")
def cpts_settings():
    """« Plateforme SAS » of the CPTS: its FINESS/SIRET and phone, who sees its slots, and
    the data that keeps slots away from the platform (données incomplètes pour le SAS)."""
    from flask import flash, render_template

    from agenda.accounts.models import Organisation
    from agenda.sas import settings
    from agenda.sas.forms import CptsSasForm
    from agenda.web import commit_or_flash

    cpts = db.session.get(Organisation, current_user.cpts_id)
    form = CptsSasForm()
    status = 200
    if request.method == "GET":
        form.finess.data, form.siret.data = cpts.finess, cpts.siret
        form.phone.data = cpts.phone
        form.visibility.data = settings.visibility_of(cpts.id)
    elif form.validate_on_submit():
        data = settings.CptsIdentity(finess=form.finess.data, siret=form.siret.data,
                                     phone=form.phone.data, visibility=form.visibility.data)
        done = commit_or_flash(lambda: settings.update_identity(cpts, data))
        status = done.status
        if done.ok:
            flash(_("Paramètres SAS enregistrés."), "info")
            return redirect(url_for(CPTS_PAGE_ENDPOINT))
    else:
        status = 400
    return render_template("sas/cpts.html", form=form, cpts=cpts,
                           missing=settings.missing_data(cpts)), status


bp.record_once(lambda state: state.app.add_url_rule(
    "/sas/cpts", endpoint=CPTS_PAGE_ENDPOINT, view_func=cpts_settings,
    methods=["GET", "POST"]))


@roles_required("coordinator", "admin")
def resend_appointment(booking_id: int):
    """Send again an appointment the platform refused (button of the dashboard panel)."""
    from flask import flash

    from agenda.sas.client import resend
    from agenda.web import commit_or_flash

    if commit_or_flash(lambda: resend(current_user.cpts_id, booking_id)).ok:
        flash(_("Le rendez-vous sera renvoyé à la plateforme SAS."), "info")
    return redirect(url_for("accounts.dashboard"))


bp.record_once(lambda state: state.app.add_url_rule(
    "/sas/rendez-vous/<int:booking_id>/renvoyer", endpoint="sas_resend_appointment",
    view_func=resend_appointment, methods=["POST"]))


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
    # The JSON API knows only bearer tokens (``api_roles``), never this session's user.
    if endpoint in _SAS_ACCOUNT_FREE or endpoint.startswith(("sas.", "api.")):
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
    abort(403, description=auth.sas_account_refusal())
