"""05_publish against the real embedded PostgreSQL: aggregates, upserts, alerts, views, failures.

Each test gets a brand-new database on the session's server and a private lake folder, so tests
neither see each other's rows nor the rest of the suite's. The lake tables are real Delta tables
written with ``lake.write_table`` from literal rows; ``publish`` reads them as in production.
"""

from __future__ import annotations

from dataclasses import replace

import os
import re
import signal
import socket
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone

import pandas as pd
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pyspark.testing import assertDataFrameEqual

from altaviz import schemas
from altaviz.config import load_settings
from altaviz.io import db, lake
from altaviz.registry import WINDOWS
from altaviz.serving import stage as serving
from altaviz.serving import transforms as serving_transforms
from reliability import reliability

T0 = datetime(2026, 1, 14, 0, 0)  # naive = UTC (the Spark session runs in UTC)
STEP = timedelta(minutes=10)
NORMAL = {
    "vibration_mms": 3.0, "discharge_temp_f": 200.0, "suction_pressure_psi": 60.0,
    "discharge_pressure_psi": 1050.0, "horsepower_consumption": 1400.0, "gas_flow_mcf": 10000.0,
}
COMPRESSORS = ("COMP-0001", "COMP-0002", "COMP-0003")


# --------------------------------------------------------------------------- fixtures and helpers


def gold_row(compressor_id: str, timestamp: datetime, **values) -> dict:
    row = dict.fromkeys(schemas.GOLD_SCHEMA.fieldNames())
    row.update(compressor_id=compressor_id, timestamp=timestamp, date=timestamp.date(), run_id="lake")
    row.update(NORMAL)
    row.update(values)
    pressures = row["discharge_pressure_psi"], row["suction_pressure_psi"]
    row["pressure_differential"] = None if None in pressures else pressures[0] - pressures[1]
    row.setdefault("temp_rate_of_change", 0.0)
    if row["temp_rate_of_change"] is None:
        row["temp_rate_of_change"] = 0.0
    return row


def readings(compressor_id: str, start: datetime, count: int, **overrides) -> list[dict]:
    """``count`` readings at 10-minute cadence; ``overrides`` maps a sensor to {index: value}."""
    rows = []
    for index in range(count):
        values = {sensor: series[index] for sensor, series in overrides.items() if index in series}
        rows.append(gold_row(compressor_id, start + index * STEP, **values))
    return rows


def base_gold() -> list[dict]:
    """Six hours for three units: COMP-0001 healthy; COMP-0002 vibration warning for 40 minutes (one
    reading past critical: a peak, not a critical alert), two hours normal (auto-resolve), then a new
    warning still open at the end; COMP-0003 a discharge temperature warning still open at the end.
    Each alert opens on its third breaching reading (``alerts.open_after_minutes``)."""
    vibration = {10: 6.5, 11: 6.6, 12: 6.7, 13: 8.4, 33: 6.2, 34: 6.3, 35: 6.1}
    return (
        readings("COMP-0001", T0, 36)
        + readings("COMP-0002", T0, 36, vibration_mms=vibration)
        + readings("COMP-0003", T0, 36, discharge_temp_f={33: 244.0, 34: 245.0, 35: 246.0})
    )


def lake_frames(spark, gold: list[dict], *, maintenance=None, quality=None) -> dict:
    """The lake tables 05 reads, as DataFrames built from literal rows."""
    return {
        "station_locations": spark.createDataFrame(
            [("ST-EF", "Eagle Ford 1", 28.88, -97.90, "Eagle Ford", "Karnes City", "TX")],
            schemas.STATION_LOCATIONS_SCHEMA),
        "compressor_metadata": spark.createDataFrame(
            [(cid, "Ajax DPC-360", 1340.0, date(2020, 5, 1), "ST-EF", 28.88, -97.90) for cid in COMPRESSORS],
            schemas.COMPRESSOR_METADATA_SCHEMA),
        "maintenance_logs": spark.createDataFrame(
            maintenance if maintenance is not None else
            [("COMP-0002", datetime(2025, 12, 1, 8), "Inspection", "Valve check", 2.0, "low")],
            schemas.MAINTENANCE_LOGS_SCHEMA),
        "data_quality_metrics": spark.createDataFrame(
            quality if quality is not None else [
                ("lake", T0, None, "completeness", 0.99, 0.95, True, '{"expected": 324}'),
                ("lake", T0, "COMP-0002", "completeness", 1.0, 0.95, True, '{"expected": 108}'),
                ("lake", T0, None, "accuracy", 0.0, 0.05, True, '{"metric": "rejection_rate"}'),
                ("lake", T0, None, "accuracy", 0.01, 0.05, True, '{"metric": "outlier_rate"}'),
                # An id silver saw in bronze but the fleet does not have: measured, never a stale alert.
                ("lake", T0, "COMP-0099", "freshness", None, 15.0, False, '{"unit": "minutes"}'),
            ],
            schemas.DQ_METRICS_SCHEMA),
        "sensors_gold": gold_frame(spark, gold),
    }


def write_lake(settings, frames: dict) -> None:
    """Write the lake tables as Delta under the settings' lake root, where 05 reads them; gold
    partitioned by date as the gold stage writes it."""
    for name, frame in frames.items():
        partition_by = ["date"] if name == "sensors_gold" else []
        lake.write_table(frame.coalesce(1), name, settings=settings, partition_by=partition_by)


def gold_frame(spark, gold: list[dict]):
    return spark.createDataFrame([tuple(r[f] for f in schemas.GOLD_SCHEMA.fieldNames()) for r in gold],
                                 schemas.GOLD_SCHEMA)


TABLES = ("station_locations", "compressor_metadata", "maintenance_events", "sensor_readings_agg",
          "alert_history", "data_quality_metrics", "ml_predictions")


UNSTABLE = ("updated_at", "created_at", "id")  # set by the database at insert time


def snapshot(settings, *, without=("updated_at",)) -> dict[str, pd.DataFrame]:
    """Every serving table, whole, in key order."""
    tables = {}
    with db.connect(settings) as conn:
        for table in TABLES:
            cursor = conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3")
            frame = pd.DataFrame(cursor.fetchall(), columns=[c.name for c in cursor.description])
            tables[table] = frame.drop(columns=[c for c in without if c in frame.columns])
    return tables


def assert_same_tables(before: dict, after: dict) -> None:
    for table in TABLES:
        pd.testing.assert_frame_equal(before[table], after[table], obj=table)


def rows(settings, sql: str, params=None) -> list[tuple]:
    with db.connect(settings) as conn:
        return conn.execute(sql, params).fetchall()


def copy_targets(statements: list[str]) -> set[str]:
    """The tables the recorded COPY statements wrote into."""
    return {s.split()[1].strip('"') for s in statements if s.startswith("COPY")}


def record_statements(monkeypatch) -> list[str]:
    """Every statement psycopg sends, recorded on the way to the real server (nothing is faked)."""
    statements: list[str] = []

    def spy(method):
        def recorded(self, query, *args, **kwargs):
            statements.append(query.as_string(self) if hasattr(query, "as_string") else str(query))
            return method(self, query, *args, **kwargs)
        return recorded

    monkeypatch.setattr(psycopg.Cursor, "copy", spy(psycopg.Cursor.copy))
    monkeypatch.setattr(psycopg.Cursor, "execute", spy(psycopg.Cursor.execute))
    monkeypatch.setattr(psycopg.Cursor, "executemany", spy(psycopg.Cursor.executemany))
    return statements


def loaded_aggregates(spark, settings):
    """``sensor_readings_agg`` as PostgreSQL holds it, in the aggregate columns, as a DataFrame."""
    columns = ", ".join(serving_transforms.aggregate_columns(REGISTRY))
    return spark.createDataFrame(rows(settings, f"SELECT {columns} FROM sensor_readings_agg"), AGG_SCHEMA)


def open_alerts(settings) -> list[tuple]:
    return rows(settings, "SELECT compressor_id, sensor_name, alert_type, severity, id FROM alert_history "
                          "WHERE NOT resolved ORDER BY 1, 2")


# --------------------------------------------------------------------------- aggregates (pure)


REGISTRY = load_settings().registry
AGG_SCHEMA = ", ".join(
    ["compressor_id string", "agg_timestamp timestamp", "window_type string"]
    + [f"{column} double" for column in serving_transforms.aggregate_columns(REGISTRY)[3:-2]]
    + ["reading_count int", "missing_readings int"]
)


def reference_aggregates(gold: list[dict], *, cadence_minutes: int) -> list[tuple]:
    """A transparent pandas reference for ``build_serving_aggregates``: for each window length, group
    the readings by compressor and window start (epoch seconds floored to the length) and compute each
    registry statistic with nulls skipped; the temperature rate is the least-squares slope in °F/h."""
    readings = pd.DataFrame(gold)
    epoch = (readings["timestamp"] - datetime(1970, 1, 1)).dt.total_seconds()
    out = []
    for window_type, seconds in WINDOWS.items():
        starts = (epoch // seconds * seconds).rename("start")
        for (compressor_id, start), window in readings.groupby(["compressor_id", starts]):
            row = {"compressor_id": compressor_id, "agg_timestamp": datetime(1970, 1, 1) + timedelta(seconds=start),
                   "window_type": window_type}
            for column, statistic, sensor in REGISTRY.aggregate_columns():
                values = window[sensor].dropna().astype(float)
                row[column] = (None if len(values) < (2 if statistic == "std" else 1)
                               else float(values.std(ddof=1) if statistic == "std" else getattr(values, statistic)()))
            deltas = window["pressure_differential"].dropna().astype(float)
            row["pressure_delta_mean"] = float(deltas.mean()) if len(deltas) else None
            pairs = pd.DataFrame({"hours": epoch[window.index] / 3600.0, "temp": window["discharge_temp_f"]}).dropna()
            hours, temps = pairs["hours"] - pairs["hours"].mean(), pairs["temp"].astype(float) - pairs["temp"].mean()
            spread = float((hours ** 2).sum())
            row["discharge_temp_rate_of_change"] = float((hours * temps).sum()) / spread if spread > 0 else None
            row["reading_count"] = len(window)
            row["missing_readings"] = max(seconds // (cadence_minutes * 60) - len(window), 0)
            out.append(tuple(row[c] for c in serving_transforms.aggregate_columns(REGISTRY)))
    return out


def test_aggregates_windows_counts_and_rate(spark):
    start = datetime(2026, 1, 14, 1, 0)
    temps = {i: 200.0 + 2.0 * i for i in range(6)}  # +2 °F per 10 min = 12 °F/h
    gold = gold_frame(spark, readings("COMP-0001", start, 5, discharge_temp_f=temps))  # 5 of 6 readings in the hour
    aggregates = serving_transforms.build_serving_aggregates(gold, registry=REGISTRY, cadence_minutes=10)
    assert aggregates.columns == list(serving_transforms.aggregate_columns(REGISTRY))
    assert set(serving_transforms.AGG_COLUMNS) == set(aggregates.columns)

    # By hand: the same five readings in each window. Temperatures 200..208: mean 204, sample std
    # sqrt(40 / 4); every other sensor constant (std 0); differential 1050 - 60; 12 °F/h.
    def window(agg_timestamp, window_type, missing):
        return ("COMP-0001", agg_timestamp, window_type,
                3.0, 0.0, 3.0, 3.0,  # vibration mean, std, min, max
                204.0, round(10 ** 0.5, 6), 208.0,  # discharge temperature mean, std, max
                60.0, 0.0, 60.0,  # suction pressure mean, std, min
                1050.0, 0.0, 1050.0,  # discharge pressure mean, std, max
                1400.0, 0.0,  # horsepower mean, std
                10000.0,  # gas flow mean
                990.0, 12.0, 5, missing)

    hour, four_hours, day = (window(datetime(2026, 1, 14, 1), "1hr", 6 - 5),
                             window(datetime(2026, 1, 14, 0), "4hr", 24 - 5),
                             window(datetime(2026, 1, 14, 0), "24hr", 144 - 5))
    by_hand = spark.createDataFrame([hour, four_hours, day], AGG_SCHEMA)
    assertDataFrameEqual(aggregates, by_hand, rtol=1e-9)
    # The pandas reference (used on richer rows below) agrees with the hand-computed rows.
    reference = reference_aggregates(readings("COMP-0001", start, 5, discharge_temp_f=temps), cadence_minutes=10)
    assertDataFrameEqual(spark.createDataFrame(reference, AGG_SCHEMA), by_hand, rtol=0.0, atol=1e-6)

    # `since`: only windows that end after it (the hour ended at 02:00 exactly: not after).
    since = datetime(2026, 1, 14, 2, 0, tzinfo=timezone.utc)
    incremental = serving_transforms.build_serving_aggregates(gold, registry=REGISTRY, cadence_minutes=10, since=since)
    assertDataFrameEqual(incremental, spark.createDataFrame([four_hours, day], AGG_SCHEMA), rtol=1e-9)


def test_aggregates_with_nulls_gaps_and_several_windows_match_the_reference(spark):
    """Whole output against ``reference_aggregates``: a dead channel, a missing pressure, a lone
    reading (no std, no slope), a unit across midnight, windows of every length."""
    gold = (
        readings("COMP-0001", datetime(2026, 1, 14, 1, 0), 5,
                 vibration_mms={0: 3.1, 1: 3.4, 2: None, 3: 3.9, 4: 4.6},
                 discharge_temp_f={0: 201.5, 1: 203.0, 2: 207.25, 3: None, 4: 209.0},
                 suction_pressure_psi={1: 55.0, 4: 28.0}, gas_flow_mcf={2: 9100.0})
        + readings("COMP-0001", datetime(2026, 1, 14, 4, 10), 1, discharge_temp_f={0: 231.0},
                   suction_pressure_psi={0: None}, horsepower_consumption={0: 1510.5})
        + readings("COMP-0002", datetime(2026, 1, 13, 23, 40), 4,
                   discharge_temp_f={0: 199.0, 1: 198.0, 2: 205.0, 3: 204.5},
                   discharge_pressure_psi={0: 1101.0, 1: 1180.0, 2: None, 3: 1175.5})
    )
    aggregates = serving_transforms.build_serving_aggregates(gold_frame(spark, gold), registry=REGISTRY,
                                                             cadence_minutes=10)
    expected = spark.createDataFrame(reference_aggregates(gold, cadence_minutes=10), AGG_SCHEMA)
    assert expected.count() == 5 + 6  # COMP-0001: 2 + 2 + 1 windows; COMP-0002: 2 + 2 + 2
    # Means and stds are rounded to 6 decimals by the library; the reference is not.
    assertDataFrameEqual(aggregates, expected, rtol=0.0, atol=1e-6)

    # Failing case of the comparison: one statistic off by more than the rounding is caught.
    wrong = expected.withColumn("vibration_std", expected["vibration_std"] + 1e-5)
    with pytest.raises(AssertionError):
        assertDataFrameEqual(aggregates, wrong, rtol=0.0, atol=1e-6)


# --------------------------------------------------------------------------- publish end to end


@reliability("fault", "A second publish of the same data",
             "identical tables; acknowledgements and resolutions survive")
def test_publish_twice_identical_and_operator_state_survives(spark, serving_settings, monkeypatch):
    write_lake(serving_settings, lake_frames(spark, base_gold()))
    statements = record_statements(monkeypatch)
    first = serving.publish(spark, run_id="run-1", settings=serving_settings)
    monkeypatch.undo()

    # The loader really uses COPY, never INSERT … VALUES. Into an empty database every key is new and goes
    # straight into its table; alerts (applied in order) and quality metrics (an expression key) always stage.
    always_staged = {"alert_history", "data_quality_metrics"}
    assert copy_targets(statements) == {t for t in TABLES if t not in always_staged} | {
        f"staging_{t}" for t in always_staged}
    inserts = [s for s in statements if s.upper().startswith("INSERT")]
    assert len(inserts) == len(always_staged) and all("SELECT" in s and "VALUES" not in s for s in inserts)
    assert first.counts["sensor_readings_agg"] == first.staged["sensor_readings_agg"] == 3 * (6 + 2 + 1)
    assert (first.counts["alerts_opened"], first.counts["alerts_resolved"]) == (3, 1)  # no unit silent
    assert first.counts["data_quality_metrics"] == 5
    assert list(first.to_frame().columns) == ["item", "rows_staged", "rows_written"]
    # The whole aggregate table, every statistic of every window, is what the reference computes.
    cadence = serving_settings.pipeline.cadence_minutes
    assertDataFrameEqual(loaded_aggregates(spark, serving_settings),
                         spark.createDataFrame(reference_aggregates(base_gold(), cadence_minutes=cadence), AGG_SCHEMA),
                         rtol=0.0, atol=1e-6)

    assert sorted(open_alerts(serving_settings))[0][:4] == ("COMP-0002", "vibration_mms", "threshold", "warning")
    messages = rows(serving_settings, "SELECT count(*) FILTER (WHERE message IS NULL OR message = ''), count(*) "
                                      "FROM alert_history")
    assert messages == [(0, 3)]
    # Every loaded row names its run.
    assert rows(serving_settings, "SELECT DISTINCT run_id FROM sensor_readings_agg") == [("run-1",)]
    assert rows(serving_settings, "SELECT DISTINCT run_id FROM data_quality_metrics") == [("lake",)]
    assert rows(serving_settings, "SELECT metric_type, metric_name, compressor_id, details FROM data_quality_metrics "
                                  "ORDER BY 1, 2, 3") == [
        ("accuracy", "outlier_rate", None, {"metric": "outlier_rate"}),
        ("accuracy", "rejection_rate", None, {"metric": "rejection_rate"}),
        ("completeness", "", "COMP-0002", {"expected": 108}),
        ("completeness", "", None, {"expected": 324}),
        ("freshness", "", "COMP-0099", {"unit": "minutes"}),  # unmeasured: metric_value NULL, failing
    ]

    # The operator acknowledges COMP-0003's alert; then 05 runs again on the same lake.
    comp3_alert = next(a for a in open_alerts(serving_settings) if a[0] == "COMP-0003")
    serving.acknowledge_alert(comp3_alert[4], by="j.ortiz", note="checking cooler fan", settings=serving_settings)
    acknowledged = snapshot(serving_settings, without=())
    statements = record_statements(monkeypatch)
    second = serving.publish(spark, run_id="run-2", settings=serving_settings)
    monkeypatch.undo()
    # Every key is stored now: each row is compared in staging (no alert changed, so none is loaded).
    assert copy_targets(statements) == {f"staging_{t}" for t in TABLES if t != "alert_history"}
    # Identical tables, updated_at and run_id included: unchanged rows are not even touched.
    assert_same_tables(acknowledged, snapshot(serving_settings, without=()))
    assert all(second.counts[t] == 0 for t in TABLES if t in second.counts)
    assert second.staged["sensor_readings_agg"] == first.staged["sensor_readings_agg"]
    ack = rows(serving_settings, "SELECT acknowledged, acknowledged_by, note FROM alert_history WHERE id = %s",
               (comp3_alert[4],))
    assert ack == [(True, "j.ortiz", "checking cooler fan")]

    # The failing case of the comparison: a changed reading changes the tables, and only its rows.
    changed = base_gold()
    changed[0]["vibration_mms"] = 4.0
    write_lake(serving_settings, {"sensors_gold": gold_frame(spark, changed)})
    third = serving.publish(spark, run_id="run-3", settings=serving_settings)
    assert third.counts["sensor_readings_agg"] == 3  # COMP-0001's 1hr, 4hr and 24hr windows
    with pytest.raises(AssertionError):
        assert_same_tables(acknowledged, snapshot(serving_settings, without=()))
    assert rows(serving_settings, "SELECT count(*) FROM sensor_readings_agg WHERE run_id = 'run-3'") == [(3,)]
    assertDataFrameEqual(loaded_aggregates(spark, serving_settings),
                         spark.createDataFrame(reference_aggregates(changed, cadence_minutes=cadence), AGG_SCHEMA),
                         rtol=0.0, atol=1e-6)


def test_persisting_condition_escalates_then_resolves_and_operator_resolution_sticks(spark, serving_settings):
    write_lake(serving_settings, lake_frames(spark, base_gold()))
    serving.publish(spark, run_id="run-1", settings=serving_settings)
    (alert_id,) = [a[4] for a in open_alerts(serving_settings) if a[0] == "COMP-0003"]
    serving.acknowledge_alert(alert_id, by="j.ortiz", settings=serving_settings)

    # New readings: the temperature stays past the critical limit for 30 minutes -> the same alert escalates.
    later = T0 + 36 * STEP
    gold = base_gold() + readings("COMP-0003", later, 3, discharge_temp_f={0: 262.0, 1: 264.0, 2: 266.0})
    gold += readings("COMP-0001", later, 3) + readings("COMP-0002", later, 3, vibration_mms={0: 6.4, 1: 6.4, 2: 6.4})
    write_lake(serving_settings, {"sensors_gold": gold_frame(spark, gold)})
    report = serving.publish(spark, run_id="run-2", settings=serving_settings)
    assert report.counts["alerts_opened"] == 0 and report.counts["alerts_updated"] == 2
    escalated = rows(serving_settings,
                     "SELECT id, severity, threshold_value, peak_value, sensor_value, acknowledged, message "
                     "FROM alert_history WHERE compressor_id = 'COMP-0003'")
    assert len(escalated) == 1
    assert escalated[0][:6] == (alert_id, "critical", 260.0, 266.0, 266.0, True)
    assert escalated[0][6] == ("Discharge temperature reached 266.0 °F on COMP-0003, at or above the critical "
                               "limit of 260.0 °F; abnormal since 2026-01-14 05:30 UTC.")

    # Health: COMP-0003 critical, COMP-0002 warning, COMP-0001 healthy, ordered by rank.
    health = rows(serving_settings, "SELECT compressor_id, health_status, active_alert_count, last_reading_time "
                                    "FROM v_fleet_health_summary")
    assert [h[:3] for h in health] == [("COMP-0003", "critical", 1), ("COMP-0002", "warning", 1),
                                       ("COMP-0001", "healthy", 0)]
    assert health[0][3] == datetime(2026, 1, 14, 6, 0, tzinfo=timezone.utc)  # newest 1hr window, not now()
    active = rows(serving_settings, "SELECT compressor_id, severity, station_name FROM v_active_alerts")
    assert active == [("COMP-0003", "critical", "Eagle Ford 1"), ("COMP-0002", "warning", "Eagle Ford 1")]
    latest = rows(serving_settings, "SELECT compressor_id, agg_timestamp, reading_count FROM v_latest_readings "
                                    "ORDER BY 1")
    assert latest[0] == ("COMP-0001", datetime(2026, 1, 14, 6, 0, tzinfo=timezone.utc), 3)

    # An operator resolves COMP-0002's alert while the vibration stays high; COMP-0003 cools down.
    (comp2_id,) = [a[4] for a in open_alerts(serving_settings) if a[0] == "COMP-0002"]
    serving.resolve_alert(comp2_id, by="a.chen", note="sensor bracket loose", settings=serving_settings)
    # Two hours of normal readings (alerts.resolve_after_minutes) resolve COMP-0003's alert; COMP-0002's
    # vibration stays high for three fresh readings, which open a new alert.
    latest_time = later + 3 * STEP
    gold += readings("COMP-0003", latest_time, 12) + readings("COMP-0001", latest_time, 12)
    gold += readings("COMP-0002", latest_time, 12, vibration_mms={0: 7.0, 1: 7.1, 2: 7.2})
    write_lake(serving_settings, {"sensors_gold": gold_frame(spark, gold)})
    report = serving.publish(spark, run_id="run-3", settings=serving_settings,
                             since=latest_time.replace(tzinfo=timezone.utc))
    assert (report.counts["alerts_opened"], report.counts["alerts_resolved"]) == (1, 1)
    resolved = rows(serving_settings, "SELECT resolved, resolved_by, resolved_at, acknowledged_by FROM alert_history "
                                      "WHERE id = %s", (alert_id,))
    assert resolved == [(True, "auto", datetime(2026, 1, 14, 8, 20, tzinfo=timezone.utc), "j.ortiz")]
    comp2 = rows(serving_settings, "SELECT id, resolved, resolved_by, alert_timestamp FROM alert_history "
                                   "WHERE compressor_id = 'COMP-0002' ORDER BY alert_timestamp")
    assert [(r[1], r[2]) for r in comp2] == [(True, "auto"), (True, "a.chen"), (False, None)]
    assert comp2[1][0] == comp2_id and comp2[2][3] == datetime(2026, 1, 14, 6, 30, tzinfo=timezone.utc)
    # Incremental: only windows ending after `since` were sent (the 06:00, 07:00 and 08:00 hours, the
    # 04:00 and 08:00 four hours, the day).
    assert report.staged["sensor_readings_agg"] == 3 * 6

    # The database itself refuses a second open alert for the same problem (failing case).
    with pytest.raises(db.LoadFailed, match="alert_history"):
        frame = pd.DataFrame([{
            "compressor_id": "COMP-0002", "sensor_name": "vibration_mms", "alert_type": "threshold",
            "alert_timestamp": datetime(2026, 1, 14, 7, 0, tzinfo=timezone.utc),
            "last_seen_at": datetime(2026, 1, 14, 7, 0, tzinfo=timezone.utc), "severity": "warning",
            "sensor_value": 7.0, "peak_value": 7.0, "threshold_value": 6.0, "message": "duplicate",
            "normal_streak": 0, "resolved": False, "resolved_at": None, "resolved_by": None, "run_id": "x"}])
        with db.transaction(serving_settings) as conn:
            db.upsert_alerts(conn, frame)
    # …and a null message (failing case of "no null messages").
    with pytest.raises(db.LoadFailed, match="message"):
        with db.transaction(serving_settings) as conn:
            db.upsert_alerts(conn, frame.assign(message=None, resolved=True))


def freshness_row(run_id: str, as_of: datetime, compressor_id: str, minutes: float | None, passed: bool) -> tuple:
    return (run_id, as_of, compressor_id, "freshness", minutes, 15.0, passed, '{"unit": "minutes"}')


@reliability("fault", "A unit that stops reporting, outside logged downtime",
             "silver's freshness gate names it and the run goes on; publish opens a stale alert, the health view "
             "shows the unit stale; the alert resolves when the unit reports again, its acknowledgement kept")
def test_a_silent_unit_raises_a_stale_alert_the_health_view_shows_until_it_reports_again(spark, serving_settings):
    from altaviz.dashboard import queries

    silent_at = T0 + timedelta(hours=6, minutes=25)  # COMP-0003's newest reading is 05:50: 35 min before
    quality = [freshness_row("silver-1", silent_at, "COMP-0001", 5.0, True),
               freshness_row("silver-1", silent_at, "COMP-0003", 35.0, False)]
    write_lake(serving_settings, lake_frames(spark, base_gold(), quality=quality))
    serving.publish(spark, run_id="run-1", settings=serving_settings)
    columns = "compressor_id, severity, alert_timestamp, last_seen_at, sensor_value, resolved, resolved_by, message"
    stale = f"SELECT {columns} FROM alert_history WHERE alert_type = 'stale'"
    newest = (T0 + 35 * STEP).replace(tzinfo=timezone.utc)
    opened = ("COMP-0003", "warning", newest, silent_at.replace(tzinfo=timezone.utc), 35.0, False, None,
              "COMP-0003 has sent no valid reading since 2026-01-14 05:50 UTC (35 min before the run's as-of; the "
              "limit is 15 min) and no downtime is logged: check its link and the historian export.")
    assert rows(serving_settings, stale) == [opened]
    # The hourly view alone finds COMP-0003 recent (its last window ends at 06:00); the open alert makes it stale.
    fleet = queries.read_fleet(serving_settings, silent_at.replace(tzinfo=timezone.utc)).set_index("compressor_id")
    assert fleet["status"].to_dict() == {"COMP-0001": "healthy", "COMP-0002": "warning", "COMP-0003": "stale"}
    assert rows(serving_settings, "SELECT compressor_id, health_status FROM v_fleet_health_summary ORDER BY 1") == [
        ("COMP-0001", "healthy"), ("COMP-0002", "warning"), ("COMP-0003", "stale")]
    (alert_id,) = rows(serving_settings, "SELECT id FROM alert_history WHERE alert_type = 'stale'")[0]
    serving.acknowledge_alert(alert_id, by="j.ortiz", note="radio link down", settings=serving_settings)

    # The next silver run finds COMP-0003 reporting again: the alert resolves automatically, at that run's as-of.
    back_at = silent_at + timedelta(hours=1)
    quality += [freshness_row("silver-2", back_at, "COMP-0001", 5.0, True),
                freshness_row("silver-2", back_at, "COMP-0003", 4.0, True)]
    gold = base_gold() + [row for cid in COMPRESSORS for row in readings(cid, T0 + timedelta(hours=6), 9)]
    write_lake(serving_settings, {"data_quality_metrics": spark.createDataFrame(quality, schemas.DQ_METRICS_SCHEMA),
                                  "sensors_gold": gold_frame(spark, gold)})
    report = serving.publish(spark, run_id="run-2", settings=serving_settings)
    assert (report.counts["alerts_opened"], report.counts["alerts_resolved"]) == (0, 1)
    assert rows(serving_settings, stale) == [opened[:5] + (True, "auto", opened[7])]
    assert rows(serving_settings, "SELECT acknowledged_by, note FROM alert_history WHERE id = %s", (alert_id,)) == [
        ("j.ortiz", "radio link down")]
    fleet = queries.read_fleet(serving_settings, back_at.replace(tzinfo=timezone.utc)).set_index("compressor_id")
    assert fleet.loc["COMP-0003", ["stale", "status"]].tolist() == [False, "warning"]  # its temperature alert
    assert rows(serving_settings, "SELECT health_status FROM v_fleet_health_summary WHERE compressor_id = 'COMP-0003'"
                ) == [("warning",)]
    # A rerun over the same lake changes nothing.
    assert serving.publish(spark, run_id="run-3", settings=serving_settings).counts["alert_history"] == 0


def test_an_older_database_gains_the_stale_alert_type_and_it_matches_the_dashboards_filter(serving_settings):
    from altaviz.dashboard.pages.alerts import ALERT_TYPES

    constraint = ("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                  "WHERE conname = 'alert_history_alert_type_check'")
    with db.connect(serving_settings) as conn:  # the check as databases made before stale alerts have it
        conn.execute("ALTER TABLE alert_history DROP CONSTRAINT alert_history_alert_type_check")
        conn.execute("ALTER TABLE alert_history ADD CONSTRAINT alert_history_alert_type_check "
                     "CHECK (alert_type IN ('threshold', 'rate_of_change', 'anomaly', 'prediction'))")
    assert "stale" not in rows(serving_settings, constraint)[0][0]  # failing case
    db.apply_schema(serving_settings)
    db.apply_schema(serving_settings)  # any number of times
    (definition,) = rows(serving_settings, constraint)[0]
    assert sorted(re.findall(r"'(\w+)'::text", definition)) == sorted(ALERT_TYPES)


def test_health_is_the_worst_open_severity_by_rank(serving_settings):
    """A unit with a warning and a critical alert open is critical (string MAX would say 'warning')."""
    with db.transaction(serving_settings) as conn:
        conn.execute("INSERT INTO station_locations (station_id, station_name, latitude, longitude) "
                     "VALUES ('S', 'Station', 30, -97)")
        conn.execute("INSERT INTO compressor_metadata (compressor_id, model, horsepower, station_id) "
                     "VALUES ('A', 'm', 1340, 'S'), ('B', 'm', 1340, 'S'), ('C', 'm', 1340, 'S')")
        conn.execute(
            "INSERT INTO alert_history (compressor_id, alert_timestamp, last_seen_at, alert_type, severity, "
            "sensor_name, message) VALUES "
            "('A', '2026-01-01', '2026-01-01', 'threshold', 'warning', 'vibration_mms', 'w'), "
            "('A', '2026-01-02', '2026-01-02', 'threshold', 'critical', 'discharge_temp_f', 'c'), "
            "('B', '2026-01-03', '2026-01-03', 'threshold', 'warning', 'gas_flow_mcf', 'w')"
        )
    health = rows(serving_settings, "SELECT compressor_id, health_status, active_alert_count FROM v_fleet_health_summary")
    assert health == [("A", "critical", 2), ("B", "warning", 1), ("C", "healthy", 0)]
    assert rows(serving_settings, "SELECT max(severity) FROM alert_history WHERE compressor_id = 'A'") == [("warning",)]


@reliability("fault", "PostgreSQL unreachable during publish",
             "DatabaseUnavailable naming host, port and database, never the password")
def test_unreachable_database_names_host_port_database_not_password(spark, settings):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    env = {**os.environ, "DB_HOST": "127.0.0.1", "DB_PORT": str(closed_port), "DB_NAME": "fleet_serving",
           "DB_PASSWORD": "s3cr3t-pw"}
    unreachable = load_settings(env=env)
    with pytest.raises(db.DatabaseUnavailable) as caught:
        serving.publish(spark, run_id="run-x", settings=unreachable)
    message = str(caught.value)
    assert "host=127.0.0.1" in message and f"port={closed_port}" in message and "dbname=fleet_serving" in message
    assert "s3cr3t-pw" not in message
    with pytest.raises(db.DatabaseUnavailable):
        serving.acknowledge_alert(1, by="x", settings=unreachable)
    # Passing case: the reachable database does not raise.
    with db.connect(settings) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


@reliability("fault", "A load refused halfway (foreign key)",
             "rolled back whole, naming the table; nothing half written")
def test_failing_load_leaves_nothing_half_written(spark, serving_settings):
    # A maintenance event for a compressor nobody knows breaks the foreign key after the stations
    # and compressors were already loaded in the same transaction.
    orphan = [("COMP-9999", datetime(2025, 12, 1, 8), "failure", "Bearing", 12.0, "high")]
    write_lake(serving_settings, lake_frames(spark, base_gold(), maintenance=orphan))
    with pytest.raises(db.LoadFailed) as caught:
        serving.publish(spark, run_id="run-1", settings=serving_settings)
    message = str(caught.value)
    assert "maintenance_events" in message and "host=" in message and "port=" in message and "dbname=" in message
    assert all(frame.empty for frame in snapshot(serving_settings).values())
    # An unknown event type is refused before anything is written, naming the value.
    unknown_type = [("COMP-0001", datetime(2025, 12, 1), "overhaul", "x", 1.0, "low")]
    write_lake(serving_settings, {"maintenance_logs": lake_frames(spark, [], maintenance=unknown_type)["maintenance_logs"]})
    with pytest.raises(ValueError, match="overhaul"):
        serving.publish(spark, run_id="run-1", settings=serving_settings)
    assert all(frame.empty for frame in snapshot(serving_settings).values())


def test_closing_and_reopening_a_problem_in_one_load_respects_the_open_alert_index(serving_settings):
    """The successor row comes first in the frame; the loader still applies the resolution first."""
    from altaviz.serving.alerts import ALERT_COLUMNS

    first_seen, reopened = (datetime(2026, 1, 14, h, 0, tzinfo=timezone.utc) for h in (6, 9))
    base = dict(compressor_id="COMP-0001", sensor_name="vibration_mms", alert_type="threshold",
                severity="warning", sensor_value=6.5, peak_value=6.5, threshold_value=6.0,
                message="Vibration reached 6.5 mm/s.", normal_streak=0, resolved_by=None)
    old_open = dict(base, alert_timestamp=first_seen, last_seen_at=first_seen, resolved=False, resolved_at=None)
    old_closed = dict(old_open, resolved=True, resolved_at=first_seen + timedelta(hours=1), resolved_by="auto",
                      normal_streak=3)
    successor = dict(base, alert_timestamp=reopened, last_seen_at=reopened, resolved=False, resolved_at=None)
    with db.transaction(serving_settings) as conn:
        conn.execute("INSERT INTO station_locations (station_id, station_name, latitude, longitude) "
                     "VALUES ('S1', 'Station 1', 28.9, -97.9)")
        conn.execute("INSERT INTO compressor_metadata (compressor_id, model, horsepower, station_id) "
                     "VALUES ('COMP-0001', 'Ajax DPC-360', 1340, 'S1')")
        db.upsert_alerts(conn, pd.DataFrame([old_open], columns=list(ALERT_COLUMNS)).assign(run_id="r1"))
    with db.transaction(serving_settings) as conn:
        frame = pd.DataFrame([successor, old_closed], columns=list(ALERT_COLUMNS)).assign(run_id="r2")
        assert db.upsert_alerts(conn, frame) == 2
    stored = rows(serving_settings, "SELECT alert_timestamp, resolved FROM alert_history ORDER BY alert_timestamp")
    assert stored == [(first_seen, True), (reopened, False)]


def test_publish_raises_anomaly_alerts_and_prediction_alerts_from_scores(spark, serving_settings):
    """A transmitter that keeps spiking raises one anomaly alert and no threshold alert; model scores
    raise a prediction alert (as publish does with its model's scores) that a logged failure resolves;
    a rerun changes nothing."""
    gold = base_gold()
    spikes = {"COMP-0001": (5, 15, 25)}
    for row in gold:
        index = int((row["timestamp"] - T0) / STEP)
        if row["compressor_id"] == "COMP-0001" and index in spikes["COMP-0001"]:
            row.update(discharge_pressure_psi=3650.0 + index, pressure_differential=3590.0 + index,
                       is_outlier=True, outlier_sensors=["discharge_pressure_psi"])
    maintenance = [("COMP-0003", datetime(2026, 1, 14, 4, 30), "failure", "Cooler fan belt", 8.0, "critical")]
    write_lake(serving_settings, lake_frames(spark, gold, maintenance=maintenance))
    scores = pd.DataFrame({
        "compressor_id": ["COMP-0003"] * 4,
        "prediction_timestamp": [datetime(2026, 1, 14, h, tzinfo=timezone.utc) for h in (1, 2, 3, 4)],
        "failure_probability": [0.55, 0.62, 0.81, 0.84],
        "message": ["Failure risk 55%: discharge temperature trend"] * 2 + ["Failure risk 84%: discharge temperature"] * 2,
    })
    def publish_with(scores: pd.DataFrame, run_id: str) -> tuple[serving.PublishReport, int]:
        report = serving.publish(spark, run_id=run_id, settings=serving_settings)
        with db.transaction(serving_settings) as conn:
            # The levels this test reasons about (the configured ones are measured by the backtest, and move).
            pinned = replace(serving_settings, alerts=replace(serving_settings.alerts, prediction_warning_probability=0.5,
                                                              prediction_critical_probability=0.8))
            evaluation = serving.evaluate_prediction_alerts(conn, scores, settings=pinned)
            return report, db.upsert_alerts(conn, evaluation.to_frame(run_id))

    first, _ = publish_with(scores, "run-1")
    assert first.model.startswith("ml_predictions: no trained model (")  # one logged failure: a cold start
    alert_rows = rows(serving_settings,
                      "SELECT compressor_id, sensor_name, alert_type, severity, alert_timestamp, last_seen_at, "
                      "sensor_value, peak_value, threshold_value, message, resolved, resolved_at "
                      "FROM alert_history WHERE alert_type IN ('anomaly', 'prediction') ORDER BY 1, 2")
    def at(hour: int, minute: int) -> datetime:
        return datetime(2026, 1, 14, hour, minute, tzinfo=timezone.utc)

    assert alert_rows == [
        ("COMP-0001", "discharge_pressure_psi", "anomaly", "warning", at(0, 50), at(4, 10), 3675.0, 3675.0, 3.0,
         ("Discharge pressure on COMP-0001 keeps spiking: 3 readings flagged as outliers in 6 h "
          "(peak 3,675.0 psi); check the transmitter."), False, None),
        ("COMP-0003", "failure_probability", "prediction", "critical", at(1, 0), at(4, 0), 0.84, 0.84, 0.8,
         "Failure risk 84%: discharge temperature", True, at(4, 30)),
    ]
    # The spikes breached the discharge-pressure and differential limits, but opened no threshold alert.
    assert rows(serving_settings, "SELECT count(*) FROM alert_history WHERE compressor_id = 'COMP-0001' "
                                  "AND alert_type = 'threshold'") == [(0,)]
    before = snapshot(serving_settings, without=())
    second, prediction_rows = publish_with(scores, "run-2")
    assert (second.counts["alert_history"], prediction_rows) == (0, 0)
    assert_same_tables(before, snapshot(serving_settings, without=()))
    # Failing case: without the failure event the prediction alert stays open.
    with db.transaction(serving_settings) as conn:
        evaluation = serving.evaluate_prediction_alerts(conn, scores.assign(compressor_id="COMP-0002"),
                                                        settings=serving_settings)
    assert [(a.compressor_id, a.resolved) for a in evaluation.alerts] == [("COMP-0002", False)]


# --------------------------------------------------------------------------- quarantine and rejected files


def quarantined(compressor_id, timestamp, reason, detail, source_file="sensors/2026-01-14.csv") -> dict:
    """One sensors_quarantine row (sensor values left null: only the reason and its context are counted)."""
    row = dict.fromkeys(schemas.QUARANTINE_SCHEMA.fieldNames())
    row.update(compressor_id=compressor_id, timestamp=timestamp, reason=reason, reason_detail=detail,
               source_file=source_file, ingested_at=datetime(2026, 12, 1, 9), run_id="bronze-run")
    return row


def quarantine_frame(spark, quarantine: list[dict]):
    return spark.createDataFrame([tuple(r[f] for f in schemas.QUARANTINE_SCHEMA.fieldNames()) for r in quarantine],
                                 schemas.QUARANTINE_SCHEMA)


QUARANTINE = [
    quarantined("COMP-0001", T0, "physically_impossible", "vibration_mms=-3.0 outside [0, 50]"),
    quarantined("COMP-0001", T0 + STEP, "physically_impossible", "vibration_mms=-1.0 outside [0, 50]",
                source_file="sensors/2026-01-15.csv"),
    quarantined("COMP-0002", T0 + 2 * STEP, "duplicate", "repeated in the same file"),
    quarantined(None, None, "missing_id", "compressor_id is empty"),
]
# ingest_log rows: the ingested file and the reference snapshot are no rejections.
INGEST_LOG = [
    ("sha-good", "sensors/2026-01-14.csv", "/landing", "csv", 2048, "ingested", None, 324, "bronze-run",
     datetime(2026, 12, 1, 9)),
    ("sha-bad", "sensors/broken.csv", "/landing", "csv", 10, "rejected", "missing column timestamp", None,
     "bronze-run", datetime(2026, 12, 1, 9)),
    ("sha-ref", "compressor_metadata.csv", "/landing", "csv", 400, "reference:compressor_metadata", None, 3,
     "bronze-run", datetime(2026, 12, 1, 9)),
]
# Two quality runs: "zz-older" sorts after "lake" by id but was measured a day earlier; the quarantine in the
# lake belongs to the newest run by time, "lake".
TWO_QUALITY_RUNS = [
    ("lake", T0, None, "accuracy", 0.99, 0.95, True, '{"metric": "rejection_rate"}'),
    ("zz-older", T0 - timedelta(days=1), None, "accuracy", 0.98, 0.95, True, '{"metric": "rejection_rate"}'),
]


def test_newest_quality_run_is_chosen_by_time_then_run_id():
    runs = pd.DataFrame({"run_id": ["lake", "zz-older", "b", "a"],
                         "metric_timestamp": [T0, T0 - timedelta(days=1), T0 + STEP, T0 + STEP]})
    assert serving_transforms.newest_quality_run(runs) == "b"
    assert serving_transforms.newest_quality_run(runs.iloc[:2]) == "lake"
    assert serving_transforms.newest_quality_run(runs.iloc[:0]) is None


def test_publish_loads_quarantine_counts_and_rejected_files_and_a_rerun_changes_nothing(spark, serving_settings):
    frames = lake_frames(spark, base_gold(), quality=TWO_QUALITY_RUNS)
    frames["sensors_quarantine"] = quarantine_frame(spark, QUARANTINE)
    frames["ingest_log"] = spark.createDataFrame(INGEST_LOG, schemas.INGEST_LOG_SCHEMA)
    write_lake(serving_settings, frames)
    first = serving.publish(spark, run_id="run-1", settings=serving_settings)
    assert (first.staged["quarantine_summary"], first.counts["quarantine_summary"]) == (3, 3)
    assert (first.staged["rejected_files"], first.counts["rejected_files"]) == (1, 1)
    summary_sql = ("SELECT run_id, compressor_id, reason, row_count, source_files, first_reading, last_reading, "
                   "example_detail FROM quarantine_summary ORDER BY reason, compressor_id")
    at = lambda t: t.replace(tzinfo=timezone.utc)  # noqa: E731
    assert rows(serving_settings, summary_sql) == [
        ("lake", "COMP-0002", "duplicate", 1, 1, at(T0 + 2 * STEP), at(T0 + 2 * STEP), "repeated in the same file"),
        ("lake", None, "missing_id", 1, 1, None, None, "compressor_id is empty"),
        ("lake", "COMP-0001", "physically_impossible", 2, 2, at(T0), at(T0 + STEP),
         "vibration_mms=-1.0 outside [0, 50]"),
    ]
    files_sql = ("SELECT content_sha256, source_file, file_format, size_bytes, reason, ingested_at, run_id "
                 "FROM rejected_files")
    assert rows(serving_settings, files_sql) == [
        ("sha-bad", "sensors/broken.csv", "csv", 10, "missing column timestamp",
         datetime(2026, 12, 1, 9, tzinfo=timezone.utc), "bronze-run")]

    # A rerun over the same lake: every table as it was, updated_at included, nothing written.
    before = {"summary": rows(serving_settings, "SELECT * FROM quarantine_summary ORDER BY id"),
              "files": rows(serving_settings, "SELECT * FROM rejected_files")}
    second = serving.publish(spark, run_id="run-2", settings=serving_settings)
    assert (second.counts["quarantine_summary"], second.counts["rejected_files"]) == (0, 0)
    after = {"summary": rows(serving_settings, "SELECT * FROM quarantine_summary ORDER BY id"),
             "files": rows(serving_settings, "SELECT * FROM rejected_files")}
    assert after == before

    # Failing case: silver reran as the same run over changed bronze (the duplicate is gone, COMP-0001
    # has one more impossible reading) and bronze rejected a second file: only those rows change.
    changed = [row for row in QUARANTINE if row["reason"] != "duplicate"]
    changed.append(quarantined("COMP-0001", T0 + 3 * STEP, "physically_impossible",
                               "vibration_mms=-2.0 outside [0, 50]"))
    rejected_later = ("sha-bad-2", "sensors/empty.parquet", "/landing", "parquet", 0, "rejected", "unreadable: empty",
                      None, "bronze-run-2", datetime(2026, 12, 2, 9))
    write_lake(serving_settings, {"sensors_quarantine": quarantine_frame(spark, changed),
                                  "ingest_log": spark.createDataFrame([*INGEST_LOG, rejected_later],
                                                                      schemas.INGEST_LOG_SCHEMA)})
    third = serving.publish(spark, run_id="run-3", settings=serving_settings)
    assert (third.counts["quarantine_summary"], third.counts["rejected_files"]) == (2, 1)  # one updated, one deleted
    assert rows(serving_settings, summary_sql) == [
        ("lake", None, "missing_id", 1, 1, None, None, "compressor_id is empty"),
        ("lake", "COMP-0001", "physically_impossible", 3, 2, at(T0), at(T0 + 3 * STEP),
         "vibration_mms=-1.0 outside [0, 50]"),
    ]
    assert rows(serving_settings, files_sql + " ORDER BY content_sha256") == [
        ("sha-bad", "sensors/broken.csv", "csv", 10, "missing column timestamp",
         datetime(2026, 12, 1, 9, tzinfo=timezone.utc), "bronze-run"),
        ("sha-bad-2", "sensors/empty.parquet", "parquet", 0, "unreadable: empty",
         datetime(2026, 12, 2, 9, tzinfo=timezone.utc), "bronze-run-2"),
    ]


KILLED_PUBLISH = """
import sys
from altaviz.config import load_settings
from altaviz.io.spark import get_spark
from altaviz.serving import stage
stage.publish(get_spark(), run_id=sys.argv[1], settings=load_settings())
"""


@reliability("fault", "SIGKILL inside the publish transaction, and after its commit",
             "nothing visible, or everything; the next publish ends with the tables of one never killed")
@pytest.mark.parametrize("crash_at", ["publish-loading", "publish-committed"])
def test_a_publish_killed_mid_load_or_after_commit_leaves_consistent_tables(spark, serving_settings, crash_at):
    """SIGKILL inside the load's transaction: nothing of it is visible. After its commit: all of it is. Either
    way the next publish completes, and the tables then equal those of a publish that was never killed."""
    write_lake(serving_settings, lake_frames(spark, base_gold()))
    env = {**os.environ, "DATABASE_URL": serving_settings.database.url,
           "ALTAVIZ_LAKE_ROOT": serving_settings.pipeline.lake_root, "ALTAVIZ_CRASH_AT": crash_at}
    killed = subprocess.run([sys.executable, "-c", KILLED_PUBLISH, "run-1"], env=env, capture_output=True,
                            text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    after_kill = snapshot(serving_settings, without=UNSTABLE)

    serving.publish(spark, run_id="run-1", settings=serving_settings)
    recovered = snapshot(serving_settings, without=UNSTABLE)
    if crash_at == "publish-loading":
        assert all(frame.empty for frame in after_kill.values())  # the transaction died with the process
    else:
        assert not recovered["sensor_readings_agg"].empty
        for table in TABLES:  # committed whole: the next publish changes nothing
            pd.testing.assert_frame_equal(after_kill[table], recovered[table], obj=table)
    assert_same_tables(recovered, published_once(spark, serving_settings, run_id="run-1", without=UNSTABLE))


def published_once(spark, settings, *, run_id: str, without: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    """The tables of the lake published once, never interrupted: emptied (a clean slate in the same schema), then
    published."""
    with db.connect(settings) as conn:
        for table in ("alert_history", "data_quality_metrics", "ml_predictions", "sensor_readings_agg",
                      "maintenance_events", "compressor_metadata", "station_locations"):
            conn.execute(f"DELETE FROM {table}")
    serving.publish(spark, run_id=run_id, settings=settings)
    return snapshot(settings, without=without)


@reliability("fault", "PostgreSQL going away in the middle of 05_publish, then coming back",
             "the publish fails naming host, port and database, nothing of it visible; a rerun after the restart "
             "completes with the tables of a publish never interrupted")
def test_a_database_lost_mid_publish_is_named_and_a_rerun_after_the_restart_completes(
        spark, serving_settings, monkeypatch):
    from dashboard_fixtures import Outage, free_port

    write_lake(serving_settings, lake_frames(spark, base_gold()))
    where, parts = db.target(serving_settings), conninfo_to_dict(serving_settings.database.url)
    outage = Outage(f"{where.host}/.s.PGSQL.{where.port}", free_port())  # a TCP front that can be cut
    outage.up()
    url = make_conninfo(user=parts.get("user", "postgres"), host="127.0.0.1", port=str(outage.port),
                        dbname=parts["dbname"])
    fronted = replace(serving_settings, database=replace(serving_settings.database, url=url))

    def cut(name: str) -> None:  # the server goes away while the publish is loading (its tables staged)
        if name == "publish-loading":
            outage.down()

    monkeypatch.setattr(serving, "crash_point", cut)
    with pytest.raises(db.DatabaseUnavailable) as lost:
        serving.publish(spark, run_id="run-1", settings=fronted)
    assert str(lost.value).startswith(
        f"lost the connection to PostgreSQL at host=127.0.0.1 port={outage.port} dbname={parts['dbname']}: ")
    assert all(frame.empty for frame in snapshot(serving_settings, without=UNSTABLE).values())

    monkeypatch.undo()
    outage.up()  # the restart
    serving.publish(spark, run_id="run-1", settings=fronted)
    recovered = snapshot(serving_settings, without=UNSTABLE)
    assert not recovered["sensor_readings_agg"].empty
    assert_same_tables(recovered, published_once(spark, serving_settings, run_id="run-1", without=UNSTABLE))
