"""Coverage and supervision for the CPTS coordinator (reads only; one write: the indemnity
formula of the charter).

Modules
-------
common        the charter (or its defaults), the territory, doctors — one query each
hourly        weekday x hour grid: supply (a floating window counts over its whole
              window), bookings, flagged empty hours, demand averaged over past weeks
geo           distance from each commune to the nearest doctor with bookable capacity
              (KD-tree on unit vectors, arrays only), bands, shipped commune outlines
supervision   charter compliance, alerts with who must act, what-if
stats         statistics of a period (definitions in its docstring), CSV of every table
indemnities   per doctor per month, configurable formula (per slot, per floating hour,
              per session, decreasing tiers with patients seen, per consultation, cap)
department    for the SAMU, emergency departments and the operator: communes covered by no
              CPTS of their scope, hourly grids per CPTS and merged, requests by CPTS and
              channel (no patient identity)
svg           the map and the charts, drawn by the app (no JavaScript, no network)
generator     a generated year calibrated on the seeds, with its ground truth (tests, bench)
views, panel, cli, demo; API routes in agenda/api/coverage.py

The territory of a CPTS is the set of communes of its sectors; a CPTS without sectors
covers every commune loaded.

Commune outlines: ``agenda/data/contours-44.geojson.gz`` (Loire-Atlantique), extracted
from the national file. Données : INSEE, COG 2026 ; IGN — Licence Ouverte 2.0.
"""
