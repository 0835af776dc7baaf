"""A local stand-in for the national SAS platform's INT_R03 endpoint.

A real HTTP server on a free localhost port: ``POST /Appointment`` (honours
``If-None-Exist``) and ``PUT /Appointment?identifier=system|value`` (conditional update).
Each call is validated like the platform would (content type, API key, the FrAppointmentSAS
profile of the guide through ``profile_check``) and recorded; it can be stopped and
started again on the same port.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from agenda.sas.resources import PROFILE_APPOINTMENT
from tests.sas import profile_check
from tests.sas.fhir_check import check_appointment


@dataclass
class Call:
    method: str
    path: str
    query: dict
    headers: dict
    body: dict | None
    status: int
    problems: list[str] = field(default_factory=list)


class SasStandIn:
    def __init__(self, api_key: str = "sas-outbound-key"):
        self.api_key = api_key
        self.calls: list[Call] = []
        self.store: dict[str, dict] = {}  # "system|value" -> Appointment
        # (status, diagnostics) answered to every call while set: a refusal of the platform.
        self.refuse: tuple[int, str] | None = None
        self.port: int | None = None
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    @property
    def valid_calls(self) -> list[Call]:
        return [c for c in self.calls if c.status < 300]

    def start(self) -> None:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _answer(self, status: int, body: dict, location: str | None = None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(data)))
                if location:
                    self.send_header("Location", location)
                self.end_headers()
                self.wfile.write(data)

            def _refuse(self, parts, query, body, status: int, message: str):
                standin.calls.append(Call(self.command, parts.path, query, dict(self.headers),
                                          body if isinstance(body, dict) else None, status,
                                          [message]))
                self._answer(status, {"resourceType": "OperationOutcome", "issue": [
                    {"severity": "error", "code": "processing", "diagnostics": message}]})

            def _handle(self):
                parts = urlsplit(self.path)
                query = {k: v for k, v in parse_qs(parts.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                problems: list[str] = []
                body = None
                try:
                    body = json.loads(raw.decode("utf-8"))
                except ValueError:
                    problems.append("body is not JSON")
                if not (self.headers.get("Content-Type") or "").startswith("application/fhir+json"):
                    problems.append("content type")
                if self.headers.get("X-API-Key") != standin.api_key:
                    return self._refuse(parts, query, body, 401, "api key")
                if standin.refuse is not None:
                    return self._refuse(parts, query, body, *standin.refuse)
                if parts.path != "/fhir/Appointment":
                    problems.append("path")
                if isinstance(body, dict):
                    problems += check_appointment(body)
                    problems += profile_check.check(body, PROFILE_APPOINTMENT)
                status, answer, location = 400, None, None
                if not problems:
                    ident = body["identifier"][0]
                    token = f"{ident['system']}|{ident['value']}"
                    with standin._lock:
                        if self.command == "POST":
                            cond = parse_qs(self.headers.get("If-None-Exist") or "")
                            if cond.get("identifier", [None])[0] not in (None, token):
                                problems.append("If-None-Exist does not match identifier")
                            elif token in standin.store:
                                status = 200  # conditional create: already there
                            else:
                                status = 201
                                standin.store[token] = {**body, "id": str(len(standin.store) + 1)}
                        else:  # PUT conditional update
                            wanted = query.get("identifier", [None])[0]
                            if wanted != token:
                                problems.append("identifier query does not match body")
                            elif token not in standin.store:
                                status = 201
                                standin.store[token] = {**body, "id": str(len(standin.store) + 1)}
                            else:
                                status = 200
                                standin.store[token] = {**body, "id": standin.store[token]["id"]}
                        if not problems:
                            answer = standin.store[token]
                            location = f"{standin.url}/Appointment/{answer['id']}"
                if problems:
                    status = 400
                    answer = {"resourceType": "OperationOutcome", "issue": [
                        {"severity": "error", "code": "invalid", "diagnostics": p}
                        for p in problems]}
                standin.calls.append(Call(self.command, parts.path, query, dict(self.headers),
                                          body if isinstance(body, dict) else None, status,
                                          problems))
                self._answer(status, answer, location)

            do_POST = _handle
            do_PUT = _handle

        server = ThreadingHTTPServer(("127.0.0.1", self.port or 0), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
