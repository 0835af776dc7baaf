"""Territory operations: commune import, doctors (create, edit, deactivate, CSV import)."""

from __future__ import annotations

import csv
import gzip
import io
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources

from flask_babel import gettext as _
from sqlalchemy import case, func, select

from agenda.errors import Conflict, NotFound, ValidationError
from agenda.extensions import db
from agenda.territory.models import (Commune, Doctor, Place, Sector, commune_postcodes,
                                     doctor_in_cpts, sector_communes)

INSEE_RE = re.compile(r"^(\d{5}|2[AB]\d{3})$")
DEPARTMENT_RE = re.compile(r"^(\d{2}|2[AB]|97\d|98\d)$")


# --- communes ---------------------------------------------------------------------------

def _shipped_rows() -> Iterator[dict]:
    raw = resources.files("agenda.data").joinpath("communes-fr.csv.gz").read_bytes()
    with gzip.open(io.BytesIO(raw), "rt", encoding="utf-8", newline="") as fh:
        yield from csv.DictReader(fh)


def shipped_communes_near(lat: float, lon: float, n: int) -> list[dict]:
    """The ``n`` communes of the shipped file nearest to (lat, lon), as its rows (for the
    generated departments of the benches and plan tests)."""
    coslat = math.cos(math.radians(lat))

    def d2(r):
        dy, dx = float(r["lat"]) - lat, (float(r["lon"]) - lon) * coslat
        return dx * dx + dy * dy

    return sorted((r for r in _shipped_rows() if r["lat"] and r["lon"]), key=d2)[:n]


def import_communes(departments: Iterable[str] = (), insee_codes: Iterable[str] = ()) -> int:
    """Load (insert or update) communes of the shipped file; returns how many were loaded."""
    departments = {d.strip().upper() for d in departments if d.strip()}
    insee_codes = {c.strip().upper() for c in insee_codes if c.strip()}
    for d in departments:
        if not DEPARTMENT_RE.match(d):
            raise ValidationError(_("Code de département invalide : %(code)s", code=d))
    for c in insee_codes:
        if not INSEE_RE.match(c):
            raise ValidationError(_("Code INSEE invalide : %(code)s", code=c))
    if not departments and not insee_codes:
        raise ValidationError(_("Indiquez un département ou une liste de codes INSEE."))
    found: set[str] = set()
    existing = {c.insee: c for c in db.session.scalars(select(Commune))}
    count = 0
    for row in _shipped_rows():
        if row["department"] not in departments and row["insee"] not in insee_codes:
            continue
        found.add(row["insee"])
        commune = existing.get(row["insee"]) or Commune(insee=row["insee"])
        commune.name = row["name"]
        commune.department = row["department"]
        commune.postcodes = row["postcodes"]
        commune.population = int(row["population"]) if row["population"] else None
        commune.lat = float(row["lat"]) if row["lat"] else None
        commune.lon = float(row["lon"]) if row["lon"] else None
        if commune.insee not in existing:
            db.session.add(commune)
        count += 1
    missing = insee_codes - found
    if missing:
        db.session.rollback()
        raise NotFound(_("Code INSEE inconnu : %(codes)s", codes=", ".join(sorted(missing))))
    if departments and count == 0:
        db.session.rollback()
        raise NotFound(_("Aucune commune pour le département %(code)s.",
                         code=", ".join(sorted(departments))))
    db.session.commit()
    return count


def get_commune(insee: str) -> Commune:
    commune = db.session.get(Commune, (insee or "").strip().upper())
    if commune is None:
        raise NotFound(_("Commune inconnue du territoire (code INSEE %(code)s).", code=insee),
                       field="commune")
    return commune


_NON_WORD = re.compile(r"[^a-z0-9]+")
# What people type for the usual words of French commune names.
_ABBREVIATIONS = {"st": "saint", "ste": "sainte", "sts": "saints", "stes": "saintes"}
POSTCODE_RE = re.compile(r"^\d{5}$")
# "insee:44110", "INSEE 44110", "code insee 44110": the INSEE code asked for explicitly.
EXPLICIT_INSEE_RE = re.compile(r"^(?:code\s*)?insee\s*[:=]?\s*(?P<code>\d[0-9AB]\d{3})$",
                               re.IGNORECASE)
LABEL_RE = re.compile(r"^(?P<name>.+?)\s*\((?P<postcode>\d{5})\)\s*$")


def fold_name(text: str) -> str:
    """A commune name as searched: no accents, case, hyphens or apostrophes
    ("Saint-Julien-de-Vouvantes" -> "saint julien de vouvantes")."""
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = text.replace("œ", "oe").replace("æ", "ae")
    return " ".join(_NON_WORD.sub(" ", text).split())


def fold(text: str) -> str:
    """Lower case without accents, hyphens or apostrophes (matching what people type)."""
    return fold_name(text)


def _query_words(query: str) -> list[str]:
    return [_ABBREVIATIONS.get(w, w) for w in fold_name(query).split()]


def _words_match(words: list[str], name_words: list[str]) -> bool:
    """Every typed word starts a word of the name, in order (words of the name may be
    skipped: "st julien vouvantes" finds Saint-Julien-de-Vouvantes)."""
    i = 0
    for word in words:
        while i < len(name_words) and not name_words[i].startswith(word):
            i += 1
        if i == len(name_words):
            return False
        i += 1
    return True


def _prefix(column, prefix: str):
    """SQL: ``column`` starts with ``prefix`` (letters, digits and spaces only), written so
    that the index on the column serves it (GLOB on SQLite, whose LIKE ignores case; on
    PostgreSQL, LIKE through an index in ``varchar_pattern_ops``, whatever the database's
    collation: see ``agenda.territory.models``)."""
    if db.session.get_bind().dialect.name == "sqlite":
        return column.op("GLOB")(prefix + "*")
    return column.like(prefix + "%")


def communes_by_postcode(postcode: str) -> list[Commune]:
    """Every commune that a postcode serves (44110: Châteaubriant, Erbray, Louisfert…)."""
    return list(db.session.scalars(
        select(Commune).join(commune_postcodes, commune_postcodes.c.insee == Commune.insee)
        .where(commune_postcodes.c.postcode == postcode)
        .order_by(Commune.population.desc().nulls_last(), Commune.name)))



def search_communes(query: str, limit: int = 15) -> list[Commune]:
    """Communes by name (accents, hyphens and case optional; "st" for "saint"), by
    postcode (every commune sharing it, however many) or by the start of a postcode; by
    INSEE code only when asked explicitly ("insee:44110"): 44110 is a postcode
    (Châteaubriant…), never read as Nort-sur-Erdre's INSEE code."""
    q = (query or "").strip()
    if not q:
        return []
    explicit = EXPLICIT_INSEE_RE.match(q)
    if explicit:
        commune = db.session.get(Commune, explicit.group("code").upper())
        return [commune] if commune is not None else []
    label = LABEL_RE.match(q)
    if label:
        folded = fold_name(label.group("name"))
        return [c for c in communes_by_postcode(label.group("postcode"))
                if c.search_name == folded] or communes_by_postcode(label.group("postcode"))
    if POSTCODE_RE.match(q):
        return communes_by_postcode(q)
    if q.isdigit():
        if len(q) < 2:
            return []
        # (no DISTINCT: PostgreSQL refuses one ordered by a column it does not select;
        # a commune with several matching postcodes is kept once, at its first)
        rows = db.session.scalars(
            select(Commune).join(commune_postcodes, commune_postcodes.c.insee == Commune.insee)
            .where(_prefix(commune_postcodes.c.postcode, q))
            .order_by(commune_postcodes.c.postcode, Commune.name).limit(limit * 4))
        return list(dict.fromkeys(rows))[:limit]
    words = _query_words(q)
    if not words:
        return []
    whole = " ".join(words)
    # Names starting with what was typed (one indexed query; the exact names first, every
    # homonym kept), then names holding every word.
    rows = list(db.session.scalars(
        select(Commune).where(_prefix(Commune.search_name, whole))
        .order_by(case((Commune.search_name == whole, 0), else_=1),
                  Commune.population.desc().nulls_last(), Commune.name)
        .limit(limit + 100)))
    exact = [c for c in rows if c.search_name == whole]
    starts = [c for c in rows if c.search_name != whole][:max(limit - len(exact), 0)]
    found = exact + starts
    # Words anywhere in the name ("st julien vouvantes"): a scan, so only when the name
    # typed is not a whole name already.
    if not exact and len(found) < limit:
        seen = {c.insee for c in found}
        pattern = "%" + "%".join(words) + "%"
        rows = db.session.scalars(
            select(Commune).where(Commune.search_name.like(pattern))
            .order_by(Commune.population.desc().nulls_last(), Commune.name).limit(limit * 20))
        for c in rows:
            if c.insee not in seen and _words_match(words, c.search_name.split()):
                found.append(c)
                seen.add(c.insee)
                if len(found) >= limit:
                    break
    # Every homonym of an exact name is kept, whatever the limit: never hide one.
    return found[:max(limit, len(exact))]


def commune_label(commune: Commune) -> str:
    """"Châteaubriant (44110)": the name and its first postcode."""
    first = (commune.postcodes or "").split()
    return f"{commune.name} ({first[0]})" if first else commune.name


def commune_dict(commune: Commune) -> dict:
    return {"insee": commune.insee, "name": commune.name, "postcodes": commune.postcodes,
            "department": commune.department, "label": commune_label(commune)}


# --- doctors ----------------------------------------------------------------------------


class AmbiguousCommune(ValidationError):
    """Several communes answer what was typed (a postcode shared by several, homonyms):
    never one picked silently; the candidates go back to the person to choose from."""

    code = "ambiguous_commune"

    def __init__(self, message: str, candidates: list[Commune]):
        super().__init__(message, field="commune")
        self.candidates = candidates

    def to_dict(self) -> dict:
        data = super().to_dict()
        data["candidates"] = [commune_dict(c) for c in self.candidates]
        return data


def resolve_commune(text: str = "", *, insee: str | None = None,
                    postcode: str | None = None, name: str | None = None) -> Commune:
    """A commune (a patient's, a doctor's practice), from one of:

    - ``insee``: the INSEE code, chosen from the suggestions (or given by an API client);
      with ``text`` too, it must be one of the communes ``text`` designates (a choice left
      over from an earlier entry is not taken);
    - ``postcode`` + ``name`` (the API);
    - ``text`` as typed: a name ("st julien vouvantes"), "Name (postcode)", a postcode
      (only when a single commune has it), or "insee:44110".

    Anything that designates several communes raises :class:`AmbiguousCommune` with the
    candidates; nothing is chosen silently. A 5-digit entry is a postcode, never an INSEE
    code (44110 is Châteaubriant's postcode and Nort-sur-Erdre's INSEE code)."""
    raw = (text or "").strip()
    code = (insee or "").strip().upper()
    if code:
        commune = db.session.get(Commune, code)
        if commune is None:
            raise ValidationError(_("Commune inconnue du territoire (code INSEE %(code)s).",
                                    code=code), field="commune")
        if not raw or raw.upper() == code or commune.insee in {
                c.insee for c in search_communes(raw, limit=200)}:
            return commune
        # The text was changed after the choice: resolve what it says now.
    if postcode or name:
        pc, folded = (postcode or "").strip(), fold_name(name or "")
        if not POSTCODE_RE.match(pc) or not folded:
            raise ValidationError(_("Indiquez le code postal (5 chiffres) et le nom de la "
                                    "commune."), field="commune")
        candidates = [c for c in communes_by_postcode(pc) if c.search_name == folded]
        if not candidates:
            raise ValidationError(_("Aucune commune « %(name)s » avec le code postal "
                                    "%(pc)s.", name=name, pc=pc), field="commune")
        return one_commune(candidates, f"{name} ({pc})")
    if not raw:
        raise ValidationError(_("Indiquez la commune."), field="commune")
    candidates = search_communes(raw, limit=12)
    if not candidates:
        raise ValidationError(_("Commune inconnue du territoire : %(q)s", q=raw),
                              field="commune")
    if LABEL_RE.match(raw) or EXPLICIT_INSEE_RE.match(raw) or POSTCODE_RE.match(raw):
        return one_commune(candidates, raw)
    words = " ".join(fold_name(raw).split())
    exact = [c for c in candidates if c.search_name == words]
    if exact:
        return one_commune(exact, raw)
    return one_commune(candidates, raw)


def one_commune(candidates: list[Commune], typed: str) -> Commune:
    """The one commune of ``candidates``, or :class:`AmbiguousCommune` to choose from."""
    if len(candidates) == 1:
        return candidates[0]
    raise AmbiguousCommune(_("Plusieurs communes correspondent à « %(q)s » : %(list)s. "
                             "Choisissez la commune.", q=typed,
                             list=", ".join(commune_label(c) for c in candidates)),
                           candidates)


def rpps_is_valid(rpps: str) -> bool:
    """11 digits whose last is the Luhn check digit of the first ten."""
    if not re.fullmatch(r"\d{11}", rpps or ""):
        return False
    total = 0
    for i, ch in enumerate(reversed(rpps)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def rpps_with_check_digit(first_ten: str) -> str:
    """Complete a 10-digit RPPS stem with its Luhn check digit (demo and tests)."""
    for digit in "0123456789":
        if rpps_is_valid(first_ten + digit):
            return first_ten + digit
    raise ValueError(first_ten)


@dataclass
class DoctorData:
    rpps: str
    first_name: str
    last_name: str
    commune_insee: str
    email: str | None = None
    phone: str | None = None
    address: str = ""
    accepts_floating: bool = True
    lat: float | None = None
    lon: float | None = None
    errors: list[str] = field(default_factory=list)


def _validate_doctor(data: DoctorData, *, doctor_id: int | None = None) -> Commune:
    data.rpps = (data.rpps or "").strip()
    if not rpps_is_valid(data.rpps):
        raise ValidationError(_("Numéro RPPS invalide : %(rpps)s (11 chiffres, clé de contrôle "
                                "incorrecte).", rpps=data.rpps), field="rpps")
    if not (data.first_name or "").strip() or not (data.last_name or "").strip():
        raise ValidationError(_("Le nom et le prénom du médecin sont obligatoires."),
                              field="last_name")
    commune = get_commune(data.commune_insee)
    clash = db.session.scalar(select(Doctor.id).where(Doctor.rpps == data.rpps))
    if clash is not None and clash != doctor_id:
        raise Conflict(_("Un médecin avec le RPPS %(rpps)s existe déjà.", rpps=data.rpps),
                       field="rpps")
    if data.email:
        from agenda.accounts.services import normalise_email

        data.email = normalise_email(data.email)
    return commune


def create_doctor(data: DoctorData, cpts_id: int) -> Doctor:
    """A new volunteer of ``cpts_id``, with their main place there.

    A doctor already known under this RPPS in another CPTS is not duplicated: they gain a
    place in ``cpts_id`` (a doctor may volunteer in several CPTS)."""
    existing = db.session.scalar(select(Doctor).where(
        Doctor.rpps == (data.rpps or "").strip()))
    if existing is not None and cpts_id not in doctor_cpts_ids(existing.id):
        commune = get_commune(data.commune_insee)
        add_place(existing, cpts_id, address=data.address or existing.address,
                  commune=commune, lat=data.lat, lon=data.lon, phone=data.phone)
        return existing
    commune = _validate_doctor(data)
    doctor = Doctor(rpps=data.rpps, first_name=data.first_name.strip(),
                    last_name=data.last_name.strip(), email=data.email, phone=data.phone,
                    address=data.address or "", commune_insee=commune.insee,
                    lat=data.lat if data.lat is not None else commune.lat,
                    lon=data.lon if data.lon is not None else commune.lon,
                    accepts_floating=data.accepts_floating, cpts_id=cpts_id)
    db.session.add(doctor)
    db.session.add(Place(doctor=doctor, cpts_id=cpts_id, address=doctor.address,
                         commune_insee=doctor.commune_insee, lat=doctor.lat, lon=doctor.lon,
                         phone=doctor.phone, is_main=True, active=True))
    db.session.flush()
    return doctor


def update_doctor(doctor: Doctor, data: DoctorData) -> Doctor:
    """Identity and main practice (the main place follows)."""
    commune = _validate_doctor(data, doctor_id=doctor.id)
    moved = commune.insee != doctor.commune_insee
    doctor.rpps = data.rpps
    doctor.first_name = data.first_name.strip()
    doctor.last_name = data.last_name.strip()
    doctor.email = data.email
    doctor.phone = data.phone
    doctor.address = data.address or ""
    doctor.commune_insee = commune.insee
    doctor.accepts_floating = data.accepts_floating
    if data.lat is not None and data.lon is not None:
        doctor.lat, doctor.lon = data.lat, data.lon
    elif moved or doctor.lat is None:
        doctor.lat, doctor.lon = commune.lat, commune.lon
    main = main_place(doctor.id)
    if main is not None:
        main.address, main.commune_insee = doctor.address, doctor.commune_insee
        main.lat, main.lon, main.phone = doctor.lat, doctor.lon, doctor.phone
    return doctor


# --- places (lieux d'exercice) ----------------------------------------------------------

def doctor_cpts_ids(doctor_id: int) -> list[int]:
    from agenda.accounts.scope import doctor_cpts_ids as _ids

    return _ids(doctor_id)


def main_place(doctor_id: int) -> Place | None:
    return db.session.scalar(select(Place).where(Place.doctor_id == doctor_id,
                                                 Place.is_main.is_(True)).limit(1))


def places_of(doctor_id: int, *, cpts_id: int | None = None,
              active_only: bool = True) -> list[Place]:
    stmt = select(Place).where(Place.doctor_id == doctor_id)
    if cpts_id is not None:
        stmt = stmt.where(Place.cpts_id == cpts_id)
    if active_only:
        stmt = stmt.where(Place.active.is_(True))
    return list(db.session.scalars(stmt.order_by(Place.is_main.desc(), Place.id)))


def add_place(doctor: Doctor, cpts_id: int, *, address: str, commune: Commune,
              label: str = "", lat: float | None = None, lon: float | None = None,
              phone: str | None = None) -> Place:
    """A further place of practice (secondary practice, or the same one in another CPTS)."""
    from agenda.accounts.models import Organisation, OrgKind

    org = db.session.get(Organisation, cpts_id)
    if org is None or org.kind != OrgKind.CPTS.value:
        raise NotFound(_("CPTS introuvable."))
    place = Place(doctor_id=doctor.id, cpts_id=cpts_id, label=(label or "").strip()[:100],
                  address=(address or "").strip()[:300], commune_insee=commune.insee,
                  lat=lat if lat is not None else commune.lat,
                  lon=lon if lon is not None else commune.lon, phone=phone,
                  is_main=main_place(doctor.id) is None, active=True)
    db.session.add(place)
    db.session.flush()
    return place


def place_for_slot(doctor: Doctor, place_id: int | None = None,
                   cpts_id: int | None = None) -> Place:
    """The place a new slot of ``doctor`` belongs to: the one asked for (it must be one of
    the doctor's active places), else the main place (in ``cpts_id`` when given)."""
    if place_id is not None:
        place = db.session.get(Place, place_id)
        if place is None or place.doctor_id != doctor.id or not place.active:
            raise NotFound(_("Lieu d'exercice introuvable."))
        return place
    places = places_of(doctor.id, cpts_id=cpts_id)
    if not places:
        raise ValidationError(_("Ce médecin n'a aucun lieu d'exercice actif dans cette CPTS."),
                              field="place_id")
    return places[0]


def set_doctor_active(doctor: Doctor, active: bool) -> None:
    doctor.active = active
    if doctor.user is not None:
        doctor.user.active = active


def get_doctor(doctor_id: int, cpts_id: int | None = None) -> Doctor:
    """The doctor; with ``cpts_id``, only if they volunteer in that CPTS."""
    doctor = db.session.get(Doctor, doctor_id)
    if doctor is None or (cpts_id is not None and cpts_id not in doctor_cpts_ids(doctor.id)):
        raise NotFound(_("Médecin introuvable."))
    return doctor


def doctor_by_rpps(rpps: str) -> Doctor:
    doctor = db.session.scalar(select(Doctor).where(Doctor.rpps == (rpps or "").strip()))
    if doctor is None:
        raise NotFound(_("Aucun médecin avec le RPPS %(rpps)s.", rpps=rpps))
    return doctor


DOCTOR_CSV_COLUMNS = ["rpps", "first_name", "last_name", "email", "phone", "address", "insee"]
# Extra columns read by the CalDAV onboarding (agenda.sync) when present.
CALDAV_CSV_COLUMNS = ["caldav_url", "caldav_username", "caldav_password", "caldav_calendar"]


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    rows: list[tuple[Doctor, dict]] = field(default_factory=list)


def import_doctors_csv(text: str, cpts_id: int, *, create_accounts: bool = True) -> ImportReport:
    """Load doctors from CSV text. A row in error is reported with its line number; the
    others still load (each row in its own savepoint)."""
    from agenda.accounts.models import Organisation, Role
    from agenda.accounts.services import create_user

    report = ImportReport()
    sample = text[:2048]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in ("rpps", "first_name", "last_name", "insee") if c not in header]
    if missing:
        raise ValidationError(_("Fichier CSV invalide : colonnes manquantes %(cols)s (attendu : "
                                "%(expected)s).", cols=", ".join(missing),
                                expected=", ".join(DOCTOR_CSV_COLUMNS)))
    reader.fieldnames = header
    cpts = db.session.get(Organisation, cpts_id)
    for row in reader:
        line = reader.line_num
        row = {k: (v or "").strip() for k, v in row.items() if k}
        data = DoctorData(rpps=row.get("rpps", ""), first_name=row.get("first_name", ""),
                          last_name=row.get("last_name", ""), commune_insee=row.get("insee", ""),
                          email=row.get("email") or None, phone=row.get("phone") or None,
                          address=row.get("address", ""))
        savepoint = db.session.begin_nested()
        try:
            existing = db.session.scalar(select(Doctor).where(Doctor.rpps == data.rpps.strip()))
            if existing is not None and existing.cpts_id == cpts_id:
                doctor = update_doctor(existing, data)
                report.updated += 1
            elif existing is not None:
                # Known in another CPTS: a place here, the identity stays the other's.
                doctor = create_doctor(data, cpts_id)
                report.updated += 1
            else:
                doctor = create_doctor(data, cpts_id)
                report.created += 1
                if create_accounts and data.email:
                    user, _pw = create_user(data.email, f"Dr {data.first_name} {data.last_name}",
                                            Role.DOCTOR.value, cpts)
                    doctor.user_id = user.id
            db.session.flush()
            savepoint.commit()
            report.rows.append((doctor, row))
        except (ValidationError, NotFound, Conflict) as exc:
            savepoint.rollback()
            report.errors.append((line, exc.message))
    db.session.commit()
    return report


def doctors_of(cpts_id: int, *, active_only: bool = False) -> list[Doctor]:
    stmt = select(Doctor).where(doctor_in_cpts(cpts_id))
    if active_only:
        stmt = stmt.where(Doctor.active.is_(True))
    return list(db.session.scalars(stmt.order_by(func.lower(Doctor.last_name))))


# --- sectors ----------------------------------------------------------------------------

def save_sector(cpts_id: int, name: str, insee_codes: Iterable[str],
                sector: Sector | None = None) -> Sector:
    """Create or update a named group of communes of the territory."""
    name = (name or "").strip()
    if not name:
        raise ValidationError(_("Le nom du secteur est obligatoire."), field="name")
    codes = sorted({c.strip().upper() for c in insee_codes if c and c.strip()})
    if not codes:
        raise ValidationError(_("Un secteur compte au moins une commune."), field="communes")
    communes = list(db.session.scalars(select(Commune).where(Commune.insee.in_(codes))))
    unknown = set(codes) - {c.insee for c in communes}
    if unknown:
        raise NotFound(_("Commune inconnue du territoire (code INSEE %(code)s).",
                         code=", ".join(sorted(unknown))), field="communes")
    clash = db.session.scalar(select(Sector.id).where(Sector.cpts_id == cpts_id,
                                                      func.lower(Sector.name) == name.lower()))
    if clash is not None and (sector is None or clash != sector.id):
        raise Conflict(_("Un secteur porte déjà le nom « %(name)s ».", name=name), field="name")
    if sector is None:
        sector = Sector(cpts_id=cpts_id, name=name)
        db.session.add(sector)
    elif sector.cpts_id != cpts_id:
        raise NotFound(_("Secteur introuvable."))
    sector.name = name
    sector.communes = communes
    db.session.flush()
    return sector


def sectors_of(cpts_id: int) -> list[Sector]:
    return list(db.session.scalars(select(Sector).where(Sector.cpts_id == cpts_id)
                                   .order_by(Sector.name)))


def delete_sector(cpts_id: int, sector_id: int) -> None:
    sector = db.session.get(Sector, sector_id)
    if sector is None or sector.cpts_id != cpts_id:
        raise NotFound(_("Secteur introuvable."))
    db.session.delete(sector)


def cpts_for_commune(insee: str | None, among: list[int]) -> int:
    """The CPTS (of ``among``) whose territory holds the commune: its sectors, else the CPTS
    of the nearest active place of practice, else the first of ``among``."""
    if not among:
        raise ValidationError(_("Aucune CPTS."))
    if insee:
        inside = db.session.scalar(
            select(Sector.cpts_id).join(sector_communes, sector_communes.c.sector_id == Sector.id)
            .where(sector_communes.c.insee == insee, Sector.cpts_id.in_(among))
            .order_by(Sector.cpts_id).limit(1))
        if inside is not None:
            return inside
        commune = db.session.get(Commune, insee)
        if commune is not None and commune.lat is not None:
            dist = ((Place.lat - commune.lat) * (Place.lat - commune.lat)
                    + (Place.lon - commune.lon) * (Place.lon - commune.lon))
            nearest = db.session.scalar(
                select(Place.cpts_id).where(Place.cpts_id.in_(among), Place.active.is_(True),
                                            Place.lat.is_not(None))
                .order_by(dist).limit(1))
            if nearest is not None:
                return nearest
    return among[0]


def cpts_of_commune(insee: str) -> list[int]:
    """Every CPTS whose sectors hold the commune."""
    return sorted(set(db.session.scalars(
        select(Sector.cpts_id).join(sector_communes, sector_communes.c.sector_id == Sector.id)
        .where(sector_communes.c.insee == insee))))


def main_places_for_bulk_doctors() -> dict[int, tuple[int, int]]:
    """For doctors written in bulk through Core (benchmarks, large imports), which the
    model's hooks do not see: each doctor without a place gets its main place (its address
    and CPTS). Returns doctor id -> (main place id, CPTS id), for the slots to be written."""
    from sqlalchemy import insert, literal

    orphans = select(Doctor.id, Doctor.cpts_id, literal(""), Doctor.address,
                     Doctor.commune_insee, Doctor.lat, Doctor.lon, Doctor.phone,
                     literal(True), literal(True), Doctor.created_at).where(
        ~Doctor.id.in_(select(Place.doctor_id)))
    db.session.execute(insert(Place).from_select(
        ["doctor_id", "cpts_id", "label", "address", "commune_insee", "lat", "lon", "phone",
         "is_main", "active", "created_at"], orphans))
    return {doctor_id: (place_id, cpts_id) for doctor_id, place_id, cpts_id in
            db.session.execute(select(Place.doctor_id, Place.id, Place.cpts_id)
                               .where(Place.is_main.is_(True)))}
