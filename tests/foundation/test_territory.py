"""Territory import, distances, doctors (RPPS, CSV import, pages)."""

import pytest
from sqlalchemy import func, select

from agenda.errors import NotFound, ValidationError
from agenda.extensions import db
from agenda.territory import services
from agenda.territory.geo import distance_km
from agenda.territory.models import Commune, Doctor
from tests.conftest import csrf_token


def test_import_department_44(app):
    n = services.import_communes(departments=["44"])
    assert n > 200
    chateaubriant = db.session.get(Commune, "44036")
    assert chateaubriant.name == "Châteaubriant"
    assert chateaubriant.lat == pytest.approx(47.72, abs=0.01)
    nantes = db.session.get(Commune, "44109")
    d = distance_km(chateaubriant.lat, chateaubriant.lon, nantes.lat, nantes.lon)
    # Great-circle between the communes' representative points: ~55 km (by road ~65 km;
    # town hall to town hall ~56 km).
    assert 52 <= d <= 60
    # Importing again updates, never duplicates.
    assert services.import_communes(departments=["44"]) == n
    assert db.session.scalar(select(func.count()).select_from(Commune)) == n


def test_import_by_insee_codes_and_errors(app):
    assert services.import_communes(insee_codes=["44036", "44109"]) == 2
    with pytest.raises(NotFound, match="Code INSEE inconnu : 44999"):
        services.import_communes(insee_codes=["44036", "44999"])
    with pytest.raises(ValidationError, match="Code INSEE invalide"):
        services.import_communes(insee_codes=["4403"])
    with pytest.raises(ValidationError, match="département invalide"):
        services.import_communes(departments=["4"])


def test_cli_territory_import(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["territory", "import", "--communes", "44036,44109"])
    assert result.exit_code == 0, result.output
    assert "2 communes" in result.output
    result = runner.invoke(args=["territory", "import", "--communes", "99999"])
    assert result.exit_code != 0
    assert "Code INSEE inconnu" in result.output


def test_commune_search_accent_and_postcode(app, communes, login_as):
    c = login_as("secretary")
    names = [r["name"] for r in c.get("/communes/recherche?q=chateaub").get_json()]
    assert names == ["Châteaubriant"]
    codes = [r["insee"] for r in c.get("/communes/recherche?q=44110").get_json()]
    assert set(codes) == {"44036", "44180"}


@pytest.mark.parametrize("rpps,ok", [
    ("10000000008", None), ("12345678903", None), ("1234567890", False), ("abcdefghijk", False),
])
def test_rpps_check_digit(rpps, ok):
    valid = services.rpps_is_valid(rpps)
    if ok is False:
        assert not valid
    else:
        # Changing the check digit always breaks a valid number.
        stem = rpps[:10]
        good = services.rpps_with_check_digit(stem)
        assert services.rpps_is_valid(good)
        for d in "0123456789":
            if stem + d != good:
                assert not services.rpps_is_valid(stem + d)


CSV = """rpps,first_name,last_name,email,phone,address,insee
{good1},Anne,Durand,anne@cab.fr,0240000000,1 rue A,44036
12345678900,Bad,Rpps,bad@cab.fr,,,44036
{good2},Paul,Martin,paul@cab.fr,,2 rue B,99999
{good3},Zoé,Leroy,zoe@cab.fr,,3 rue C,44180
"""


def test_csv_import_reports_bad_rows_and_loads_the_others(app, cpts, communes):
    text = CSV.format(good1=services.rpps_with_check_digit("1000000001"),
                      good2=services.rpps_with_check_digit("1000000002"),
                      good3=services.rpps_with_check_digit("1000000003"))
    report = services.import_doctors_csv(text, cpts.id)
    assert report.created == 2
    assert [line for line, _ in report.errors] == [3, 4]
    assert "RPPS invalide" in report.errors[0][1]
    assert "Commune inconnue" in report.errors[1][1]
    names = {d.last_name for d in db.session.scalars(select(Doctor))}
    assert names == {"Durand", "Leroy"}
    # Each created doctor got a doctor account.
    assert all(d.user_id for d in db.session.scalars(select(Doctor)))


def test_csv_import_missing_columns(app, cpts, communes):
    with pytest.raises(ValidationError, match="colonnes manquantes"):
        services.import_doctors_csv("nom;prenom\nA;B\n", cpts.id)


def test_cli_doctors_import(app, cpts, communes, tmp_path):
    path = tmp_path / "docs.csv"
    path.write_text(CSV.format(good1=services.rpps_with_check_digit("1000000001"),
                               good2=services.rpps_with_check_digit("1000000002"),
                               good3=services.rpps_with_check_digit("1000000003")))
    result = app.test_cli_runner().invoke(args=["doctors", "import", str(path)])
    assert result.exit_code == 1
    assert "ligne 3 : Numéro RPPS invalide" in result.output
    assert "2 créés, 0 mis à jour, 2 en erreur" in result.output


def test_coordinator_creates_edits_deactivates_doctor(app, communes, login_as):
    c = login_as("coordinator")
    token = csrf_token(c, "/medecins/nouveau")
    form = {"csrf_token": token, "rpps": "12345678900", "first_name": "Luc", "last_name": "Petit",
            "commune": "Châteaubriant", "accepts_floating": "y"}
    resp = c.post("/medecins/nouveau", data=form)
    assert resp.status_code == 400
    assert "Numéro RPPS invalide" in resp.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Doctor)) == 0
    form["rpps"] = services.rpps_with_check_digit("1234567890")
    # The commune by its name or postcode (never an INSEE code to type), error at the field.
    form["commune"] = "Atlantide"
    resp = c.post("/medecins/nouveau", data=form)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and 'role="alert">Commune inconnue du territoire' in html
    assert 'value="Luc"' in html  # the form is kept
    form["commune"] = "chateaubriant"
    assert c.post("/medecins/nouveau", data=form).status_code == 302
    doctor = db.session.scalar(select(Doctor))
    assert doctor.lat == pytest.approx(47.72, abs=0.01) and doctor.commune_insee == "44036"
    # A postcode shared by two communes: the candidates to choose from, then the choice.
    page = c.get(f"/medecins/{doctor.id}").get_data(as_text=True)
    assert 'value="Châteaubriant (44110)"' in page and "Code INSEE" not in page
    form.update(commune="44110", commune_insee="")  # the suggestion's choice cleared by typing
    resp = c.post(f"/medecins/{doctor.id}", data=form)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and 'name="commune_choice" value="44180"' in html
    assert c.post(f"/medecins/{doctor.id}", data={**form, "commune_choice": "44180"}
                  ).status_code == 302
    db.session.refresh(doctor)
    assert doctor.commune_insee == "44180"
    c.post(f"/medecins/{doctor.id}/activation", data={"csrf_token": token})
    db.session.refresh(doctor)
    assert doctor.active is False
    # A duplicate RPPS is refused with a clear message.
    resp = c.post("/medecins/nouveau", data={**form, "commune": "Soudan"})
    assert resp.status_code == 409 and "existe déjà" in resp.get_data(as_text=True)


def test_cli_create_user_and_token(app, cpts):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-user", "--email", "Coord@Test.fr", "--role",
                                 "coordinator", "--org", cpts.name])
    assert result.exit_code == 0, result.output
    assert "mot de passe :" in result.output
    result = runner.invoke(args=["create-user", "--email", "coord@test.fr", "--role",
                                 "coordinator", "--org", cpts.name])
    assert result.exit_code != 0 and "existe déjà" in result.output
    result = runner.invoke(args=["create-user", "--email", "pas-un-email", "--role",
                                 "coordinator", "--org", cpts.name])
    assert result.exit_code != 0 and "Adresse e-mail invalide" in result.output
    result = runner.invoke(args=["create-token", "--email", "coord@test.fr"])
    assert result.exit_code == 0 and result.output.startswith("snp_")


def test_sectors_page(app, communes, login_as):
    from agenda.territory.models import Sector

    c = login_as("coordinator")
    token = csrf_token(c, "/secteurs")
    resp = c.post("/secteurs", data={"csrf_token": token, "name": "Nord",
                                     "communes": "44036, 44180\n44999"})
    assert resp.status_code == 404 and "44999" in resp.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Sector)) == 0
    resp = c.post("/secteurs", data={"csrf_token": token, "name": "Nord",
                                     "communes": "44036, 44180"})
    assert resp.status_code == 302
    sector = db.session.scalar(select(Sector))
    assert {x.insee for x in sector.communes} == {"44036", "44180"}
    resp = c.post("/secteurs", data={"csrf_token": token, "name": "nord", "communes": "44069"})
    assert resp.status_code == 409
    assert "Soudan" in c.get("/secteurs").get_data(as_text=True)


def test_admin_creates_organisation_and_user(app, login_as):
    from agenda.accounts.models import Organisation, User

    c = login_as("admin")
    token = csrf_token(c, "/admin/organisations")
    cpts_id = c.user.organisation_id
    resp = c.post("/admin/organisations", data={"csrf_token": token, "name": "SAMU 35",
                                                "kind": "samu", "cpts_id": cpts_id})
    assert resp.status_code == 302
    samu = db.session.scalar(select(Organisation).where(Organisation.name == "SAMU 35"))
    assert samu.cpts_id == cpts_id
    resp = c.post("/admin/utilisateurs", data={"csrf_token": token, "email": "reg@samu35.fr",
                                               "name": "Régulateur", "role": "regulator",
                                               "organisation_id": samu.id})
    assert resp.status_code == 200 and "Mot de passe initial" in resp.get_data(as_text=True)
    resp = c.post("/admin/utilisateurs", data={"csrf_token": token, "email": "REG@samu35.fr",
                                               "name": "Doublon", "role": "regulator",
                                               "organisation_id": samu.id})
    assert resp.status_code == 409
    assert "existe déjà" in resp.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(User).where(
        User.email == "reg@samu35.fr")) == 1
