"""Gold features on literal rows, against a brute-force oracle: time windows, rate of change, statuses."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual
from spark_fixtures import T0, reading

from altaviz.config import load_settings
from altaviz.gold.transforms import build_gold_features
from altaviz.schemas import GOLD_SCHEMA, SILVER_SCHEMA

SETTINGS = load_settings()
from altaviz.registry import WINDOWS


def silver(spark, rows: list[dict]):
    frame = pd.DataFrame(rows).assign(is_outlier=False, source_file="f", ingested_at=T0, run_id="r1")
    frame["outlier_sensors"] = [[] for _ in range(len(frame))]
    frame["date"] = [ts.date() for ts in frame["timestamp"]]
    return spark.createDataFrame(frame[list(SILVER_SCHEMA.fieldNames())], SILVER_SCHEMA)


def oracle(rows: list[dict]) -> list[dict]:
    """Brute force: for each reading, scan every reading of its compressor."""
    out = []
    for row in rows:
        t = row["timestamp"]
        mine = [r for r in rows if r["compressor_id"] == row["compressor_id"]]
        result = {"compressor_id": row["compressor_id"], "timestamp": t}
        for label, seconds in WINDOWS.items():
            values = pd.Series(
                [r["discharge_temp_f"] for r in mine if t - timedelta(seconds=seconds) < r["timestamp"] <= t], dtype=float
            ).dropna()
            result[f"discharge_temp_mean_{label}"] = float(values.mean()) if len(values) else None
            result[f"discharge_temp_std_{label}"] = float(values.std(ddof=1)) if len(values) > 1 else None
            result[f"discharge_temp_max_{label}"] = float(values.max()) if len(values) else None
        earlier = [
            r for r in mine
            if t - timedelta(minutes=70) <= r["timestamp"] <= t - timedelta(minutes=50) and r["discharge_temp_f"] is not None
        ]
        rate = None
        if earlier and row["discharge_temp_f"] is not None:
            last = max(earlier, key=lambda r: r["timestamp"])
            rate = (row["discharge_temp_f"] - last["discharge_temp_f"]) / ((t - last["timestamp"]).total_seconds() / 3600)
        result["temp_rate_of_change"] = rate
        out.append(result)
    return out


def test_time_windows_and_rate_of_change_follow_time_not_rows(spark):
    # C1: a steady climb, a missing 60-minute reading, then a 2-hour gap (no "one hour earlier" after it).
    minutes = [0, 10, 20, 30, 40, 50, 70, 80, 90, 210, 220, 300, 24 * 60 + 5]
    rows = [reading("C1", m, discharge_temp_f=200.0 + m / 5) for m in minutes]
    rows[4]["discharge_temp_f"] = None  # a dead channel at 40 min: skipped, not zero
    rows += [reading("C2", m, discharge_temp_f=300.0 - m) for m in (0, 10, 60, 65)]
    gold = build_gold_features(silver(spark, rows), registry=SETTINGS.registry)
    expected_rows = oracle(rows)
    columns = list(expected_rows[0])
    schema = ", ".join(["compressor_id string", "timestamp timestamp", *[f"{c} double" for c in columns[2:]]])
    expected = spark.createDataFrame([tuple(row.values()) for row in expected_rows], schema)
    assertDataFrameEqual(gold.select(*columns), expected, checkRowOrder=False, rtol=1e-9)
    assert gold.columns == GOLD_SCHEMA.fieldNames()


def test_statuses_honor_direction_and_missing_critical_levels(spark):
    cases = [
        # vibration, temp, suction, discharge, horsepower, flow -> statuses
        ((5.99, 239.9, 30.01, 1200.0, 1799.0, 6000.01), ("normal",) * 6, "normal"),
        ((6.0, 240.0, 30.0, 1300.0, 1800.0, 6000.0), ("warning",) * 6, "warning"),
        ((8.0, 260.0, 20.0, 1400.0, 9000.0, 10.0), ("critical", "critical", "critical", "critical", "warning", "warning"), "warning"),
        ((None, None, None, None, None, None), (None,) * 6, None),
    ]
    sensors = list(load_settings().registry.sensors)
    rows = [reading("C1", 10 * i, **dict(zip(sensors, values))) for i, (values, _, _) in enumerate(cases)]
    gold = build_gold_features(silver(spark, rows), registry=SETTINGS.registry)
    status_columns = [f"{name}_status" for name in sensors] + ["pressure_differential_status"]
    expected = spark.createDataFrame(
        [(10 * i, *statuses, differential) for i, (_, statuses, differential) in enumerate(cases)],
        ", ".join(["minute int", *[f"{c} string" for c in status_columns]]),
    )
    minute = ((F.unix_seconds("timestamp") - int(T0.timestamp())) / 60).cast("int").alias("minute")
    assertDataFrameEqual(gold.select(minute, *status_columns), expected, checkRowOrder=False)


def test_pressure_and_calendar_features(spark):
    # T0 is Monday 2026-01-05; a day earlier is Sunday.
    rows = [reading("C1", 0, suction_pressure_psi=50.0, discharge_pressure_psi=1100.0),
            reading("C1", -24 * 60 + 125, suction_pressure_psi=-14.7)]
    gold = build_gold_features(silver(spark, rows), registry=SETTINGS.registry)
    expected = spark.createDataFrame(
        [(1050.0, 1114.7 / 64.7, 0, 1, False), (1014.7, None, 2, 7, True)],
        "pressure_differential double, compression_ratio double, hour_of_day int, day_of_week int, is_weekend boolean",
    )
    actual = gold.select(*expected.columns)
    assertDataFrameEqual(actual, expected, checkRowOrder=False, rtol=1e-9)
