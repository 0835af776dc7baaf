"""The commune finder (issue 12): by name (accents, hyphens, "st" optional), by postcode
(every commune sharing it), by INSEE code only when asked; never a silent choice — and all
of it checked on the whole shipped commune file."""

from __future__ import annotations

import time
from collections import defaultdict

import pytest

from agenda.booking.services.patients import (AmbiguousCommune, resolve_commune,
                                              resolve_legacy_commune)
from agenda.errors import ValidationError
from agenda.extensions import db
from agenda.territory.models import Commune
from agenda.territory.services import (_shipped_rows, fold_name, import_communes,
                                       search_communes)
from tests.plans import plan_nodes, plan_of


@pytest.fixture()
def loire_atlantique(app):
    import_communes(departments=["44"])
    return {c.insee: c for c in db.session.scalars(db.select(Commune))}


def names(communes) -> list[str]:
    return [c.name for c in communes]


def test_a_postcode_lists_every_commune_sharing_it(loire_atlantique):
    found = search_communes("44110")
    assert {"Châteaubriant", "Erbray", "Louisfert", "Soudan", "Noyal-sur-Brutz",
            "Saint-Aubin-des-Châteaux", "Villepot"} <= set(names(found))
    # 44110 is Nort-sur-Erdre's INSEE code: never read so unless asked.
    assert "Nort-sur-Erdre" not in names(found)
    assert names(search_communes("insee:44110")) == ["Nort-sur-Erdre"]
    assert names(search_communes("INSEE 44110")) == ["Nort-sur-Erdre"]
    assert "Saint-Julien-de-Vouvantes" not in names(search_communes("44170"))
    assert "Abbaretz" in names(search_communes("44170"))


def test_names_without_accents_hyphens_or_saint(loire_atlantique):
    assert names(search_communes("st julien vouvantes"))[0] == "Saint-Julien-de-Vouvantes"
    assert names(search_communes("chateaubriant"))[0] == "Châteaubriant"
    assert names(search_communes("CHATEAUBRIANT"))[0] == "Châteaubriant"
    assert "Saint-Aubin-des-Châteaux" in names(search_communes("st aubin chateaux"))
    assert fold_name("L'Abergement-Clémenciat") == "l abergement clemenciat"


def test_resolution_never_picks_silently(loire_atlantique):
    with pytest.raises(AmbiguousCommune) as exc:
        resolve_commune("44110")
    assert "Châteaubriant" in {c.name for c in exc.value.candidates}
    assert exc.value.to_dict()["error"] == "ambiguous_commune"
    # A choice among the candidates settles it; a stale choice is not taken.
    assert resolve_commune("44110", insee="44036").name == "Châteaubriant"
    with pytest.raises(AmbiguousCommune):
        resolve_commune("44110", insee="44109")  # Nantes is not a 44110 commune
    assert resolve_commune("Châteaubriant (44110)").insee == "44036"
    assert resolve_commune("st julien de vouvantes").insee == "44170"
    assert resolve_commune(postcode="44110", name="Erbray").insee == "44054"
    with pytest.raises(ValidationError):
        resolve_commune(postcode="44110", name="Nantes")
    with pytest.raises(ValidationError):
        resolve_commune("Atlantide")
    # The API's former field: an INSEE code when it designates one commune only.
    assert resolve_legacy_commune("44036").name == "Châteaubriant"
    with pytest.raises(AmbiguousCommune) as exc:
        resolve_legacy_commune("44110")
    assert {"Nort-sur-Erdre", "Châteaubriant"} <= {c.name for c in exc.value.candidates}


def test_suggestions_endpoint(loire_atlantique, login_as):
    c = login_as("secretary")
    rows = c.get("/communes/recherche?q=44110&limit=5").get_json()
    assert "Châteaubriant (44110)" in [r["label"] for r in rows]
    assert all("44110" in r["postcodes"].split() for r in rows)
    assert len(rows) >= 7  # every commune of a postcode, whatever the limit


def test_prefix_searches_read_their_index(loire_atlantique):
    """What is typed in the finder is found through an index, on PostgreSQL whatever the
    database's collation (LIKE 'abc%' needs ``varchar_pattern_ops`` there): the plan's
    condition on the index bounds the name or the postcode, never a filter over every row.
    Sequential scans are turned off on PostgreSQL so that the plan shows whether the index
    CAN serve the query (on a few hundred communes a scan would be as cheap)."""
    from sqlalchemy import text

    postgresql = db.engine.dialect.name == "postgresql"
    if postgresql:
        db.session.execute(text("ANALYZE communes"))
        db.session.execute(text("ANALYZE commune_postcodes"))
        db.session.execute(text("SET LOCAL enable_seqscan = off"))
    for typed, table, column in (("nantes", "communes", "search_name"),
                                 ("chateaubriant", "communes", "search_name"),
                                 ("441", "commune_postcodes", "postcode")):
        found, plan = plan_of(lambda q=typed: search_communes(q), table, which=0)
        assert found > 0, typed
        if postgresql:
            nodes = list(plan_nodes(plan[0]["Plan"]))
            assert not [n for n in nodes if n.get("Relation Name") == table
                        and n["Node Type"] == "Seq Scan"], (typed, plan)
            # (an Index Scan, or a Bitmap Index Scan under its Bitmap Heap Scan)
            assert any(f"({column})" in n.get("Index Cond", "") for n in nodes), (typed, plan)
        else:
            lines = [line for line in plan if f" {table} " in f"{line} "]
            assert lines and all(line.startswith(f"SEARCH {table} USING") and
                                 f"({column}>" in line for line in lines), (typed, plan)


def test_the_whole_shipped_file(app):
    """Every postcode returns all its communes; every INSEE code is reachable; no name
    search of an existing commune returns nothing."""
    rows = list(_shipped_rows())
    started = time.perf_counter()
    import_communes(departments={r["department"] for r in rows})
    db.session.remove()  # 35 000 objects out of the session
    assert db.session.scalar(db.select(db.func.count()).select_from(Commune)) == len(rows)
    by_postcode = defaultdict(set)
    for r in rows:
        for pc in r["postcodes"].split():
            by_postcode[pc].add(r["insee"])
    missing_pc = [pc for pc, codes in by_postcode.items()
                  if {c.insee for c in search_communes(pc)} != codes]
    assert missing_pc == []
    unreachable = [r["insee"] for r in rows
                   if [c.insee for c in search_communes(f"insee:{r['insee']}")] != [r["insee"]]]
    assert unreachable == []
    by_name = defaultdict(set)
    for r in rows:
        by_name[r["name"]].add(r["insee"])
    # Each name finds its communes (every homonym kept, whatever the limit).
    lost = [name for name, codes in by_name.items()
            if not codes <= {c.insee for c in search_communes(name, limit=5)}]
    assert lost == []
    print(f"\n{len(rows)} communes, {len(by_postcode)} postcodes, {len(by_name)} names "
          f"checked in "
          f"{time.perf_counter() - started:.1f} s")
