"""The demo CPTS loads into an empty database and every role lands on its dashboard."""

from sqlalchemy import func, select

from agenda.extensions import db
from agenda.territory.models import Doctor
from tests.conftest import login

DASHBOARDS = {
    "doctor": "Espace médecin",
    "secretary": "Espace télésecrétariat",
    "regulator": "Espace régulation SAMU / SAS",
    "ed_nurse": "Espace urgences",
    "coordinator": "Espace coordination CPTS",
    "admin": "Administration de la CPTS",
    "operator": "Opérateur de la plateforme",
}


def test_demo_loads_once_and_each_role_logs_in(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo", "--save-logins"])
    assert result.exit_code == 0, result.output
    assert "3 CPTS" in result.output and "41 médecins" in result.output
    doctors = db.session.scalars(select(Doctor).order_by(Doctor.id)).all()
    assert len(doctors) == 41
    main = [d for d in doctors if d.cpts_id == doctors[0].cpts_id]
    assert len(main) == 25
    assert len({d.commune_insee for d in main}) >= 10  # spread over the territory
    logins = [line.split() for line in result.output.splitlines()
              if line.startswith("  ") and "@" in line]
    assert {row[0] for row in logins} == set(DASHBOARDS)
    for role, email, password in logins:
        if email.startswith(("plateforme@", "coordination2@", "coordination3@")):
            continue  # second logins of a role (shared secretariat, other CPTS)
        client = app.test_client()
        assert login(client, email, password).status_code == 302, role
        html = client.get("/").get_data(as_text=True)
        assert DASHBOARDS[role] in html, role
    # A second run leaves the data alone.
    again = runner.invoke(args=["demo"])
    assert "démo non rechargée" in again.output
    assert db.session.scalar(select(func.count()).select_from(Doctor)) == 41
