"""SVG drawn by the app (no JavaScript library, no tiles, no network): the coverage map
and simple bar charts. Every text is escaped; the output is safe to mark up in templates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

from agenda.i18n import format_km, format_num

BAND_COLOURS = {"b1": "#1a9850", "b2": "#91cf60", "b3": "#d9ef8b", "b4": "#fdae61",
                "b5": "#d73027"}
NO_CONTOUR_RADIUS = 4.0


def _fmt(v: float) -> str:
    """A coordinate (SVG syntax: decimal point; never shown as text)."""
    return f"{v:.1f}".rstrip("0").rstrip(".")


class _Projection:
    """Equirectangular projection fitted to a bounding box (fine at a region's scale)."""

    def __init__(self, min_lon, min_lat, max_lon, max_lat, width: float, pad: float = 8):
        self.min_lon, self.max_lat = min_lon, max_lat
        self.kx = math.cos(math.radians((min_lat + max_lat) / 2))
        span_x = max((max_lon - min_lon) * self.kx, 1e-6)
        span_y = max(max_lat - min_lat, 1e-6)
        self.scale = (width - 2 * pad) / span_x
        self.pad = pad
        self.width = width
        self.height = span_y * self.scale + 2 * pad

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        return ((lon - self.min_lon) * self.kx * self.scale + self.pad,
                (self.max_lat - lat) * self.scale + self.pad)


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _rings(geometry: dict) -> list[list]:
    if geometry["type"] == "Polygon":
        return list(geometry["coordinates"])
    if geometry["type"] == "MultiPolygon":
        return [ring for poly in geometry["coordinates"] for ring in poly]
    return []


def _path_d(proj: _Projection, rings: list[list]) -> str:
    parts = []
    for ring in rings:
        pts = [proj.xy(lon, lat) for lon, lat in ring[:len(ring)]]
        if len(pts) < 3:
            continue
        parts.append("M" + " L".join(f"{_fmt(x)},{_fmt(y)}" for x, y in pts) + "Z")
    return "".join(parts)


def coverage_map(communes: Sequence, contours: dict[str, dict], doctors: Sequence = (),
                 bands: Sequence = (), *, width: float = 760, title: str = "",
                 legend_title: str = "", doctor_label: str = "") -> Markup:
    """One ``<path class="commune">`` per commune (a circle when its outline is missing),
    filled by distance band; doctors with capacity as dots; a legend."""
    lons, lats = [], []
    for c in communes:
        geom = contours.get(c.insee)
        if geom:
            for ring in _rings(geom):
                for lon, lat in ring:
                    lons.append(lon)
                    lats.append(lat)
        else:
            lons.append(c.lon)
            lats.append(c.lat)
    if not lons:
        return Markup("")
    proj = _Projection(min(lons), min(lats), max(lons), max(lats), width)
    legend_h = 22 * (len(bands) + 2) + 10 if bands else 0
    height = proj.height + legend_h
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="coverage-map" role="img" '
           f'viewBox="0 0 {_fmt(width)} {_fmt(height)}" width="100%" '
           f'aria-label="{escape(title)}">',
           # Colours in static/coverage.css (the CSP refuses inline styles).
           f"<title>{escape(title)}</title>", '<g class="communes">']
    for c in communes:
        dist = format_km(c.distance_km)
        label = escape(f"{c.name} ({c.insee}) — {format_num(c.population)} hab. — {dist}")
        attrs = (f'class="commune {c.band}" data-insee="{escape(c.insee)}" '
                 f'data-band="{c.band}"')
        geom = contours.get(c.insee)
        d = _path_d(proj, _rings(geom)) if geom else ""
        if not d:
            x, y = proj.xy(c.lon, c.lat)
            r = NO_CONTOUR_RADIUS
            d = (f"M{_fmt(x - r)},{_fmt(y)} a{r},{r} 0 1,0 {2 * r},0 "
                 f"a{r},{r} 0 1,0 {-2 * r},0Z")
        out.append(f'<path {attrs} d="{d}"><title>{label}</title></path>')
    out.append("</g><g class=\"doctors\">")
    for _id, lat, lon in doctors:
        x, y = proj.xy(lon, lat)
        out.append(f'<circle class="doctor" cx="{_fmt(x)}" cy="{_fmt(y)}" r="3"/>')
    out.append("</g>")
    if bands:
        y0 = proj.height + 10
        out.append(f'<g class="legend" font-size="12"><text x="8" y="{_fmt(y0 + 4)}" '
                   f'font-weight="bold">{escape(legend_title)}</text>')
        for i, (_upper, css, label) in enumerate(bands):
            y = y0 + 12 + 22 * i
            out.append(f'<rect class="{css}" x="8" y="{_fmt(y)}" width="18" height="14" '
                       f'stroke="#555" stroke-width=".4"/>'
                       f'<text x="32" y="{_fmt(y + 11)}">{escape(label)}</text>')
        y = y0 + 12 + 22 * len(bands)
        out.append(f'<circle class="doctor" cx="17" cy="{_fmt(y + 7)}" r="3"/>'
                   f'<text x="32" y="{_fmt(y + 11)}">{escape(doctor_label)}</text></g>')
    out.append("</svg>")
    return Markup("".join(out))


def bar_chart(items: Sequence[tuple[str, float]], *, title: str = "", width: float = 640,
              bar_height: float = 18, unit: str = "", colour: str = "#2b6cb0") -> Markup:
    """Horizontal bars, one per (label, value), the value written at the end."""
    items = list(items)
    label_w = 230.0
    height = max(len(items), 1) * (bar_height + 6) + 30
    top = max((v for _, v in items), default=0) or 1
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
           f'viewBox="0 0 {_fmt(width)} {_fmt(height)}" width="100%" '
           f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
           f'<text x="0" y="14" font-size="13" font-weight="bold">{escape(title)}</text>']
    avail = width - label_w - 70
    for i, (label, value) in enumerate(items):
        y = 24 + i * (bar_height + 6)
        w = avail * (value / top) if top else 0
        shown = f"{format_num(value)}{unit}"
        out.append(
            f'<g class="bar"><text x="{_fmt(label_w - 6)}" y="{_fmt(y + bar_height - 5)}" '
            f'font-size="12" text-anchor="end">{escape(_short(str(label), 32))}</text>'
            f'<rect x="{_fmt(label_w)}" y="{_fmt(y)}" width="{_fmt(max(w, 0))}" '
            f'height="{_fmt(bar_height)}" fill="{colour}"><title>{escape(label)} : '
            f'{escape(shown)}</title></rect>'
            f'<text x="{_fmt(label_w + w + 4)}" y="{_fmt(y + bar_height - 5)}" '
            f'font-size="12">{escape(shown)}</text></g>')
    out.append("</svg>")
    return Markup("".join(out))


def column_chart(items: Sequence[tuple[str, float]], *, title: str = "", width: float = 640,
                 height: float = 200, colour: str = "#2b6cb0") -> Markup:
    """Vertical columns over time (weeks, months), labels under every few columns."""
    items = list(items)
    n = max(len(items), 1)
    top = max((v for _, v in items), default=0) or 1
    plot_h = height - 50
    col_w = (width - 40) / n
    step = max(1, math.ceil(n / 12))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
           f'viewBox="0 0 {_fmt(width)} {_fmt(height)}" width="100%" '
           f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
           f'<text x="0" y="14" font-size="13" font-weight="bold">{escape(title)}</text>',
           f'<text x="0" y="30" font-size="11">{format_num(top)}</text>']
    for i, (label, value) in enumerate(items):
        h = plot_h * (value / top)
        x = 40 + i * col_w
        y = 22 + plot_h - h
        out.append(f'<rect class="col" x="{_fmt(x + 1)}" y="{_fmt(y)}" '
                   f'width="{_fmt(max(col_w - 2, 1))}" height="{_fmt(h)}" fill="{colour}">'
                   f'<title>{escape(label)} : {escape(format_num(value))}</title></rect>')
        if i % step == 0:
            out.append(f'<text x="{_fmt(x)}" y="{_fmt(height - 12)}" font-size="10">'
                       f'{escape(label)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


CHANNEL_COLOURS = ("#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#718096")


def stacked_columns(items: Sequence[tuple[str, str, dict]], series: Sequence[tuple[str, str]],
                    *, title: str = "", width: float = 720, height: float = 240,
                    colours: Sequence[str] = CHANNEL_COLOURS) -> Markup:
    """Columns over time, each split by series (``items``: (axis label or "", full label,
    {series key: value}); ``series``: (key, label)), with a legend. A column's tooltip
    gives its total and each part."""
    items = list(items)
    n = max(len(items), 1)
    totals = [sum(values.get(k, 0) for k, _ in series) for _, _, values in items]
    top = max(totals, default=0) or 1
    legend_h = 18
    plot_h = height - 56 - legend_h
    col_w = (width - 40) / n
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart stacked" role="img" '
           f'viewBox="0 0 {_fmt(width)} {_fmt(height)}" width="100%" '
           f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
           f'<text x="0" y="14" font-size="13" font-weight="bold">{escape(title)}</text>',
           f'<text x="0" y="30" font-size="11">{format_num(top)}</text>']
    for i, ((axis, full, values), total) in enumerate(zip(items, totals, strict=True)):
        x = 40 + i * col_w
        y = 22 + plot_h
        parts = ", ".join(f"{label} {format_num(values.get(k, 0))}" for k, label in series
                          if values.get(k, 0))
        tip = f"{full} : {format_num(total)}" + (f" ({parts})" if parts else "")
        out.append(f'<g class="col" data-total="{total}"><title>{escape(tip)}</title>')
        for j, (key, _label) in enumerate(series):
            v = values.get(key, 0)
            if not v:
                continue
            h = plot_h * (v / top)
            y -= h
            out.append(f'<rect x="{_fmt(x + 0.5)}" y="{_fmt(y)}" '
                       f'width="{_fmt(max(col_w - 1, 1))}" height="{_fmt(h)}" '
                       f'fill="{colours[j % len(colours)]}" data-series="{escape(key)}" '
                       f'data-value="{v}"/>')
        out.append("</g>")
        if axis:
            out.append(f'<text x="{_fmt(x)}" y="{_fmt(22 + plot_h + 14)}" font-size="10">'
                       f'{escape(axis)}</text>')
    x = 40.0
    for j, (key, label) in enumerate(series):
        out.append(f'<g class="legend" data-series="{escape(key)}">'
                   f'<rect x="{_fmt(x)}" y="{_fmt(height - legend_h)}" width="12" height="12" '
                   f'fill="{colours[j % len(colours)]}"/><text x="{_fmt(x + 16)}" '
                   f'y="{_fmt(height - legend_h + 10)}" font-size="11">{escape(label)}</text></g>')
        x += 24 + 7 * len(str(label))
    out.append("</svg>")
    return Markup("".join(out))
