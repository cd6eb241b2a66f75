"""The Data Quality page: figure and table builders on literal frames, and its queries on a seeded PostgreSQL
(the as-of cut, the latest run chosen by time, rejected files as they stood)."""

from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd
from pandas.testing import assert_frame_equal

from altaviz.dashboard import queries
from altaviz.dashboard.pages.quality import (
    LIMIT_COLOR,
    METRICS,
    QualityPage,
    metric_figure,
    reason_counts,
    unit_table,
    worst_units,
)
from altaviz.dashboard.style import HEALTH_COLORS
from altaviz.dashboard.view import View
from altaviz.io import db
from reliability import reliability

GREEN, RED = HEALTH_COLORS["healthy"], HEALTH_COLORS["critical"]
R1, R2 = pd.Timestamp("2026-02-08", tz="UTC"), pd.Timestamp("2026-02-09", tz="UTC")


def _history_row(run_id, when, metric_type, value, limit, passed, metric_name=""):
    return {"run_id": run_id, "metric_timestamp": when, "metric_type": metric_type, "metric_name": metric_name,
            "metric_value": value, "threshold_value": limit, "pass_threshold": passed}


HISTORY = pd.DataFrame([
    _history_row("r1", R1, "freshness", 12.0, 15.0, True),
    _history_row("r2", R2, "freshness", None, 15.0, False),  # no valid reading: unmeasured, failing
    _history_row("r1", R1, "completeness", 0.999, 0.95, True),
    _history_row("r2", R2, "completeness", 0.90, 0.95, False),
    _history_row("r1", R1, "consistency", 1.0, 0.99, True),
    _history_row("r2", R2, "consistency", 1.0, 0.995, True),  # the gate was tightened between the runs
    _history_row("r1", R1, "accuracy", 0.97, 0.98, False, "rejection_rate"),
    _history_row("r2", R2, "accuracy", 0.99, 0.98, True, "rejection_rate"),
    _history_row("r1", R1, "accuracy", 0.99, 0.95, True, "outlier_rate"),
    _history_row("r2", R2, "accuracy", 0.99, 0.95, True, "outlier_rate"),
])


def _traces(figure):
    """(name, panel, y, colour or line dash) of every trace: what a reader sees per panel."""
    described = []
    for trace in figure.data:
        if trace.name.endswith(" limit"):
            look = (trace.line.dash, trace.line.color, trace.line.shape, trace.marker.symbol)
        else:
            color = trace.marker.color
            look = list(color) if isinstance(color, (list, tuple)) else color
        described.append((trace.name, trace.xaxis, [None if pd.isna(y) else float(y) for y in trace.y], look))
    return described


def test_metric_figure_has_a_panel_per_metric_with_its_limit_and_a_verdict_per_run():
    figure = metric_figure(HISTORY)
    limit = ("dash", LIMIT_COLOR, "hv", "line-ew-open")
    assert _traces(figure) == [
        ("freshness", "x", [12.0], [GREEN]),
        ("freshness: not measured", "x", [15.0], RED),  # drawn on its limit, in the failing colour
        ("freshness limit", "x", [15.0, 15.0], limit),
        ("completeness", "x2", [0.999, 0.90], [GREEN, RED]),
        ("completeness limit", "x2", [0.95, 0.95], limit),
        ("consistency", "x3", [1.0, 1.0], [GREEN, GREEN]),
        ("consistency limit", "x3", [0.99, 0.995], limit),  # a changed gate shows as a step
        ("accuracy · outlier_rate", "x4", [0.99, 0.99], [GREEN, GREEN]),
        ("accuracy · outlier_rate limit", "x4", [0.95, 0.95], limit),
        ("accuracy · rejection_rate", "x4", [0.97, 0.99], [RED, GREEN]),
        ("accuracy · rejection_rate limit", "x4", [0.98, 0.98], limit),
    ]
    assert [a.text.split(":")[0] for a in figure.layout.annotations] == [m.title() for m in METRICS]
    # Shares read as percentages; freshness stays in minutes.
    assert [figure.layout[f"yaxis{n}"].tickformat for n in ("", "2", "3", "4")] == [None, ".2%", ".2%", ".2%"]


def test_metric_figure_colours_follow_the_verdict_not_the_value():
    """The failing case: the same values with the verdicts flipped get the other colours."""
    flipped = HISTORY.assign(pass_threshold=~HISTORY["pass_threshold"].astype(bool))
    completeness = [t for t in metric_figure(flipped).data if t.name == "completeness"]
    assert [list(t.marker.color) for t in completeness] == [[RED, GREEN]]


UNITS = pd.DataFrame({
    "compressor_id": ["C-A", "C-B", "C-C", "C-D", "C-E"],
    "completeness": [0.999, 0.80, None, 0.999, 0.99],
    "freshness_minutes": [10.0, 300.0, None, 10.0, 500.0],
    "in_downtime": [False, False, False, False, True],
    "duplicates": [0, 1, None, 3, 0],
    "rejected": [0, 2, None, 0, 0],
    "failed_count": [0, 2, 1, 0, 0],
    "failed_checks": ["", "completeness, freshness", "freshness", "", ""],
})


def test_units_worst_first_failed_checks_then_completeness_then_quarantined():
    # Alphabetical order would be A, B, C, D, E; D ties A on completeness and freshness but has duplicates.
    assert list(worst_units(UNITS)["compressor_id"]) == ["C-B", "C-C", "C-E", "C-D", "C-A"]
    expected = pd.DataFrame({
        "compressor": ["C-B", "C-C", "C-E", "C-D", "C-A"],
        "failed checks": ["completeness, freshness", "freshness", "–", "–", "–"],
        "completeness": ["80.00%", "–", "99.00%", "99.90%", "99.90%"],
        "freshness (min)": ["300", "–", "downtime", "10", "10"],
        "quarantined rows": [3, 0, 0, 3, 0],
        "rejected rows": [2, 0, 0, 0, 0],
    })
    assert_frame_equal(unit_table(UNITS), expected)


def test_reason_counts_per_reason_most_rows_first():
    quarantine = pd.DataFrame({
        "compressor_id": ["C-A", "C-B", None, "C-A"],
        "reason": ["duplicate", "duplicate", "missing_id", "physically_impossible"],
        "row_count": [4, 2, 7, 1],
        "example_detail": ["same file", "again", "compressor_id is empty", "vibration_mms=-3"],
    })
    expected = pd.DataFrame({
        "reason": ["missing_id", "duplicate", "physically_impossible"],
        "rows": [7, 6, 1],
        "units": [1, 2, 1],
        "example": ["compressor_id is empty", "again", "vibration_mms=-3"],
    })
    assert_frame_equal(reason_counts(quarantine), expected)
    assert list(reason_counts(quarantine.iloc[:0]).columns) == list(expected.columns)


# --------------------------------------------------------------------------- queries on a seeded database

T1, T2, T3 = R1, R2, pd.Timestamp("2026-02-10", tz="UTC")
AS_OF = pd.Timestamp("2026-02-09 12:00", tz="UTC").to_pydatetime()
# Run ids chosen so that id order is the opposite of time order: "latest" must follow time.
RUNS = {"zz-first": T1, "aa-second": T2, "mm-after": T3}


def _seed(settings) -> None:
    fleet = [(run, when, None, metric, value, limit, passed, "{}")
             for run, when in RUNS.items()
             for metric, value, limit, passed in (("freshness", 10.0, 15.0, True), ("completeness", 0.99, 0.95, True),
                                                  ("consistency", 1.0, 0.99, True), ("accuracy", 0.9, 0.95, False))]

    def unit(run, cid, completeness, freshness, duplicates, rejected, stale):
        when = RUNS[run]
        return [
            (run, when, cid, "completeness", completeness, 0.95, completeness >= 0.95,
             json.dumps({"expected": 100, "received": round(completeness * 100)})),
            (run, when, cid, "freshness", freshness, 15.0, not stale, json.dumps({"in_logged_downtime": False})),
            (run, when, cid, "consistency", 1.0, 0.99, True, json.dumps({"duplicates": duplicates})),
            (run, when, cid, "accuracy", 0.99, 0.95, True, json.dumps({"rejected": rejected})),
        ]

    units = (unit("zz-first", "C-1", 0.50, 900.0, 9, 9, True) + unit("aa-second", "C-1", 0.99, 10.0, 1, 2, False)
             + unit("aa-second", "C-2", 0.90, 40.0, 0, 0, True) + unit("mm-after", "C-1", 0.10, 999.0, 5, 5, True))
    quarantine = [
        ("zz-first", "C-1", "duplicate", 9, 1, "first"),
        ("aa-second", "C-1", "physically_impossible", 2, 1, "vibration_mms=-3.0"),
        ("aa-second", None, "missing_id", 5, 2, "compressor_id is empty"),
        ("mm-after", "C-1", "duplicate", 5, 1, "later"),
    ]
    rejected = [
        ("sha-1", "early.csv", "missing column timestamp", pd.Timestamp("2026-02-01", tz="UTC"), "bronze-x"),
        ("sha-2", "second.csv", "unreadable", pd.Timestamp("2026-12-01", tz="UTC"), "aa-second"),
        ("sha-3", "after.csv", "unreadable", pd.Timestamp("2026-12-02", tz="UTC"), "mm-after"),
        ("sha-4", "bronze-only.csv", "no readable column", pd.Timestamp("2026-12-03", tz="UTC"), "bronze-only"),
    ]
    with db.transaction(settings) as conn, conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO data_quality_metrics (run_id, metric_timestamp, compressor_id, metric_type, metric_value, "
            "threshold_value, pass_threshold, details) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", fleet + units)
        cursor.executemany(
            "INSERT INTO quarantine_summary (run_id, compressor_id, reason, row_count, source_files, example_detail) "
            "VALUES (%s, %s, %s, %s, %s, %s)", quarantine)
        cursor.executemany(
            "INSERT INTO rejected_files (content_sha256, source_file, reason, ingested_at, run_id) "
            "VALUES (%s, %s, %s, %s, %s)", rejected)


def test_latest_run_is_the_newest_by_time_at_or_before_as_of(serving_settings):
    _seed(serving_settings)
    assert queries.read_quality_run(serving_settings, AS_OF) == {"run_id": "aa-second", "metric_timestamp": T2}
    assert queries.read_quality_run(serving_settings, T3.to_pydatetime())["run_id"] == "mm-after"  # at as-of: in
    assert queries.read_quality_run(serving_settings, (T1 - pd.Timedelta(seconds=1)).to_pydatetime()) is None


def test_history_holds_the_fleet_rows_of_runs_measured_by_as_of(serving_settings):
    _seed(serving_settings)
    history = queries.read_quality_history(serving_settings, AS_OF)
    expected = pd.DataFrame(
        [(run, RUNS[run], metric, "", value, limit, passed)
         for run in ("zz-first", "aa-second")
         for metric, value, limit, passed in (("accuracy", 0.9, 0.95, False), ("completeness", 0.99, 0.95, True),
                                              ("consistency", 1.0, 0.99, True), ("freshness", 10.0, 15.0, True))],
        columns=["run_id", "metric_timestamp", "metric_type", "metric_name", "metric_value", "threshold_value",
                 "pass_threshold"])
    assert_frame_equal(history, expected)
    # Only the newest runs when told to keep fewer.
    newest = queries.read_quality_history(serving_settings, AS_OF, runs=1)
    assert_frame_equal(newest, expected.iloc[4:].reset_index(drop=True))


def test_units_and_quarantine_come_from_the_chosen_run_only(serving_settings):
    _seed(serving_settings)
    units = queries.read_unit_quality(serving_settings, "aa-second")
    expected = pd.DataFrame({
        "compressor_id": ["C-1", "C-2"], "completeness": [0.99, 0.90], "freshness_minutes": [10.0, 40.0],
        "in_downtime": [False, False], "duplicates": [1, 0], "rejected": [2, 0], "failed_count": [0, 2],
        "failed_checks": ["", "completeness, freshness"],
    })
    assert_frame_equal(units, expected)
    quarantine = queries.read_quarantine(serving_settings, "aa-second")
    assert [tuple(r) for r in quarantine[["compressor_id", "reason", "row_count", "source_files", "example_detail"]]
            .itertuples(index=False)] == [
        (None, "missing_id", 5, 2, "compressor_id is empty"),
        ("C-1", "physically_impossible", 2, 1, "vibration_mms=-3.0"),
    ]


def test_rejected_files_as_they_stood_at_as_of(serving_settings):
    _seed(serving_settings)
    back_then = queries.read_rejected_files(serving_settings, AS_OF)
    # early.csv was logged by then; second.csv's run measured by then; the other two came later.
    assert list(back_then["source_file"]) == ["second.csv", "early.csv"]
    newest = queries.read_rejected_files(serving_settings, T3.to_pydatetime())
    # At the newest run every rejection shows, also the one of a run that stopped at bronze.
    assert list(newest["source_file"]) == ["bronze-only.csv", "after.csv", "second.csv", "early.csv"]
    assert list(newest.columns) == ["source_file", "reason", "ingested_at", "run_id", "file_format", "size_bytes"]


def test_page_draws_the_latest_run_and_opens_a_unit(serving_settings):
    _seed(serving_settings)
    opened = []
    page = QualityPage(serving_settings, open_unit=opened.append)
    page.show(View(as_of=AS_OF, fleet=pd.DataFrame()))
    assert "aa-second" in page.heading.value and "2 run(s) drawn" in page.heading.value
    # Worst first in the picker: C-2 failed two checks.
    assert page.unit.options == (("C-2 · completeness, freshness failed", "C-2"), ("C-1", "C-1"))
    reasons, by_unit = page.quarantine_tables.value.split("<b>Largest by compressor</b>")
    assert "missing_id" in reasons and "(no id)" in by_unit and "duplicate" not in reasons
    rejected = page.rejected_table.value
    assert "second.csv" in rejected and "after.csv" not in rejected
    page.unit.value = "C-1"
    page.open_selected()
    assert opened == ["C-1"]


@reliability("fault", "The database down when the Data Quality page is brought up",
             "plain words on the page; the rest of what it showed stays")
def test_page_says_plain_words_when_the_database_is_down_and_keeps_what_it_showed(serving_settings):
    _seed(serving_settings)
    page = QualityPage(serving_settings, open_unit=None)
    page.show(View(as_of=AS_OF, fleet=pd.DataFrame()))
    shown = [page.units_table.value, page.quarantine_tables.value, page.rejected_table.value]
    gone = replace(serving_settings, database=replace(serving_settings.database,
                                                      url="postgresql://postgres@127.0.0.1:9/altaviz"))
    page.settings = gone
    page.show(View(as_of=AS_OF, fleet=pd.DataFrame()))
    assert "Database unavailable" in page.heading.value and "127.0.0.1" in page.heading.value
    assert [page.units_table.value, page.quarantine_tables.value, page.rejected_table.value] == shown


def test_page_says_so_when_nothing_is_published(serving_settings):
    page = QualityPage(serving_settings, open_unit=None)
    page.show(View(as_of=AS_OF, fleet=pd.DataFrame()))
    assert "No data-quality run" in page.heading.value
    assert page.unit.options == () and page.open_button.disabled
    assert "No landing file was rejected." in page.rejected_table.value
    assert "No per-compressor metrics" in page.units_table.value
    assert page.quarantine_tables.value == "<p><i>Nothing quarantined in this run (or not published yet).</i></p>"


def test_runs_within_a_day_get_a_day_either_side_runs_further_apart_their_own_span():
    one_run = metric_figure(HISTORY[HISTORY["run_id"] == "r1"])
    assert [pd.Timestamp(x) for x in one_run.layout.xaxis.range] == [R1 - pd.Timedelta(days=1),
                                                                      R1 + pd.Timedelta(days=1)]
    assert metric_figure(HISTORY.assign(metric_timestamp=HISTORY["metric_timestamp"].map(
        {R1: R1 - pd.Timedelta(days=1), R2: R2}))).layout.xaxis.range is None  # two days apart: plotly's own
