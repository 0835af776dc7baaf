"""The indemnity formula as labelled rows, its preview and the printable statement
(issue 14, part B.4)."""

from __future__ import annotations

from sqlalchemy import select

from agenda.accounts.services import create_organisation
from agenda.extensions import db
from agenda.slots.models import CharterSettings
from agenda.territory.models import Doctor
from tests.conftest import csrf_token


def _post(client, **data):
    token = csrf_token(client, "/coverage/indemnities?month=2026-11")
    base = {"csrf_token": token, "month": "2026-11", "per_slot": "", "per_floating_hour": "",
            "per_session": "", "per_consultation": "", "monthly_cap": ""}
    return client.post("/coverage/indemnities/formula", data={**base, **data})


def _formula(cpts_id):
    row = db.session.get(CharterSettings, cpts_id)
    if row is None:
        return {}
    db.session.refresh(row)
    return row.indemnity_formula


def _tier_values(html: str) -> list[tuple[str, str]]:
    mins = [v.split('"')[0] for v in html.split('name="tier_min" value="')[1:]]
    amounts = [v.split('"')[0] for v in html.split('name="tier_amount" value="')[1:]]
    return list(zip(mins, amounts, strict=True))


def test_rows_are_added_and_removed_without_saving(november, login_as):
    client = login_as("coordinator")
    html = client.get("/coverage/indemnities?month=2026-11").get_data(as_text=True)
    assert "À partir de" in html and _tier_values(html) == [("0", "")]
    resp = _post(client, tier_min=["0"], tier_amount=["200"], action="add_tier")
    assert resp.status_code == 200
    assert _tier_values(resp.get_data(as_text=True)) == [("0", "200"), ("", "")]
    resp = _post(client, tier_min=["0", "3", "6"], tier_amount=["200", "150", "100"],
                 action="remove_tier_1")
    assert _tier_values(resp.get_data(as_text=True)) == [("0", "200"), ("6", "100")]
    assert _formula(november.cpts_id).get("session_tiers") is None  # nothing saved yet
    resp = _post(client, tier_min=["0", "6"], tier_amount=["200", "100"], action="save")
    assert resp.status_code == 302
    assert _formula(november.cpts_id)["session_tiers"] == [[0, "200.00"], [6, "100.00"]]
    html = client.get("/coverage/indemnities?month=2026-11").get_data(as_text=True)
    assert _tier_values(html) == [("0", "200,00"), ("6", "100,00")]


def test_errors_are_shown_at_the_field_in_french_and_the_form_is_kept(november, login_as):
    client = login_as("coordinator")
    resp = _post(client, per_slot="vingt", monthly_cap="-3", tier_min=["0", "trois"],
                 tier_amount=["200", "150"], action="save")
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert 'id="e-per_slot" role="alert">Montant invalide : « vingt »' in html
    assert "Montant hors limites : « -3 » (de 0 à 100 000 €)." in html
    row = html.split('data-tier="1"')[1].split("</div>")[0]
    assert "Nombre de patients invalide : « trois » (un nombre entier, par exemple 3)." in row
    assert 'value="vingt"' in html and _tier_values(html) == [("0", "200"), ("trois", "150")]
    assert "per_slot" not in html.split('id="e-per_slot"')[1].split("</small>")[0]
    # Tiers as a whole.
    html = _post(client, tier_min=["3"], tier_amount=["150"], action="preview").get_data(
        as_text=True)
    assert "Le premier palier doit commencer à 0 patient." in html
    html = _post(client, tier_min=["0", "0"], tier_amount=["1", "2"]).get_data(as_text=True)
    assert "Deux paliers ont le même nombre de patients." in html
    assert _formula(november.cpts_id) == {}


def test_preview_is_the_statement_the_formula_will_give(november, login_as):
    client = login_as("coordinator")
    resp = _post(client, per_slot="20", tier_min=["0", "3"], tier_amount=["200", "150"],
                 action="preview")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    preview = html.split('id="preview"')[1]
    assert 'id="preview-table-total">610,00\xa0€' in preview  # 3 x 20 + 200 + 150 + 200
    assert 'id="indemnities-total">0,00\xa0€' in html  # the saved formula is still empty
    _post(client, per_slot="20", tier_min=["0", "3"], tier_amount=["200", "150"])
    html = client.get("/coverage/indemnities?month=2026-11").get_data(as_text=True)
    assert 'id="indemnities-total">610,00\xa0€' in html


def test_printable_statement_per_doctor(november, login_as):
    client = login_as("coordinator")
    _post(client, per_slot="20", per_consultation="10", monthly_cap="100")
    resp = client.get(f"/coverage/indemnities/{november.id}/releve?month=2026-11")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "Relevé d'indemnités — novembre 2026" in html
    assert "CPTS de test" in html and november.rpps in html and "Dr Jeanne Alpha" in html
    lines = html.split('id="statement-lines"')[1].split("</table>")[0]
    assert "3 × 20,00\xa0€" in lines and "60,00\xa0€" in lines  # 3 fixed slots
    assert "5 × 10,00\xa0€" in lines and "50,00\xa0€" in lines  # 5 consultations
    assert "plafond 100,00\xa0€" in lines and "-10,00\xa0€" in lines  # the cap takes 10 off
    assert 'id="statement-total">100,00\xa0€' in html
    assert "statement.css" in html and "data-print" in html
    # A doctor of the CPTS without activity: an empty statement; another CPTS's: 404.
    idle = db.session.scalar(select(Doctor).where(Doctor.last_name == "Sans activité"))
    html = client.get(f"/coverage/indemnities/{idle.id}/releve?month=2026-11").get_data(
        as_text=True)
    assert "Aucune activité indemnisée ce mois-ci." in html
    assert 'id="statement-total">0,00\xa0€' in html
    create_organisation("CPTS voisine", "cpts")
    db.session.commit()
    assert client.get(f"/coverage/indemnities/{november.id + 99}/releve").status_code == 404
    assert client.get(f"/coverage/indemnities/{november.id}/releve?month=2026-13"
                      ).status_code == 400
