"""Login time for an existing account (wrong password) and for an unknown address: with
the production argon2 cost both run one argon2 verification, so the times match.

    .venv/bin/python bench/login_timing.py [--rounds 20]

Prints the median of each and their ratio (aim: between 0.8 and 1.25).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time

from agenda import create_app
from agenda.accounts.services import authenticate, create_organisation, create_user
from agenda.errors import DomainError
from agenda.extensions import db


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="agenda-bench-login-")
    app = create_app({"DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3",
                      "LOGIN_MAX_FAILURES": 10**6, "LOGIN_MAX_FAILURES_ACCOUNT": 10**6,
                      "LOGIN_MAX_FAILURES_ADDRESS": 10**6})
    with app.app_context():
        db.create_all()
        org = create_organisation("CPTS bench", "cpts")
        user, _ = create_user("connu@bench.fr", "Connu", "secretary", org, "motdepasse-solide")
        db.session.commit()
        times: dict[str, list[float]] = {"existing account": [], "unknown account": []}
        for i in range(args.rounds):
            for label, email in (("existing account", user.email),
                                 ("unknown account", f"inconnu{i}@bench.fr")):
                start = time.perf_counter()
                with contextlib.suppress(DomainError):
                    authenticate(email, "faux", "127.0.0.1")
                times[label].append(time.perf_counter() - start)
        medians = {k: statistics.median(v) * 1000 for k, v in times.items()}
        for label, ms in medians.items():
            print(f"{label:18s} median {ms:7.1f} ms over {args.rounds} logins")
        ratio = medians["unknown account"] / medians["existing account"]
        print(f"ratio unknown/existing: {ratio:.2f}")


if __name__ == "__main__":
    main()
