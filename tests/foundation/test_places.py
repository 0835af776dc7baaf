"""A doctor practises at one or more places, each in one CPTS; every slot belongs to one."""

from sqlalchemy import func, select

from agenda.accounts.services import create_organisation
from agenda.extensions import db
from agenda.territory.models import Commune, Place
from agenda.territory.services import DoctorData, add_place, create_doctor, places_of


def test_a_new_doctor_has_exactly_one_main_place(app, cpts, make_doctor):
    doctor = make_doctor("44036")
    places = places_of(doctor.id)
    assert len(places) == 1 and places[0].is_main and places[0].cpts_id == cpts.id
    assert db.session.scalar(select(func.count()).select_from(Place)) == 1


def test_same_rpps_in_a_second_cpts_adds_a_place_not_a_doctor(app, cpts, make_doctor):
    other = create_organisation("CPTS voisine", "cpts")
    doctor = make_doctor("44036")
    again = create_doctor(DoctorData(rpps=doctor.rpps, first_name="X", last_name="Y",
                                     commune_insee="44109", address="1 rue B"), other.id)
    db.session.commit()
    assert again.id == doctor.id and again.last_name == doctor.last_name
    assert sorted(p.cpts_id for p in places_of(doctor.id)) == sorted([cpts.id, other.id])
    second = add_place(doctor, other.id, address="3 rue C",
                       commune=db.session.get(Commune, "44180"))
    assert not second.is_main
