"""Coverage and supervision for the CPTS coordinator (reads only; one write: the indemnity
formula of the charter).

Modules
-------
common        the charter (or its defaults), the territory, doctors — one query each
hourly        weekday x hour grid: supply (each slot's capacity spread over its real hours
              in proportion to its minutes), bookings, flagged empty hours, demand
geo           distance from each commune to the nearest doctor with bookable capacity
              (the search's own conditions; KD-tree on unit vectors), bands, outlines
supervision   charter compliance, alerts with who must act, what-if
stats         statistics of a period: one definition per figure (FIGURES, derive), used
              by the page, the CSV, the API and the yearly report (docs/statistics.md)
indemnities   per doctor per month, configurable formula (per slot, per floating hour,
              per session, decreasing tiers with patients seen, per consultation, cap);
              exact minutes, one rounding per line
department    for the SAMU, emergency departments and the operator: communes covered by no
              CPTS of their scope, hourly grids per CPTS and merged, requests by CPTS and
              channel (no patient identity)
svg           the map and the charts, drawn by the app (no JavaScript, no network)
generator     a generated year calibrated on the seeds, rows inserted directly (bench,
              browser test)
replay        a year replayed through the services with its own truth (acceptance test)
views, panel, cli, demo; API routes in agenda/api/coverage.py

The territory of a CPTS is the set of communes of its sectors; a CPTS without sectors
covers every commune loaded.

Commune outlines: ``agenda/data/contours-44.geojson.gz`` (Loire-Atlantique), extracted
from the national file. Données : INSEE, COG 2026 ; IGN — Licence Ouverte 2.0.
"""
