"""``flask slots report`` and ``flask slots mark-past``."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from agenda.extensions import db
from agenda.slots import services as slots


def test_report_and_mark_past(app, make_doctor, frozen, cpts):
    doctor = make_doctor(last_name="Tessier")
    slots.create_slot(doctor, slots.local_slot_input("fixed", date(2026, 12, 1), time(10),
                                                     time(10, 20)))
    db.session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["slots", "report", "--cpts", str(cpts.id), "--week",
                                 "2026-W49"])
    assert result.exit_code == 0, result.output
    assert "2026-W49 — charte 2 à 6" in result.output
    assert "Dr Jeanne Tessier" in result.output and "under" in result.output
    assert "sous le minimum : 1" in result.output
    bad = runner.invoke(args=["slots", "report", "--cpts", "inconnue"])
    assert bad.exit_code != 0 and "introuvable" in bad.output
    frozen.set(datetime(2026, 12, 1, 12, tzinfo=UTC))
    result = runner.invoke(args=["slots", "mark-past"])
    assert "1 créneaux passés" in result.output
