"""The writes of agenda.coverage: the indemnity formula of the CPTS charter, and the
handling of the alerts the supervision pages show."""

from __future__ import annotations

from flask_babel import gettext as _

from agenda import alerts
from agenda.coverage.indemnities import validate_formula
from agenda.errors import NotFound, ValidationError
from agenda.extensions import db
from agenda.slots.models import CharterSettings


def save_indemnity_formula(cpts_id: int, data: dict) -> dict:
    """Validate and store the formula (one transaction); returns the clean formula."""
    formula = validate_formula(data)
    try:
        from agenda.slots.services import charter_for
    except ImportError:  # pragma: no cover - slots package always present in the app
        charter_for = None
    row = charter_for(cpts_id) if charter_for else db.session.get(CharterSettings, cpts_id)
    if row is None:
        row = CharterSettings(cpts_id=cpts_id)
        db.session.add(row)
    row.indemnity_formula = formula
    db.session.commit()
    return formula


def handle_alert(cpts_id: int, user_id: int, action: str, *, alert_id: int | None = None,
                 kind: str | None = None, object_id: int | None = None) -> alerts.Alert:
    """Acknowledge or resolve an alert of the CPTS (one transaction). A condition seen now
    that has no stored alert yet (``kind`` + ``object_id``, e.g. a calendar in error) gets
    one, with the message the page shows."""
    from agenda.coverage.supervision import DERIVED_OBJECTS, alerts as current

    if action not in ("acknowledge", "resolve"):
        raise ValidationError(_("Action inconnue."), field="action")
    if alert_id:
        alert = db.session.get(alerts.Alert, alert_id)
        if alert is None or alert.cpts_id != cpts_id:
            raise NotFound(_("Alerte introuvable."))
    else:
        row = next((r for r in current(cpts_id) if r.alert_id is None and r.kind == kind
                    and r.object_id == object_id and kind in DERIVED_OBJECTS), None)
        if row is None:
            raise NotFound(_("Alerte introuvable."))
        alert = alerts.raise_alert(row.kind, row.what[:500], cpts_id=cpts_id,
                                   object_type=DERIVED_OBJECTS[row.kind], object_id=object_id)
        alert.created_at = row.when or alert.created_at
    (alerts.acknowledge if action == "acknowledge" else alerts.resolve)(alert, user_id)
    db.session.commit()
    return alert
