"""Reading the audit log: who opened what, for the administrators.

The log itself (:mod:`agenda.audit`) stays an append-only table of ids. This module answers
"who opened Mrs X's record?": entries in the reader's scope (the CPTS administrator's CPTS,
the operator's whole instance, as :mod:`agenda.accounts.scope` says), filtered by patient,
user, organisation and period, with the people, organisations and records named — and a
patient's name only when the reader may see that patient (a booking or a request of theirs
in the reader's CPTS; the operator: every patient).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, time, timedelta

from flask_babel import gettext as _
from sqlalchemy import func, or_, select

from agenda.accounts.models import Organisation, User
from agenda.accounts.scope import is_operator, managed_org_clause
from agenda.audit import AuditEntry
from agenda.booking.models import Booking, FloatingRequest, Patient
from agenda.errors import ValidationError
from agenda.extensions import db
from agenda.timeutil import local_to_utc

PAGE_SIZE = 50
CSV_LIMIT = 50_000
PATIENT_HITS = 20


@dataclass
class LogFilter:
    patient_id: int | None = None
    user_id: int | None = None
    organisation_id: int | None = None
    start: date | None = None  # local days, both included
    end: date | None = None
    page: int = 1

    def __post_init__(self) -> None:
        if self.start and self.end and self.end < self.start:
            raise ValidationError(_("La fin de la période précède son début."), field="to")
        if self.page < 1:
            self.page = 1

    def args(self, without: str | None = None) -> dict:
        """The filter as query-string arguments (for links: pages, CSV)."""
        out = {"patient": self.patient_id, "user": self.user_id,
               "organisation": self.organisation_id,
               "from": self.start.isoformat() if self.start else None,
               "to": self.end.isoformat() if self.end else None}
        return {k: v for k, v in out.items() if v and k != without}

    def describe(self) -> str:
        """The filter in ids and days only (what the audit entry of the reading keeps)."""
        return ";".join(f"{k}={v}" for k, v in self.args().items()) or "-"


@dataclass
class PatientHit:
    id: int
    name: str
    birth_date: date | None
    commune: str
    accesses: int


@dataclass
class LogRow:
    entry: AuditEntry
    user_name: str | None
    user_role: str | None
    organisation: str | None
    object_label: str
    object_url: str | None
    patient_name: str | None  # None: no patient, or not the reader's to see

    def csv_row(self, at: str, *, codes: bool = False) -> dict:
        """The row under :data:`CSV_COLUMNS`: role and action in words for people, as
        codes in the "technique" export."""
        from agenda.labels import label

        e = self.entry
        return {"at": at, "user": self.user_name or "",
                "role": (self.user_role if codes else label(self.user_role, "role")) or "",
                "organisation": self.organisation or "",
                "action": e.action if codes else label(e.action, "audit_action"),
                "object": self.object_label, "patient": self.patient_name or "",
                "ip": e.ip or ""}


CSV_COLUMNS = ["at", "user", "role", "organisation", "action", "object", "patient", "ip"]


@dataclass
class LogPage:
    rows: list[LogRow]
    total: int
    page: int
    pages: int


def _scope_cpts(reader: User) -> int | None:
    """None for the operator (every CPTS), else the administrator's CPTS (0: none)."""
    return None if is_operator(reader) else (reader.cpts_id or 0)


def _visible_patients_clause(reader: User):
    """Patients the reader may name: those with a booking or request in their CPTS."""
    cpts_id = _scope_cpts(reader)
    if cpts_id is None:
        return None
    return or_(
        Patient.id.in_(select(Booking.patient_id).where(Booking.cpts_id == cpts_id)),
        Patient.id.in_(select(FloatingRequest.patient_id)
                       .where(FloatingRequest.cpts_id == cpts_id)))


def _patient_clause(patient_id: int):
    """Entries about one patient: theirs, and the lists that showed them
    (``detail`` = ``booking:12,15;patient:7,9``, the patients' ids coming last)."""
    p = str(int(patient_id))
    return or_(AuditEntry.patient_id == patient_id,
               AuditEntry.detail.like(f"%;patient:{p}"),
               AuditEntry.detail.like(f"%;patient:{p},%"),
               AuditEntry.detail.like(f"%;patient:%,{p}"),
               AuditEntry.detail.like(f"%;patient:%,{p},%"))


def _statement(reader: User, f: LogFilter):
    stmt = select(AuditEntry)
    cpts_id = _scope_cpts(reader)
    if cpts_id is not None:
        own_users = select(User.id).join(Organisation, Organisation.id == User.organisation_id)\
            .where(managed_org_clause(cpts_id))
        stmt = stmt.where(or_(AuditEntry.cpts_id == cpts_id, AuditEntry.user_id.in_(own_users)))
    if f.patient_id:
        stmt = stmt.where(_patient_clause(f.patient_id))
    if f.user_id:
        stmt = stmt.where(AuditEntry.user_id == f.user_id)
    if f.organisation_id:
        stmt = stmt.where(AuditEntry.user_id.in_(
            select(User.id).where(User.organisation_id == f.organisation_id)))
    if f.start:
        stmt = stmt.where(AuditEntry.at >= local_to_utc(f.start, time(0)))
    if f.end:
        stmt = stmt.where(AuditEntry.at < local_to_utc(f.end + timedelta(days=1), time(0)))
    return stmt


def search_patients(reader: User, text: str) -> list[PatientHit]:
    """Patients the reader may name whose names contain every word typed (at most 20),
    each with the number of log entries about them in the reader's scope."""
    words = [w for w in (text or "").split() if w][:4]
    if not words or sum(len(w) for w in words) < 2:
        raise ValidationError(_("Tapez au moins deux lettres du nom du patient."),
                              field="q")
    stmt = select(Patient).where(Patient.anonymised_at.is_(None))
    for w in words:
        like = f"%{w[:50]}%"
        stmt = stmt.where(or_(Patient.last_name.ilike(like), Patient.first_name.ilike(like)))
    visible = _visible_patients_clause(reader)
    if visible is not None:
        stmt = stmt.where(visible)
    patients = db.session.scalars(stmt.order_by(Patient.last_name, Patient.first_name,
                                                Patient.id).limit(PATIENT_HITS)).all()
    hits = []
    for p in patients:
        count = db.session.scalar(select(func.count()).select_from(
            _statement(reader, LogFilter(patient_id=p.id)).subquery()))
        hits.append(PatientHit(p.id, f"{p.last_name.upper()} {p.first_name}", p.birth_date,
                               p.commune.name if p.commune else "", count or 0))
    return hits


def patient_name(reader: User, patient_id: int) -> str | None:
    names = _patient_names(reader, {patient_id})
    return names.get(patient_id)


def _patient_names(reader: User, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    stmt = select(Patient.id, Patient.last_name, Patient.first_name).where(Patient.id.in_(ids))
    visible = _visible_patients_clause(reader)
    if visible is not None:
        stmt = stmt.where(visible)
    return {pid: f"{last.upper()} {first}" for pid, last, first in db.session.execute(stmt)}


def _object(entry: AuditEntry, refs: dict, reader: User) -> tuple[str, str | None]:
    """The record an entry is about, in words, and the page that shows it (when the
    reader may open it: a booking's page is for the CPTS's administrator, not the
    operator)."""
    from flask import url_for

    kind, oid = entry.object_type, entry.object_id
    if oid is None:
        labels = {"booking": _("liste de réservations"), "request": _("liste de demandes"),
                  "patient": _("recherche de patients"), "audit": _("journal d'accès")}
        return labels.get(kind, kind), None
    if kind == "booking":
        return _("réservation %(ref)s", ref=refs.get(("booking", oid), oid)), \
            None if is_operator(reader) else url_for("booking.detail", booking_id=oid)
    if kind == "request":
        return _("demande %(ref)s", ref=refs.get(("request", oid), oid)), None
    if kind == "user":
        return _("compte %(name)s", name=refs.get(("user", oid), oid)), \
            url_for("accounts.admin_users") + f"#user-{oid}"
    if kind == "organisation":
        return _("organisation %(name)s", name=refs.get(("organisation", oid), oid)), \
            url_for("accounts.admin_organisations")
    if kind == "patient":
        return _("dossier patient"), url_for("accounts.audit_log", patient=oid)
    if kind == "audit":
        return _("journal d'accès"), None
    if kind == "slot":
        return _("créneau n° %(id)s", id=oid), None
    if kind == "call":
        return _("appel n° %(id)s", id=oid), None
    return f"{kind} {oid}", None


def _references(entries: list[AuditEntry]) -> dict:
    """Booking and request references, user and organisation names, in four queries."""
    ids: dict[str, set[int]] = {}
    for e in entries:
        if e.object_id is not None:
            ids.setdefault(e.object_type, set()).add(e.object_id)
    refs: dict = {}
    for kind, column, label in (("booking", Booking.id, Booking.reference),
                                ("request", FloatingRequest.id, FloatingRequest.reference),
                                ("user", User.id, User.name),
                                ("organisation", Organisation.id, Organisation.name)):
        if ids.get(kind):
            refs.update({(kind, i): v for i, v in db.session.execute(
                select(column, label).where(column.in_(ids[kind])))})
    return refs


def _rows(reader: User, entries: list[AuditEntry]) -> list[LogRow]:
    user_ids = {e.user_id for e in entries if e.user_id}
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(user_ids)))} \
        if user_ids else {}
    orgs = {o.id: o.name for o in db.session.scalars(select(Organisation).where(
        Organisation.id.in_({u.organisation_id for u in users.values()})))} if users else {}
    names = _patient_names(reader, {e.patient_id for e in entries if e.patient_id})
    refs = _references(entries)
    out = []
    for e in entries:
        u = users.get(e.user_id) if e.user_id else None
        label, url = _object(e, refs, reader)
        out.append(LogRow(e, u.name if u else None, u.role if u else None,
                          orgs.get(u.organisation_id) if u else None, label, url,
                          names.get(e.patient_id) if e.patient_id else None))
    return out


def page(reader: User, f: LogFilter) -> LogPage:
    stmt = _statement(reader, f)
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    current = min(f.page, pages)
    entries = db.session.scalars(stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                                 .offset((current - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    return LogPage(_rows(reader, list(entries)), total, current, pages)


def export(reader: User, f: LogFilter) -> Iterator[LogRow]:
    """Every entry of the filter, newest first (at most 50 000), a thousand at a time."""
    stmt = _statement(reader, f).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    for offset in range(0, CSV_LIMIT, 1000):
        entries = db.session.scalars(stmt.offset(offset).limit(1000)).all()
        yield from _rows(reader, list(entries))
        if len(entries) < 1000:
            return


def choices(reader: User) -> tuple[list[User], list[Organisation]]:
    """The users and organisations the filter offers: those the reader manages."""
    cpts_id = _scope_cpts(reader)
    orgs_stmt = select(Organisation).order_by(Organisation.name)
    if cpts_id is not None:
        orgs_stmt = orgs_stmt.where(managed_org_clause(cpts_id))
    orgs = list(db.session.scalars(orgs_stmt))
    users = list(db.session.scalars(select(User).where(
        User.organisation_id.in_([o.id for o in orgs])).order_by(User.name, User.id)))
    return users, orgs
