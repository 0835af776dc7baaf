"""The demo department: three CPTS of Loire-Atlantique on real communes — the Pays de
Châteaubriant (~25 doctors, the main one), the Pays d'Ancenis and Erdre et Gesvres (8
doctors each) — the SAMU 44 serving all three, the Châteaubriant hospital's emergency
department serving two, a shared tele-secretariat serving all three, the Châteaubriant CPTS's
own secretariat, one doctor practising at two places in two CPTS, and one user per role
(plus a coordinator per CPTS, a CPTS administrator and the platform operator).

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
# The two neighbouring CPTS of the demo department: (name, centre INSEE, FINESS, phone).
NEIGHBOURS = [("CPTS du Pays d'Ancenis", "44003", "440000018", "02 40 83 00 00"),
              ("CPTS Erdre et Gesvres", "44110", "440000026", "02 40 72 00 00")]
NEIGHBOUR_DOCTORS = 8
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
    # The other CPTS of the department, the shared call centre, the platform.
    neighbours: list[Organisation] = field(default_factory=list)
    shared_secretariat: Organisation | None = None
    platform: Organisation | None = None
    # The doctor who also practises at a second place, in another CPTS.
    two_places: Doctor | None = None
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
    neighbours = []
    for name, _insee, finess, phone in NEIGHBOURS:
        org = create_organisation(name, "cpts", finess=finess)
        org.phone = phone
        neighbours.append(org)
    every = [cpts.id] + [n.id for n in neighbours]
    # The CPTS's own secretariat books for it alone; the others serve several CPTS.
    secretariat = create_organisation("Télésecrétariat CPTS", "secretariat", cpts.id)
    samu = create_organisation("SAMU 44 – SAS", "samu", serves=every)
    ed = create_organisation("Urgences – Centre hospitalier de Châteaubriant", "ed",
                             serves=[cpts.id, neighbours[0].id])
    shared = create_organisation("Plateforme de télésecrétariat 44", "secretariat",
                                 serves=every)
    platform = create_organisation("Plateforme agenda SNP 44", "platform")
    demo = Demo(cpts=cpts, secretariat=secretariat, samu=samu, ed=ed, doctors=[],
                neighbours=neighbours, shared_secretariat=shared, platform=platform)

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

    _neighbour_doctors(demo, rng)

    first = demo.doctors[0]
    first.user_id = add_user(Role.DOCTOR.value, "medecin@demo.cpts.fr",
                             first.display_name, cpts).id
    for doctor in demo.doctors[1:]:
        home = db.session.get(Organisation, doctor.cpts_id)
        doctor.user_id = create_user(doctor.email, doctor.display_name, Role.DOCTOR.value, home,
                                     password=_demo_password(rng))[0].id
    add_user(Role.SECRETARY.value, "secretariat@demo.cpts.fr", "Nadia Secrétaire", secretariat)
    add_user(Role.REGULATOR.value, "regulation@demo.cpts.fr", "Marc Régulateur", samu)
    add_user(Role.ED_NURSE.value, "urgences@demo.cpts.fr", "Sandrine IOA", ed)
    add_user(Role.COORDINATOR.value, "coordination@demo.cpts.fr", "Hélène Coordinatrice", cpts)
    add_user(Role.ADMIN.value, "admin@demo.cpts.fr", "Admin CPTS", cpts)
    add_user(Role.OPERATOR.value, "operateur@demo.cpts.fr", "Opérateur plateforme", platform)
    add_user(Role.SECRETARY.value, "plateforme@demo.cpts.fr", "Karim Télésecrétaire", shared)
    for n, org in enumerate(neighbours, start=2):
        add_user(Role.COORDINATOR.value, f"coordination{n}@demo.cpts.fr",
                 f"Coordination {org.name}", org)
    db.session.flush()
    for func in _STEPS:
        func(demo)
    db.session.commit()
    return demo


def _neighbour_doctors(demo: Demo, rng: random.Random) -> None:
    """Eight volunteers around each neighbouring CPTS's centre, and one Châteaubriant
    doctor who also consults at a second place, in Erdre et Gesvres."""
    from agenda.territory.services import add_place

    for k, ((_name, insee, _finess, _phone), org) in enumerate(zip(NEIGHBOURS, demo.neighbours,
                                                                  strict=True)):
        centre = db.session.get(Commune, insee)
        near = sorted((c for c in db.session.scalars(select(Commune).where(
            Commune.department == "44", Commune.lat.is_not(None)))
            if distance_km(centre.lat, centre.lon, c.lat, c.lon) <= 14),
            key=lambda c: -(c.population or 0))
        for j in range(NEIGHBOUR_DOCTORS):
            i = 25 + k * NEIGHBOUR_DOCTORS + j
            commune = near[j % max(1, min(len(near), 5))]
            doctor = create_doctor(DoctorData(
                rpps=rpps_with_check_digit(f"10{200000 + i * 41:08d}"),
                first_name=FIRST_NAMES[i % len(FIRST_NAMES)],
                last_name=f"{LAST_NAMES[(i * 7) % len(LAST_NAMES)]}-{commune.name[:3]}",
                commune_insee=commune.insee, email=f"medecin{i + 1}@demo.cpts.fr",
                phone=f"02 40 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
                address=f"{rng.randint(1, 40)} place de l'Église, {commune.name}",
                lat=round(commune.lat + rng.uniform(-0.004, 0.004), 5),
                lon=round(commune.lon + rng.uniform(-0.004, 0.004), 5)), org.id)
            demo.doctors.append(doctor)
    doctor = demo.doctors[5]
    nort = db.session.get(Commune, NEIGHBOURS[1][1])
    add_place(doctor, demo.neighbours[1].id, address="2 rue du Port, Nort-sur-Erdre",
              commune=nort, label="Cabinet secondaire de Nort-sur-Erdre",
              phone="02 40 72 11 22")
    demo.two_places = doctor


def _demo_password(_rng: random.Random) -> str:
    """A fresh random password (never derived from the seed: a demo may face a network)."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(DEMO_PASSWORD_LENGTH))
