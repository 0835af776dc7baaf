"""Account operations: users, passwords, login rate limit, API tokens."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm.attributes import set_committed_value

from agenda import audit, clock, driver
from agenda.accounts.models import (BOOKING_ORG_KINDS, ApiToken, LoginAttempt, LoginThrottle,
                                    Organisation, OrgKind, Role, ServiceLink, User)
from agenda.errors import Conflict, DomainError, Forbidden, NotFound, ValidationError
from agenda.extensions import db
from agenda.timeutil import to_local

_HASHER = PasswordHasher()
# Tests create hundreds of accounts: a cheap (still argon2id) cost when TESTING is set.
_TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def _hasher() -> PasswordHasher:
    return _TEST_HASHER if current_app and current_app.config.get("TESTING") else _HASHER


class TooManyAttempts(DomainError):
    status = 429
    code = "rate_limited"


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def check_password(user: User, password: str) -> bool:
    if not user.password_hash:
        return False
    try:
        return _hasher().verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def normalise_email(email: str) -> str:
    try:
        return validate_email((email or "").strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationError(_("Adresse e-mail invalide : %(email)s", email=email),
                              field="email") from exc


def validate_password(password: str) -> None:
    if len(password or "") < 10:
        raise ValidationError(_("Le mot de passe doit compter au moins 10 caractères."),
                              field="password")


def create_organisation(name: str, kind: str, cpts_id: int | None = None,
                        finess: str | None = None, *, serves: list[int] | None = None,
                        actor: User | None = None) -> Organisation:
    """A CPTS, or a booking organisation.

    ``cpts_id`` is the CPTS that administers the organisation (its own secretariat, say);
    None for a cross-CPTS organisation (a departmental SAMU, an emergency department, a
    shared call centre), which only the platform operator creates. ``serves`` lists the
    CPTS the organisation books for (default: its owner); each gets a ServiceLink.
    """
    name = (name or "").strip()
    if not name:
        raise ValidationError(_("Le nom de l'organisation est obligatoire."), field="name")
    if kind not in {k.value for k in OrgKind}:
        raise ValidationError(_("Type d'organisation inconnu : %(kind)s", kind=kind), field="kind")
    if kind in (OrgKind.CPTS.value, OrgKind.PLATFORM.value):
        cpts_id, serves = None, []
    serves = list(dict.fromkeys(serves or ([cpts_id] if cpts_id else [])))
    owner = db.session.get(Organisation, cpts_id) if cpts_id else None
    if cpts_id and (owner is None or owner.kind != OrgKind.CPTS.value):
        raise ValidationError(_("CPTS de rattachement introuvable."), field="cpts_id")
    partner = kind not in (OrgKind.CPTS.value, OrgKind.PLATFORM.value)
    if partner and not serves:
        raise ValidationError(_("Une organisation qui réserve doit servir au moins une CPTS."),
                              field="serves")
    if actor is not None:
        from agenda.accounts.scope import is_operator

        # A CPTS administrator creates organisations of their own CPTS only.
        if not is_operator(actor) and (
                kind in (OrgKind.CPTS.value, OrgKind.PLATFORM.value)
                or cpts_id != actor.cpts_id or any(c != actor.cpts_id for c in serves)):
            raise Forbidden(_("Seul l'opérateur de la plateforme crée des CPTS et des "
                              "organisations communes à plusieurs CPTS."))
    org = Organisation(name=name, kind=kind, cpts_id=cpts_id, finess=finess or None)
    db.session.add(org)
    db.session.flush()
    for served in serves:
        link_organisation(org, served, actor=actor)
    return org


def _cpts(cpts_id: int) -> Organisation:
    cpts = db.session.get(Organisation, cpts_id)
    if cpts is None or cpts.kind != OrgKind.CPTS.value:
        raise NotFound(_("CPTS introuvable."))
    return cpts


def _check_link_actor(actor: User | None, cpts_id: int) -> None:
    if actor is None:  # the CLI: run by whoever runs the instance
        return
    from agenda.accounts.scope import is_operator

    if not (is_operator(actor) or (actor.role == Role.ADMIN.value
                                   and actor.cpts_id == cpts_id)):
        raise Forbidden(_("Seul l'administrateur de cette CPTS (ou l'opérateur) gère ses "
                          "liens."))


def link_organisation(org: Organisation, cpts_id: int, *, actor: User | None = None
                      ) -> ServiceLink:
    """``org`` books for ``cpts_id`` from today (idempotent while a link is active)."""
    from agenda.accounts.scope import active_link_clause

    cpts = _cpts(cpts_id)
    _check_link_actor(actor, cpts.id)
    if org.kind not in BOOKING_ORG_KINDS or org.kind == OrgKind.CPTS.value:
        raise ValidationError(_("Seule une organisation qui réserve (télésecrétariat, SAMU, "
                                "urgences) peut servir une CPTS."), field="organisation_id")
    link = db.session.scalar(select(ServiceLink).where(
        ServiceLink.organisation_id == org.id, ServiceLink.cpts_id == cpts.id,
        active_link_clause()))
    if link is not None:
        return link
    link = ServiceLink(organisation_id=org.id, cpts_id=cpts.id,
                       started_on=to_local(clock.now()).date(),
                       created_by_user_id=actor.id if actor else None)
    db.session.add(link)
    db.session.flush()
    audit.record("link.grant", "organisation", org.id, user_id=actor.id if actor else None,
                 cpts_id=cpts.id, detail=f"cpts={cpts.id}")
    return link


def unlink_organisation(org: Organisation, cpts_id: int, *, actor: User | None = None) -> int:
    """End every active link of ``org`` to ``cpts_id`` today; returns how many."""
    from agenda.accounts.scope import active_link_clause

    cpts = _cpts(cpts_id)
    _check_link_actor(actor, cpts.id)
    links = db.session.scalars(select(ServiceLink).where(
        ServiceLink.organisation_id == org.id, ServiceLink.cpts_id == cpts.id,
        active_link_clause())).all()
    today = to_local(clock.now()).date()
    for link in links:
        link.ended_on = today
        link.ended_by_user_id = actor.id if actor else None
    if links:
        audit.record("link.end", "organisation", org.id, user_id=actor.id if actor else None,
                     cpts_id=cpts.id, detail=f"cpts={cpts.id}")
    db.session.flush()
    return len(links)


def find_organisation(ref: str | int) -> Organisation:
    org = None
    if isinstance(ref, int) or str(ref).isdigit():
        org = db.session.get(Organisation, int(ref))
    if org is None:
        org = db.session.scalar(select(Organisation).where(Organisation.name == str(ref)))
    if org is None:
        raise NotFound(_("Organisation introuvable : %(ref)s", ref=ref))
    return org


def create_user(email: str, name: str, role: str, organisation: Organisation,
                password: str | None = None, *, actor: User | None = None
                ) -> tuple[User, str]:
    """Create a user; returns it with its password (generated when not given).

    With ``actor`` (the pages), a CPTS administrator creates accounts only in the
    organisations of their CPTS, and never a platform operator."""
    email = normalise_email(email)
    if role not in {r.value for r in Role}:
        raise ValidationError(_("Rôle inconnu : %(role)s", role=role), field="role")
    if (role == Role.OPERATOR.value) != (organisation.kind == OrgKind.PLATFORM.value):
        raise ValidationError(_("Les comptes d'opérateur appartiennent à l'organisation de la "
                                "plateforme, et elle seule."), field="role")
    if actor is not None:
        from agenda.accounts.scope import is_operator, may_manage_org

        if not may_manage_org(actor, organisation) or (
                role == Role.OPERATOR.value and not is_operator(actor)):
            raise Forbidden(_("Vous ne pouvez créer de compte que dans les organisations de "
                              "votre CPTS."))
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(_("Un compte existe déjà avec l'adresse %(email)s.", email=email),
                       field="email")
    if password is None:
        password = secrets.token_urlsafe(12)
    validate_password(password)
    user = User(email=email, name=(name or email).strip(), role=role,
                organisation_id=organisation.id, password_hash=hash_password(password))
    db.session.add(user)
    db.session.flush()
    return user, password


def set_user_active(actor: User, user_id: int, active: bool) -> User:
    """Activate or deactivate an account within the actor's scope (NotFound outside it)."""
    from agenda.accounts.scope import may_manage_user

    user = db.session.get(User, user_id)
    if user is None or not may_manage_user(actor, user):
        raise NotFound(_("Compte introuvable."))
    if user.id == actor.id:
        raise ValidationError(_("Vous ne pouvez pas désactiver votre propre compte."))
    user.active = active
    if not active:
        end_sessions(user)
    audit.record("user.activate" if active else "user.deactivate", "user", user.id,
                 user_id=actor.id, cpts_id=user.cpts_id)
    return user


def set_password(user: User, password: str) -> None:
    """A new password ends every session of the account (the caller may log in again)."""
    validate_password(password)
    user.password_hash = hash_password(password)
    end_sessions(user)


# --- login: throttled per (account, address), per account and per address -------------

def _throttle_keys(email: str, ip: str) -> list[tuple[str, int]]:
    """The counters one login attempt goes through, in a fixed order (no deadlock).

    The (account, address) pair has the tight limit, so that one attacker cannot lock out
    the account's owner working from elsewhere; the account and the address alone have
    looser limits (distributed guessing, one address trying many accounts).
    """
    cfg = current_app.config

    def key(kind: str, value: str) -> str:
        return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()

    return [(key("pair", f"{email}|{ip}"), cfg["LOGIN_MAX_FAILURES"]),
            (key("account", email), cfg["LOGIN_MAX_FAILURES_ACCOUNT"]),
            (key("address", ip), cfg["LOGIN_MAX_FAILURES_ADDRESS"])]


def _reserve_attempt(keys: list[tuple[str, int]]) -> bool:
    """Count one attempt on every counter before the password is checked, all or nothing,
    each by a conditional UPDATE: under any concurrency at most ``limit`` checks run."""
    from sqlalchemy import update

    now = clock.now()
    since = now - timedelta(minutes=current_app.config["LOGIN_WINDOW_MINUTES"])
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    for key, limit in keys:
        db.session.execute(insert(LoginThrottle).values(key=key, count=0, window_start=now)
                           .on_conflict_do_nothing())
        db.session.execute(update(LoginThrottle).where(LoginThrottle.key == key,
                                                       LoginThrottle.window_start < since)
                           .values(count=0, window_start=now))
        taken = db.session.execute(update(LoginThrottle).where(LoginThrottle.key == key,
                                                               LoginThrottle.count < limit)
                                   .values(count=LoginThrottle.count + 1))
        if taken.rowcount != 1:
            db.session.rollback()
            return False
    db.session.commit()
    return True


def _forget_attempt(keys: list[tuple[str, int]]) -> None:
    """A successful login: the pair's failures are forgotten (its row goes: the table keeps
    one row per account and per address, plus the pairs that are failing), this attempt is
    uncounted."""
    from sqlalchemy import delete, update

    db.session.execute(delete(LoginThrottle).where(LoginThrottle.key == keys[0][0]))
    db.session.execute(update(LoginThrottle).where(
        LoginThrottle.key.in_([k for k, _ in keys[1:]]), LoginThrottle.count > 0)
        .values(count=LoginThrottle.count - 1))


_DUMMY_HASHES: dict[int, str] = {}


def _verify_or_waste_time(user: User | None, password: str) -> bool:
    """The password check; for an unknown or disabled account, the same argon2 work
    against a dummy hash, so the answer time does not tell whether the account exists."""
    if user is not None and user.active and user.password_hash:
        return check_password(user, password)
    hasher = _hasher()
    if id(hasher) not in _DUMMY_HASHES:
        _DUMMY_HASHES[id(hasher)] = hasher.hash(secrets.token_urlsafe(16))
    with contextlib.suppress(VerificationError, InvalidHashError):
        hasher.verify(_DUMMY_HASHES[id(hasher)], password or "")
    return False


def authenticate(email: str, password: str, ip: str) -> User:
    """The user for these credentials, or a French error; every attempt is counted."""
    email = (email or "").strip().lower()
    keys = _throttle_keys(email, ip)
    if not _reserve_attempt(keys):
        raise TooManyAttempts(_(
            "Trop de tentatives de connexion échouées. Réessayez dans %(minutes)s minutes.",
            minutes=current_app.config["LOGIN_WINDOW_MINUTES"]))
    user = (db.session.scalar(select(User).where(User.email == email))
            if len(email) <= 254 else None)
    if not _verify_or_waste_time(user, password):
        db.session.add(LoginAttempt(email=email[:254], ip=ip[:64], at=clock.now()))
        db.session.commit()
        raise ValidationError(_("Adresse e-mail ou mot de passe incorrect."))
    _forget_attempt(keys)
    user.last_login_at = clock.now()
    db.session.commit()
    return user


# --- sessions: ended server-side --------------------------------------------------------

def user_for_session(session_id: str) -> User | None:
    """flask-login's loader: ``"<user id>.<session version>"``; an older version (after a
    logout, a password change or a deactivation) or an inactive account is no session."""
    user_id, _sep, version = (session_id or "").partition(".")
    if not (user_id.isdigit() and version.isdigit()) or int(user_id) > 2**31 - 1:
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or (user.session_version or 0) != int(version):
        return None
    return user


def end_sessions(user: User) -> None:
    """End every session of ``user`` (the caller commits)."""
    user.session_version = (user.session_version or 0) + 1


# --- API tokens -------------------------------------------------------------------------

def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(user: User, name: str = "api") -> str:
    """A new API token for ``user``; only its SHA-256 is stored, the token is shown once.
    It expires after ``API_TOKEN_DAYS`` (one year by default)."""
    token = "snp_" + secrets.token_urlsafe(32)
    now = clock.now()
    db.session.add(ApiToken(user_id=user.id, name=(name or "api")[:100], prefix=token[:10],
                            token_hash=_token_digest(token), created_at=now,
                            expires_at=now + timedelta(
                                days=current_app.config["API_TOKEN_DAYS"])))
    audit.record("token.create", "user", user.id, user_id=user.id)
    return token


def user_for_token(token: str) -> User | None:
    if not token:
        return None
    # One query for the token, its user, the user's organisation and the CPTS it serves
    # (every API call), built once, run on the driver (``agenda.driver``).
    from agenda.accounts.scope import remember_booking_scope, served_cpts_params

    found = driver.rows(_token_read(), {"digest": _token_digest(token),
                                        **served_cpts_params()})
    now = clock.now()
    if not found:
        return None
    row = found[0]
    n_user, n_org = len(_TOKEN_USER_COLUMNS), len(_TOKEN_ORGANISATION_COLUMNS)
    token_id, expires_at, last_used_at, served = row[n_user + n_org:]
    user = driver.attach_row(User, _TOKEN_USER_COLUMNS, row)
    if not user.active or (expires_at and expires_at <= now):
        return None
    organisation = driver.attach_row(Organisation, _TOKEN_ORGANISATION_COLUMNS, row, n_user)
    set_committed_value(user, "organisation", organisation)
    remember_booking_scope(user, served)
    # Recorded at most once a minute: no extra write (and no hot row) on every API call.
    if last_used_at is None or now - last_used_at > timedelta(minutes=1):
        db.session.execute(update(ApiToken).where(ApiToken.id == token_id)
                           .values(last_used_at=now))
        db.session.commit()
    return user


# What an API call reads of its user and organisation; anything else (the password's hash,
# the national identifier, the organisation's FINESS…) loads if a path asks for it.
_TOKEN_USER_COLUMNS = (User.id, User.email, User.name, User.role, User.organisation_id,
                       User.active, User.session_version)
_TOKEN_ORGANISATION_COLUMNS = (Organisation.id, Organisation.name, Organisation.kind,
                               Organisation.cpts_id, Organisation.active)


@functools.cache
def _token_read():
    """The token's user and organisation (the columns an API call uses), the token's id,
    expiry and last use, the CPTS the organisation serves: columns, no objects."""
    from agenda.accounts.scope import served_cpts_column

    return (select(*_TOKEN_USER_COLUMNS, *_TOKEN_ORGANISATION_COLUMNS, ApiToken.id,
                   ApiToken.expires_at, ApiToken.last_used_at, served_cpts_column())
            .select_from(ApiToken)
            .join(User, User.id == ApiToken.user_id)
            .join(Organisation, Organisation.id == User.organisation_id)
            .where(ApiToken.token_hash == bindparam("digest"), ApiToken.revoked_at.is_(None)))


def revoke_token(user: User, token_id: int) -> None:
    row = db.session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise NotFound(_("Jeton introuvable."))
    row.revoked_at = clock.now()


# --- password reset ("mot de passe oublié") ----------------------------------------------

RESET_MAX_AGE = 3600


def _reset_serializer():
    from itsdangerous import URLSafeTimedSerializer

    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="password-reset")


def reset_token(user: User) -> str:
    """A signed token, valid one hour and only until the password changes."""
    fingerprint = hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:16]
    return _reset_serializer().dumps({"u": user.id, "f": fingerprint})


def request_password_reset(email: str) -> None:
    """Send a reset link if the account exists (the answer never tells whether it does)."""
    from agenda import outbox

    email = (email or "").strip().lower()
    user = db.session.scalar(select(User).where(User.email == email, User.active.is_(True)))
    if user is None:
        return
    link = f"{current_app.config['BASE_URL'].rstrip('/')}/mot-de-passe/{reset_token(user)}"
    outbox.enqueue("mail", {
        "to": user.email,
        "subject": _("Agenda SNP : réinitialisation de votre mot de passe"),
        "body": _("Bonjour,\n\nPour choisir un nouveau mot de passe, ouvrez ce lien (valable "
                  "une heure) :\n%(link)s\n\nSi vous n'avez rien demandé, ignorez ce message.",
                  link=link),
    })
    audit.record("password.reset_requested", "user", user.id, user_id=user.id)
    db.session.commit()


def user_for_reset_token(token: str) -> User:
    from itsdangerous import BadSignature, SignatureExpired

    try:
        data = _reset_serializer().loads(token, max_age=RESET_MAX_AGE)
    except SignatureExpired as exc:
        raise ValidationError(_("Ce lien a expiré : demandez-en un nouveau.")) from exc
    except BadSignature as exc:
        raise ValidationError(_("Ce lien n'est pas valide.")) from exc
    user = db.session.get(User, data.get("u"))
    fingerprint = hashlib.sha256(((user.password_hash if user else "") or "").encode()).hexdigest()
    if user is None or not user.active or fingerprint[:16] != data.get("f"):
        raise ValidationError(_("Ce lien a déjà servi ou n'est plus valide."))
    return user
