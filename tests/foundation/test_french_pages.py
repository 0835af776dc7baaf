"""Acceptance of issue 14: every page a role can reach on the demo data reads as French.

The demo loads (``flask demo``); each role logs in, its pages are discovered by following
the menu and the in-page links (GET, inside the app, capped) plus the known pages that take
parameters, and each is rendered in French. A page fails on visible text (tags and scripts
stripped; ``title``, ``placeholder``, ``aria-label``, ``alt`` and button values included)
that is an internal code — every code of :mod:`agenda.labels`, built from the enums — or a
number in English form ("92.6 %", "400.00 €", "0.4 km", "1 novembre", "patient(s)").
"""

from __future__ import annotations

import re
from collections import deque
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from agenda import labels
from agenda.timeutil import iso_week, shift_week
from tests.conftest import login

PAGES_PER_ROLE = 80
SITE = "Agenda SNP"
ROLES = ("doctor", "secretary", "regulator", "ed_nurse", "coordinator", "admin", "operator")

# Paths never followed: files, API, logout, side effects on GET, machine formats.
SKIP = re.compile(r"^/(static|api|fhir|metrics|healthz?|logout|calendrier/)|\.(csv|ics)$"
                  r"|[?&]format=(csv|json)")

CSV = re.compile(r"[?&]format=csv|\.csv$")


def csv_header_problems(client, role: str, path: str) -> list[str]:
    """A CSV for people: its header row names the columns in French (no code)."""
    resp = client.get(path)
    if resp.status_code != 200:
        return [f"{role} {path}: HTTP {resp.status_code}"]
    header = resp.get_data(as_text=True).lstrip("\ufeff").split("\r\n", 1)[0].split(";")
    codes = [h for h in header if re.fullmatch(r"[a-z0-9_]+", h) and "_" in h
             or h in labels.all_codes()]
    return [f"{role} {path}: en-tête CSV en codes : {', '.join(codes[:5])}"] if codes else []


# Codes that are ordinary French words as well (shown as such on pages).
FRENCH_WORDS = {"mobile", "date", "population", "commune", "ratio", "sessions",
                "consultations", "minutes"}
# Pages differing only by their parameters' values (another week, month…): a few of each.
PER_SHAPE = 2

MONTHS = ("janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|"
          "décembre|janv\\.|févr\\.|avr\\.|juil\\.|sept\\.|oct\\.|nov\\.|déc\\.")
ENGLISH_FORMS = [
    ("nombre à point décimal", re.compile(r"(?<![\w.])\d+\.\d+(?![\w.])")),
    ("pluriel « (s) »", re.compile(r"\w\(s\)")),
    ("premier du mois sans « 1er »", re.compile(rf"(?<![\d,])1 ({MONTHS})")),
]
# Not numbers: IP addresses (the access log) and version strings.
NOT_NUMBERS = re.compile(r"\b\d{1,3}(\.\d{1,3}){3}\b|\b\d+\.\d+\.\d+\b"
                         r"|Licence Ouverte \d\.\d")  # the licence's name (Etalab 2.0)


def forbidden_words() -> set[str]:
    """Every code of every family (CSV column names: only the compound ones), less those
    that are French words of the labels themselves ("patient", "organisation")."""
    words = set()
    for family in labels.families():
        for code in labels.codes(family):
            if family == "column" and "_" not in code:
                continue
            words.add(code)
    french = set()
    for family in labels.families():
        for name in labels.labels(family).values():
            french |= set(re.findall(r"[\w·]+", str(name)))
    return {w for w in words if w not in french and w not in FRENCH_WORDS and len(w) > 1}


def code_pattern(words: set[str]) -> re.Pattern:
    """A code as a whole token: not part of an e-mail, a path or a longer word."""
    alternatives = "|".join(sorted(map(re.escape, words), key=len, reverse=True))
    return re.compile(rf"(?<![\w@./-])({alternatives})(?![\w@/-]|\.\w)")


class _Text(HTMLParser):
    """Visible text and the attributes people read; links for the crawl."""

    ATTRS = ("title", "placeholder", "aria-label", "alt")

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "style", "template"):
            self._skip += 1
        for name in self.ATTRS:
            if a.get(name):
                self.parts.append(a[name])
        if tag == "input" and a.get("type") in ("submit", "button") and a.get("value"):
            self.parts.append(a["value"])
        if tag == "a" and a.get("href") and "download" not in a:
            self.links.append(a["href"])

    def handle_endtag(self, tag):
        if tag in ("script", "style", "template") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.parts.append(data)


def read(html: str) -> tuple[str, list[str]]:
    parser = _Text()
    parser.feed(html)
    return "\n".join(parser.parts), parser.links


def problems(text: str, words: set[str], pattern: re.Pattern) -> list[str]:
    """One line per kind of problem: what, how many times, a few examples."""
    kinds = [("code", [m.group(0) for m in pattern.finditer(text)])]
    cleaned = NOT_NUMBERS.sub(" ", text)
    kinds += [(name, [m.group(0) for m in form.finditer(cleaned)])
              for name, form in ENGLISH_FORMS]
    out = []
    for name, hits in kinds:
        if hits:
            examples = ", ".join(f"« {h} »" for h in list(dict.fromkeys(hits))[:4])
            out.append(f"{name} ×{len(hits)} : {examples}")
    return out


def _logins(app) -> dict[str, tuple[str, str]]:
    result = app.test_cli_runner().invoke(args=["demo", "--save-logins"])
    assert result.exit_code == 0, result.output
    out: dict[str, tuple[str, str]] = {}
    for line in result.output.splitlines():
        row = line.split()
        if line.startswith("  ") and len(row) == 3 and "@" in row[1]:
            out.setdefault(row[0], (row[1], row[2]))  # the first login of each role
    return out


# Pages reached from a page of an object without a plain link (buttons, print views); a
# role that may not open them gets a 403, which is then not a failure.
FOLLOW = [(re.compile(r"^/reservations/(\d+)$"),
           ("/reservations/{0}/fiche", "/reservations/{0}/courrier",
            "/reservations/{0}/annuler"))]


def _seeds(role: str, user_email: str) -> list[str]:
    """Pages taking parameters that no link may reach on the demo data."""
    from sqlalchemy import select

    from agenda import clock
    from agenda.accounts.models import User
    from agenda.accounts.scope import served_cpts_ids
    from agenda.booking.models import FloatingRequest
    from agenda.extensions import db
    from agenda.slots.models import Slot
    from agenda.territory.models import Doctor

    week = iso_week(clock.now())
    doctor = db.session.scalars(select(Doctor.id).order_by(Doctor.id)).first()
    user = db.session.scalars(select(User).where(User.email == user_email)).one()
    requests = db.session.scalars(select(FloatingRequest.id).where(
        FloatingRequest.booker_org_id == user.organisation_id).limit(2)).all()
    served = served_cpts_ids(user.organisation_id) if user.organisation_id else []
    slot = db.session.scalars(select(Slot.id).where(
        Slot.status == "open", Slot.kind == "fixed", Slot.start > clock.now(),
        Slot.cpts_id.in_(served or [0])).order_by(Slot.start, Slot.id)).first()
    booker = [f"/reservations/demandes/{r}" for r in requests] + [
        f"/reservations/creneau/{slot}", "/urgences"]
    nxt = shift_week(week, 1)
    coverage = [f"/coverage/hourly?week={nxt}", "/coverage/map?horizon=24h",
                "/coverage/map?horizon=week", "/coverage/stats?period=year",
                "/coverage/stats?period=week", "/coverage/report", "/coverage/indemnities",
                f"/coverage/what-if?week={week}&weekday=1&hour_from=8&hour_to=12"
                f"&doctor={doctor}",
                "/coverage/charter", "/coverage/alerts", "/charte", "/charte/parametres",
                "/synchronisation", "/medecins/nouveau"]
    department = [f"/coverage/department?week={nxt}&horizon=week&period=year"]
    return {
        "doctor": [f"/ma-semaine?week={nxt}", "/mes-patients-vus"],
        "secretary": ["/reservations/recherche", "/reservations", *booker],
        "regulator": ["/reservations/recherche", "/reservations", *booker, *department],
        "ed_nurse": ["/urgences", "/reservations", *booker, *department],
        "coordinator": coverage,
        "admin": ["/admin/journal", "/admin/utilisateurs", "/admin/organisations"],
        "operator": [*department, "/admin/journal"],
    }[role]


def shape(path: str) -> str:
    url = urlsplit(path)
    keys = sorted({k.split("=")[0] for k in url.query.split("&") if k})
    return re.sub(r"/\d+", "/<id>", url.path) + "?" + "&".join(keys)


INLINE = re.compile(r"<style\b|\son[a-z]+\s*=|<script(?![^>]*\bsrc=)[^>]*>|"
                    r"\sstyle\s*=|javascript:", re.I)


def csp_problems(html: str) -> list[str]:
    """What the pages' Content-Security-Policy (``style-src 'self'; script-src 'self'``)
    would block in a browser: inline styles, inline scripts and event handlers."""
    found = sorted({m.group(0).strip() for m in INLINE.finditer(html)})
    return [f"bloqué par la CSP : {', '.join(found)}"] if found else []


def crawl(client, role: str, email: str, words: set[str],
          pattern: re.Pattern) -> tuple[int, int, list[str]]:
    """(pages checked, CSV exports checked, failures) for one logged-in role."""
    seen: set[str] = set()
    shapes: dict[str, int] = {}
    optional: set[str] = set()
    queue = deque(["/", *_seeds(role, email)])
    failures: list[str] = []
    checked = csvs = 0
    while queue and checked < PAGES_PER_ROLE:
        path = queue.popleft()
        if path in seen or shapes.get(shape(path), 0) >= PER_SHAPE:
            continue
        seen.add(path)
        shapes[shape(path)] = shapes.get(shape(path), 0) + 1
        resp = client.get(path, headers={"Accept-Language": "fr"})
        if resp.status_code in (301, 302, 303):
            target = urlsplit(resp.headers["Location"])
            queue.appendleft(target.path + (f"?{target.query}" if target.query else ""))
            continue
        if resp.mimetype != "text/html":
            continue
        checked += 1
        if resp.status_code in (403, 404) and path in optional:
            checked -= 1
            continue
        if resp.status_code != 200:
            failures.append(f"{role} {path}: HTTP {resp.status_code}")
            continue
        html = resp.get_data(as_text=True)
        title = re.search(r"<title>([^<]*)</title>", html)
        if not title or title.group(1).strip() in ("", f"{SITE} — {SITE}"):
            failures.append(f"{role} {path}: pas de titre propre à la page")
        if 'rel="icon"' not in html:
            failures.append(f"{role} {path}: pas d'icône (favicon)")
        failures += [f"{role} {path}: {p}" for p in csp_problems(html)]
        text, links = read(html)
        for rule, targets in FOLLOW:
            if m := rule.match(path):
                optional.update(t.format(*m.groups()) for t in targets)
                links += [t.format(*m.groups()) for t in targets]
        failures += [f"{role} {path}: {p}" for p in problems(text, words, pattern)]
        for href in links:
            url = urlsplit(urljoin(path, href))
            if url.scheme or url.netloc or not url.path.startswith("/"):
                continue
            target = url.path + (f"?{url.query}" if url.query else "")
            if CSV.search(target) and target not in seen:
                seen.add(target)
                csvs += 1
                failures += csv_header_problems(client, role, target)
            elif not SKIP.search(target) and target not in seen:
                queue.append(target)
    return checked, csvs, failures


def test_every_page_of_every_role_reads_as_french(app, capsys):
    words = forbidden_words()
    assert {"ed_nurse", "booking_cancelled", "no_shows", "secretariat", "samu"} <= words
    pattern = code_pattern(words)
    logins = _logins(app)
    assert set(logins) == set(ROLES)
    failures: list[str] = []
    counts, csv_counts = {}, {}
    for role in ROLES:
        client = app.test_client()
        email, password = logins[role]
        assert login(client, email, password).status_code == 302, role
        counts[role], csv_counts[role], found = crawl(client, role, email, words, pattern)
        failures += found
    with capsys.disabled():
        print("\nPages checked in French: " + ", ".join(f"{r} {n}" for r, n in counts.items())
              + f" (total {sum(counts.values())}); CSV exports: {sum(csv_counts.values())}")
    assert all(n >= 5 for n in counts.values()), counts
    assert csv_counts["coordinator"] >= 5, csv_counts
    assert not failures, "\n" + "\n".join(failures)


def test_the_checker_catches_codes_and_english_numbers(app):
    """The checker itself: it must see what it is meant to refuse."""
    words = forbidden_words()
    pattern = code_pattern(words)
    text, _ = read('<p title="ed_nurse">Taux 92.6 % · 400.00 € · 0.4 km · du 1 novembre'
                   ' · 2 patient(s)</p><script>var s = "booking_cancelled";</script>'
                   '<p>secretariat@demo.fr 127.0.0.1</p>')
    found = problems(text, words, pattern)
    assert "code ×1 : « ed_nurse »" in found
    assert not any("booking_cancelled" in f for f in found)  # scripts are not read
    assert not any("secretariat" in f for f in found)  # part of an e-mail
    assert "nombre à point décimal ×3 : « 92.6 », « 400.00 », « 0.4 »" in found
    assert any("1er" in f for f in found) and any("(s)" in f for f in found)
    assert not problems("92,6 % · 400,00 € · 0,4 km · 1er novembre · 2 patients", words,
                        pattern)


def test_the_csp_checker_sees_inline_code():
    assert csp_problems('<button onclick="window.print()">') != []
    assert csp_problems("<style>p{}</style>") != []
    assert csp_problems('<p style="color:red">') != []
    assert csp_problems("<script>var a;</script>") != []
    assert csp_problems('<script src="/static/print.js" defer></script>'
                        '<button data-print>Imprimer</button>') == []


def test_the_favicon_is_served(client):
    svg = client.get("/static/favicon.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert b"<svg" in svg.data
    png = client.get("/static/favicon.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert png.data.startswith(b"\x89PNG\r\n\x1a\n")
    login_page = client.get("/login").get_data(as_text=True)
    assert 'rel="icon" href="/static/favicon.svg"' in login_page
    assert "<title>Connexion — Agenda SNP</title>" in login_page
