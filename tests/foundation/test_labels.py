"""The one place that names codes in French, and French numbers and dates (Babel)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from flask import render_template_string

from agenda import i18n, labels
from agenda.accounts.models import Role
from agenda.alerts import AlertKind
from agenda.audit import AuditAction, AuditObject

# One code and its French name per family: a new family needs a line here.
SAMPLES = {
    "role": ("ed_nurse", "infirmier·e d'accueil des urgences"),
    "org_kind": ("samu", "SAMU / SAS"),
    "slot_status": ("no_show", "patient absent"),
    "slot_kind": ("floating", "plage flottante"),
    "slot_mode": ("VR", "téléconsultation"),
    "slot_source": ("caldav", "calendrier du médecin"),
    "booking_status": ("cancelled", "annulée"),
    "request_status": ("expired", "expirée"),
    "channel": ("secretariat", "Télésecrétariat"),
    "call_outcome": ("reoriented", "réorienté vers le 15"),
    "treating_kind": ("unknown", "ne sait pas"),
    "mobility": ("home", "visite à domicile"),
    "alert_kind": ("booking_cancelled", "Réservation annulée"),
    "audit_action": ("view", "consultation de la fiche"),
    "audit_object": ("booking", "réservation"),
    "sync_state": ("pending", "en attente"),
    "horizon": ("week", "cette semaine"),
    "period": ("custom", "personnalisée"),
    "stat": ("no_shows", "Patients absents (lapins)"),
    "count": ("reorientations", "Réorientations vers le 15"),
    "column": ("amount", "Montant (€)"),
}

NBSP = "\u00a0"
FRENCH_WORDS = {"organisation"}


def test_every_family_has_a_sample():
    assert set(labels.families()) == set(SAMPLES)


@pytest.mark.parametrize("family", sorted(SAMPLES))
def test_family_names_its_codes(app, family):
    code, name = SAMPLES[family]
    assert labels.label(code, family) == name
    codes = labels.codes(family)
    assert code in codes
    known = labels.labels(family)
    missing = [c for c in codes if c not in known]
    assert not missing, f"{family}: no French name for {missing}"
    for c in codes:  # a name, not the code again (some codes are French words already)
        assert labels.label(c, family) != c or c in FRENCH_WORDS, c


@pytest.mark.parametrize("family", ["role", "org_kind", "slot_status", "slot_kind",
                                    "slot_mode", "slot_source", "booking_status",
                                    "request_status", "channel", "call_outcome",
                                    "treating_kind", "mobility", "alert_kind", "audit_action",
                                    "audit_object", "sync_state", "horizon", "period",
                                    "count"])
def test_no_stale_names(app, family):
    """A name without its code is a renamed or removed member left behind."""
    assert set(labels.labels(family)) == set(labels.codes(family))


def test_label_takes_enums_none_and_unknown(app):
    assert labels.label(Role.DOCTOR, "role") == "médecin"
    assert labels.label(None, "role") == ""
    assert labels.label("martian", "role") == "martian"
    assert labels.choices("role", ["doctor", "admin"]) == [
        ("doctor", "médecin"), ("admin", "administrateur·rice de CPTS")]


def test_the_filter_and_the_global(app):
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        out = render_template_string("{{ 'samu'|label('org_kind') }}|{{ label('ed', 'channel') }}")
    assert out == "SAMU / SAS|Urgences"


SOURCE = Path(labels.__file__).resolve().parent


def _literals(pattern: str) -> set[str]:
    found = set()
    for path in SOURCE.rglob("*.py"):
        found |= set(re.findall(pattern, path.read_text(encoding="utf-8")))
    return found


def test_every_alert_raised_is_a_known_kind():
    kinds = _literals(r"raise_alert\(\s*\"([a-z_]+)\"")
    assert kinds, "no alert found in the source"
    assert kinds <= {k.value for k in AlertKind}, kinds - {k.value for k in AlertKind}


def test_every_audited_action_and_object_is_known():
    calls = _literals(r"audit\.record\(\s*\"([a-z_.]+)\",\s*\"([a-z_]+)\"")
    assert calls, "no audit call found in the source"
    actions = {a.value for a in AuditAction}
    objects = {o.value for o in AuditObject}
    assert {a for a, _ in calls} <= actions, {a for a, _ in calls} - actions
    assert {o for _, o in calls} <= objects, {o for _, o in calls} - objects
    # The SAS account actions are built from their outcome (sas.account.<what>).
    for what in _literals(r"_record\(account, \"([a-z_]+)\"") | {"national_id_moved"}:
        assert f"sas.account.{what}" in actions


def test_csv_columns_have_french_headers(app):
    cols = labels.codes("column")
    assert "doctor_id" in cols and "no_shows" in cols and "channel_share_ed" in cols
    for c in cols:
        assert labels.label(c, "column") != c, c


# --------------------------------------------------------------------------- numbers, dates


@pytest.fixture()
def fr(app):
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        yield


def test_french_numbers(fr):
    assert i18n.format_pct(0.926) == f"92,6{NBSP}%"
    assert i18n.format_pct(0.5, 0) == f"50{NBSP}%"
    assert i18n.format_pct(None) == "—"
    assert i18n.format_money(Decimal("400")) == f"400,00{NBSP}€"
    assert i18n.format_money(1234.5).replace("\u202f", " ") == f"1 234,50{NBSP}€"
    assert i18n.format_km(0.4) == f"0,4{NBSP}km"
    assert i18n.format_km(12) == f"12,0{NBSP}km"
    assert i18n.format_num(0.1) == "0,1"
    assert i18n.format_num(24.0) == "24"
    assert i18n.format_num(2.5, 1, fixed=True) == "2,5"
    assert i18n.format_num(1234).replace("\u202f", " ") == "1 234"


def test_french_days(fr):
    first = date(2026, 11, 1)
    assert i18n.format_day(first) == "1er novembre"
    assert i18n.format_day(date(2026, 11, 30), "d MMMM y") == "30 novembre 2026"
    assert i18n.format_local_date(first) == "dimanche 1er novembre"
    assert i18n.format_local_date(date(2026, 11, 11), "d/MM") == "11/11"
    assert i18n.format_local_date(first, "dd/MM") == "01/11"  # no ordinal in numeric form
    # 1 December 2026 08:00 UTC = 09:00 in Paris, the first of the month.
    assert i18n.format_local_datetime(datetime(2026, 12, 1, 8, tzinfo=UTC),
                                      "d MMM HH:mm") == "1er déc. 09:00"


def test_french_filters_and_plurals(fr):
    out = render_template_string(
        "{{ 0.926|pct }}|{{ 400|money }}|{{ 0.4|km }}|{{ day|day }}|"
        "{{ ngettext('%(num)d lapin', '%(num)d lapins', 1) }}|"
        "{{ ngettext('%(num)d lapin', '%(num)d lapins', 2) }}", day=date(2026, 11, 1))
    assert out == f"92,6{NBSP}%|400,00{NBSP}€|0,4{NBSP}km|1er novembre|1 lapin|2 lapins"


def test_english_locale_keeps_the_number_forms_of_english(app):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert i18n.format_pct(0.926).startswith("92.6")
        assert i18n.format_day(date(2026, 11, 1)).startswith("1 ")
