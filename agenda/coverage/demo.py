"""Demo step: the communes the demo CPTS serves, as one sector, so that the coverage pages
show its territory rather than the whole department; and a decreasing indemnity formula.

The served territory (40 km around Châteaubriant) reaches beyond the communes where the
volunteers practise (28 km): its outer communes are the gaps a coordinator must see.
"""

from __future__ import annotations

from sqlalchemy import select

from agenda import demo as demo_module
from agenda.extensions import db
from agenda.territory.geo import distance_km
from agenda.territory.models import Commune, Sector


SERVED_RADIUS_KM = 40


@demo_module.step
def coverage_demo(demo) -> None:
    cpts_id = demo.cpts.id
    if db.session.scalar(select(Sector.id).where(Sector.cpts_id == cpts_id).limit(1)) is None:
        centre = db.session.get(Commune, demo_module.CENTRE_INSEE)
        if centre is not None:
            communes = [c for c in db.session.scalars(select(Commune).where(
                Commune.lat.is_not(None)))
                if distance_km(centre.lat, centre.lon, c.lat, c.lon)
                <= SERVED_RADIUS_KM]
            db.session.add(Sector(cpts_id=cpts_id, name="Pays de Châteaubriant",
                                  communes=communes))
    from agenda.slots.services import charter_for

    charter = charter_for(cpts_id)
    if not charter.indemnity_formula:
        charter.indemnity_formula = {"session_tiers": [[0, "200.00"], [3, "150.00"],
                                                       [6, "100.00"], [10, "60.00"]]}
    db.session.flush()
