"""agenda.mail: notify() enqueues; the "mail" handler delivers over SMTP or asks for a retry."""

from __future__ import annotations

import pytest

from agenda import mail
from agenda.extensions import db
from agenda.outbox import RetryLater
from tests.booking.conftest import deliver_mail, free_port


def test_notify_enqueues_and_the_handler_delivers(app, smtp_server):
    assert mail.notify("", "x", "y") is None
    item = mail.notify("medecin@test.fr", "SNP : demande", "Fenêtre 14:00–18:00")
    db.session.commit()
    assert item.kind == "mail" and item.payload["to"] == "medecin@test.fr"
    assert deliver_mail() == 1
    (message,) = smtp_server.messages
    assert message.rcpt_tos == ["medecin@test.fr"]
    assert "Fenêtre 14:00" in message.content.decode("utf-8", "replace") or \
        "Fen=C3=AAtre" in message.content.decode()


def test_smtp_down_is_retried_later(app):
    app.config.update(MAIL_HOST="127.0.0.1", MAIL_PORT=free_port())
    item = mail.notify("medecin@test.fr", "SNP", "corps")
    db.session.commit()
    with pytest.raises(RetryLater):
        mail.send(item)
