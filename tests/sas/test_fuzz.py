"""Property-based fuzzing of the slot search's query string: never a 5xx."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sas.conftest import NOW

PARAMS = ["start", "schedule.actor:Practitioner.identifier", "status", "_include",
          "_include:iterate", "_format", "_count", "foo", "start:missing", ""]
PREFIXES = ["", "ge", "le", "gt", "lt", "eq", "ne", "sa", "xx"]
DATES = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()),
    st.dates().map(str),
    st.from_regex(r"\A\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?"
                  r"([+\- ]\d{2}:\d{2}|Z)?)?)?)?\Z"),
    st.text(max_size=30),
)
IDENTS = st.one_of(
    st.from_regex(r"\A(urn:oid:1\.2\.250\.1\.71\.4\.2\.1\|)?8\d{11}\Z"),
    st.lists(st.from_regex(r"\A[\w:.|]{0,20}\Z"), max_size=30).map(",".join),
    st.text(max_size=40),
)
VALUE = st.one_of(
    st.tuples(st.sampled_from(PREFIXES), DATES).map(lambda t: t[0] + t[1]),
    IDENTS,
    st.sampled_from(["free", "busy", "Slot:schedule", "Schedule:actor", "*", ""]),
    st.text(max_size=20),
)
QUERY = st.lists(st.tuples(st.sampled_from(PARAMS), VALUE), max_size=8)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(query=QUERY, raw=st.booleans(), strict=st.booleans())
def test_query_string_never_5xx(fhir, query, raw, strict):
    q = "&".join(f"{k}={v if raw else quote(v)}" for k, v in query)
    headers = {"Prefer": "handling=strict"} if strict else {}
    resp = fhir.get("/fhir/r4/Slot?" + q, headers=headers)
    assert resp.status_code in (200, 400), (q, resp.status_code, resp.get_data(as_text=True))
    body = resp.get_json()
    assert body["resourceType"] == ("Bundle" if resp.status_code == 200 else "OperationOutcome")


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(offset_min=st.integers(min_value=-600, max_value=3000),
       span_min=st.integers(min_value=0, max_value=3000))
def test_window_contains_exactly_the_slots_inside(fhir, make_doctor, make_slot, offset_min,
                                                  span_min):
    """ge/le are inclusive and nothing outside the window leaks in."""
    from agenda.extensions import db
    from agenda.slots.models import Slot
    from agenda.territory.models import Doctor
    from sqlalchemy import select

    doctor = db.session.scalar(select(Doctor).limit(1)) or make_doctor()
    if not db.session.scalar(select(Slot.id).limit(1)):
        for h in range(1, 46, 3):
            make_slot(doctor, NOW + timedelta(hours=h))
    lo = NOW + timedelta(minutes=offset_min)
    hi = lo + timedelta(minutes=span_min)
    url = (f"/fhir/r4/Slot?start=ge{quote(lo.isoformat())}&start=le{quote(hi.isoformat())}"
           f"&schedule.actor:Practitioner.identifier=8{doctor.rpps}&status=free")
    got = {e["resource"]["id"] for e in fhir.get(url).get_json().get("entry", [])}
    want = {f"slot-{s.id}" for s in db.session.scalars(select(Slot))
            if lo <= s.start <= hi and s.start > NOW}
    assert got == want
