"""Display helpers for templates: local times in French, navigation per role."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

from flask import url_for
from flask_babel import (format_currency, format_date, format_datetime, format_decimal,
                         format_percent, format_time, get_locale)
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from agenda.timeutil import to_local

HTTP_MESSAGES = {
    400: _l("Requête invalide."),
    401: _l("Authentification requise."),
    403: _l("Accès refusé : votre rôle ne permet pas d'ouvrir cette page."),
    404: _l("Page introuvable."),
    405: _l("Méthode non autorisée."),
    409: _l("Conflit : l'état a changé entre-temps, rechargez la page."),
    413: _l("Envoi trop volumineux."),
    429: _l("Trop de tentatives : réessayez plus tard."),
}


def http_message(exc: HTTPException) -> str:
    if exc.code == 400 and exc.description and "CSRF" in str(exc.description):
        return str(_l("Le formulaire a expiré ou n'est pas valide (jeton CSRF) : "
                      "rechargez la page."))
    msg = HTTP_MESSAGES.get(exc.code or 500)
    return str(msg) if msg else str(_l("Erreur %(code)s.", code=exc.code))


def format_local_time(dt: datetime | None) -> str:
    return format_time(to_local(dt), "HH:mm") if dt else ""


# A lone "d" (day of the month) in a Babel pattern, outside quoted text.
_DAY_TOKEN = re.compile(r"'[^']*'|(?<!d)d(?!d)")


def _first_of_month(pattern: str, day: int) -> str:
    """French writes the first of a month "1er": the pattern's lone ``d`` becomes '1er'."""
    if day != 1 or str(get_locale() or "fr").split("_")[0] != "fr":
        return pattern
    return _DAY_TOKEN.sub(lambda m: m.group(0) if m.group(0).startswith("'") else "'1er'",
                          pattern)


def format_local_date(dt: datetime | date | None, fmt: str = "EEEE d MMMM") -> str:
    """A local date ("lundi 30 novembre", "dimanche 1er novembre")."""
    if dt is None:
        return ""
    if isinstance(dt, datetime):
        dt = to_local(dt)
    return format_date(dt, _first_of_month(fmt, dt.day))


def format_local_datetime(dt: datetime | None, fmt: str = "EEE d MMM HH:mm") -> str:
    if not dt:
        return ""
    local = to_local(dt)
    return format_datetime(local, _first_of_month(fmt, local.day))


# --- numbers (Babel, the request's locale: "1 234,5", "92,6 %", "400,00 €", "0,4 km") ----

Number = int | float | Decimal


def _pattern(digits: int | None, fixed: bool) -> str:
    if digits is None:
        return "#,##0.##"
    if digits == 0:
        return "#,##0"
    return "#,##0." + ("0" if fixed else "#") * digits


def format_num(value: Number | None, digits: int | None = None, *, fixed: bool = False,
               empty: str = "—") -> str:
    """A number: up to 2 decimals without trailing zeros by default; ``digits`` decimals
    (all shown with ``fixed``)."""
    if value is None:
        return empty
    return format_decimal(value, _pattern(digits, fixed))


def format_pct(ratio: Number | None, digits: int = 1, *, empty: str = "—") -> str:
    """A ratio as a percentage: 0.926 → "92,6 %" (one decimal by default)."""
    if ratio is None:
        return empty
    pattern = "#,##0" + ("." + "0" * digits if digits else "") + "\u00a0%"
    return format_percent(ratio, pattern)


def format_money(amount: Number | None, *, empty: str = "—") -> str:
    """An amount in euros, to the cent: "400,00 €"."""
    if amount is None:
        return empty
    return format_currency(amount, "EUR")


def format_km(distance: Number | None, digits: int = 1, *, empty: str = "—") -> str:
    """A distance: "0,4 km"."""
    if distance is None:
        return empty
    return format_decimal(distance, _pattern(digits, True)) + "\u00a0km"


def format_day(value: date | datetime | None, fmt: str = "d MMMM") -> str:
    """A day of the month in words: "1er novembre", "30 novembre 2026" (``fmt`` a Babel
    pattern)."""
    return format_local_date(value, fmt)


def week_choice(week: str) -> dict:
    """What the week chooser (``_macros.html``) shows: "semaine du lundi 30 novembre
    2026", and the ISO labels of the weeks before and after (for the links only)."""
    from flask_babel import gettext

    from agenda.timeutil import parse_week, shift_week

    monday = parse_week(week)
    return {"week": week, "monday": monday, "prev": shift_week(week, -1),
            "next": shift_week(week, 1),
            "label": gettext("semaine du %(day)s",
                             day=format_local_date(monday, "EEEE d MMMM yyyy"))}


# (endpoint, label, roles). Endpoints that do not exist yet are left out of the menu.
NAV = [
    ("accounts.dashboard", _l("Tableau de bord"), None),
    ("slots.my_week", _l("Ma semaine SNP"), {"doctor"}),
    ("booking.my_appointments", _l("Mes rendez-vous"), {"doctor"}),
    ("booking.my_requests", _l("Demandes"), {"doctor"}),
    ("booking.search", _l("Trouver un créneau"), {"secretary", "regulator"}),
    ("booking.ed_quick", _l("Orienter un patient"), {"ed_nurse"}),
    ("booking.bookings", _l("Réservations"), {"secretary", "regulator", "ed_nurse"}),
    ("slots.charter_overview", _l("Charte"), {"coordinator"}),
    ("coverage.hourly", _l("Couverture"), {"coordinator"}),
    ("coverage.stats", _l("Statistiques"), {"coordinator"}),
    ("coverage.department", _l("Département"), {"regulator", "ed_nurse", "operator"}),
    ("territory.doctors", _l("Médecins"), {"coordinator", "admin"}),
    ("territory.sectors", _l("Secteurs"), {"coordinator", "admin"}),
    ("sync.settings", _l("Mon calendrier"), {"doctor"}),
    ("sync.overview", _l("Calendriers"), {"coordinator"}),
    ("accounts.admin_users", _l("Utilisateurs"), {"admin", "operator"}),
    ("accounts.admin_organisations", _l("Organisations"), {"admin", "operator"}),
    ("accounts.audit_log", _l("Journal d'accès"), {"admin", "operator"}),
    ("accounts.profile", _l("Mon compte"), None),
]


def nav_items() -> list[tuple[str, str]]:
    if not current_user.is_authenticated:
        return []
    items = []
    for endpoint, label, roles in NAV:
        if roles is not None and current_user.role not in roles:
            continue
        try:
            items.append((url_for(endpoint), str(label)))
        except Exception:  # endpoint not built yet
            continue
    return items
