"""A small profile checker over the snapshot elements of the ANS SAS guide's profiles.

It reads the StructureDefinitions and ValueSets copied in ``tests/sas/profiles/`` (package
1.1.0, plus the 1.2.0 rules that differ, see its README) and checks an instance against:

- **cardinalities** (``min``/``max`` of every element, slices included);
- **fixed and pattern values** (``fixed[x]``, ``pattern[x]``: a pattern on a complex type
  asks that each of its values be found in the instance, array items matched by any);
- **required bindings** to the value sets we hold (the guide's and the FHIR R4 ones the
  snapshots bind ``required``): code, Coding or CodeableConcept (one coding at least);
- **primitive types** (``instant``, ``dateTime``, ``uri``, ``code``… by the FHIR regexes);
- **invariants** of the form ``path.matches('regex')`` (FINESS-invariant);
- **unknown elements** (a key the profile does not define).

Slices are resolved by their discriminator: ``value`` (url of extensions, system of
identifiers), ``pattern`` (the slice's own patterns and required binding), ``type``
(``value[x]``) and ``profile`` (Bundle entries by resource type, then checked against the
slice's profile). References ``#id`` with the ``contained`` aggregation are resolved and the
contained resource checked against the target profile.

Every rule evaluated is recorded in the :class:`Report` (and counted per profile in
:data:`TALLY`) so a test can print how many element rules it checked per profile.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).parent / "profiles"

# FHIR R4 primitive regexes (datatypes.html), for the types the SAS profiles use.
PRIMITIVES = {
    "instant": r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-"
               r"(0[1-9]|[1-2][0-9]|3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)"
               r"(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))",
    "dateTime": r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])"
                r"(-(0[1-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)"
                r"(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?",
    "date": r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])"
            r"(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?",
    "uri": r"\S*", "url": r"\S*", "canonical": r"\S*",
    "code": r"[^\s]+(\s[^\s]+)*",
    "id": r"[A-Za-z0-9\-\.]{1,64}",
    "string": r"[\s\S]+",
    "markdown": r"[\s\S]+",
    "http://hl7.org/fhirpath/System.String": r"[\s\S]+",
}
PY_TYPES = {"boolean": bool, "unsignedInt": int, "positiveInt": int, "integer": int,
            "decimal": (int, float)}


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    rules: set[tuple[str, str]] = field(default_factory=set)  # (profile, rule)

    def rule(self, profile: str, key: str, ok: bool, message: str) -> None:
        self.rules.add((profile, key))
        TALLY[profile][key] += 1
        if not ok:
            self.problems.append(message)


# profile url -> rule key -> evaluations (over the whole test session)
TALLY: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))


class Profiles:
    def __init__(self, folder: Path = HERE):
        self.sd: dict[str, dict] = {}
        self.vs: dict[str, dict[str, set[str]]] = {}
        for path in sorted(folder.glob("StructureDefinition-*.json")):
            sd = json.loads(path.read_text())
            self.sd[sd["url"]] = sd
        for path in sorted(folder.glob("ValueSet-*.json")):
            vs = json.loads(path.read_text())
            codes: dict[str, set[str]] = defaultdict(set)
            for inc in vs.get("compose", {}).get("include", []):
                codes[inc["system"]] |= {c["code"] for c in inc.get("concept", [])}
            self.vs[vs["url"]] = dict(codes)
        core = json.loads((folder / "core-valuesets.json").read_text())
        for url, systems in core.items():
            if not url.startswith("_"):
                self.vs[url] = {s: set(c) for s, c in systems.items()}
        deltas = json.loads((folder / "sas-1.2.0-deltas.json").read_text())["rules"]
        self.deltas: dict[tuple[str, str], list[dict]] = defaultdict(list)
        for delta in deltas:
            self.deltas[(delta["profile"], delta["element"])].append(delta)
        self.elements: dict[str, dict[str, dict]] = {}
        self.children: dict[str, dict[str, list[str]]] = {}
        for url, sd in self.sd.items():
            by_id = {e["id"]: e for e in sd["snapshot"]["element"]}
            kids: dict[str, list[str]] = defaultdict(list)
            for eid in by_id:
                if "." in eid:
                    kids[eid.rsplit(".", 1)[0]].append(eid)
            self.elements[url], self.children[url] = by_id, kids

    # --- the public entry point -----------------------------------------------------------

    def check(self, resource: dict, profile: str, report: Report | None = None) -> Report:
        """Check ``resource`` against ``profile`` (a canonical URL of the folder)."""
        report = report if report is not None else Report()
        if profile not in self.sd:
            report.problems.append(f"profile not available: {profile}")
            return report
        root = self.sd[profile]["type"]
        report.rule(profile, f"{root} resourceType", resource.get("resourceType") == root,
                    f"{profile}: resourceType {resource.get('resourceType')} != {root}")
        self._walk(resource, root, profile, report, resource, root)
        return report

    # --- walking the element tree -----------------------------------------------------------

    def _walk(self, node: dict, eid: str, profile: str, report: Report, container: dict,
              where: str, check_unknown: bool = True) -> None:
        elements, kids = self.elements[profile], self.children[profile]
        base_children = [c for c in kids.get(eid, []) if ":" not in c.rsplit(".", 1)[1]]
        if check_unknown and base_children and isinstance(node, dict):
            names = {c.rsplit(".", 1)[1] for c in base_children}
            for key in node:
                if key in ("resourceType",) or key.startswith("_"):
                    continue
                known = key in names or any(
                    n.endswith("[x]") and key.startswith(n[:-3]) and key[len(n) - 3:][:1].isupper()
                    for n in names)
                report.rule(profile, f"{eid} (known elements)", known,
                            f"{profile}: {where}.{key} is not an element of {eid}")
        for child in base_children:
            name = child.rsplit(".", 1)[1]
            values = _values(node, name)
            el = elements[child]
            self._element(el, values, profile, report, container, f"{where}.{name}")
            slices = [c for c in kids.get(eid, []) if c.startswith(child + ":")
                      and "." not in c[len(child):]]
            members: dict[str, list] = {s: [] for s in slices}
            for value in values:
                for sid in slices:
                    if self._in_slice(value, elements[sid], sid, profile, node, name):
                        members[sid].append(value)
            if el.get("slicing", {}).get("rules") == "closed":
                for value in values:
                    report.rule(profile, f"{child} (closed slicing)",
                                any(value in m for m in members.values()),
                                f"{profile}: {where}.{name} matches no slice (closed)")
            for sid, vals in members.items():
                self._element(elements[sid], vals, profile, report, container,
                              f"{where}.{name}[{sid.rsplit(':', 1)[1]}]")
                for i, value in enumerate(vals):
                    if isinstance(value, dict):
                        self._walk(value, sid, profile, report, container,
                                   f"{where}.{name}:{sid.rsplit(':', 1)[1]}[{i}]",
                                   check_unknown=False)
            for i, value in enumerate(values):
                if isinstance(value, dict):
                    self._walk(value, child, profile, report, container,
                               f"{where}.{name}[{i}]")

    def _element(self, el: dict, values: list, profile: str, report: Report,
                 container: dict, where: str) -> None:
        eid = el["id"]
        n = len(values)
        # Vacuous rules are not counted: min 0, max * and a max over an absent element.
        if el["min"] > 0:
            report.rule(profile, f"{eid} min {el['min']}", n >= el["min"],
                        f"{profile}: {where} has {n} value(s), min {el['min']} ({eid})")
        if el["max"] != "*" and n:
            report.rule(profile, f"{eid} max {el['max']}", n <= int(el["max"]),
                        f"{profile}: {where} has {n} value(s), max {el['max']} ({eid})")
        rules = [(k, v) for k, v in el.items() if k.startswith(("fixed", "pattern"))]
        rules += [(k, v) for d in self.deltas.get((profile, eid), [])
                  for k, v in d.items() if k.startswith(("fixed", "pattern"))]
        for value in values:
            for kind, wanted in rules:
                ok = value == wanted if kind.startswith("fixed") else _matches(value, wanted)
                report.rule(profile, f"{eid} {kind}", ok,
                            f"{profile}: {where} = {json.dumps(value)[:120]}, {kind} "
                            f"{json.dumps(wanted)[:120]}")
            self._binding(el, value, profile, report, where)
            self._types(el, value, profile, report, where)
            for constraint in el.get("constraint", []):
                self._invariant(constraint, value, profile, report, where, eid)
            self._reference(el, value, profile, report, container, where)

    def _binding(self, el: dict, value, profile: str, report: Report, where: str) -> None:
        binding = el.get("binding") or {}
        url = (binding.get("valueSet") or "").split("|")[0]
        if binding.get("strength") != "required" or url not in self.vs:
            return
        allowed = self.vs[url]
        codes = _codings(value)
        if isinstance(value, dict) and "coding" in value:  # CodeableConcept: one at least
            ok = any(s in allowed and c in allowed[s] for s, c in codes) if codes else True
        elif isinstance(value, dict):  # Coding
            ok = all(s in allowed and c in allowed[s] for s, c in codes)
        else:  # code
            ok = any(value in c for c in allowed.values())
        report.rule(profile, f"{el['id']} binding {url.rsplit('/', 1)[1]}", ok,
                    f"{profile}: {where} = {json.dumps(value)[:120]} not in {url}")

    def _types(self, el: dict, value, profile: str, report: Report, where: str) -> None:
        types = [t["code"] for t in el.get("type", [])]
        if len(types) != 1:
            return
        kind = types[0]
        if kind in PRIMITIVES:
            ok = isinstance(value, str) and re.fullmatch(PRIMITIVES[kind], value) is not None
        elif kind in PY_TYPES:
            ok = isinstance(value, PY_TYPES[kind]) and not (
                kind != "boolean" and isinstance(value, bool))
        else:
            return
        report.rule(profile, f"{el['id']} type {kind}", ok,
                    f"{profile}: {where} = {json.dumps(value)[:80]} is not a FHIR {kind}")

    def _invariant(self, constraint: dict, value, profile: str, report: Report, where: str,
                   eid: str) -> None:
        m = re.fullmatch(r"(\w+(?:\.\w+)*)\.matches\('(.+)'\)", constraint.get("expression", ""))
        if not m:
            return
        target = value
        for part in m.group(1).split("."):
            target = target.get(part) if isinstance(target, dict) else None
        ok = isinstance(target, str) and re.search(m.group(2), target) is not None
        report.rule(profile, f"{eid} invariant {constraint['key']}", ok,
                    f"{profile}: {where} breaks {constraint['key']}: {constraint.get('human')}")

    def _reference(self, el: dict, value, profile: str, report: Report, container: dict,
                   where: str) -> None:
        for t in el.get("type", []):
            if isinstance(value, dict) and value.get("resourceType") and t.get("profile"):
                for target in t["profile"]:
                    if target in self.sd:
                        self.check(value, target, report)
            if t["code"] != "Reference" or "contained" not in t.get("aggregation", []):
                continue
            ref = value.get("reference", "") if isinstance(value, dict) else ""
            found = [r for r in container.get("contained", [])
                     if ref.startswith("#") and r.get("id") == ref[1:]]
            report.rule(profile, f"{el['id']} contained reference", len(found) == 1,
                        f"{profile}: {where} {ref!r} does not resolve to a contained resource")
            for resource in found:
                for target in t.get("targetProfile", []):
                    if target in self.sd:
                        self.check(resource, target, report)

    # --- slices ---------------------------------------------------------------------------

    def _in_slice(self, value, slice_el: dict, sid: str, profile: str, parent: dict,
                  name: str) -> bool:
        slicing = self.elements[profile][sid.rsplit(":", 1)[0]].get("slicing", {})
        discriminators = slicing.get("discriminator", [])
        kinds = {d["type"] for d in discriminators}
        slice_name = slice_el.get("sliceName") or sid.rsplit(":", 1)[1]
        if "type" in kinds:  # value[x]:valueReference
            return any(key == slice_name and parent[key] is value for key in parent)
        if "profile" in kinds:  # Bundle.entry by the resource's type
            res = self.elements[profile].get(sid + ".resource", {})
            codes = {t["code"] for t in res.get("type", [])}
            return isinstance(value, dict) and \
                (value.get("resource") or {}).get("resourceType") in codes
        if not isinstance(value, dict):
            return False
        paths = {d["path"] for d in discriminators}
        if "url" in paths:  # extensions
            urls = [p for t in slice_el.get("type", []) for p in t.get("profile", [])]
            fixed = self.elements[profile].get(sid + ".url", {}).get("fixedUri")
            return value.get("url") in set(urls) | ({fixed} if fixed else set())
        if paths - {"$this"}:  # value/pattern on a child: that child's fixed value decides
            for path in paths:
                el = self.elements[profile].get(f"{sid}.{path}", {})
                wanted = [v for k, v in el.items() if k.startswith(("fixed", "pattern"))]
                vals = _values(value, path)
                if not wanted or not vals or not all(_matches(v, w) for v in vals
                                                     for w in wanted):
                    return False
            return True
        # pattern on $this: the slice's own patterns (whole subtree) and required binding.
        if not self._subtree_matches(value, sid, profile):
            return False
        binding = slice_el.get("binding") or {}
        url = (binding.get("valueSet") or "").split("|")[0]
        if binding.get("strength") == "required" and url in self.vs:
            allowed = self.vs[url]
            return any(s in allowed and c in allowed[s] for s, c in _codings(value))
        return True

    def _subtree_matches(self, value, eid: str, profile: str) -> bool:
        for cid in self.children[profile].get(eid, []):
            if ":" in cid.rsplit(".", 1)[1]:
                continue
            el = self.elements[profile][cid]
            vals = _values(value, cid.rsplit(".", 1)[1])
            for kind, wanted in el.items():
                if kind.startswith(("fixed", "pattern")) and \
                        not all(_matches(v, wanted) for v in vals):
                    return False
            if not all(self._subtree_matches(v, cid, profile) for v in vals
                       if isinstance(v, dict)):
                return False
        return True


def _values(node, name: str) -> list:
    if not isinstance(node, dict):
        return []
    if name.endswith("[x]"):
        prefix = name[:-3]
        raw = [v for k, v in node.items() if k.startswith(prefix) and k[len(prefix):][:1].isupper()]
    else:
        raw = [node[name]] if name in node else []
    out = []
    for v in raw:
        out.extend(v if isinstance(v, list) else [v])
    return out


def _matches(value, pattern) -> bool:
    """FHIR pattern matching: every value of the pattern is in the instance."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            k in value and _matches(value[k], v) for k, v in pattern.items())
    if isinstance(pattern, list):
        items = value if isinstance(value, list) else [value]
        return all(any(_matches(i, p) for i in items) for p in pattern)
    return value == pattern


def _codings(value) -> list[tuple[str, str]]:
    if isinstance(value, dict) and "coding" in value:
        return [(c.get("system"), c.get("code")) for c in value["coding"] if isinstance(c, dict)]
    if isinstance(value, dict):
        return [(value.get("system"), value.get("code"))]
    return []


PROFILES: Profiles | None = None


def profiles() -> Profiles:
    global PROFILES
    if PROFILES is None:
        PROFILES = Profiles()
    return PROFILES


def check(resource: dict, profile: str) -> list[str]:
    """Problems of ``resource`` against ``profile`` (empty: it conforms)."""
    return profiles().check(resource, profile).problems


def counts_table(title: str, report: Report) -> str:
    """How many distinct element rules ``report`` checked, per profile."""
    per: dict[str, int] = defaultdict(int)
    for url, _rule in report.rules:
        per[url] += 1
    lines = [f"{title}: {len(report.rules)} element rules checked"]
    lines += [f"  {n:>5}  {url.rsplit('/', 1)[1]}  ({url})" for url, n in sorted(per.items())]
    return "\n".join(lines)
