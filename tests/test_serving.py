"""05_publish against the real embedded PostgreSQL: aggregates, upserts, alerts, views, failures.

Each test gets a brand-new database on the session's server and a private lake folder, so tests
neither see each other's rows nor the rest of the suite's.
"""

from __future__ import annotations

import os
import socket
from datetime import date, datetime, timedelta, timezone

import pandas as pd
import psycopg
import pytest

from altaviz import schemas
from altaviz.io import db
from altaviz.serving import stage as serving
from altaviz.serving import transforms as serving_transforms
from altaviz.config import load_settings

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
    row["pressure_differential"] = row["discharge_pressure_psi"] - row["suction_pressure_psi"]
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
    """Six hours for three units: COMP-0001 healthy; COMP-0002 vibration warning -> critical ->
    three normal readings (auto-resolve), then a new warning still open at the end; COMP-0003 a
    discharge temperature warning still open at the end."""
    vibration = {10: 6.5, 11: 6.6, 12: 6.7, 13: 8.4, 33: 6.2, 34: 6.3, 35: 6.1}
    return (
        readings("COMP-0001", T0, 36)
        + readings("COMP-0002", T0, 36, vibration_mms=vibration)
        + readings("COMP-0003", T0, 36, discharge_temp_f={34: 245.0, 35: 246.0})
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
                ("lake", T0, "COMP-0003", "freshness", None, 15.0, False, '{"unit": "minutes"}'),
            ],
            schemas.DQ_METRICS_SCHEMA),
        "sensors_gold": spark.createDataFrame(
            [tuple(r[f] for f in schemas.GOLD_SCHEMA.fieldNames()) for r in gold], schemas.GOLD_SCHEMA),
    }


def write_delta_lake(settings, frames: dict) -> None:
    """Write the lake tables as Delta where 05 reads them (slow: only one test goes through Delta)."""
    for name, frame in frames.items():
        frame.coalesce(1).write.format("delta").mode("overwrite").save(settings.pipeline.table_path(name))


@pytest.fixture
def lake(spark, monkeypatch):
    """An in-memory lake: ``lake.update(lake_frames(...))`` sets what ``lake.read_table`` returns."""
    tables: dict = {}

    def read_table(spark, name, *, settings=None, version=None, where=None):
        return tables[name] if where is None else tables[name].where(where)

    monkeypatch.setattr(serving.lake, "read_table", read_table)
    return tables


TABLES = ("station_locations", "compressor_metadata", "maintenance_events", "sensor_readings_agg",
          "alert_history", "data_quality_metrics", "ml_predictions")


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


def open_alerts(settings) -> list[tuple]:
    return rows(settings, "SELECT compressor_id, sensor_name, alert_type, severity, id FROM alert_history "
                          "WHERE NOT resolved ORDER BY 1, 2")


# --------------------------------------------------------------------------- aggregates (pure)


def test_aggregates_windows_counts_and_rate(spark, settings):
    start = datetime(2026, 1, 14, 1, 0)
    temps = {i: 200.0 + 2.0 * i for i in range(6)}  # +2 °F per 10 min = 12 °F/h
    gold = spark.createDataFrame(
        [tuple(r[f] for f in schemas.GOLD_SCHEMA.fieldNames())
         for r in readings("COMP-0001", start, 5, discharge_temp_f=temps)],  # 5 of 6 readings in the hour
        schemas.GOLD_SCHEMA,
    )
    aggregates = serving_transforms.build_serving_aggregates(gold, registry=load_settings().registry, cadence_minutes=10).toPandas()
    by_window = aggregates.set_index("window_type")
    assert sorted(aggregates["window_type"]) == ["1hr", "24hr", "4hr"]
    assert by_window.loc["1hr", "agg_timestamp"] == pd.Timestamp("2026-01-14 01:00")
    assert by_window.loc["4hr", "agg_timestamp"] == pd.Timestamp("2026-01-14 00:00")
    assert list(by_window["reading_count"]) == [5, 5, 5]
    assert by_window.loc["1hr", "missing_readings"] == 1
    assert by_window.loc["24hr", "missing_readings"] == 144 - 5
    assert by_window.loc["1hr", "discharge_temp_rate_of_change"] == pytest.approx(12.0)
    assert by_window.loc["1hr", "discharge_temp_max"] == 208.0
    assert by_window.loc["1hr", "pressure_delta_mean"] == pytest.approx(990.0)
    assert set(serving_transforms.AGG_COLUMNS) == set(aggregates.columns)
    # `since`: only windows that end after it.
    since = datetime(2026, 1, 14, 2, 0, tzinfo=timezone.utc)
    incremental = serving_transforms.build_serving_aggregates(gold, registry=load_settings().registry, cadence_minutes=10, since=since).toPandas()
    assert sorted(incremental["window_type"]) == ["24hr", "4hr"]


# --------------------------------------------------------------------------- publish end to end


def test_publish_twice_identical_and_operator_state_survives(spark, serving_settings, monkeypatch):
    write_delta_lake(serving_settings, lake_frames(spark, base_gold()))  # this test reads real Delta tables
    statements = record_statements(monkeypatch)
    first = serving.publish(spark, run_id="run-1", settings=serving_settings)
    monkeypatch.undo()

    # The loader really uses COPY: one COPY into a staging table per loaded table, no INSERT … VALUES.
    copies = [s for s in statements if s.startswith("COPY")]
    assert {s.split()[1].strip('"') for s in copies} == {f"staging_{t}" for t in TABLES}
    inserts = [s for s in statements if s.upper().startswith("INSERT")]
    assert len(inserts) == len(copies) and all("SELECT" in s and "VALUES" not in s for s in inserts)
    assert first.counts["sensor_readings_agg"] == first.staged["sensor_readings_agg"] == 3 * (6 + 2 + 1)
    assert (first.counts["alerts_opened"], first.counts["alerts_resolved"]) == (3, 1)
    assert first.counts["data_quality_metrics"] == 5
    assert list(first.to_frame().columns) == ["item", "rows_staged", "rows_written"]

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
        ("freshness", "", "COMP-0003", {"unit": "minutes"}),  # unmeasured: metric_value NULL, failing
    ]

    # The operator acknowledges COMP-0003's alert; then 05 runs again on the same lake.
    comp3_alert = next(a for a in open_alerts(serving_settings) if a[0] == "COMP-0003")
    serving.acknowledge_alert(comp3_alert[4], by="j.ortiz", note="checking cooler fan", settings=serving_settings)
    acknowledged = snapshot(serving_settings, without=())
    second = serving.publish(spark, run_id="run-2", settings=serving_settings)
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
    write_delta_lake(serving_settings, {"sensors_gold": lake_frames(spark, changed)["sensors_gold"]})
    third = serving.publish(spark, run_id="run-3", settings=serving_settings)
    assert third.counts["sensor_readings_agg"] == 3  # COMP-0001's 1hr, 4hr and 24hr windows
    with pytest.raises(AssertionError):
        assert_same_tables(acknowledged, snapshot(serving_settings, without=()))
    assert rows(serving_settings, "SELECT count(*) FROM sensor_readings_agg WHERE run_id = 'run-3'") == [(3,)]


def test_persisting_condition_escalates_then_resolves_and_operator_resolution_sticks(spark, serving_settings, lake):
    lake.update(lake_frames(spark, base_gold()))
    serving.publish(spark, run_id="run-1", settings=serving_settings)
    (alert_id,) = [a[4] for a in open_alerts(serving_settings) if a[0] == "COMP-0003"]
    serving.acknowledge_alert(alert_id, by="j.ortiz", settings=serving_settings)

    # New readings: the temperature keeps rising past the critical limit -> the same alert escalates.
    later = T0 + 36 * STEP
    gold = base_gold() + readings("COMP-0003", later, 2, discharge_temp_f={0: 255.0, 1: 266.0})
    gold += readings("COMP-0001", later, 2) + readings("COMP-0002", later, 2, vibration_mms={0: 6.4, 1: 6.4})
    lake.update(lake_frames(spark, gold))
    report = serving.publish(spark, run_id="run-2", settings=serving_settings)
    assert report.counts["alerts_opened"] == 0 and report.counts["alerts_updated"] == 2
    escalated = rows(serving_settings,
                     "SELECT id, severity, threshold_value, peak_value, sensor_value, acknowledged, message "
                     "FROM alert_history WHERE compressor_id = 'COMP-0003'")
    assert len(escalated) == 1
    assert escalated[0][:6] == (alert_id, "critical", 260.0, 266.0, 266.0, True)
    assert escalated[0][6] == ("Discharge temperature reached 266.0 °F on COMP-0003, at or above the critical "
                               "limit of 260.0 °F; abnormal since 2026-01-14 05:40 UTC.")

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
    assert latest[0] == ("COMP-0001", datetime(2026, 1, 14, 6, 0, tzinfo=timezone.utc), 2)

    # An operator resolves COMP-0002's alert while the vibration stays high; COMP-0003 cools down.
    (comp2_id,) = [a[4] for a in open_alerts(serving_settings) if a[0] == "COMP-0002"]
    serving.resolve_alert(comp2_id, by="a.chen", note="sensor bracket loose", settings=serving_settings)
    latest_time = later + 2 * STEP
    gold += readings("COMP-0003", latest_time, 3) + readings("COMP-0001", latest_time, 3)
    gold += readings("COMP-0002", latest_time, 3, vibration_mms={0: 7.0, 1: 7.1, 2: 7.2})
    lake.update(lake_frames(spark, gold))
    report = serving.publish(spark, run_id="run-3", settings=serving_settings,
                             since=datetime(2026, 1, 14, 6, 20, tzinfo=timezone.utc))
    assert (report.counts["alerts_opened"], report.counts["alerts_resolved"]) == (1, 1)
    resolved = rows(serving_settings, "SELECT resolved, resolved_by, resolved_at, acknowledged_by FROM alert_history "
                                      "WHERE id = %s", (alert_id,))
    assert resolved == [(True, "auto", datetime(2026, 1, 14, 6, 40, tzinfo=timezone.utc), "j.ortiz")]
    comp2 = rows(serving_settings, "SELECT id, resolved, resolved_by, alert_timestamp FROM alert_history "
                                   "WHERE compressor_id = 'COMP-0002' ORDER BY alert_timestamp")
    assert [(r[1], r[2]) for r in comp2] == [(True, "auto"), (True, "a.chen"), (False, None)]
    assert comp2[1][0] == comp2_id and comp2[2][3] == datetime(2026, 1, 14, 6, 20, tzinfo=timezone.utc)
    # Incremental: only windows ending after `since` were sent (the 06:00 hour, its 4hr and its day).
    assert report.staged["sensor_readings_agg"] == 3 * 3

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


def test_failing_load_leaves_nothing_half_written(spark, serving_settings, lake):
    # A maintenance event for a compressor nobody knows breaks the foreign key after the stations
    # and compressors were already loaded in the same transaction.
    orphan = [("COMP-9999", datetime(2025, 12, 1, 8), "failure", "Bearing", 12.0, "high")]
    lake.update(lake_frames(spark, base_gold(), maintenance=orphan))
    with pytest.raises(db.LoadFailed) as caught:
        serving.publish(spark, run_id="run-1", settings=serving_settings)
    message = str(caught.value)
    assert "maintenance_events" in message and "host=" in message and "port=" in message and "dbname=" in message
    assert all(frame.empty for frame in snapshot(serving_settings).values())
    # An unknown event type is refused before anything is written, naming the value.
    lake.update(lake_frames(spark, base_gold(),
                            maintenance=[("COMP-0001", datetime(2025, 12, 1), "overhaul", "x", 1.0, "low")]))
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
