"""Operations on a doctor's calendar connection (the only code here that changes state,
besides the sync passes themselves)."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select

from agenda import clock
from agenda.errors import NotFound, ValidationError
from agenda.extensions import db
from agenda.sync import crypto
from agenda.sync.adapter import AdapterError, RemoteCalendar, adapter_for
from agenda.sync.models import CalendarAccount, SyncLogEntry
from agenda.territory.models import Doctor, doctor_in_cpts

log = logging.getLogger(__name__)


@dataclass
class CaldavSettings:
    url: str
    username: str
    password: str | None = None  # None/empty: keep the stored one
    calendar: str | None = None  # a calendar URL, or a display name ("SNP")
    busy_calendars: list[str] = field(default_factory=list)


def account_of(doctor: Doctor, *, create: bool = False) -> CalendarAccount | None:
    account = db.session.scalar(select(CalendarAccount).where(
        CalendarAccount.doctor_id == doctor.id))
    if account is None and create:
        account = CalendarAccount(doctor_id=doctor.id, state="pending", etags={},
                                  busy_calendar_urls=[], created_at=clock.now())
        db.session.add(account)
        db.session.flush()
    return account


def _check_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationError(_("Adresse du serveur invalide : elle commence par https://."),
                              field="url")
    return url if url.endswith("/") else url + "/"


def stored_password(account: CalendarAccount | None, url: str, username: str) -> str | None:
    """The stored password, for the very URL and username it was saved with only: changing
    either asks for the password again (it never goes to another address)."""
    if account is None or not account.password_encrypted:
        return None
    if account.url != url or (account.username or "") != (username or "").strip():
        raise ValidationError(_("L'adresse ou l'identifiant a changé : retapez le mot de passe "
                                "d'application (il n'est envoyé qu'à l'adresse pour "
                                "laquelle il a été saisi)."), field="password")
    return crypto.decrypt(account.password_encrypted)


def discover(url: str, username: str, password: str | None,
             doctor: Doctor | None = None) -> list[RemoteCalendar]:
    """"Tester la connexion": the principal's calendars (password: typed, else the stored
    one when the URL and username are those it was saved with)."""
    url = _check_url(url)
    if not password and doctor is not None:
        password = stored_password(account_of(doctor), url, username)
    adapter = adapter_for(url, (username or "").strip(), password or "")
    try:
        return adapter.calendars()
    except AdapterError as exc:
        raise ValidationError(exc.message, field="url") from exc
    except Exception as exc:  # a server answer nobody foresaw: a message, never a traceback
        log.exception("CalDAV discovery failed (%s)", type(exc).__name__)
        raise ValidationError(_("Réponse inattendue du serveur de calendrier : vérifiez "
                                "l'adresse (celle que votre fournisseur donne pour CalDAV)."),
                              field="url") from exc
    finally:
        adapter.close()


def save_settings(doctor: Doctor, data: CaldavSettings, *,
                  calendars: list[RemoteCalendar] | None = None) -> CalendarAccount:
    """Store the connection; the calendar is checked against the server's list."""
    from agenda.sync.inbound import forget_account

    url = _check_url(data.url)
    username = (data.username or "").strip()
    if not username:
        raise ValidationError(_("L'identifiant est obligatoire."), field="username")
    account = account_of(doctor)
    password = data.password or stored_password(account, url, username)
    if not password:
        raise ValidationError(_("Le mot de passe d'application est obligatoire."),
                              field="password")
    if calendars is None:
        calendars = discover(url, username, password)
    chosen = _pick(calendars, data.calendar)
    busy = [c.url for c in calendars if c.url in set(data.busy_calendars or [])
            and c.url != chosen.url]
    account = account or account_of(doctor, create=True)
    if account.calendar_url != chosen.url or account.url != url:
        forget_account(account)
    account.url = url
    account.username = username
    if data.password:
        account.password_encrypted = crypto.encrypt(data.password)
    account.calendar_url = chosen.url
    account.calendar_name = chosen.name
    account.busy_calendar_urls = busy
    account.state = "pending"
    account.last_error = None
    db.session.commit()
    return account


def _pick(calendars: list[RemoteCalendar], wanted: str | None) -> RemoteCalendar:
    wanted = (wanted or "SNP").strip()
    for cal in calendars:
        if cal.url == wanted:
            return cal
    for cal in calendars:
        if cal.name.strip().casefold() == wanted.casefold():
            return cal
    names = ", ".join(c.name for c in calendars) or _("aucun")
    raise ValidationError(_("Calendrier « %(name)s » introuvable sur le serveur (calendriers "
                            "du compte : %(names)s).", name=wanted, names=names),
                          field="calendar")


def disconnect(doctor: Doctor) -> None:
    account = account_of(doctor)
    if account is None:
        return
    from agenda.sync.inbound import forget_account

    forget_account(account)
    account.calendar_url = None
    account.password_encrypted = None
    account.state = "pending"
    db.session.commit()


def token_digest(token: str) -> str:
    """What is stored of a feed token (like API tokens): its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_ics_token(doctor: Doctor) -> str:
    """A new secret feed link (the old one stops working); the token is shown once and
    only its digest is kept."""
    account = account_of(doctor, create=True)
    token = secrets.token_urlsafe(24)
    account.ics_token = token_digest(token)
    db.session.commit()
    return token


def feed_account(token: str) -> CalendarAccount | None:
    """The account of a feed token, when its doctor and the doctor's user account are
    active (a deactivated doctor's feed is dead)."""
    from agenda.accounts.models import User

    if not token or len(token) < 16 or len(token) > 200:
        return None
    account = db.session.scalar(select(CalendarAccount).where(
        CalendarAccount.ics_token == token_digest(token)))
    if account is None:
        return None
    doctor = account.doctor
    if doctor is None or not doctor.active:
        return None
    if doctor.user_id is not None:
        user = db.session.get(User, doctor.user_id)
        if user is None or not user.active:
            return None
    return account


def doctor_by_rpps(rpps: str) -> Doctor:
    doctor = db.session.scalar(select(Doctor).where(Doctor.rpps == (rpps or "").strip()))
    if doctor is None:
        raise NotFound(_("Aucun médecin avec le RPPS %(rpps)s.", rpps=rpps))
    return doctor


# --- state shown to people --------------------------------------------------------------------


# The states shown to people (named in French by :mod:`agenda.labels`).
SYNC_STATES = ("ok", "pending", "error", "none")


@dataclass
class SyncState:
    code: str  # "ok" / "pending" / "error" / "none"
    label: str  # plain French
    detail: str | None = None
    pending: int = 0
    last_sync_at: object = None


def state_of(account: CalendarAccount | None, pending: int | None = None) -> SyncState:
    from agenda.sync.inbound import pending_outbox

    if account is None or not account.calendar_url:
        return SyncState("none", _("pas de calendrier connecté"))
    if pending is None:
        pending = pending_outbox(account.doctor_id)
    if account.state == "error":
        return SyncState("error", _("erreur"), account.last_error, pending,
                         account.last_sync_at)
    if pending or account.last_sync_at is None:
        detail = (ngettext("%(num)d écriture en attente vers le calendrier",
                           "%(num)d écritures en attente vers le calendrier", pending)
                  if pending else _("première synchronisation en attente"))
        return SyncState("pending", _("en attente"), detail, pending, account.last_sync_at)
    return SyncState("ok", _("à jour"), None, 0, account.last_sync_at)


def states_for_cpts(cpts_id: int) -> list[tuple[Doctor, SyncState]]:
    """Each connected doctor of a CPTS with their state (coordinator's panel), set-based."""
    from agenda.outbox import OutboxItem

    rows = db.session.execute(
        select(Doctor, CalendarAccount).join(CalendarAccount,
                                             CalendarAccount.doctor_id == Doctor.id)
        .where(doctor_in_cpts(cpts_id), CalendarAccount.calendar_url.is_not(None))
        .order_by(func.lower(Doctor.last_name))).all()
    pending = dict(db.session.execute(
        select(OutboxItem.doctor_id, func.count(OutboxItem.id))
        .where(OutboxItem.status == "pending", OutboxItem.kind.like("caldav.%"))
        .group_by(OutboxItem.doctor_id)).all())
    return [(doctor, state_of(account, pending.get(doctor.id, 0))) for doctor, account in rows]


def recent_log(doctor: Doctor, limit: int = 30) -> list[SyncLogEntry]:
    return list(db.session.scalars(select(SyncLogEntry).where(
        SyncLogEntry.doctor_id == doctor.id).order_by(SyncLogEntry.id.desc()).limit(limit)))


def test_and_store(doctor: Doctor, url: str, username: str,
                   password: str | None) -> list[RemoteCalendar]:
    """"Tester la connexion": discover the calendars; when it works, keep the connection
    (password encrypted) so that the calendar can be chosen next."""
    calendars = discover(url, username, password, doctor)
    account = account_of(doctor, create=True)
    new_url = _check_url(url)
    moved = account.url != new_url or account.username != username.strip()
    if moved and account.calendar_url:
        from agenda.sync.inbound import forget_account

        forget_account(account)
        account.calendar_url = None
    account.url = new_url
    account.username = username.strip()
    if password:
        account.password_encrypted = crypto.encrypt(password)
    account.last_error = None
    if account.state == "error":
        account.state = "pending"
    db.session.commit()
    return calendars
