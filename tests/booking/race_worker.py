"""Run in separate processes by test_race: book slots against the same database."""

from __future__ import annotations


def attempt_bookings(database_url: str, user_id: int, slot_ids: list[int], barrier,
                     results) -> None:
    from agenda import create_app
    from agenda.accounts.models import User
    from agenda.booking import services
    from agenda.errors import Conflict
    from agenda.extensions import db

    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "race",
                      "BASE_URL": "http://localhost"})
    won = lost = errors = 0
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        barrier.wait(timeout=60)
        for slot_id in slot_ids:
            user = db.session.merge(user, load=False) if user not in db.session else user
            try:
                services.book(user, services.BookingInput(
                    slot_id=slot_id, patient=services.PatientData(
                        last_name="Course", first_name="Patient", commune_insee="44036")))
                won += 1
            except Conflict:
                lost += 1
            except Exception:  # noqa: BLE001 - counted, the test fails on any
                db.session.rollback()
                errors += 1
        db.session.remove()
        db.engine.dispose()
    results.put((won, lost, errors))
