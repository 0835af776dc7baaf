"""Display helpers for templates: local times in French, navigation per role."""

from __future__ import annotations

from datetime import date, datetime

from flask import url_for
from flask_babel import format_date, format_datetime, format_time
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


def format_local_date(dt: datetime | date | None, fmt: str = "EEEE d MMMM") -> str:
    if dt is None:
        return ""
    if isinstance(dt, datetime):
        dt = to_local(dt)
    return format_date(dt, fmt)


def format_local_datetime(dt: datetime | None, fmt: str = "EEE d MMM HH:mm") -> str:
    return format_datetime(to_local(dt), fmt) if dt else ""


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
