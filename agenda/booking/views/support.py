"""Helpers shared by the booking pages (form choices, patient data from a form)."""

from __future__ import annotations

import contextlib

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from agenda.booking import services
from agenda.booking.forms import ActionForm
from agenda.booking.services import patients as patient_services
from agenda.errors import DomainError
from agenda.extensions import db
from agenda.accounts.models import Organisation
from agenda.territory.models import Commune, Doctor, Sector, doctor_in_cpts



def treating_choices(cpts_ids: list[int]) -> list[tuple[str, str]]:
    """The volunteers of the CPTS the booker serves (wherever they practise)."""
    doctors = db.session.execute(
        select(Doctor.id, Doctor.first_name, Doctor.last_name, Commune.name)
        .join(Commune, Commune.insee == Doctor.commune_insee)
        .where(doctor_in_cpts(cpts_ids), Doctor.active.is_(True))
        .order_by(Doctor.last_name, Doctor.first_name))
    return ([("unknown", _("Ne sait pas")), ("none", _("Aucun")),
             ("external", _("Hors territoire (nom et RPPS ci-dessous)"))]
            + [(f"doctor:{i}", f"Dr {last} {first} — {commune}")
               for i, first, last, commune in doctors])


def reason_choices(cpts_ids: list[int]) -> list[tuple[int, str]]:
    """The reasons of the CPTS served, one per label (each CPTS keeps its own list)."""
    seen: dict[str, int] = {}
    for r in patient_services.reasons_of(cpts_ids):
        seen.setdefault(r.label.casefold(), r.id)
    labels = {r.id: r.label for r in patient_services.reasons_of(cpts_ids)}
    return [(0, _("— choisir —"))] + sorted(((i, labels[i]) for i in seen.values()),
                                             key=lambda c: c[1].casefold())


def prepare(form) -> None:
    from agenda.booking.services.search import search_scope

    scope = search_scope(current_user)
    form.treating.choices = treating_choices(scope)
    form.reason.choices = reason_choices(scope)
    if hasattr(form, "sector"):
        rows = db.session.execute(select(Sector.id, Sector.name, Organisation.name)
                                  .join(Organisation, Organisation.id == Sector.cpts_id)
                                  .where(Sector.cpts_id.in_(scope))
                                  .order_by(Organisation.name, Sector.name)).all()
        several = len(scope) > 1
        form.sector.choices = [(0, _("Tous les secteurs"))] + [
            (i, f"{name} ({cpts})" if several else name) for i, name, cpts in rows]
    if hasattr(form, "horizon"):
        form.horizon.choices = horizon_choices(scope)
        if not form.horizon.data or form.horizon.data not in dict(form.horizon.choices):
            form.horizon.data = form.horizon.choices[0][0]


def horizon_choices(scope: list[int]) -> list[tuple[str, str]]:
    """The horizons a booker may pick: the charter's own (default), then shorter ones."""
    from agenda.booking.services.common import charter_for

    charters = [charter_for(c) for c in scope]
    same_day = {c.same_day_until for c in charters if c.same_day_until}
    if len(charters) == 1 and same_day:
        label = _("Charte : le jour même jusqu'à %(h)s", h=next(iter(same_day)))
        widest = 24
    else:
        widest = max(c.horizon_hours or 48 for c in charters)
        label = (_("Charte : %(h)s h", h=widest) if len(charters) == 1
                 else _("Charte de chaque CPTS"))
    choices = [("", label)]
    for hours in (4, 12, 24, 48, 72, 168):
        if hours < widest:
            choices.append((str(hours), _("%(h)s h", h=hours)))
    return choices


def form_commune(form) -> Commune:
    """The patient's commune from a form: the text typed and the INSEE code chosen among
    the suggestions (``commune_insee``, set by static/commune.js) or among the candidates
    listed by the server (``commune_choice``, without JavaScript). Raises
    :class:`AmbiguousCommune` rather than choosing; the form then carries the choice."""
    choice = request.form.get("commune_choice") or form.commune_insee.data or None
    commune = services.resolve_commune(form.commune.data, insee=choice)
    form.commune.data = patient_services.commune_label(commune)
    form.commune_insee.data = commune.insee
    return commune


def commune_problem(ctx: dict, exc: DomainError) -> None:
    """Put the candidates of an ambiguous commune in the page (a choice to make)."""
    if isinstance(exc, patient_services.AmbiguousCommune):
        ctx["commune_candidates"] = exc.candidates


def duplicates_for(form, commune: Commune) -> list:
    """Live bookings of the same patient in the coming 48 h (the confirm page warns)."""
    from agenda.booking.services.search import search_scope

    data = patient_data(form, commune)
    return patient_services.find_duplicates(current_user, data, search_scope(current_user))


def when_label(end) -> str:
    """"aujourd'hui 19:30", "demain 19:30", "mercredi 2 décembre 08:00"."""
    from datetime import timedelta

    from agenda import clock
    from agenda.i18n import format_local_date, format_local_time
    from agenda.timeutil import to_local

    today = to_local(clock.now()).date()
    day = to_local(end).date()
    if day == today:
        label = _("aujourd'hui")
    elif day == today + timedelta(days=1):
        label = _("demain")
    else:
        label = format_local_date(end, "EEEE d MMMM")
    return f"{label} {format_local_time(end)}"


def horizon_lines(query) -> list[tuple[str, str]]:
    """(CPTS name or "", "jusqu'à demain 19:30") for each distinct horizon of a search."""
    ends = query.horizons
    if len(set(ends.values())) == 1:
        return [("", _("jusqu'à %(when)s", when=when_label(next(iter(ends.values())))))]
    names = dict(db.session.execute(select(Organisation.id, Organisation.name)
                                    .where(Organisation.id.in_(list(ends)))).all())
    return [(names.get(cpts_id, ""), _("jusqu'à %(when)s", when=when_label(end)))
            for cpts_id, end in sorted(ends.items(), key=lambda kv: names.get(kv[0], ""))]


def day_note(query, day) -> str | None:
    """Why a chosen day may show nothing: past, or beyond the booking horizon."""
    from datetime import time

    from agenda import clock
    from agenda.i18n import format_local_date
    from agenda.timeutil import local_to_utc, to_local

    if day is None:
        return None
    today = to_local(clock.now()).date()
    if day < today:
        return _("Le %(day)s est passé : choisissez aujourd'hui ou un jour à venir.",
                 day=format_local_date(day, "EEEE d MMMM"))
    if local_to_utc(day, time(0)) >= query.horizon_end:
        return _("Le %(day)s est au-delà de l'horizon de réservation de la charte "
                 "(%(until)s) : ses créneaux ne sont pas encore proposés. Cherchez sans jour, "
                 "ou rappelez le patient plus tard.",
                 day=format_local_date(day, "EEEE d MMMM"),
                 until=horizon_lines(query)[0][1])
    return None


def group_by_day(results) -> list[tuple]:
    """[(local date or None, [results])]: the treating doctor's slots first (None), then
    the others day by day, each day in the order of the search."""
    from agenda.timeutil import to_local

    treating = [r for r in results if r.is_treating]
    groups: dict = {}
    for r in results:
        if not r.is_treating:
            groups.setdefault(to_local(r.start).date(), []).append(r)
    return ([(None, treating)] if treating else []) + sorted(groups.items())


def patient_data(form, commune: Commune) -> services.PatientData:
    treating = form.treating.data or "unknown"
    doctor_id = None
    if treating.startswith("doctor:"):
        doctor_id = int(treating.split(":", 1)[1])
        treating = "doctor"
    return services.PatientData(
        last_name=form.last_name.data or "", first_name=form.first_name.data or "",
        commune_insee=commune.insee, birth_date=form.birth_date.data,
        phone=form.phone.data, treating_kind=treating, treating_doctor_id=doctor_id,
        treating_external_name=getattr(form, "treating_external_name", None)
        and form.treating_external_name.data,
        treating_external_rpps=getattr(form, "treating_external_rpps", None)
        and form.treating_external_rpps.data,
        mobility=form.mobility.data or "mobile", commune=commune,
        sms_consent=bool(getattr(form, "sms_consent", None) and form.sms_consent.data))


def booking_input(form, commune: Commune, slot_id: int, origin: str):
    return services.BookingInput(
        slot_id=slot_id, patient=patient_data(form, commune),
        reason_id=form.reason.data or None, note=form.note.data, origin=origin,
        duplicate_reason=form.duplicate_reason.data or None,
        regulation_number=getattr(form, "regulation_number", None)
        and form.regulation_number.data)


def treating_id(form) -> int | None:
    value = form.treating.data or ""
    return int(value.split(":", 1)[1]) if value.startswith("doctor:") else None


def origin_of(form) -> str:
    origin = (getattr(form, "origin", None) and form.origin.data) or "web"
    return origin if origin in ("web", "sas") else "web"


def error_status(exc: DomainError) -> int:
    return exc.status


def reorient(endpoint: str):
    """"Réorienté vers le 15": counted at once, no patient identity needed (a vital call)."""
    if not ActionForm().validate():
        abort(400)
    insee = None
    with contextlib.suppress(DomainError):  # the commune is optional here
        insee = services.resolve_commune(request.form.get("commune", ""),
                                         insee=request.form.get("commune_insee")).insee
    reason = request.form.get("reason", type=int) or None
    services.record_reorientation(current_user, insee, reason)
    flash(_("Appel enregistré comme « réorienté vers le 15 »."), "info")
    return redirect(url_for(endpoint))


