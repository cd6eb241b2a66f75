"""The notebooks' figures: each figure function on a few literal rows (titles, bars, lines, labels),
its empty case, the picking rules, and an executed notebook read offline in headless Chromium."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import matplotlib.colors as mcolors
import matplotlib.dates as mdates
import nbformat
import pandas as pd
import papermill
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from altaviz.config import PROJECT_ROOT
from altaviz.plots import HEALTH_COLORS, SEVERITY_COLORS, bronze, date_axis, gold, png_bytes, serving, silver, simulate
from altaviz.registry import get_registry
from altaviz.schemas import REASON_CODES
from altaviz.simulate import SimulationParams, read_ground_truth, read_readings, simulate_fleet

REGISTRY = get_registry()
UTC = "UTC"


def t(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=UTC)


def titles(figure) -> list[str]:
    return [ax.get_title() for ax in figure.axes if ax.get_visible()]


def ytick_labels(ax) -> list[str]:
    return [label.get_text() for label in ax.get_yticklabels()]


def bar_widths(ax) -> list[float]:
    return [bar.get_width() for bar in ax.patches]


def hex_colors(patches) -> list[str]:
    return [mcolors.to_hex(patch.get_facecolor()) for patch in patches]


def drawn_text(ax) -> list[str]:
    return [text.get_text() for text in ax.texts]


# ---------------------------------------------------------------------------------------------- 01

EVENTS = pd.DataFrame({
    "compressor_id": ["COMP-0002", "COMP-0001", "COMP-0001", "COMP-0002", "COMP-0003"],
    "category": ["failure", "failure", "sensor_fault", "sensor_fault", "sensor_fault"],
    "kind": ["bearing_wear", "valve_leak", "null", "spike", "null"],
    "sensor": [None, None, "vibration_mms", "discharge_temp_f", "gas_flow_mcf"],
    "start": [t("2026-01-05"), t("2026-01-02"), t("2026-01-03"), t("2026-01-04"), t("2026-01-04")],
    "end": [t("2026-01-12"), t("2026-01-04 06:00"), t("2026-01-03 01:00"), t("2026-01-04 00:10"), t("2026-01-04 02:00")],
    # COMP-0002 is still degrading when the data ends: its trip lies after the readings.
    "failure_time": [t("2026-01-11"), t("2026-01-04"), pd.NaT, pd.NaT, pd.NaT],
})


def test_ground_truth_keeps_the_fault_kind_null_as_a_name(tmp_path):
    (tmp_path / "ground_truth").mkdir()
    (tmp_path / "ground_truth" / "events.csv").write_text(
        "compressor_id,category,kind,sensor,start,end,failure_time\n"
        "COMP-0001,sensor_fault,null,vibration_mms,2026-01-03 00:00:00,2026-01-03 01:00:00,\n"
        "COMP-0001,failure,valve_leak,,2026-01-02 00:00:00,2026-01-04 06:00:00,2026-01-04 00:00:00\n")
    events = read_ground_truth(tmp_path)
    assert events["kind"].tolist() == ["null", "valve_leak"]
    assert events["sensor"].isna().tolist() == [False, True]
    assert events["failure_time"].tolist()[1] == t("2026-01-04")


def test_failure_readings_are_one_units_from_parquet_and_csv_around_its_failure(tmp_path):
    # chunk_size 1: COMP-0001 and COMP-0003 land in Parquet, COMP-0002 in CSV.
    simulate_fleet(SimulationParams(compressor_count=3, start_date="2026-01-01", end_date="2026-01-15", seed=5,
                                    chunk_size=1), tmp_path)
    everything = read_readings(tmp_path)
    for unit in ("COMP-0001", "COMP-0002"):
        expected = everything[everything["compressor_id"] == unit].reset_index(drop=True)
        pd.testing.assert_frame_equal(read_readings(tmp_path, compressor_id=unit), expected)
    failure = simulate.pick_failure(read_ground_truth(tmp_path))
    readings = simulate.read_failure_readings(tmp_path, failure)
    event = failure.iloc[0]
    assert set(readings["compressor_id"]) == {event["compressor_id"]}
    assert readings["timestamp"].is_monotonic_increasing
    assert readings["timestamp"].min() >= event["start"] - simulate.MARGIN
    assert readings["timestamp"].max() <= event["end"] + simulate.MARGIN


def test_the_failure_drawn_is_the_first_to_trip():
    picked = simulate.pick_failure(EVENTS)
    assert picked[["compressor_id", "kind"]].values.tolist() == [["COMP-0001", "valve_leak"]]
    assert simulate.pick_failure(EVENTS[EVENTS["category"] == "sensor_fault"]).empty


def test_fleet_map_names_each_station_with_its_units():
    stations = pd.DataFrame({
        "station_id": ["STN-001", "STN-002", "STN-003"], "station_name": ["a", "b", "c"],
        "latitude": [28.9, 32.0, 28.95], "longitude": [-97.9, -102.1, -97.95],
        "region": ["Eagle Ford", "Permian", "Eagle Ford"], "units": [3, 2, 1]})
    figure = simulate.fleet_map(stations)
    (ax,) = figure.axes
    assert titles(figure) == ["Fleet: 6 compressors at 3 stations"]
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["Eagle Ford", "Permian"]
    assert drawn_text(ax) == ["STN-001 (3)", "STN-002 (2)", "STN-003 (1)"]


def test_fleet_map_without_stations_says_so():
    figure = simulate.fleet_map(pd.DataFrame(columns=["station_id", "latitude", "longitude", "region", "units"]))
    assert titles(figure) == ["Fleet: no stations in the landing folder"]
    assert drawn_text(figure.axes[0]) == ["no station_locations rows"]


def test_failure_figure_shows_six_sensors_with_the_windows_shaded():
    failure = simulate.pick_failure(EVENTS)
    times = pd.date_range("2026-01-01", "2026-01-05", freq="6h", tz=UTC)
    readings = pd.DataFrame({"compressor_id": "COMP-0001", "timestamp": times,
                             **{name: range(len(times)) for name in REGISTRY.columns}})
    figure = simulate.failure_sensors(readings, failure)
    physics = [s for s in REGISTRY.sensors.values() if s.simulation.get("physics")]
    assert titles(figure) == [f"{s.label} ({s.unit})" for s in physics]
    assert figure.get_suptitle() == ("COMP-0001: valve leak, precursor from 2026-01-02 00:00, trip at 2026-01-04 00:00 UTC")
    # A reading line plus the warning line, and the critical line where the sensor has one.
    assert [len(ax.lines) for ax in figure.axes] == [2 + (s.critical is not None) for s in physics]
    assert [len(ax.patches) for ax in figure.axes] == [2] * len(physics)  # degradation window, downtime
    assert [text.get_text() for text in figure.legends[0].get_texts()] == [
        "reading", "degradation window", "downtime", "warning limit", "critical limit"]


def test_failure_figure_without_a_failure_says_so():
    figure = simulate.failure_sensors(pd.DataFrame(columns=["timestamp"]), simulate.pick_failure(EVENTS.iloc[2:]))
    assert figure.get_suptitle() == "No injected failure to show"
    assert {text for ax in figure.axes for text in drawn_text(ax)} == {"no failure in ground_truth/events.csv"}


def test_faults_by_kind_lists_every_kind():
    figure = simulate.faults_by_kind(EVENTS)
    (ax,) = figure.axes
    assert titles(figure) == ["Sensor faults by kind (3 injected)"]
    assert ytick_labels(ax) == ["stuck", "drift", "gap", "spike", "duplicate", "out of order", "null"]
    assert bar_widths(ax) == [0, 0, 0, 1, 0, 0, 2]


def test_faults_by_kind_without_faults_says_so():
    assert titles(simulate.faults_by_kind(EVENTS.iloc[:2])) == ["Sensor faults by kind: none injected"]


# ---------------------------------------------------------------------------------------------- 02

FILES = pd.DataFrame(
    [("sensor_readings/a.parquet", "ingested", ""), ("sensor_readings/b.parquet", "ingested", ""),
     ("sensor_readings/c.csv", "skipped: already ingested", ""),
     ("sensor_readings/d.csv", "rejected", "missing required columns: timestamp"),
     ("sensor_readings/e.csv", "rejected", "missing required columns: timestamp"),
     ("sensor_readings/f.csv.part", "deferred: still being written", "still being written: a temporary name (*.part)"),
     ("exports/g.csv", "ignored", "no ingest profile's files pattern matches it")],
    columns=["source_file", "status", "reason"])


def test_deliveries_by_status_and_rejection_reason():
    figure = bronze.deliveries(FILES)
    by_status, by_reason = figure.axes
    assert figure.get_suptitle() == "Bronze: 7 sensor file(s) seen by this run"
    assert titles(figure) == ["Files by status", "Rejection reasons (2 file(s))"]
    assert ytick_labels(by_status) == [
        "ingested", "skipped: already ingested", "rejected", "deferred: still being written", "ignored"]
    assert bar_widths(by_status) == [2, 1, 2, 1, 1]
    assert hex_colors(by_status.patches) == [HEALTH_COLORS["healthy"], "#546e7a", HEALTH_COLORS["critical"],
                                             HEALTH_COLORS["warning"], "#546e7a"]
    assert ytick_labels(by_reason) == ["missing required columns: timestamp"]
    assert bar_widths(by_reason) == [2]


def test_deliveries_without_rejections_say_so():
    figure = bronze.deliveries(FILES.iloc[:3])
    assert titles(figure) == ["Files by status", "Rejection reasons"]
    assert bar_widths(figure.axes[0]) == [2, 1, 0, 0, 0]
    assert drawn_text(figure.axes[1]) == ["no file rejected"]


# ---------------------------------------------------------------------------------------------- 03

def test_quarantine_lists_every_rule_in_judging_order():
    counts = pd.DataFrame({"reason": REASON_CODES, "rows": [0, 0, 0, 0, 0, 3, 0, 0, 0, 12, 0]})
    figure = silver.quarantine_by_reason(counts)
    (ax,) = figure.axes
    assert titles(figure) == ["Quarantined rows by reason (15 in all)"]
    assert ytick_labels(ax) == [code.replace("_", " ") for code in REASON_CODES]
    assert bar_widths(ax) == [0, 0, 0, 0, 0, 3, 0, 0, 0, 12, 0]
    assert titles(silver.quarantine_by_reason(counts.assign(rows=0))) == ["Quarantined rows by reason: none"]


def test_outliers_stack_by_sensor_worst_unit_first():
    flags = pd.DataFrame([("COMP-0001", "vibration_mms", 5), ("COMP-0001", "discharge_temp_f", 2),
                          ("COMP-0002", "vibration_mms", 9)], columns=["compressor_id", "sensor", "flags"])
    figure = silver.outliers_by_compressor(flags)
    (ax,) = figure.axes
    assert titles(figure) == ["Outlier flags per compressor (16 flags, 2 compressor(s))"]
    assert [label.get_text() for label in ax.get_xticklabels()] == ["COMP-0002", "COMP-0001"]
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["Discharge temperature", "Vibration"]
    assert [bar.get_height() for bar in ax.patches] == [0, 2, 9, 5]  # per sensor: both units
    assert drawn_text(ax) == ["9", "7"]  # totals on top


def test_outliers_without_flags_say_so():
    figure = silver.outliers_by_compressor(pd.DataFrame(columns=["compressor_id", "sensor", "flags"]))
    assert titles(figure) == ["Outlier flags per compressor: none"]


def quality_rows() -> pd.DataFrame:
    rows = []
    for metric, fleet, units, gate in (("completeness", 0.99, [0.995, 0.9], 0.95), ("freshness", 10.0, [10.0, 30.0], 15.0),
                                       ("consistency", 1.0, [1.0, 1.0], 0.95), ("accuracy", 0.999, [1.0, 0.998], 0.95)):
        better = (lambda v: v <= gate) if metric == "freshness" else (lambda v: v >= gate)
        rows += [(unit, metric, value, gate, better(value))
                 for unit, value in ((None, fleet), ("COMP-0001", units[0]), ("COMP-0002", units[1]))]
    return pd.DataFrame(rows, columns=["compressor_id", "metric_type", "metric_value", "threshold_value", "pass_threshold"])


def test_quality_metrics_against_their_gates():
    figure = silver.quality_against_gates(quality_rows())
    assert figure.get_suptitle() == "Data quality against the gates"
    assert titles(figure) == ["Completeness (gate ≥ 95.00%, dashed)", "Freshness (gate ≤ 15 min, dashed)",
                              "Consistency (gate ≥ 95.00%, dashed)", "Accuracy (gate ≥ 95.00%, dashed)"]
    completeness, freshness = figure.axes[:2]
    # The fleet first, then the worst units; the value is in the label, red when the unit misses its gate.
    assert ytick_labels(completeness) == ["fleet  99.00%", "COMP-0002  90.00%", "COMP-0001  99.50%"]
    assert hex_colors(completeness.patches) == [HEALTH_COLORS["healthy"], HEALTH_COLORS["critical"], HEALTH_COLORS["healthy"]]
    assert ytick_labels(freshness) == ["fleet  10 min", "COMP-0002  30 min", "COMP-0001  10 min"]
    assert [line.get_xdata()[0] for ax in figure.axes for line in ax.lines] == [0.95, 15.0, 0.95, 0.95]


def test_a_missing_quality_metric_says_so():
    figure = silver.quality_against_gates(quality_rows().query("metric_type != 'freshness'"))
    assert drawn_text(figure.axes[1]) == ["no freshness metric in this run"]


# ---------------------------------------------------------------------------------------------- 04

def test_the_degrading_unit_has_most_critical_then_warning_readings():
    counts = pd.DataFrame({"compressor_id": ["A", "B", "C", "D"], "critical": [1, 5, 5, 0], "warning": [50, 2, 3, 90]})
    assert gold.pick_degrading_unit(counts) == "C"
    assert gold.pick_degrading_unit(counts.iloc[:0]) is None


def test_status_runs_stop_one_step_after_their_last_reading():
    times = pd.Series(pd.to_datetime(["2026-01-01 00:00", "2026-01-01 00:10", "2026-01-01 00:20",
                                      "2026-01-01 05:00", "2026-01-01 05:10"]))
    runs = gold.status_runs(times, pd.Series(["normal", "warning", "warning", "normal", None]))
    assert runs.astype(str).values.tolist() == [
        ["2026-01-01 00:00:00", "2026-01-01 00:10:00", "normal"],
        ["2026-01-01 00:10:00", "2026-01-01 00:30:00", "warning"],  # not across the outage to 05:00
        ["2026-01-01 05:00:00", "2026-01-01 05:10:00", "normal"],
        ["2026-01-01 05:10:00", "2026-01-01 05:20:00", "missing"]]


def test_rolling_features_of_the_degrading_unit():
    times = pd.date_range("2026-01-01", periods=4, freq="10min", tz=UTC)
    unit = pd.DataFrame({"compressor_id": "COMP-0008", "timestamp": times,
                         **{column: [1.0, 2.0, 3.0, 4.0] for column in REGISTRY.rolling_columns()},
                         **{f"{name}_status": "normal" for name in REGISTRY.signals}})
    unit["vibration_mms_status"] = ["normal", "warning", "critical", "critical"]
    figure = gold.rolling_features(unit, registry=REGISTRY)
    rolling = REGISTRY.rolling_sensors()
    assert figure.get_suptitle() == "Gold features of COMP-0008, the unit with most alert-level readings"
    expected = [title for s in rolling for title in (f"{s.label}: rolling mean ({s.unit})", f"{s.label}: rolling std ({s.unit})")]
    assert titles(figure) == [*expected, "Status per signal (2 status changes; white: normal)"]
    levels, spreads = figure.axes[0:-1:2], figure.axes[1:-1:2]
    assert [len(ax.lines) for ax in levels] == [3 + 1 + (s.critical is not None) for s in rolling]  # 3 windows + limits
    assert [len(ax.lines) for ax in spreads] == [3] * len(rolling)
    assert [text.get_text() for text in levels[0].get_legend().get_texts()] == [
        "1hr mean", "4hr mean", "24hr mean", "warning limit", "critical limit"]
    strip = figure.axes[-1]
    assert ytick_labels(strip) == [signal.label for signal in REGISTRY.signals.values()]
    spells = [c for c in strip.collections if isinstance(c, PolyCollection)]
    assert [len(c.get_paths()) for c in spells][:2] == [1, 1]  # vibration: one warning, one critical spell
    assert sum(len(c.get_paths()) for c in spells) == 2


def test_rolling_features_without_a_degrading_unit_say_so():
    figure = gold.rolling_features(pd.DataFrame(columns=["compressor_id", "timestamp"]), registry=REGISTRY)
    assert figure.get_suptitle() == "Gold: no unit reached a warning level"


# ---------------------------------------------------------------------------------------------- 05

ALERTS = pd.DataFrame(
    [("COMP-0001", "vibration_mms", "threshold", "warning", t("2026-01-03 10:00"), t("2026-01-04"), True, t("2026-01-04 06:00"),
      pd.NaT),
     ("COMP-0001", "vibration_mms", "threshold", "critical", t("2026-01-08"), t("2026-01-10"), False, pd.NaT,
      t("2026-01-09")),
     ("COMP-0002", "temp_rate_of_change", "rate_of_change", "warning", t("2026-01-05"), t("2026-01-05 02:00"), True,
      t("2026-01-05 03:00"), pd.NaT)],
    columns=["compressor_id", "sensor_name", "alert_type", "severity", "alert_timestamp", "last_seen_at", "resolved",
             "resolved_at", "escalated_at"])


def test_alert_timeline_one_row_per_problem_coloured_by_severity():
    figure = serving.alert_timeline(ALERTS)
    (ax,) = figure.axes
    assert titles(figure) == ["Alerts over time: 3 opened, 2 resolved, 1 open (2 problem(s))"]
    assert ytick_labels(ax) == ["COMP-0001 · Vibration (threshold)",
                                "COMP-0002 · Discharge temperature rate of change (rate of change)"]
    bars = [c for c in ax.collections if isinstance(c, PolyCollection)]
    # The escalated alert: a critical bar with its warning stretch (until 01-09) painted over it.
    assert [mcolors.to_hex(c.get_facecolor()[0]) for c in bars] == [
        SEVERITY_COLORS["warning"], SEVERITY_COLORS["critical"], SEVERITY_COLORS["warning"], SEVERITY_COLORS["warning"]]
    assert [line.get_marker() for line in ax.lines] == [">", "s", "D", ">", serving.STILL_OPEN, ">", "s"]
    assert [text.get_text() for text in figure.legends[0].get_texts()] == [
        "warning", "critical", "opened", "escalated", "resolved", "still open"]


def test_alert_timeline_without_alerts_says_so():
    figure = serving.alert_timeline(ALERTS.iloc[:0])
    assert titles(figure) == ["Alerts over time: none raised"]


def test_read_alerts_since_a_time_feeds_the_timeline(serving_settings):
    from altaviz.io import db

    with db.transaction(serving_settings) as conn:
        conn.execute("INSERT INTO station_locations (station_id, station_name, latitude, longitude) "
                     "VALUES ('S', 'Station', 30, -97)")
        conn.execute("INSERT INTO compressor_metadata (compressor_id, model, horsepower, station_id) "
                     "VALUES ('A', 'm', 1340, 'S')")
        conn.execute(
            "INSERT INTO alert_history (compressor_id, alert_timestamp, last_seen_at, alert_type, severity, "
            "sensor_name, message, resolved, resolved_at, escalated_at) VALUES "
            "('A', '2026-01-01', '2026-01-01 01:00', 'threshold', 'warning', 'vibration_mms', 'w', TRUE, '2026-01-01 02:00', NULL), "
            "('A', '2026-01-03', '2026-01-03 01:00', 'threshold', 'critical', 'vibration_mms', 'c', FALSE, NULL, '2026-01-03 00:30')")
    alerts = serving.read_alerts(serving_settings, since="2026-01-02")
    assert alerts[["compressor_id", "severity", "resolved", "escalated_at"]].values.tolist() == [
        ["A", "critical", False, pd.Timestamp("2026-01-03 00:30", tz="UTC")]]
    assert titles(serving.alert_timeline(alerts)) == ["Alerts over time: 1 opened, 0 resolved, 1 open (1 problem(s))"]


# ------------------------------------------------------------------------------------------ browser

@pytest.fixture(scope="module")
def simulate_notebook_html(tmp_path_factory) -> Path:
    """01_simulate executed on a small fleet (no Spark needed) and converted with nbconvert."""
    folder = tmp_path_factory.mktemp("notebook_html")
    executed = folder / "01_simulate.ipynb"
    papermill.execute_notebook(
        str(PROJECT_ROOT / "notebooks" / "01_simulate.ipynb"), str(executed),
        parameters={"run_id": "figures", "compressor_count": 3, "start_date": "2026-01-01",
                    "end_date": "2026-01-08", "seed": 5, "landing_dir": str(folder / "landing")},
        cwd=str(PROJECT_ROOT / "notebooks"), kernel_name="python3", progress_bar=False)
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(executed)],
                   check=True, capture_output=True, cwd=folder)
    return folder / "01_simulate.html"


def figure_outputs(path: Path) -> int:
    return sum("image/png" in output.get("data", {})
               for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code" for output in cell.outputs)


@pytest.mark.browser
def test_executed_notebook_shows_its_figures_offline(chromium, simulate_notebook_html):
    from playwright.sync_api import sync_playwright

    assert figure_outputs(simulate_notebook_html.with_suffix(".ipynb")) == 3
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        # Offline: anything but the file itself (a CDN script, a font) is refused.
        context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://") else route.abort())
        page = context.new_page()
        page.goto(simulate_notebook_html.as_uri(), wait_until="load")
        widths = page.eval_on_selector_all("img", "images => images.map(image => image.naturalWidth)")
        browser.close()
    assert len(widths) == 3 and all(width > 0 for width in widths), widths


def _two_points(span: str):
    figure = Figure()
    ax = figure.add_subplot()
    ax.plot(pd.date_range("2026-01-01", periods=2, freq=span), [0, 1])
    return figure, ax


@pytest.mark.parametrize("span", ["20s", "4min", "4h", "100h", "4D", "20D", "100D", "1500D"])
def test_a_date_axis_has_a_few_ticks_over_any_span_and_no_warning(span):
    figure, ax = _two_points(span)
    date_axis(ax)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a run's output shows matplotlib's warnings to the user
        png_bytes(figure)
    assert 3 <= len(ax.get_xticks()) <= 8


def test_matplotlibs_own_steps_fit_no_tick_over_four_days():
    figure, ax = _two_points("4D")  # why date_axis adds steps: the plain locator warns and falls back
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=8))
    with pytest.warns(UserWarning, match="AutoDateLocator was unable to pick an appropriate interval"):
        png_bytes(figure)
