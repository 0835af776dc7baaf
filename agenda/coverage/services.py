"""The only write of agenda.coverage: the indemnity formula of the CPTS charter."""

from __future__ import annotations

from agenda.coverage.indemnities import validate_formula
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
