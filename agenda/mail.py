"""Email: :func:`notify` enqueues a message in the outbox (same transaction as the change);
the worker delivers it through the "mail" handler with the SMTP settings of the app.

Bodies never hold a patient's identity (window, sector, deadline, link only).
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from flask import current_app

from agenda import outbox


def notify(to: str, subject: str, body: str) -> outbox.OutboxItem | None:
    """Enqueue one email to ``to`` (nothing when the address is empty)."""
    if not to:
        return None
    return outbox.enqueue("mail", {"to": to, "subject": subject, "body": body})


def build_message(payload: dict) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = current_app.config.get("MAIL_FROM") or "agenda-snp@localhost"
    msg["To"] = payload["to"]
    msg["Subject"] = payload["subject"]
    msg.set_content(payload["body"])
    return msg


@outbox.handler("mail")
def send(item: outbox.OutboxItem) -> None:
    """Deliver one "mail" outbox row; a connection problem is retried later."""
    cfg = current_app.config
    payload = item.payload or {}
    if not payload.get("to"):
        return  # nothing to deliver; the row is done
    msg = build_message(payload)
    try:
        with smtplib.SMTP(cfg.get("MAIL_HOST") or "localhost", int(cfg.get("MAIL_PORT") or 25),
                          timeout=15) as smtp:
            if cfg.get("MAIL_STARTTLS"):
                smtp.starttls(context=ssl.create_default_context())
            if cfg.get("MAIL_USERNAME"):
                smtp.login(cfg["MAIL_USERNAME"], cfg.get("MAIL_PASSWORD") or "")
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise outbox.RetryLater(f"SMTP {cfg.get('MAIL_HOST')}:{cfg.get('MAIL_PORT')}: "
                                f"{exc.__class__.__name__}") from exc
