"""The one place that names, in French, every code shown to a person.

A code (a role, an organisation kind, a status, a channel, an alert type, an audit action,
a statistics row, a CSV column…) is stored and sent in the JSON API as it is; pages, mails,
CSV for people and SVG charts show it through :func:`label` (Jinja: ``{{ code|label('role') }}``
or ``label(code, 'role')``). Each *family* takes its codes from the enum or tuple that
defines them, so a new member without a French name fails ``tests/foundation/test_labels.py``.

Labels are lazy gettext strings (Babel catalogues); :func:`label` returns a ``str``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from functools import cache

from flask_babel import lazy_gettext as _l

# --------------------------------------------------------------------------- the families
# Each family: {code: label}. Where the codes live is declared in :func:`_sources`.

ROLE = {
    "doctor": _l("médecin"),
    "secretary": _l("télésecrétaire"),
    "regulator": _l("régulateur SAMU / SAS"),
    "ed_nurse": _l("infirmier·e d'accueil des urgences"),
    "coordinator": _l("coordinateur·rice de CPTS"),
    "admin": _l("administrateur·rice de CPTS"),
    "operator": _l("opérateur de la plateforme"),
}

ORG_KIND = {
    "cpts": _l("CPTS"),
    "secretariat": _l("télésecrétariat"),
    "samu": _l("SAMU / SAS"),
    "ed": _l("service des urgences"),
    "platform": _l("plateforme"),
}

SLOT_STATUS = {
    "open": _l("libre"),
    "held": _l("en cours de réservation"),
    "booked": _l("réservé"),
    "seen": _l("patient vu"),
    "no_show": _l("patient absent"),
    "cancelled": _l("annulé"),
    "withdrawn": _l("retiré"),
    "past": _l("passé"),
}

SLOT_KIND = {"fixed": _l("créneau fixe"), "floating": _l("plage flottante")}

SLOT_MODE = {"AMB": _l("au cabinet"), "VR": _l("téléconsultation"),
             "HH": _l("visite à domicile")}

SLOT_SOURCE = {"web": _l("saisi sur le site"), "api": _l("API"),
               "caldav": _l("calendrier du médecin")}

# A booking (une réservation): the words agree with it ("Réservation … annulée").
BOOKING_STATUS = {"booked": _l("réservée"), "seen": _l("patient vu"),
                  "no_show": _l("patient absent"), "cancelled": _l("annulée")}

REQUEST_STATUS = {"pending": _l("en attente"), "accepted": _l("acceptée"),
                  "expired": _l("expirée"), "cancelled": _l("annulée")}

CHANNEL = {"secretariat": _l("Télésecrétariat"), "samu": _l("SAMU / SAS"),
           "ed": _l("Urgences"), "cpts": _l("CPTS elle-même"), "other": _l("Autre")}

CALL_OUTCOME = {
    "booked": _l("rendez-vous fixe pris"),
    "request": _l("demande flottante envoyée"),
    "no_slot": _l("aucun créneau ne convient"),
    "reoriented": _l("réorienté vers le 15"),
    "declined": _l("le patient refuse"),
    "other": _l("autre"),
}

TREATING_KIND = {"doctor": _l("médecin du territoire"), "none": _l("aucun"),
                 "unknown": _l("ne sait pas"), "external": _l("médecin hors territoire")}

MOBILITY = {"mobile": _l("se déplace"), "tele": _l("téléconsultation"),
            "home": _l("visite à domicile")}

ALERT_KIND = {
    "request_expired": _l("Demande expirée"),
    "booking_cancelled": _l("Réservation annulée"),
    "sync_error": _l("Erreur de synchronisation"),
    "event_conflict": _l("Créneau en conflit avec le calendrier du médecin"),
    "sas_error": _l("Erreur d'envoi à la plateforme SAS"),
}

AUDIT_ACTION = {
    "view": _l("consultation de la fiche"),
    "list": _l("affichage d'une liste"),
    "create": _l("création"),
    "update": _l("modification"),
    "cancel": _l("annulation"),
    "accept": _l("acceptation"),
    "extend": _l("prolongation"),
    "outcome": _l("issue de la consultation"),
    "purge": _l("anonymisation (durée de conservation)"),
    "duplicate_override": _l("doublon possible confirmé"),
    "link.grant": _l("lien de service accordé"),
    "link.end": _l("lien de service terminé"),
    "user.activate": _l("compte activé"),
    "user.deactivate": _l("compte désactivé"),
    "token.create": _l("jeton d'API créé"),
    "password.reset_requested": _l("réinitialisation du mot de passe demandée"),
    "password.reset": _l("mot de passe réinitialisé"),
    "sas.account.created": _l("compte SAS créé"),
    "sas.account.updated": _l("compte SAS mis à jour"),
    "sas.account.national_id_moved": _l("identifiant national SAS déplacé"),
    "sas.appointment.resend": _l("rendez-vous renvoyé à la plateforme SAS"),
    "sas.cpts_settings": _l("réglages SAS de la CPTS"),
    "sas.landing": _l("arrivée depuis la plateforme SAS"),
    "audit.view": _l("consultation du journal d'accès"),
    "audit.export": _l("export du journal d'accès"),
    "audit.search": _l("recherche d'un patient dans le journal d'accès"),
}

AUDIT_OBJECT = {
    "booking": _l("réservation"),
    "request": _l("demande"),
    "call": _l("appel"),
    "patient": _l("dossier du patient"),
    "user": _l("utilisateur"),
    "organisation": _l("organisation"),
    "slot": _l("créneau"),
    "audit": _l("journal d'accès"),
}

SYNC_STATE = {"ok": _l("à jour"), "pending": _l("en attente"), "error": _l("erreur"),
              "none": _l("pas de calendrier connecté")}

HORIZON = {"24h": _l("24 heures"), "48h": _l("48 heures"), "week": _l("cette semaine")}

PERIOD = {"week": _l("semaine"), "month": _l("mois"), "year": _l("année"),
          "custom": _l("personnalisée")}

# The department view's counters (coverage.department.COUNTS).
COUNT = {
    "calls": _l("Appels"),
    "requests": _l("Demandes flottantes"),
    "requests_accepted": _l("Demandes acceptées"),
    "requests_expired": _l("Demandes expirées"),
    "bookings": _l("Rendez-vous pris"),
    "consultations": _l("Consultations réalisées"),
    "no_shows": _l("Patients absents"),
    "cancelled": _l("Rendez-vous annulés"),
    "reorientations": _l("Réorientations vers le 15"),
}

# CSV columns not named by another family (the statistics figures, the counters and the
# channels name their own columns; see :func:`column_label`).
COLUMN = {
    "indicator": _l("Code de l'indicateur"),
    "label": _l("Libellé"),
    "value": _l("Valeur"),
    "definition": _l("Définition"),
    "channel": _l("Canal (code)"),
    "reason": _l("Motif"),
    "doctor_id": _l("N° du médecin"),
    "doctor": _l("Médecin"),
    "insee": _l("Code INSEE"),
    "commune": _l("Commune"),
    "population": _l("Population"),
    "period": _l("Période"),
    "booking_id": _l("N° de réservation"),
    "reference": _l("Référence"),
    "start": _l("Début"),
    "reminded_at": _l("Relancé le"),
    "weekday": _l("Jour de la semaine (1 = lundi)"),
    "date": _l("Date"),
    "hour": _l("Heure"),
    "supply": _l("Offre (créneaux)"),
    "booked": _l("Réservés"),
    "open": _l("Libres"),
    "demand": _l("Demande attendue"),
    "ratio": _l("Demande ÷ offre"),
    "in_publication_hours": _l("Dans les heures de publication (1 = oui)"),
    "flagged": _l("Signalé (1 = oui)"),
    "distance_24h_km": _l("Distance à 24 h (km)"),
    "covered_24h": _l("Couverte à 24 h (1 = oui)"),
    "distance_48h_km": _l("Distance à 48 h (km)"),
    "covered_48h": _l("Couverte à 48 h (1 = oui)"),
    "distance_week_km": _l("Distance dans la semaine (km)"),
    "covered_week": _l("Couverte dans la semaine (1 = oui)"),
    "distance_km": _l("Distance (km)"),
    "covered": _l("Couverte (1 = oui)"),
    "cpts_id": _l("N° de la CPTS"),
    "cpts": _l("CPTS"),
    "month": _l("Mois"),
    "floating_windows": _l("Plages flottantes"),
    "floating_minutes": _l("Minutes de plages flottantes"),
    "sessions": _l("Astreintes"),
    "amount": _l("Montant (€)"),
    "detail": _l("Détail du calcul"),
    "channel_share_secretariat": _l("Part des demandes : télésecrétariat"),
    "channel_share_samu": _l("Part des demandes : SAMU / SAS"),
    "channel_share_ed": _l("Part des demandes : urgences"),
    "channel_share_cpts": _l("Part des demandes : CPTS elle-même"),
    "channel_share_other": _l("Part des demandes : autre"),
    # The access log (agenda.auditlog.CSV_COLUMNS).
    "at": _l("Quand"),
    "user": _l("Qui"),
    "role": _l("Rôle"),
    "organisation": _l("Organisation"),
    "action": _l("Action"),
    "object": _l("Objet"),
    "patient": _l("Patient"),
    "ip": _l("Adresse IP"),
}


def _figure_labels() -> dict:
    from agenda.coverage import stats

    return {k: f.label for k, f in stats.FIGURES.items()}


def _enum(cls: type[enum.Enum]) -> Callable[[], list[str]]:
    return lambda: [m.value for m in cls]


def _sources() -> dict[str, tuple[Callable[[], Iterable[str]], Callable[[], dict]]]:
    """family → (where its codes come from, its labels). Imported late: the models import
    this module's callers, not the other way round."""
    from agenda.accounts.models import OrgKind, Role
    from agenda.alerts import AlertKind
    from agenda.audit import AuditAction, AuditObject
    from agenda.booking.models import (BookingStatus, CallOutcome, Mobility, RequestStatus,
                                       TreatingKind)
    from agenda.coverage import department, geo, stats
    from agenda.slots.models import SlotKind, SlotMode, SlotSource, SlotStatus
    from agenda.sync.services import SYNC_STATES

    def fixed(d: dict) -> Callable[[], dict]:
        return lambda: d

    def stat_keys() -> list[str]:
        keys = dict.fromkeys([*stats.FIGURES, *stats.SUMMARY_KEYS, *stats.CHANNEL_KEYS,
                              *stats.DOCTOR_KEYS])
        keys.update(dict.fromkeys(k for k in stats.TIMELINE_KEYS if k not in stats.CHANNELS))
        return list(keys)

    return {
        "role": (_enum(Role), fixed(ROLE)),
        "org_kind": (_enum(OrgKind), fixed(ORG_KIND)),
        "slot_status": (_enum(SlotStatus), fixed(SLOT_STATUS)),
        "slot_kind": (_enum(SlotKind), fixed(SLOT_KIND)),
        "slot_mode": (_enum(SlotMode), fixed(SLOT_MODE)),
        "slot_source": (_enum(SlotSource), fixed(SLOT_SOURCE)),
        "booking_status": (_enum(BookingStatus), fixed(BOOKING_STATUS)),
        "request_status": (_enum(RequestStatus), fixed(REQUEST_STATUS)),
        "channel": (lambda: stats.CHANNELS, fixed(CHANNEL)),
        "call_outcome": (_enum(CallOutcome), fixed(CALL_OUTCOME)),
        "treating_kind": (_enum(TreatingKind), fixed(TREATING_KIND)),
        "mobility": (_enum(Mobility), fixed(MOBILITY)),
        "alert_kind": (_enum(AlertKind), fixed(ALERT_KIND)),
        "audit_action": (_enum(AuditAction), fixed(AUDIT_ACTION)),
        "audit_object": (_enum(AuditObject), fixed(AUDIT_OBJECT)),
        "sync_state": (lambda: SYNC_STATES, fixed(SYNC_STATE)),
        "horizon": (lambda: geo.HORIZONS, fixed(HORIZON)),
        "period": (lambda: stats.PERIODS, fixed(PERIOD)),
        "stat": (stat_keys, _figure_labels),
        "count": (lambda: department.COUNTS, fixed(COUNT)),
        "column": (_csv_columns, column_labels),
    }


def _csv_columns() -> list[str]:
    """Every column of every CSV export for people."""
    from agenda.coverage import geo
    from agenda.coverage import views as cv

    from agenda.auditlog import CSV_COLUMNS as AUDIT_COLUMNS

    cols = [*cv.HOURLY_COLUMNS, *geo.DISTANCE_COLUMNS, *cv.REPORT_COLUMNS,
            *cv.INDEMNITY_COLUMNS, *cv.DEPARTMENT_CHANNEL_COLUMNS,
            *cv.DEPARTMENT_COMMUNE_COLUMNS, *AUDIT_COLUMNS]
    for columns in cv.STATS_COLUMNS.values():
        cols.extend(columns)
    return list(dict.fromkeys(cols))


def column_labels() -> dict:
    """A CSV column's French header: its own, else the figure's, the counter's or the
    channel's name (a timeline column per channel)."""
    out = dict(CHANNEL)
    out.update(COUNT)
    out.update(_figure_labels())
    out.update(COLUMN)
    return out


@cache
def _families() -> dict:
    return _sources()


def families() -> list[str]:
    return list(_families())


def codes(family: str) -> list[str]:
    """The codes of a family, from the enum or tuple that defines them."""
    return list(_families()[family][0]())


def labels(family: str) -> dict:
    return _families()[family][1]()


def label(code: object, family: str) -> str:
    """The French name of ``code`` in ``family`` ("" for None; the code itself if unknown,
    which the page test reports)."""
    if code is None or code == "":
        return ""
    if isinstance(code, enum.Enum):
        code = code.value
    name = labels(family).get(code)
    return str(name) if name is not None else str(code)


def choices(family: str, only: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """(code, French name) pairs for a form's select, in the family's order."""
    wanted = list(only) if only is not None else codes(family)
    return [(c, label(c, family)) for c in wanted]


def all_codes() -> set[str]:
    """Every code of every family (the words the page test refuses to see)."""
    return {c for f in families() for c in codes(f)}


def install(app) -> None:
    """``label`` as a Jinja filter and global (``{{ u.role|label('role') }}``)."""
    app.jinja_env.filters["label"] = label
    app.jinja_env.globals["label"] = label
