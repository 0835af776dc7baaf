"""INT_R02: regulator accounts managed by the national SAS platform.

``POST /fhir/r4/Practitioner`` creates the account (422 when an identifier is already known);
``PUT /fhir/r4/Practitioner?identifier=[system|]value`` is a conditional update (creates
when nothing matches, as FHIR says); ``active: false`` removes the habilitation (the
account is deactivated, its bookings stay). No e-mail verification step: the account gets a
generated password nobody knows, which the regulator replaces through "mot de passe oublié".
Accounts are keyed by the national identifier (``users.national_id``) or the SAS technical
identifier (``sas_accounts.technical_id``).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select

from agenda import audit
from agenda.accounts.models import Organisation, OrgKind, Role, User
from agenda.accounts.services import create_user, normalise_email
from agenda.errors import Conflict, RuleViolation, ValidationError
from agenda.extensions import db
from agenda.sas import resources as R
from agenda.sas.models import SasAccount

log = logging.getLogger("agenda.sas.accounts")

SAS_ORG_NAME = "Régulateurs SAS (plateforme numérique nationale)"


@dataclass
class RegulatorData:
    national_id: str | None
    technical_id: str | None
    active: bool
    family: str
    given: str
    email: str


class PreconditionFailed(Conflict):
    status = 412


def parse_practitioner(body: object) -> RegulatorData:
    """Check a FrPractitionerRegul resource; :class:`ValidationError` (400) when malformed."""
    if not isinstance(body, dict) or body.get("resourceType") != "Practitioner":
        raise ValidationError(_("Le corps doit être une ressource FHIR Practitioner."))
    meta = body.get("meta")
    if meta is not None and not isinstance(meta, dict):
        raise ValidationError(_("meta doit être un objet."))
    source = (meta or {}).get("source")
    if source is not None and source != R.SAS_SYSTEM:
        # FrPractitionerRegul: meta.source 0..1, pattern urn:oid:1.2.250.1.213.3.6.
        raise ValidationError(_("meta.source doit valoir %(v)s.", v=R.SAS_SYSTEM))
    national = technical = None
    identifiers = body.get("identifier")
    if not isinstance(identifiers, list) or not identifiers:
        raise ValidationError(_("Au moins un identifiant (national ou technique SAS) est "
                                "attendu."))
    for ident in identifiers:
        system, value = _checked_identifier(ident)
        if system == R.NATIONAL_ID_SYSTEM:
            national = value
        elif system == R.SAS_SYSTEM:
            technical = value
    if national is None and technical is None:
        raise ValidationError(_("Aucun identifiant national (%(a)s) ni technique SAS (%(b)s).",
                                a=R.NATIONAL_ID_SYSTEM, b=R.SAS_SYSTEM))
    active = body.get("active")
    if not isinstance(active, bool):
        raise ValidationError(_("L'élément active (habilitation) est obligatoire."))
    names = body.get("name")
    name = names[0] if isinstance(names, list) and names and isinstance(names[0], dict) else {}
    family = name.get("family")
    given = name.get("given")
    given = " ".join(g for g in given if isinstance(g, str)) if isinstance(given, list) else None
    if not isinstance(family, str) or not family.strip() or not given:
        raise ValidationError(_("Le nom et le prénom du régulateur sont obligatoires."))
    email = None
    telecoms = body.get("telecom")
    for telecom in telecoms if isinstance(telecoms, list) else []:
        if isinstance(telecom, dict) and telecom.get("system", "email") == "email" \
                and isinstance(telecom.get("value"), str):
            email = telecom["value"]
            break
    if not email:
        raise ValidationError(_("L'adresse e-mail du régulateur est obligatoire."))
    return RegulatorData(national_id=national, technical_id=technical, active=active,
                         family=family.strip()[:100], given=given.strip()[:100],
                         email=normalise_email(email))


# FrPractitionerRegul (guide 1.1.0 and 1.2.0): the identifier slices IdentifiantNatPS and
# IdentifiantInterne, discriminated by system, each with its fixed type (fr-v2-0203).
_TYPE_OF_SYSTEM = {R.NATIONAL_ID_SYSTEM: "IDNPS", R.SAS_SYSTEM: "INTRN"}


def _checked_identifier(ident: object) -> tuple[str, str]:
    """(system, value) of one identifier; 400 when it breaks the profile: type, system and
    value 1..1, and the type code of its system's slice (IDNPS national, INTRN SAS)."""
    if not isinstance(ident, dict):
        raise ValidationError(_("Identifiant mal formé."))
    system, value = ident.get("system"), ident.get("value")
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise ValidationError(_("Identifiant sans valeur ou trop long."))
    if not isinstance(system, str) or not system:
        raise ValidationError(_("Identifiant sans système (identifier.system)."))
    itype = ident.get("type")
    codings = itype.get("coding") if isinstance(itype, dict) else None
    if not isinstance(codings, list) or not codings:
        raise ValidationError(_("Identifiant sans type (identifier.type)."))
    codes = {c.get("code") for c in codings
             if isinstance(c, dict) and c.get("system") == R.V2_0203}
    expected = _TYPE_OF_SYSTEM.get(system)
    if expected is not None and expected not in codes:
        raise ValidationError(_(
            "Le type de l'identifiant %(system)s doit être %(code)s (%(cs)s).",
            system=system, code=expected, cs=R.V2_0203))
    wrong = codes & set(_TYPE_OF_SYSTEM.values()) - {expected}
    if wrong:
        raise ValidationError(_("Type d'identifiant %(code)s incompatible avec le système "
                                "%(system)s.", code=", ".join(sorted(wrong)), system=system))
    return system, value.strip()


def find_accounts(identifier: str) -> list[SasAccount]:
    """Accounts matching a FHIR token ``[system|]value``."""
    system, sep, value = identifier.rpartition("|")
    value = value.strip()
    if not value:
        raise ValidationError(_("Le paramètre identifier est vide."))
    found: dict[int, SasAccount] = {}
    if not sep or system in ("", R.NATIONAL_ID_SYSTEM):
        for acc in db.session.scalars(select(SasAccount).join(User, User.id == SasAccount.user_id)
                                      .where(User.national_id == value)):
            found[acc.id] = acc
    if not sep or system in ("", R.SAS_SYSTEM):
        for acc in db.session.scalars(select(SasAccount).where(SasAccount.technical_id == value)):
            found[acc.id] = acc
    return list(found.values())


def _designated(data: RegulatorData) -> dict[int, tuple[SasAccount, set[str]]]:
    """Accounts the identifiers of ``data`` designate, with by which systems."""
    found: dict[int, tuple[SasAccount, set[str]]] = {}
    for system, value in ((R.NATIONAL_ID_SYSTEM, data.national_id),
                          (R.SAS_SYSTEM, data.technical_id)):
        if value:
            for acc in find_accounts(f"{system}|{value}"):
                found.setdefault(acc.id, (acc, set()))[1].add(system)
    return found


def _account_for(data: RegulatorData) -> SasAccount | None:
    accounts = _designated(data)
    if len(accounts) > 1:
        raise RuleViolation(_("Les identifiants transmis désignent deux comptes différents."),
                            rule="sas_identifiers")
    return next((acc for acc, _systems in accounts.values()), None)


def _release_national_ids(account: SasAccount, data: RegulatorData) -> None:
    """Before ``account`` takes the identifiers of ``data``: a national identifier still
    held by a deactivated account moves (INT_R02 rule ID 1: the national identifier is
    attached later, by an update); any other account designated is a 422."""
    for other, systems in _designated(data).values():
        if other.id == account.id:
            continue
        if systems == {R.NATIONAL_ID_SYSTEM} and not other.habilitated:
            other.user.national_id = None
            if other.user.email == data.email:
                # The same person's old account: its address follows the identifier (the
                # deactivated account keeps a unique placeholder and cannot log in).
                other.user.email = f"compte-sas-desactive-{other.user_id}@invalid.invalid"
            db.session.flush()
            audit.record("sas.account.national_id_moved", "user", other.user_id,
                         detail=f"to user {account.user_id}")
            continue
        raise RuleViolation(_("Les identifiants transmis désignent un autre compte."),
                            rule="sas_identifiers")


def sas_organisation() -> Organisation:
    """The organisation of SAS-managed regulators: a platform-wide one that serves every
    CPTS of the instance (the national platform searches all of them by RPPS), created on
    first use; a CPTS added later is linked on the next call."""
    from agenda.accounts.scope import all_cpts_ids, served_cpts_ids
    from agenda.accounts.services import create_organisation, link_organisation

    every = all_cpts_ids()
    if not every:
        raise RuleViolation(_("Aucune CPTS n'est configurée pour accueillir les comptes SAS."),
                            rule="sas_no_cpts")
    org = db.session.scalar(select(Organisation).where(Organisation.name == SAS_ORG_NAME,
                                                       Organisation.kind == OrgKind.SAMU.value))
    if org is None:
        return create_organisation(SAS_ORG_NAME, OrgKind.SAMU.value, serves=every)
    for cpts_id in set(every) - set(served_cpts_ids(org.id)):
        link_organisation(org, cpts_id)
    return org


def _apply(account: SasAccount, data: RegulatorData) -> None:
    user = account.user
    if data.email != user.email:
        other = db.session.scalar(select(User.id).where(User.email == data.email,
                                                        User.id != user.id))
        if other is not None:
            raise RuleViolation(_("L'adresse %(email)s est déjà celle d'un autre compte.",
                                  email=data.email), rule="sas_email_taken")
        user.email = data.email
    if data.national_id and data.national_id != user.national_id:
        taken = db.session.scalar(select(User.id).where(User.national_id == data.national_id,
                                                        User.id != user.id))
        if taken is not None:
            raise RuleViolation(_("Cet identifiant national est déjà celui d'un autre compte."),
                                rule="sas_identifiers")
        user.national_id = data.national_id
    if data.technical_id:
        account.technical_id = data.technical_id
    user.name = f"{data.given} {data.family}"
    user.active = data.active
    account.habilitated = data.active


def _create(data: RegulatorData) -> SasAccount:
    if db.session.scalar(select(User.id).where(User.email == data.email)) is not None:
        # Never attach a national account to an existing local one on an unverified e-mail.
        raise RuleViolation(_("L'adresse %(email)s est déjà celle d'un compte local.",
                              email=data.email), rule="sas_email_taken")
    user, _password = create_user(data.email, f"{data.given} {data.family}",
                                  Role.REGULATOR.value, sas_organisation(),
                                  password=secrets.token_urlsafe(24))
    account = SasAccount(user_id=user.id, technical_id=data.technical_id)
    account.user = user
    db.session.add(account)
    _apply(account, data)
    db.session.flush()
    return account


def create(body: object) -> SasAccount:
    """POST (FHIR create): a new account; refused (422) when an identifier already
    designates an account — the platform updates it by a conditional PUT."""
    data = parse_practitioner(body)
    if _designated(data):
        raise RuleViolation(_("Ce régulateur existe déjà : sa mise à jour passe par "
                              "PUT /Practitioner?identifier=…"), rule="sas_exists")
    account = _create(data)
    _record(account, "created")
    db.session.commit()
    return account


def conditional_update(identifier: str, body: object) -> tuple[SasAccount, bool]:
    """PUT ?identifier=…: update the one matching account, create when none matches."""
    data = parse_practitioner(body)
    matches = find_accounts(identifier)
    if len(matches) > 1:
        raise PreconditionFailed(_("Plusieurs comptes correspondent à cet identifiant."))
    if not matches:
        account = _account_for(data)
        created = account is None
        account = account or _create(data)
        if not created:
            _apply(account, data)
    else:
        account, created = matches[0], False
        _release_national_ids(account, data)
        _apply(account, data)
    _record(account, "created" if created else "updated")
    db.session.commit()
    return account, created


def _record(account: SasAccount, what: str) -> None:
    state = "habilitated" if account.habilitated else "habilitation removed"
    audit.record(f"sas.account.{what}", "user", account.user_id, detail=state)
    log.info("SAS regulator account %s: user %s, %s", what, account.user_id, state)


def practitioner_of(account: SasAccount) -> dict:
    """The account as a FrPractitionerRegul Practitioner (echoed in responses)."""
    user = account.user
    identifiers = []
    if user.national_id:
        identifiers.append({"type": {"coding": [{"system": R.V2_0203, "code": "IDNPS"}]},
                            "system": R.NATIONAL_ID_SYSTEM, "value": user.national_id})
    if account.technical_id:
        identifiers.append({"type": {"coding": [{"system": R.V2_0203, "code": "INTRN"}]},
                            "system": R.SAS_SYSTEM, "value": account.technical_id})
    given, _sep, family = user.name.partition(" ")
    return {"resourceType": "Practitioner", "id": f"regulator-{account.id}",
            "meta": {"profile": [R.PROFILE_REGULATOR], "source": R.SAS_SYSTEM},
            "identifier": identifiers, "active": bool(account.habilitated),
            "name": [{"family": family or given, "given": [given]}],
            "telecom": [{"system": "email", "value": user.email}]}
