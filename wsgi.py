"""WSGI entry point: ``gunicorn wsgi:app``."""

from agenda import create_app

app = create_app()
