"""WSGI entry point: ``gunicorn wsgi:app`` (migrations run with ``flask db upgrade``, so a
web worker does without Flask-Migrate and Alembic)."""

from agenda import create_app

app = create_app(migrations=False)
