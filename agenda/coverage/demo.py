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


NEIGHBOUR_RADIUS_KM = 20


@demo_module.step
def coverage_demo(demo) -> None:
    """One sector per CPTS; the territories do not overlap: a commune goes to the nearest
    centre among those whose radius reaches it."""
    cpts_id = demo.cpts.id
    territories = [(demo.cpts, demo_module.CENTRE_INSEE, SERVED_RADIUS_KM,
                    "Pays de Châteaubriant")]
    for org, (name, insee, _finess, _phone) in zip(demo.neighbours, demo_module.NEIGHBOURS,
                                                   strict=False):
        territories.append((org, insee, NEIGHBOUR_RADIUS_KM, name.removeprefix("CPTS ")))
    centres = [(org, db.session.get(Commune, insee), radius, label)
               for org, insee, radius, label in territories]
    communes = list(db.session.scalars(select(Commune).where(Commune.lat.is_not(None))))
    for org, centre, radius, label in centres:
        if centre is None or db.session.scalar(
                select(Sector.id).where(Sector.cpts_id == org.id).limit(1)) is not None:
            continue
        mine = []
        for c in communes:
            d = distance_km(centre.lat, centre.lon, c.lat, c.lon)
            if d <= radius and all(
                    other is centre or distance_km(other.lat, other.lon, c.lat, c.lon) > d
                    or distance_km(other.lat, other.lon, c.lat, c.lon) > r
                    for _o, other, r, _l in centres if other is not None):
                mine.append(c)
        db.session.add(Sector(cpts_id=org.id, name=label, communes=mine))
    from agenda.slots.services import charter_for

    for org in demo.neighbours:
        charter_for(org.id)
    charter = charter_for(cpts_id)
    if not charter.indemnity_formula:
        charter.indemnity_formula = {"session_tiers": [[0, "200.00"], [3, "150.00"],
                                                       [6, "100.00"], [10, "60.00"]]}
    db.session.flush()
