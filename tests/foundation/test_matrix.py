"""The authorisation matrix: every route × every role × own / other CPTS.

Two CPTS (A and B) are built with the same cast: a coordinator, a CPTS administrator, a
doctor, a secretary of the CPTS's own secretariat, a regulator of a SAMU and a nurse of an
emergency department that serve that CPTS only; and one platform operator. Each user is
"of" CPTS A. Every route of the app is replayed for every role, once with the objects of
CPTS A (own) and once with those of CPTS B (other), and the answer is compared with the
rule written below. A route with no rule fails the test: whoever adds a route says here
who may reach it.

What is asserted:
- a role outside the rule's roles gets 403 (pages and API alike);
- an object of the other CPTS is never reached (404, or 403), by any role except the
  operator on the administration routes, which are instance-wide;
- an allowed role never gets a server error, and the owners of an own object reach it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from agenda.accounts.models import Role, ServiceLink
from agenda.accounts.services import create_organisation, create_token, create_user
from agenda.booking.models import Reason
from agenda.booking.services import BookingInput, PatientData, book
from agenda.extensions import db
from agenda.slots.models import Slot
from agenda.territory.models import Sector
from agenda.territory.services import DoctorData, create_doctor, rpps_with_check_digit
from agenda.timeutil import iso_week

ROLES = [r.value for r in Role]
BOOKERS = {"secretary", "regulator", "ed_nurse"}
SUPERVISORS = {"coordinator", "admin"}
ADMINS = {"admin", "operator"}
EVERYONE = set(ROLES)


@dataclass(frozen=True)
class Rule:
    """Who may reach a route. ``obj``: the kind of object its URL names (or None);
    ``owners``: roles that must reach an own object (not 404); ``anywhere``: roles that
    may act on any CPTS's object (the platform operator on administration routes)."""

    roles: frozenset = frozenset()
    obj: str | None = None
    owners: frozenset = frozenset()
    anywhere: frozenset = frozenset()
    public: bool = False  # no login (or authenticates by its own means: FHIR, feed, metrics)


def rule(roles=(), obj=None, owners=(), anywhere=(), public=False) -> Rule:
    return Rule(frozenset(roles), obj, frozenset(owners), frozenset(anywhere), public)


MATRIX: dict[str, Rule] = {
    # public, or authenticated by their own means (tested in their own modules)
    "static": rule(public=True), "health": rule(public=True),
    "ops.healthz": rule(public=True), "ops.metrics": rule(public=True),
    "accounts.login": rule(public=True), "accounts.forgot_password": rule(public=True),
    "accounts.reset_password": rule(public=True), "api.openapi": rule(public=True),
    "sync.ics_feed": rule(public=True), "booking.patient_cancel": rule(public=True),
    "sas.capability_statement": rule(public=True), "sas.practitioner_conditional_update":
        rule(public=True), "sas.practitioner_create": rule(public=True),
    "sas.resource_read": rule(public=True), "sas.slot_search": rule(public=True),
    # every logged-in user
    "accounts.dashboard": rule(EVERYONE), "accounts.logout": rule(EVERYONE),
    "accounts.profile": rule(EVERYONE), "api.me": rule(EVERYONE),
    "territory.commune_search": rule(EVERYONE),
    "accounts.revoke_token": rule(EVERYONE, obj="token", owners=EVERYONE),
    # administration: the CPTS administrator for their CPTS, the operator everywhere
    "accounts.admin_organisations": rule(ADMINS), "accounts.admin_users": rule(ADMINS),
    "accounts.audit_log": rule(ADMINS), "accounts.grant_link": rule(ADMINS),
    "accounts.end_link": rule(ADMINS, obj="link", owners=ADMINS, anywhere={"operator"}),
    "accounts.toggle_user": rule(ADMINS, obj="user", owners=ADMINS, anywhere={"operator"}),
    # the doctor's own pages and API
    "slots.my_week": rule({"doctor"}), "slots.copy_week": rule({"doctor"}),
    "slots.slot_new": rule({"doctor"}),
    "slots.slot_edit": rule({"doctor"}, obj="slot", owners={"doctor"}),
    "slots.slot_withdraw": rule({"doctor"}, obj="slot", owners={"doctor"}),
    "api.my_slots": rule({"doctor"}), "api.create_my_slot": rule({"doctor"}),
    "api.update_my_slot": rule({"doctor"}, obj="slot", owners={"doctor"}),
    "api.withdraw_my_slot": rule({"doctor"}, obj="slot", owners={"doctor"}),
    "booking.my_requests": rule({"doctor"}), "booking.treated_patients": rule({"doctor"}),
    "booking.my_appointments": rule({"doctor"}),
    "booking.accept": rule({"doctor"}, obj="request", owners={"doctor"}),
    "booking.refuse": rule({"doctor"}, obj="request", owners={"doctor"}),
    "api.accept_request": rule({"doctor"}, obj="request", owners={"doctor"}),
    "api.refuse_request": rule({"doctor"}, obj="request", owners={"doctor"}),
    "booking.outcome": rule({"doctor"}, obj="booking", owners={"doctor"}),
    "booking.synthesis": rule({"doctor"}, obj="booking", owners={"doctor"}),
    "booking.letter": rule({"doctor"}, obj="booking", owners={"doctor"}),
    "api.booking_outcome": rule({"doctor"}, obj="booking", owners={"doctor"}),
    "sync.settings": rule({"doctor"}), "sync.test_connection": rule({"doctor"}),
    "sync.choose_calendar": rule({"doctor"}), "sync.disconnect": rule({"doctor"}),
    "sync.renew_ics": rule({"doctor"}), "sync.main_calendar": rule({"doctor"}),
    # bookers
    "booking.search": rule(BOOKERS), "booking.ed_quick": rule(BOOKERS),
    "booking.communes_lookup": rule(BOOKERS), "booking.close_call": rule(BOOKERS),
    "api.close_call_api": rule(BOOKERS), "booking.bookings_csv": rule(BOOKERS),
    "booking.slip": rule(BOOKERS, obj="booking", owners={"secretary"}),
    "booking.book_slot": rule(BOOKERS, obj="slot", owners=BOOKERS),
    "booking.request_detail": rule(BOOKERS, obj="request", owners={"secretary"}),
    "booking.request_cancel": rule(BOOKERS, obj="request", owners={"secretary"}),
    "booking.request_extend": rule(BOOKERS, obj="request", owners={"secretary"}),
    "api.search_slots": rule(BOOKERS), "api.create_booking": rule(BOOKERS),
    "api.create_hold": rule(BOOKERS),
    "api.list_requests": rule(BOOKERS | {"doctor"}),
    "sas_slot_landing": rule({"regulator"}, obj="slot"),
    # the CPTS's SAS settings and refused appointments (its own CPTS only)
    "sas_cpts_settings": rule(SUPERVISORS),
    "sas_resend_appointment": rule(SUPERVISORS, obj="booking"),
    # bookings: the booker's organisation, the doctor, the CPTS's supervisors (no identity)
    "booking.bookings": rule(BOOKERS | {"doctor", "coordinator"}),
    "booking.detail": rule(BOOKERS | SUPERVISORS | {"doctor"}, obj="booking",
                           owners={"secretary", "doctor", "coordinator", "admin"}),
    "booking.cancel": rule(BOOKERS | {"doctor"}, obj="booking", owners={"secretary", "doctor"}),
    "api.get_booking": rule(BOOKERS | {"doctor", "coordinator"}, obj="booking",
                            owners={"secretary", "doctor", "coordinator"}),
    "api.cancel_booking": rule(BOOKERS | {"doctor"}, obj="booking",
                               owners={"secretary", "doctor"}),
    # the CPTS's supervision
    "booking.sms_settings": rule({"coordinator"}),
    "slots.charter_overview": rule(SUPERVISORS), "slots.charter_settings":
        rule({"coordinator"}),
    "booking.reasons": rule({"coordinator"}),
    "booking.reason_toggle": rule({"coordinator"}, obj="reason", owners={"coordinator"}),
    "coverage.index": rule(SUPERVISORS), "coverage.hourly": rule(SUPERVISORS),
    "coverage.geo": rule(SUPERVISORS), "coverage.charter": rule(SUPERVISORS),
    "coverage.alerts": rule(SUPERVISORS), "coverage.whatif": rule(SUPERVISORS),
    "coverage.handle_alert": rule(SUPERVISORS),
    "coverage.stats": rule(SUPERVISORS), "coverage.indemnities": rule(SUPERVISORS),
    "coverage.save_formula": rule(SUPERVISORS),
    "coverage.indemnity_statement": rule(SUPERVISORS, obj="doctor", owners=SUPERVISORS),
    "api.coverage_hourly": rule(SUPERVISORS), "api.coverage_communes": rule(SUPERVISORS),
    "api.stats_api": rule(SUPERVISORS),
    # the department view: the SAMU, the emergency departments, the platform operator
    "coverage.department": rule({"regulator", "ed_nurse", "operator"}),
    "api.coverage_department": rule({"regulator", "ed_nurse", "operator"}),
    "coverage.report": rule(SUPERVISORS),
    "api.stats_report_api": rule(SUPERVISORS), "api.indemnities_api": rule(SUPERVISORS),
    "sync.overview": rule(SUPERVISORS),
    "territory.doctors": rule(SUPERVISORS), "territory.doctor_new": rule(SUPERVISORS),
    "territory.doctors_import": rule(SUPERVISORS),
    "territory.doctor_edit": rule(SUPERVISORS, obj="doctor", owners=SUPERVISORS),
    "territory.doctor_toggle": rule(SUPERVISORS, obj="doctor", owners=SUPERVISORS),
    "territory.sectors": rule(SUPERVISORS),
    # (the coordinator, first in the loop, deletes it: the administrator then finds none)
    "territory.sector_delete": rule(SUPERVISORS, obj="sector", owners={"coordinator"}),
}


@dataclass
class Side:
    """One CPTS and its cast."""

    cpts: object
    users: dict = field(default_factory=dict)  # role -> (user, password)
    objects: dict = field(default_factory=dict)  # kind -> id


def _side(name: str, insee: str, communes) -> Side:
    cpts = create_organisation(f"CPTS {name}", "cpts")
    side = Side(cpts)
    orgs = {"secretary": create_organisation(f"Secrétariat {name}", "secretariat", cpts.id),
            "regulator": create_organisation(f"SAMU {name}", "samu", serves=[cpts.id]),
            "ed_nurse": create_organisation(f"Urgences {name}", "ed", serves=[cpts.id])}
    for role in ROLES:
        if role == "operator":
            continue
        user, pw = create_user(f"{role}.{name.lower()}@matrix.fr", f"{role} {name}", role,
                               orgs.get(role, cpts), "motdepasse-solide")
        side.users[role] = (user, pw)
    db.session.add(Sector(cpts_id=cpts.id, name=f"Secteur {name}",
                          communes=[communes[insee]]))
    reason = Reason(cpts_id=cpts.id, label="Fièvre", active=True)
    db.session.add(reason)
    db.session.flush()
    rpps = rpps_with_check_digit(f"77{ord(name[0]):08d}")
    doctor = create_doctor(DoctorData(rpps=rpps, first_name="Médecin", last_name=name,
                                      commune_insee=insee, address=f"1 rue {name}"), cpts.id)
    doctor.user_id = side.users["doctor"][0].id
    now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    slots = []
    for hours, kind, cap in ((3, "fixed", 1), (4, "fixed", 1), (5, "fixed", 1),
                             (6, "floating", 2)):
        start = now + timedelta(hours=hours)
        slot = Slot(doctor_id=doctor.id, kind=kind, start=start,
                    end=start + timedelta(minutes=20 if kind == "fixed" else 120),
                    week=iso_week(start), capacity=cap, booked_count=0, mode="AMB",
                    status="open", in_charter=True, source="web")
        db.session.add(slot)
        slots.append(slot)
    db.session.commit()
    secretary = side.users["secretary"][0]
    patient = PatientData(last_name="Matrice", first_name=name, commune_insee=insee,
                          phone="06 11 22 33 44")
    booking = book(secretary, BookingInput(slot_id=slots[1].id, patient=patient))
    request = book(secretary, BookingInput(slot_id=slots[3].id, patient=PatientData(
        last_name="Flottant", first_name=name, commune_insee=insee)))
    # Spares the administration routes may change without harming the cast.
    spare_user, _ = create_user(f"spare.{name.lower()}@matrix.fr", "spare", "secretary",
                                orgs["secretary"])
    spare_org = create_organisation(f"Centre d'appels {name}", "secretariat", cpts.id)
    token_user = side.users["secretary"][0]
    create_token(token_user, "matrice")
    db.session.commit()
    from sqlalchemy import select

    from agenda.accounts.models import ApiToken

    side.objects = {
        "slot": slots[0].id, "booking": booking.id, "request": request.id,
        "doctor": doctor.id, "user": spare_user.id, "reason": reason.id,
        "sector": db.session.scalar(select(Sector.id).where(Sector.cpts_id == cpts.id)),
        "link": db.session.scalar(select(ServiceLink.id).where(
            ServiceLink.organisation_id == spare_org.id)),
        "token": db.session.scalar(select(ApiToken.id).where(ApiToken.user_id == token_user.id)),
    }
    return side


@pytest.fixture()
def world(app, frozen, communes):
    platform = create_organisation("Plateforme", "platform")
    a = _side("A", "44036", communes)
    b = _side("B", "44109", communes)
    operator, pw = create_user("operator@matrix.fr", "Opérateur", "operator", platform,
                               "motdepasse-solide")
    a.users["operator"] = (operator, pw)
    db.session.commit()
    return a, b


def _url(rule, objects: dict) -> str:
    url = rule.rule
    for arg in rule.arguments:
        kind = MATRIX[rule.endpoint].obj
        value = str(objects[kind]) if kind else "x"
        url = re.sub(r"<[^>]*" + re.escape(arg) + ">", value, url)
    return url


def _token_id(user) -> int:
    from sqlalchemy import select

    from agenda.accounts.models import ApiToken

    token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.user_id == user.id)
                                 .order_by(ApiToken.id.desc()).limit(1))
    if token_id is None:
        create_token(user, "matrice")
        db.session.commit()
        return _token_id(user)
    return token_id


def _client(app, user, password):
    client = app.test_client()  # CSRF is off in the matrix: no token to fetch
    resp = client.post("/login", data={"email": user.email, "password": password})
    assert resp.status_code == 302, resp.status_code
    return client


def test_every_route_has_a_rule(app):
    missing = sorted({r.endpoint for r in app.url_map.iter_rules()} - set(MATRIX))
    assert missing == [], f"routes with no rule in the authorisation matrix: {missing}"
    stale = sorted(set(MATRIX) - {r.endpoint for r in app.url_map.iter_rules()})
    assert stale == [], f"rules for routes that no longer exist: {stale}"


def test_authorisation_matrix(app, world, capsys):
    a, b = world
    app.config["WTF_CSRF_ENABLED"] = False  # the rules, not the CSRF token, are under test
    # Logging out is checked last (it ends the session the other checks use).
    rules = [r for r in app.url_map.iter_rules()
             if not MATRIX[r.endpoint].public and r.endpoint != "accounts.logout"]
    checked = 0
    failures = []
    for role in ROLES:
        user, password = a.users[role]
        client = _client(app, user, password)
        # A token route names one of the user's own tokens (one it may revoke), or another
        # user's (of CPTS B); the API calls use a token of their own.
        create_token(user, "révocable")
        db.session.commit()
        a.objects["token"] = _token_id(user)
        b.objects["token"] = _token_id(b.users.get(role, b.users["secretary"])[0])
        token = create_token(user, "matrice")
        db.session.commit()
        api_headers = {"Authorization": f"Bearer {token}"}
        # The other CPTS first: nothing there may change, whatever the answer.
        for scope, side in (("other", b), ("own", a)):
            for r in sorted(rules, key=lambda r: r.endpoint):
                spec = MATRIX[r.endpoint]
                if spec.obj is None and scope == "other":
                    continue  # no object named: the same request as "own"
                url = _url(r, side.objects)
                for method in sorted((r.methods or set()) - {"HEAD", "OPTIONS"}):
                    api = r.endpoint.startswith("api.")
                    resp = client.open(url, method=method,
                                       headers=api_headers if api else None,
                                       json={} if api and method != "GET" else None)
                    checked += 1
                    status = resp.status_code
                    problem = _judge(spec, role, scope, status)
                    if problem:
                        failures.append(f"{role} {scope} {method} {url} -> {status}: {problem}")
                    db.session.rollback()
                    db.session.expire_all()
        assert client.post("/logout").status_code == 302
        assert client.get("/").status_code == 302  # logged out: back to the login page
        checked += 1
    print(f"\nauthorisation matrix: {checked} route × role × scope cases checked, "
          f"{len(rules)} routes, {len(ROLES)} roles, 2 scopes")
    assert failures == [], "\n".join(failures)


def _judge(spec: Rule, role: str, scope: str, status: int) -> str | None:
    if status >= 500:
        return "server error"
    if role not in spec.roles:
        return None if status == 403 else "expected 403 (role not allowed)"
    if scope == "other" and role not in spec.anywhere:
        # 400: the empty form or body was refused before any object was looked up.
        return None if status in (400, 403, 404) else "reached an object of another CPTS"
    if status == 403:
        return "refused an allowed role"
    if scope == "own" and role in spec.owners and status == 404:
        return "owner could not reach its own object"
    if spec.obj is None and status == 404:
        return "allowed role got 404"
    return None
