"""Dashboard pieces that need no browser: ordering by severity rank, counts, and no Spark in the app."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
from pandas.testing import assert_frame_equal

from altaviz.dashboard.pages.fleet import health_counts, health_table, worst_first, zoom_to_fit

FLEET = pd.DataFrame({
    "compressor_id": ["C1", "C2", "C3", "C4"],
    "health_status": ["warning", "healthy", "critical", "warning"],
    "active_alert_count": [1, 0, 3, 2],
    "failure_probability": [0.42, 0.0, 0.97, None],
    "rul_days": [12.34, 90.0, 0.5, None],
    "station_name": ["S1", "S1", "S2", "S2"],
    "model": ["Ajax DPC-360"] * 4,
})


def test_worst_first_orders_by_rank_not_by_string():
    # Alphabetically 'warning' > 'healthy' > 'critical'; by severity critical comes first.
    assert list(worst_first(FLEET)["compressor_id"]) == ["C3", "C1", "C4", "C2"]


def test_health_counts_always_has_every_status():
    assert health_counts(FLEET) == {"healthy": 1, "warning": 2, "critical": 1}
    assert health_counts(FLEET.iloc[[1]]) == {"healthy": 1, "warning": 0, "critical": 0}


def test_health_table_formats_risk_and_life():
    expected = pd.DataFrame({
        "compressor": ["C3", "C1", "C4", "C2"],
        "health": ["critical", "warning", "warning", "healthy"],
        "open alerts": [3, 1, 2, 0],
        "failure risk": ["97 %", "42 %", "–", "0 %"],
        "RUL (days)": [0.5, 12.3, None, 90.0],
        "station": ["S2", "S1", "S2", "S1"],
        "model": ["Ajax DPC-360"] * 4,
    })
    assert_frame_equal(health_table(FLEET).reset_index(drop=True), expected)


def test_dashboard_never_imports_spark():
    # Every module of the package, not only what app.py happens to import.
    code = ("import importlib, pkgutil, sys, altaviz.dashboard as d\n"
            "for m in pkgutil.walk_packages(d.__path__, 'altaviz.dashboard.'): importlib.import_module(m.name)\n"
            "sys.exit(1 if 'pyspark' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_zoom_fits_the_fleet():
    texas = pd.DataFrame({"latitude": [28.9, 32.7], "longitude": [-102.1, -94.4]})  # four basins
    one_station = pd.DataFrame({"latitude": [28.90, 28.93], "longitude": [-97.90, -97.86]})  # a few km
    assert (zoom_to_fit(texas), zoom_to_fit(one_station), zoom_to_fit(texas.iloc[:1])) == (6, 12, 9)
