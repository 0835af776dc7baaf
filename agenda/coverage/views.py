"""Pages of agenda.coverage (coordinator only): hourly and geographic coverage, charter
compliance, alerts, what-if, statistics and indemnities."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from agenda import clock
from agenda.accounts.access import roles_required
from agenda.coverage import department, geo, hourly, indemnities, stats, supervision, svg
from agenda.coverage.common import charter, doctors, territory
from agenda.coverage.csvexport import csv_response
from agenda.coverage.services import handle_alert, save_indemnity_formula
from agenda.errors import ValidationError
from agenda.labels import label
from agenda.timeutil import (iso_week, parse_service_date, shift_week, to_local,
                              week_from_arg)
from agenda.web import commit_or_flash

bp = Blueprint("coverage", __name__, url_prefix="/coverage")
COORD = ("coordinator", "admin")


def weekday_names() -> list[str]:
    return [_("lundi"), _("mardi"), _("mercredi"), _("jeudi"), _("vendredi"), _("samedi"),
            _("dimanche")]


def week_arg(name: str = "week") -> str:
    """The week a page shows: an ISO week (the chooser's links) or a day of it (its date
    picker); this week by default."""
    value = (request.args.get(name) or "").strip()
    if not value:
        return iso_week(clock.now())
    try:
        return week_from_arg(value)
    except ValueError:
        raise ValidationError(_("Semaine invalide : « %(w)s ». Choisissez-la avec les flèches "
                                "ou une date.", w=value[:20]), field=name) from None


def horizon_arg() -> str:
    horizon = request.args.get("horizon") or "48h"
    if horizon not in geo.HORIZONS:
        raise ValidationError(_("Horizon invalide : %(h)s (au choix : %(choices)s).", h=horizon,
                                choices=", ".join(label(h, "horizon") for h in geo.HORIZONS)),
                              field="horizon")
    return horizon


def _date_arg(name: str) -> date | None:
    value = (request.args.get(name) or "").strip()
    if not value:
        return None
    try:
        return parse_service_date(value)
    except ValueError:
        raise ValidationError(_("Date invalide : %(d)s (attendu AAAA-MM-JJ).", d=value),
                              field=name) from None


def period_from_args() -> tuple[str, stats.Period]:
    kind = request.args.get("period") or ("custom" if request.args.get("from") else "month")
    if kind not in stats.PERIODS:
        raise ValidationError(_("Période invalide : %(p)s.", p=kind), field="period")
    today = _date_arg("day") or to_local(clock.now()).date()
    start, end = _date_arg("from"), _date_arg("to")
    if kind == "custom":
        if start is None or end is None or end < start:
            raise ValidationError(_("Indiquez une période valide (du … au …)."), field="from")
        if (end - start).days > 3 * 366:
            raise ValidationError(_("Période trop longue (3 ans au plus)."), field="to")
    return kind, stats.period_for(kind, today, start, end)


@bp.get("/")
@roles_required(*COORD)
def index():
    return redirect(url_for("coverage.hourly"))


HOURLY_COLUMNS = ["weekday", "date", "hour", "supply", "booked", "open", "demand", "ratio",
                  "in_publication_hours", "flagged"]


@bp.get("/hourly", endpoint="hourly")
@roles_required(*COORD)
def hourly_page():
    week = week_arg()
    grid = hourly.hourly_grid(current_user.cpts_id, week)
    if request.args.get("format") == "csv":
        return csv_response(grid.to_dict()["cells"], HOURLY_COLUMNS,
                            f"couverture-horaire-{week}.csv")
    return render_template("coverage/hourly.html", grid=grid, week=week,
                           supply_definition=hourly.supply_definition(),
                           prev_week=shift_week(week, -1), next_week=shift_week(week, 1),
                           weekdays=weekday_names())


@bp.get("/map", endpoint="geo")
@roles_required(*COORD)
def geo_page():
    horizon = horizon_arg()
    table = geo.distances_by_horizon(current_user.cpts_id)
    if request.args.get("format") == "csv":
        return csv_response(table, geo.DISTANCE_COLUMNS, "couverture-communes.csv")
    cov = geo.geo_coverage(current_user.cpts_id, horizon)
    svg_map = svg.coverage_map(
        cov.communes, geo.contours(), cov.doctors, cov.bands,
        title=_("Distance au médecin disponible le plus proche"),
        legend_title=_("Distance au médecin le plus proche"),
        doctor_label=_("médecin avec un créneau disponible"))
    return render_template("coverage/geo.html", cov=cov, svg_map=svg_map, horizon=horizon,
                           horizons=geo.HORIZONS, attribution=geo.ATTRIBUTION, table=table)


@bp.get("/charter", endpoint="charter")
@roles_required(*COORD)
def charter_page():
    """The charter page is ``/charte`` (agenda.slots); this address leads there."""
    week = (request.args.get("week") or "").strip()[:20] or None
    return redirect(url_for("slots.charter_overview", week=week))


@bp.get("/alerts", endpoint="alerts")
@roles_required(*COORD)
def alerts_page():
    rows = supervision.alerts(current_user.cpts_id)
    return render_template("coverage/alerts.html", rows=rows,
                           counts=supervision.alert_counts(rows))


@bp.post("/alerts/handle", endpoint="handle_alert")
@roles_required(*COORD)
def handle_alert_page():
    """Acknowledge ("je m'en occupe") or resolve an alert; back to the list."""
    form = request.form
    action = form.get("action", "")

    def number(name: str) -> int | None:
        value = (form.get(name) or "").strip()
        return int(value) if value.isdigit() and len(value) < 12 else None

    done = commit_or_flash(lambda: handle_alert(
        current_user.cpts_id, current_user.id, action, alert_id=number("alert_id"),
        kind=form.get("kind"), object_id=number("object_id")))
    if done.ok:
        flash(_("Alerte prise en charge.") if action == "acknowledge"
              else _("Alerte résolue."), "info")
    return redirect(url_for("coverage.alerts"), 303)


@bp.get("/what-if", endpoint="whatif")
@roles_required(*COORD)
def whatif_page():
    cpts_id = current_user.cpts_id
    week = week_arg()
    result = None
    args = request.args
    if args.get("weekday"):
        try:
            weekday = int(args.get("weekday", ""))
            hour_from = int(args.get("hour_from", ""))
            hour_to = int(args.get("hour_to", ""))
            doctor_id = int(args["doctor"]) if args.get("doctor") else None
        except ValueError:
            raise ValidationError(_("Choisissez un jour et une plage horaire valides.")) from None
        result = supervision.what_if(cpts_id, week, weekday, hour_from, hour_to,
                                     doctor_id=doctor_id, commune_insee=args.get("commune"))
    terr = territory(cpts_id)
    communes = sorted(zip(terr.insee, terr.name, strict=True), key=lambda c: c[1])
    return render_template("coverage/whatif.html", week=week, result=result,
                           doctors=doctors(cpts_id), communes=communes,
                           weekdays=weekday_names(), args=args,
                           other_args={k: v for k, v in args.items() if k != "week"})


@bp.get("/stats", endpoint="stats")
@roles_required(*COORD)
def stats_page():
    kind, period = period_from_args()
    result = stats.compute(current_user.cpts_id, period)
    table = request.args.get("table")
    if request.args.get("format") == "csv":
        name = table or "summary"
        if name not in stats.Stats.TABLES:
            raise ValidationError(_("Tableau inconnu : %(t)s.", t=name), field="table")
        rows = result.table(name)
        columns = list(rows[0].keys()) if rows else STATS_COLUMNS[name]
        return csv_response(rows, columns, f"statistiques-{name}-{period.start_date}-"
                                           f"{period.end_date}.csv")
    s = result.summary
    charts = {
        "timeline": svg.column_chart([(r["period"], r["consultations"]) for r in result.timeline],
                                     title=_("Consultations réalisées par période")),
        "channels": svg.bar_chart([(r["label"], r["requests"]) for r in result.channels],
                                  title=_("Demandes par canal")),
        "funnel": svg.bar_chart([(_("Demandes"), s["requests"]),
                                 (_("Créneaux mis à disposition"), s["slots_offered"]),
                                 (_("Consultations réalisées"), s["consultations"])],
                                title=_("Demandes → créneaux → consultations")),
        "reasons": svg.bar_chart([(r["reason"], r["requests"])
                                  for r in result.reasons[:12]], title=_("Motifs")),
        "weekly": weekly_chart(current_user.cpts_id, period.end_date.year),
    }
    def csv_url(name: str) -> str:
        return url_for("coverage.stats", period="custom", format="csv", table=name,
                       **{"from": period.start_date.isoformat(),
                          "to": period.end_date.isoformat()})

    return render_template("coverage/stats.html", st=result, kind=kind, period=period,
                           charts=charts, args=request.args, csv_url=csv_url,
                           **figure_context())


def weekly_chart(cpts_id: int, year: int):
    """The year's requests (the figure "requests") by week, split by channel."""
    from agenda.i18n import format_local_date

    rows = stats.requests_by_week(cpts_id, year)
    items = [(format_local_date(r["monday"], "MMM") if r["monday"].day <= 7 else "",
              _("semaine du %(d)s", d=format_local_date(r["monday"], "d MMMM yyyy")),
              r) for r in rows]
    series = [(ch, stats.channel_label(ch)) for ch in stats.CHANNELS]
    return svg.stacked_columns(items, series, title=_("%(figure)s par semaine et par canal, "
                                                      "%(y)s", figure=stats.summary_label(
                                                          "requests"), y=year))


def figure_context() -> dict:
    """What the statistics templates need to name and define every figure."""
    return {"labels": stats.summary_label, "definition": stats.definition,
            "channel_label": stats.channel_label, "figure_keys": list(stats.FIGURES),
            "channel_keys": stats.CHANNEL_KEYS, "timeline_keys": stats.TIMELINE_KEYS,
            "doctor_keys": stats.DOCTOR_KEYS}


@bp.get("/department", endpoint="department")
@roles_required(*department.DEPARTMENT_ROLES)
def department_page():
    """The department view: coverage and requests of every CPTS the user's organisation
    serves (the operator: all), with no patient identity."""
    week, horizon = week_arg(), horizon_arg()
    kind, period = period_from_args()
    dep = department.department(current_user, week=week, horizon=horizon, period=period,
                                only=department.parse_cpts(request.args.getlist("cpts")))
    if request.args.get("format") == "csv":
        if request.args.get("table") == "communes":
            rows = [{"insee": c.insee, "commune": c.name, "population": c.population,
                     "distance_km": c.distance_km, "covered": c.covered}
                    for c in dep.geo.communes]
            return csv_response(rows, DEPARTMENT_COMMUNE_COLUMNS,
                                f"departement-communes-{horizon}.csv")
        rows = dep.channels.rows()
        return csv_response(rows, DEPARTMENT_CHANNEL_COLUMNS,
                            f"departement-canaux-{period.start_date}-{period.end_date}.csv")
    svg_map = svg.coverage_map(
        dep.geo.communes, geo.contours(), dep.geo.doctors, dep.geo.bands,
        title=_("Distance à la capacité disponible la plus proche, toutes CPTS"),
        legend_title=_("Distance rapportée au rayon de la charte"),
        doctor_label=_("médecin avec un créneau disponible"))
    return render_template("coverage/department.html", dep=dep, week=week, horizon=horizon,
                           horizons=geo.HORIZONS, kind=kind, period=period, svg_map=svg_map,
                           prev_week=shift_week(week, -1), next_week=shift_week(week, 1),
                           weekdays=weekday_names(), attribution=geo.ATTRIBUTION,
                           args=request.args)


DEPARTMENT_COMMUNE_COLUMNS = ["insee", "commune", "population", "distance_km", "covered"]
DEPARTMENT_CHANNEL_COLUMNS = ["cpts_id", "cpts", "channel", "label", *department.COUNTS]

STATS_COLUMNS = {
    "summary": ["indicator", "label", "value", "definition"],
    "channels": ["channel", "label", *stats.CHANNEL_KEYS],
    "reasons": ["reason", "requests", "found_slot", "bookings", "consultations"],
    "doctors": ["doctor_id", "doctor", *stats.DOCTOR_KEYS],
    "communes": ["insee", "commune", "requests", "found_slot", "calls_reoriented", "bookings",
                 "consultations", "no_shows"],
    "timeline": ["period", *stats.TIMELINE_KEYS],
    "missing_outcomes": ["booking_id", "reference", "start", "doctor_id", "doctor",
                         "reminded_at"],
}

# The yearly report: the funders' indicators, per month then for the year.
REPORT_COLUMNS = ["period", *stats.TIMELINE_KEYS, "channel_share_secretariat",
                  "channel_share_samu", "channel_share_ed", "channel_share_cpts",
                  "channel_share_other"]


def _report_rows(result: stats.Stats) -> list[dict]:
    rows = []
    total = dict(result.summary)
    for ch in stats.CHANNELS:
        total[ch] = next(r["requests"] for r in result.channels if r["channel"] == ch)
    for r in [*result.timeline, {"period": str(result.period.start_date.year), **total}]:
        row = {k: r.get(k) for k in ("period", *stats.TIMELINE_KEYS)}
        for ch in stats.CHANNELS:
            row[f"channel_share_{ch}"] = stats.rate(r.get(ch, 0), r.get("requests", 0))
        rows.append(row)
    return rows


def year_arg() -> int:
    value = (request.args.get("year") or "").strip() or str(to_local(clock.now()).year)
    if not value.isdigit() or not 2000 <= int(value) <= 2100:
        raise ValidationError(_("Année invalide : %(y)s (attendu AAAA).", y=value),
                              field="year")
    return int(value)


@bp.get("/report", endpoint="report")
@roles_required(*COORD)
def report_page():
    """The yearly report, laid out like the funders' indicators (printable, CSV)."""
    year = year_arg()
    period = stats.Period(date(year, 1, 1), date(year, 12, 31))
    result = stats.compute(current_user.cpts_id, period)
    rows = _report_rows(result)
    if request.args.get("format") == "csv":
        return csv_response(rows, REPORT_COLUMNS, f"rapport-annuel-{year}.csv")
    return render_template("coverage/report.html", st=result, year=year, rows=rows,
                           channels=stats.CHANNELS,
                           share_keys=[f"channel_share_{c}" for c in stats.CHANNELS],
                           **figure_context())


INDEMNITY_COLUMNS = ["doctor_id", "doctor", "month", "fixed_slots", "floating_windows",
                     "floating_minutes", "floating_hours", "sessions", "consultations",
                     "no_shows", "amount", "detail"]


def _month_arg(source) -> str:
    month = (source.get("month") or "").strip() or to_local(clock.now()).strftime("%Y-%m")
    indemnities.month_bounds(month)  # ValidationError on a bad month
    return month


def _typed(amount) -> str:
    """A saved amount as a French person types it (decimal comma)."""
    return str(amount).replace(".", ",")


def _tier_rows(formula: dict) -> list[list[str]]:
    return [[str(n), _typed(a)] for n, a in formula.get("session_tiers", [])]


def _render_indemnities(month: str, formula: dict, *, form: dict | None = None,
                        tier_rows: list[list[str]] | None = None,
                        errors: dict | None = None, preview: list | None = None,
                        status: int = 200):
    """The page: the month's saved statement, the formula form (as saved, or as typed when
    it comes back with errors or a preview) and, on request, the preview of the month."""
    cpts_id = current_user.cpts_id
    rows = indemnities.monthly(cpts_id, month, formula)
    rows_form = tier_rows if tier_rows is not None else _tier_rows(formula)
    return render_template(
        "coverage/indemnities.html", rows=rows, month=month, formula=formula,
        total=indemnities.total(rows),
        form=form if form is not None else {k: _typed(v) for k, v in formula.items()
                                            if k != "session_tiers"},
        tier_rows=rows_form or [["0", ""]], errors=errors or {}, preview=preview,
        preview_total=indemnities.total(preview) if preview is not None else None,
        presets=indemnities.PRESETS), status


@bp.get("/indemnities", endpoint="indemnities")
@roles_required(*COORD)
def indemnities_page():
    cpts_id = current_user.cpts_id
    month = _month_arg(request.args)
    formula = charter(cpts_id).indemnity_formula
    if request.args.get("format") == "csv":
        rows = indemnities.monthly(cpts_id, month, formula)
        return csv_response(({**r.to_dict(), "month": month} for r in rows), INDEMNITY_COLUMNS,
                            f"indemnites-{month}.csv")
    return _render_indemnities(month, formula)


@bp.post("/indemnities/formula")
@roles_required(*COORD)
def save_formula():
    """The formula form: tiers as rows ("from N patients: amount"), added or removed one at
    a time; "Aperçu" computes the month with the formula as typed, "Enregistrer" saves it."""
    form = request.form
    month = _month_arg(form)
    preset = form.get("preset")
    if preset in indemnities.PRESETS:
        save_indemnity_formula(current_user.cpts_id, dict(indemnities.PRESETS[preset]))
        flash(_("Formule d'indemnisation enregistrée."), "info")
        return redirect(url_for("coverage.indemnities", month=month))
    typed = {k: form.get(k, "").strip()[:30] for k in (*indemnities.MONEY_KEYS, "monthly_cap")}
    tier_rows = [[n.strip()[:10], a.strip()[:30]] for n, a in zip(
        form.getlist("tier_min"), form.getlist("tier_amount"), strict=False)
        if n.strip() or a.strip()][:20]
    action = form.get("action", "save")
    if action == "add_tier":
        tier_rows.append(["", ""])
    elif action.startswith("remove_tier_"):
        index = action.removeprefix("remove_tier_")
        if index.isdigit() and int(index) < len(tier_rows):
            del tier_rows[int(index)]
    formula, errors = indemnities.check_formula({**typed, "session_tiers": tier_rows})
    saved = charter(current_user.cpts_id).indemnity_formula
    if action in ("add_tier",) or action.startswith("remove_tier_"):
        return _render_indemnities(month, saved, form=typed, tier_rows=tier_rows)
    if errors:
        return _render_indemnities(month, saved, form=typed, tier_rows=tier_rows,
                                   errors=errors, status=400)
    if action == "preview":
        preview = indemnities.monthly(current_user.cpts_id, month, formula)
        return _render_indemnities(month, saved, form=typed, tier_rows=tier_rows,
                                   preview=preview)
    save_indemnity_formula(current_user.cpts_id, formula)
    flash(_("Formule d'indemnisation enregistrée."), "info")
    return redirect(url_for("coverage.indemnities", month=month))


@bp.get("/indemnities/<int:doctor_id>/releve", endpoint="indemnity_statement")
@roles_required(*COORD)
def indemnity_statement(doctor_id: int):
    """A doctor's monthly statement, to print and hand out (the saved formula)."""
    cpts_id = current_user.cpts_id
    month = _month_arg(request.args)
    statement = indemnities.statement(cpts_id, doctor_id, month,
                                      charter(cpts_id).indemnity_formula)
    return render_template("coverage/indemnity_statement.html", s=statement, month=month,
                           now=clock.now())


from agenda.coverage import cli, demo, panel  # noqa: E402,F401  (CLI, demo step, panel)
