"""French messages of the sync, through gettext (French is the source language).

The sync also runs outside a request (worker threads, CLI): there gettext may have no
application or locale at hand, and the French source text is used as it is.
"""

from __future__ import annotations


def _t(message: str, **kwargs) -> str:
    try:
        from flask_babel import gettext

        return gettext(message, **kwargs)
    except Exception:  # no app or request context: the French msgid, formatted
        return message % kwargs if kwargs else message
