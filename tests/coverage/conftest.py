"""Fixtures of the coverage tests."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from agenda.extensions import db
from agenda.territory.models import Commune, Sector
from tests.coverage.helpers import add_commune


@pytest.fixture()
def line(app, cpts, make_doctor):
    """Four communes on a meridian; doctor A in the first one, doctor B in the last."""
    a = add_commune("99001", "Aval", 47.0, -1.5, 1000)
    add_commune("99002", "Bourg", 47.1, -1.5, 2000)
    add_commune("99003", "Colline", 47.2, -1.5, 3000)
    d = add_commune("99004", "Dune", 47.4, -1.5, 4000)
    doc_a = make_doctor(insee=a.insee, lat=47.0, lon=-1.5)
    doc_b = make_doctor(insee=d.insee, lat=47.4, lon=-1.5)
    # The CPTS's territory is its sector (the other communes loaded are not part of it).
    db.session.add(Sector(cpts_id=cpts.id, name="Ligne", communes=list(
        db.session.scalars(select(Commune).where(Commune.department == "99")))))
    db.session.commit()
    return doc_a, doc_b
