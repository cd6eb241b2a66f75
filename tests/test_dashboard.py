"""Dashboard pieces that need no browser: ordering by severity rank, counts, trend panels that follow the
sensor registry, and no Spark in the app."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pandas as pd
from pandas.testing import assert_frame_equal

from altaviz.dashboard.pages.fleet import health_counts, health_table, worst_first, zoom_to_fit
from altaviz.dashboard.pages.monitoring import trend_figure, trend_series
from altaviz.dashboard.queries import history_sql
from altaviz.registry import Sensor, get_registry

FLEET = pd.DataFrame({
    "compressor_id": ["C1", "C2", "C3", "C4"],
    "health_status": ["warning", "healthy", "critical", "warning"],
    "active_alert_count": [1, 0, 3, 2],
    "failure_probability": [0.42, 0.0, 0.97, None],
    "warning_probability": [0.81, 0.004, 0.99, None],
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
        "failure risk 48 h": ["97 %", "42 %", "–", "0 %"],
        "7 d": ["99 %", "81 %", "–", "0 %"],
        "RUL (days)": ["0.5", "12.3", "–", "90.0"],
        "station": ["S2", "S1", "S2", "S1"],
        "model": ["Ajax DPC-360"] * 4,
    })
    assert_frame_equal(health_table(FLEET).reset_index(drop=True), expected)


def test_health_table_shows_a_dash_where_no_model_gives_a_remaining_life():
    """A cold start (or a unit the model cannot tell about) has no remaining life: PostgreSQL returns
    None for every row, which must read as a dash, not break the page."""
    unknown = FLEET.assign(rul_days=[None] * len(FLEET)).astype({"rul_days": object})
    assert health_table(unknown)["RUL (days)"].tolist() == ["–"] * len(FLEET)


def test_dashboard_never_imports_spark():
    # Every module of the package, not only what app.py happens to import.
    code = ("import importlib, pkgutil, sys, altaviz.dashboard as d\n"
            "for m in pkgutil.walk_packages(d.__path__, 'altaviz.dashboard.'): importlib.import_module(m.name)\n"
            "sys.exit(1 if 'pyspark' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_zoom_fits_the_fleet():
    texas = pd.DataFrame({"latitude": [28.9, 32.7], "longitude": [-102.1, -94.4]})  # four basins
    one_station = pd.DataFrame({"latitude": [28.90, 28.93], "longitude": [-97.90, -97.86]})  # a few km
    assert (zoom_to_fit(texas), zoom_to_fit(one_station), zoom_to_fit(texas.iloc[:1])) == (6, 12, 9)


LUBE_OIL = Sensor(name="lube_oil_pressure_psi", label="Lube oil pressure", unit="psi", short="lube_oil_pressure",
                  direction="low", warning=35.0, critical=25.0, aggregates=("mean", "min"))
SIX_TITLES = ["Vibration (mm/s)", "Discharge temperature (°F)", "Suction pressure (psi)",
              "Discharge pressure (psi)", "Horsepower (hp)", "Gas flow (Mcf/day)"]
SIX_COLUMNS = ["vibration_mean", "discharge_temp_mean", "suction_pressure_mean", "discharge_pressure_mean",
               "horsepower_mean", "gas_flow_mean"]


def _with_lube_oil():
    registry = get_registry()
    return replace(registry, sensors={**registry.sensors, "lube_oil_pressure_psi": LUBE_OIL})


def _history(columns):
    """Three hourly rows with a value in every trend column."""
    hours = pd.date_range("2026-02-09 00:00", periods=3, freq="h", tz="UTC")
    return pd.DataFrame({"agg_timestamp": hours, **{column: [1.0, 2.0, 3.0] for column in columns}})


def _grid(figure):
    """(rows, columns) of the panels actually drawn, from their distinct axis domains."""
    return len({axis.domain for axis in figure.select_yaxes()}), len({axis.domain for axis in figure.select_xaxes()})


def test_trend_series_follow_the_registry():
    series = trend_series(_with_lube_oil())
    assert [(s.column, s.title) for s in series] == [
        *zip(SIX_COLUMNS, SIX_TITLES), ("lube_oil_pressure_mean", "Lube oil pressure (psi)")]
    # Column names reach SQL only as quoted identifiers, from the registry.
    select = history_sql([s.column for s in series]).as_string().strip().splitlines()[0]
    assert select == "SELECT " + ", ".join(f'"{c}"' for c in ["agg_timestamp", *SIX_COLUMNS, "lube_oil_pressure_mean"])


def test_trend_figure_has_a_panel_per_sensor_with_its_limits():
    series = trend_series(_with_lube_oil())
    figure = trend_figure(_history([s.column for s in series]), "C1", series)
    assert [a.text for a in figure.layout.annotations] == [*SIX_TITLES, "Lube oil pressure (psi)"]
    assert [(t.name, t.yaxis, list(t.y)) for t in figure.data] == [
        (s.column, f"y{i + 1 if i else ''}", [1.0, 2.0, 3.0]) for i, s in enumerate(series)]
    warning, critical = ("dash", "#ef6c00"), ("dot", "#c62828")
    assert [(shape.yref, shape.y0, (shape.line.dash, shape.line.color)) for shape in figure.layout.shapes] == [
        ("y", 6.0, warning), ("y", 8.0, critical), ("y2", 240.0, warning), ("y2", 260.0, critical),
        ("y3", 30.0, warning), ("y3", 20.0, critical), ("y4", 1300.0, warning), ("y4", 1400.0, critical),
        ("y5", 1800.0, warning), ("y6", 6000.0, warning),  # horsepower and gas flow have no critical level
        ("y7", 35.0, warning), ("y7", 25.0, critical),
    ]
    assert _grid(figure) == (4, 2)


def test_trend_grid_has_three_rows_for_the_six_default_sensors():
    series = trend_series(get_registry())
    figure = trend_figure(_history([s.column for s in series]), "C1", series)
    assert [a.text for a in figure.layout.annotations] == SIX_TITLES
    assert (_grid(figure), figure.layout.height) == ((3, 2), 620)
