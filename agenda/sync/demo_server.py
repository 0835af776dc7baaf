"""Start local CalDAV servers (Radicale, Xandikos) in a folder on a free localhost port.

Used by the demo (``make run``), by the test suite (session fixtures) and by the
benchmark. Each server runs as a child process; :class:`LocalServer` stops and restarts
it (the tests stop it to prove that bookings wait in the outbox).

    python -m agenda.sync.demo_server --folder instance/radicale --port 5232
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"CalDAV server exited with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"CalDAV server did not listen on port {port}")


@dataclass
class LocalServer:
    """A CalDAV server child process; ``url`` is its root, ``users`` name -> password."""

    kind: str  # "radicale" | "xandikos"
    folder: Path
    port: int
    users: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def principal_url(self, user: str) -> str:
        if self.kind == "xandikos":
            return f"{self.url}{user}/"
        return f"{self.url}{user}/"

    def _command(self) -> list[str]:
        if self.kind == "radicale":
            htpasswd = self.folder / "users"
            htpasswd.write_text("".join(f"{u}:{p}\n" for u, p in self.users.items()))
            return [sys.executable, "-m", "radicale",
                    "--server-hosts", f"127.0.0.1:{self.port}",
                    "--storage-filesystem-folder", str(self.folder / "collections"),
                    "--auth-type", "htpasswd",
                    "--auth-htpasswd-filename", str(htpasswd),
                    "--auth-htpasswd-encryption", "plain",
                    "--logging-level", "warning",
                    "--config", ""]
        if self.kind == "xandikos":
            exe = Path(sys.executable).with_name("xandikos")
            cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "xandikos"]
            return cmd + ["serve", "-d", str(self.folder / "data"), "--defaults",
                          "-l", "127.0.0.1", "-p", str(self.port),
                          "--state-dir", str(self.folder / "state"),
                          "--no-detect-systemd"]
        raise ValueError(self.kind)

    def start(self) -> LocalServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = open(self.folder / f"{self.kind}.log", "ab")  # noqa: SIM115 (kept by the child)
        self.proc = subprocess.Popen(self._command(), stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        _wait_port(self.port, proc=self.proc)
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def start_radicale(folder: Path, port: int | None = None,
                   users: dict[str, str] | None = None) -> LocalServer:
    return LocalServer("radicale", Path(folder), port or free_port(),
                       dict(users or {})).start()


def start_xandikos(folder: Path, port: int | None = None) -> LocalServer:
    # Xandikos serves one principal ("/user/") and checks no password.
    return LocalServer("xandikos", Path(folder), port or free_port(), {"user": ""}).start()


def make_calendar(url: str, username: str, password: str, name: str = "SNP") -> str:
    """Create (or find) the calendar ``name`` of ``username``; return its URL."""
    from agenda.sync.adapter import CaldavAdapter

    adapter = CaldavAdapter(url, username, password, allowed_hosts="127.0.0.1,localhost")
    return adapter.ensure_calendar(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Radicale local de démonstration")
    parser.add_argument("--folder", default=os.environ.get("AGENDA_RADICALE_FOLDER",
                                                           "instance/radicale"))
    parser.add_argument("--port", type=int, default=5232)
    parser.add_argument("--users", default="", help="user:password,user2:password2")
    args = parser.parse_args(argv)
    users = dict(p.split(":", 1) for p in args.users.split(",") if ":" in p)
    if not users:
        users_file = Path(args.folder) / "users"
        if users_file.exists():
            users = dict(line.split(":", 1) for line in users_file.read_text().split()
                         if ":" in line)
    server = LocalServer("radicale", Path(args.folder), args.port, users)
    # `kill` from make run's cleanup: leave through ``finally`` so Radicale stops too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.start()
        print(f"Radicale : {server.url} ({len(users)} comptes)", flush=True)
    except RuntimeError as exc:
        # The web server goes on without the demo calendars (make run waits on us).
        print(f"Radicale n'a pas démarré ({exc}) : calendriers de démonstration "
              f"indisponibles, voir {server.folder / 'radicale.log'}.", file=sys.stderr,
              flush=True)
    try:
        while True:
            if server.proc is not None and not server.running():
                print("Radicale s'est arrêté.", file=sys.stderr, flush=True)
                server.proc = None
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
