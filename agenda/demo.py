"""The demo CPTS: a real territory (Pays de Châteaubriant, Loire-Atlantique), ~25 doctors,
one tele-secretariat, one SAMU, one emergency department and one user per role.

Other packages add their part (slots, calendars…) with :func:`step`; ``flask --app agenda
demo`` runs every step in order, once, on an empty database.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from agenda.accounts.models import Organisation, Role, User
from agenda.accounts.services import create_organisation, create_user
from agenda.extensions import db
from agenda.territory.geo import distance_km
from agenda.territory.models import Commune, Doctor
from agenda.territory.services import (
    DoctorData,
    create_doctor,
    import_communes,
    rpps_with_check_digit,
)

CENTRE_INSEE = "44036"  # Châteaubriant
TERRITORY_RADIUS_KM = 28
# The first demo doctors publish from their calendar app (CalDAV, local Radicale) rather
# than from the web page; the first of them is the demo login doctor, whose SNP calendar is
# connected but left empty for the newcomer to fill.
CALDAV_DOCTORS = 5
DEMO_PASSWORD_LENGTH = 12

FIRST_NAMES = ["Claire", "Julien", "Sophie", "Thomas", "Camille", "Nicolas", "Élise", "Antoine",
               "Marion", "Hugo", "Laure", "Mathieu", "Pauline", "Yann", "Anne", "Gaël",
               "Chloé", "Erwan", "Léa", "Pierre", "Maëlle", "Olivier", "Inès", "Ronan", "Jeanne"]
LAST_NAMES = ["Martin", "Bernard", "Le Goff", "Guérin", "Morel", "Durand", "Lemoine", "Robin",
              "Perrin", "Caradec", "Fournier", "Renaud", "Tessier", "Bouvier", "Leroux",
              "Giraud", "Hamon", "Besnard", "Chauvin", "Pichon", "Loret", "Garnier", "Briand",
              "Royer", "Jaouen"]


@dataclass
class Demo:
    cpts: Organisation
    secretariat: Organisation
    samu: Organisation
    ed: Organisation
    doctors: list[Doctor]
    users: dict[str, tuple[User, str]] = field(default_factory=dict)  # role -> (user, password)
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # (role, email, password)


_STEPS: list[Callable[[Demo], None]] = []


def step(func: Callable[[Demo], None]) -> Callable[[Demo], None]:
    """Register a demo step (called with the Demo after the base is built)."""
    _STEPS.append(func)
    return func


def is_empty() -> bool:
    return db.session.scalar(select(Organisation.id).limit(1)) is None


def build(seed: int = 44) -> Demo:
    rng = random.Random(seed)
    import_communes(departments=["44"])
    centre = db.session.get(Commune, CENTRE_INSEE)
    communes = [c for c in db.session.scalars(select(Commune))
                if c.lat is not None and distance_km(centre.lat, centre.lon, c.lat, c.lon)
                <= TERRITORY_RADIUS_KM]
    communes.sort(key=lambda c: -(c.population or 0))

    cpts = create_organisation("CPTS du Pays de Châteaubriant", "cpts", finess="440000000")
    cpts.phone = "02 40 81 00 00"  # Organization.telecom of the SAS interface
    secretariat = create_organisation("Télésecrétariat CPTS", "secretariat", cpts.id)
    samu = create_organisation("SAMU 44 – SAS", "samu", cpts.id)
    ed = create_organisation("Urgences – Centre hospitalier de Châteaubriant", "ed", cpts.id)
    demo = Demo(cpts=cpts, secretariat=secretariat, samu=samu, ed=ed, doctors=[])

    # ~25 doctors: the larger communes get more; a few rural ones get one.
    homes = [communes[0]] * 5 + communes[1:8] * 2 + communes[8:14]
    for i, commune in enumerate(homes[:25]):
        rpps = rpps_with_check_digit(f"10{100000 + i * 37:08d}")
        lat = commune.lat + rng.uniform(-0.004, 0.004)
        lon = commune.lon + rng.uniform(-0.004, 0.004)
        doctor = create_doctor(DoctorData(
            rpps=rpps, first_name=FIRST_NAMES[i], last_name=LAST_NAMES[i],
            commune_insee=commune.insee, email=f"medecin{i + 1}@demo.cpts.fr",
            phone=f"02 40 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
            address=f"{rng.randint(1, 40)} rue de la Gare, {commune.name}",
            accepts_floating=i % 5 != 4, lat=round(lat, 5), lon=round(lon, 5)), cpts.id)
        demo.doctors.append(doctor)

    def add_user(role: str, email: str, name: str, org: Organisation) -> User:
        password = _demo_password(rng)
        user, _ = create_user(email, name, role, org, password=password)
        demo.users.setdefault(role, (user, password))
        demo.logins.append((role, email, password))
        return user

    first = demo.doctors[0]
    first.user_id = add_user(Role.DOCTOR.value, "medecin@demo.cpts.fr",
                             first.display_name, cpts).id
    for doctor in demo.doctors[1:]:
        doctor.user_id = create_user(doctor.email, doctor.display_name, Role.DOCTOR.value, cpts,
                                     password=_demo_password(rng))[0].id
    add_user(Role.SECRETARY.value, "secretariat@demo.cpts.fr", "Nadia Secrétaire", secretariat)
    add_user(Role.REGULATOR.value, "regulation@demo.cpts.fr", "Marc Régulateur", samu)
    add_user(Role.ED_NURSE.value, "urgences@demo.cpts.fr", "Sandrine IOA", ed)
    add_user(Role.COORDINATOR.value, "coordination@demo.cpts.fr", "Hélène Coordinatrice", cpts)
    add_user(Role.ADMIN.value, "admin@demo.cpts.fr", "Admin CPTS", cpts)
    db.session.flush()
    for func in _STEPS:
        func(demo)
    db.session.commit()
    return demo


def _demo_password(_rng: random.Random) -> str:
    """A fresh random password (never derived from the seed: a demo may face a network)."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(DEMO_PASSWORD_LENGTH))
