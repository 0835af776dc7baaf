"""A real local HTTP receiver standing in for an SMS provider: it checks every request it
gets against the gateway settings the app is configured with (the payload template, the
credentials), and records what it accepted. ``down`` makes it answer 503."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from agenda.sms import GSM_CHARS

E164_FR_MOBILE = re.compile(r"^\+33[67]\d{8}$")
API_KEY = "cle-secrete-de-test"


class Receiver:
    def __init__(self, *, fmt: str = "json", fields: dict[str, str] | None = None,
                 forbidden: tuple[str, ...] = ()) -> None:
        self.format = fmt
        # field of the payload -> what it must hold: "to" (E.164), "text", "sender".
        self.fields = fields or {"to": "to", "text": "text", "sender": "sender"}
        self.forbidden = forbidden  # words no message may contain (names, reasons…)
        self.messages: list[dict] = []  # accepted: {"to", "text", "key"}
        self.attempts = 0
        self.problems: list[str] = []
        self.down = False
        self._server: ThreadingHTTPServer | None = None

    # --- checks -----------------------------------------------------------------------------

    def check(self, headers, body: bytes, path: str) -> dict | None:
        if headers.get("X-Api-Key") != API_KEY:
            self.problems.append("missing or wrong API key")
            return None
        if self.format == "json":
            if headers.get("Content-Type", "").split(";")[0] != "application/json":
                self.problems.append("not JSON")
                return None
            data = json.loads(body)
        else:
            data = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if set(data) != set(self.fields):
            self.problems.append(f"fields {sorted(data)} != template {sorted(self.fields)}")
            return None
        values = {role: data[name] for name, role in self.fields.items()}
        to, text = values.get("to", ""), values.get("text", "")
        if not E164_FR_MOBILE.match(to):
            self.problems.append("number not in E.164 form")
        if not 20 <= len(text) <= 320:
            self.problems.append(f"text length {len(text)}")
        if any(ch not in GSM_CHARS for ch in text):
            self.problems.append("text outside the GSM alphabet")
        if "/a/" not in text:
            self.problems.append("no cancel link")
        for word in self.forbidden:
            if word.lower() in text.lower():
                self.problems.append(f"forbidden word in the text: {word}")
        key = headers.get("Idempotency-Key")
        if not key:
            self.problems.append("no idempotency key")
        return {"to": to, "text": text, "key": key, "sender": values.get("sender"),
                "path": path}

    # --- server -------------------------------------------------------------------------------

    def start(self) -> str:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - a provider taking the message in the query
                self.answer(urlsplit(self.path).query.encode())

            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                self.answer(self.rfile.read(length))

            def answer(self, body: bytes):
                receiver.attempts += 1
                if receiver.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                message = receiver.check(self.headers, body, urlsplit(self.path).path)
                if message is None:
                    self.send_response(400)
                    self.end_headers()
                    return
                # A provider that honours the idempotency key delivers a message once.
                if not any(m["key"] == message["key"] for m in receiver.messages):
                    receiver.messages.append(message)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"status": "queued"}')

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def links(self) -> list[str]:
        return [re.search(r"https?://\S+/a/[A-Za-z0-9_-]+", m["text"]).group(0)
                for m in self.messages]
