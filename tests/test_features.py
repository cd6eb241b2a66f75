"""Gold features on literal rows, against a brute-force oracle: time windows, rate of change, statuses.

The rolling statistics of every rolling sensor come from a brute-force scan (``oracle``); derived
signals and statuses are literal values worked out by hand from ``config/sensors.yaml``. Both ways of
computing the time-window features (Arrow per compressor with pandas windows, what the stage runs, and the
Spark range windows of ``reference=True``) meet the oracle, and each other on random fleets with gaps and nulls.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual
from spark_fixtures import NORMAL, T0, reading

from altaviz.config import load_settings
from altaviz.gold.transforms import build_gold_features
from altaviz.registry import ROLLING_STATISTICS, WINDOWS
from altaviz.schemas import GOLD_SCHEMA, SILVER_SCHEMA, gold_schema

SETTINGS = load_settings()
REGISTRY = SETTINGS.registry


def silver(spark, rows: list[dict]):
    frame = pd.DataFrame(rows).assign(is_outlier=False, source_file="f", ingested_at=T0, run_id="r1")
    frame["outlier_sensors"] = [[] for _ in range(len(frame))]
    frame["date"] = [ts.date() for ts in frame["timestamp"]]
    return spark.createDataFrame(frame[list(SILVER_SCHEMA.fieldNames())], SILVER_SCHEMA)


def rolling_oracle(rows: list[dict], row: dict) -> dict:
    """Brute force: mean/std/max of every rolling sensor over (t - w, t], scanning every reading of
    the row's compressor; nulls skipped, std needs two values."""
    t = row["timestamp"]
    mine = [r for r in rows if r["compressor_id"] == row["compressor_id"]]
    result = {}
    for sensor in REGISTRY.rolling_sensors():
        for label, seconds in WINDOWS.items():
            values = pd.Series(
                [r[sensor.name] for r in mine if t - timedelta(seconds=seconds) < r["timestamp"] <= t], dtype=float
            ).dropna()
            stats = {
                "mean": float(values.mean()) if len(values) else None,
                "std": float(values.std(ddof=1)) if len(values) > 1 else None,
                "max": float(values.max()) if len(values) else None,
            }
            result.update({f"{sensor.short}_{stat}_{label}": stats[stat] for stat in ROLLING_STATISTICS})
    return result


def oracle(rows: list[dict]) -> list[dict]:
    """Brute force: for each reading, scan every reading of its compressor."""
    out = []
    for row in rows:
        t = row["timestamp"]
        mine = [r for r in rows if r["compressor_id"] == row["compressor_id"]]
        result = {"compressor_id": row["compressor_id"], "timestamp": t, **rolling_oracle(rows, row)}
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


BOTH_WAYS = pytest.mark.parametrize("reference", [False, True], ids=["arrow", "spark-windows"])


@BOTH_WAYS
def test_time_windows_and_rate_of_change_follow_time_not_rows(spark, reference):
    # C1: a steady climb, a missing 60-minute reading, then a 2-hour gap (no "one hour earlier" after it).
    minutes = [0, 10, 20, 30, 40, 50, 70, 80, 90, 210, 220, 300, 24 * 60 + 5]
    rows = [reading("C1", m, discharge_temp_f=200.0 + m / 5) for m in minutes]
    rows[4]["discharge_temp_f"] = None  # a dead channel at 40 min: skipped, not zero
    rows += [reading("C2", m, discharge_temp_f=300.0 - m) for m in (0, 10, 60, 65)]
    gold = build_gold_features(silver(spark, rows), registry=SETTINGS.registry, reference=reference)
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
    # Every status column; no reading lies 50-70 minutes back, so the rate and its status are null.
    status_columns = [f"{name}_status" for name in REGISTRY.signals]
    assert status_columns == [f"{name}_status" for name in sensors] + [
        "pressure_differential_status", "temp_rate_of_change_status"]
    expected = spark.createDataFrame(
        [(10 * i, *statuses, differential, None) for i, (_, statuses, differential) in enumerate(cases)],
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


# (compressor, minute, readings that differ from NORMAL) -> (temp_rate_of_change, pressure_differential,
# compression_ratio, statuses of vibration, discharge temp, suction, discharge pressure, horsepower, gas
# flow, pressure differential, temp rate of change), worked out by hand. Limits (config/sensors.yaml):
# vibration 6/8, temp 240/260, suction low 30/20, discharge 1300/1400, horsepower 1800, gas flow low
# 6000, differential 1250, rate 20/40 °F/h. Ratio = (discharge + 14.7) / (suction + 14.7), absolute psi.
N, W, C = "normal", "warning", "critical"
WHOLE_CASES = [
    ("C1", 0, {}, (None, 940.0, 1014.7 / 74.7, (N, N, N, N, N, N, N, None))),
    ("C1", 10, {"vibration_mms": 3.5, "discharge_temp_f": 204.0},
     (None, 940.0, 1014.7 / 74.7, (N, N, N, N, N, N, N, None))),
    # A dead temperature channel: its status and rate are null, the other sensors still graded.
    ("C1", 20, {"vibration_mms": 4.0, "discharge_temp_f": None},
     (None, 940.0, 1014.7 / 74.7, (N, None, N, N, N, N, N, None))),
    # No discharge pressure: no differential, no ratio, no status for either.
    ("C1", 30, {"discharge_temp_f": 210.0, "discharge_pressure_psi": None},
     (None, None, None, (N, N, N, None, N, N, None, None))),
    # (230 - 204) °F over the 50 minutes since minute 10: 31.2 °F/h, a rate warning.
    ("C1", 60, {"vibration_mms": 6.5, "discharge_temp_f": 230.0},
     (31.2, 940.0, 1014.7 / 74.7, (W, N, N, N, N, N, N, W))),
    # Minute 10 again (minute 20's reading is null): (226 - 204) / 1 h = 22 °F/h.
    ("C1", 70, {"discharge_temp_f": 226.0}, (22.0, 940.0, 1014.7 / 74.7, (N, N, N, N, N, N, N, W))),
    # After a 110-minute gap: nothing 50-70 minutes back, no rate. Low-direction sensors at warning.
    ("C1", 180, {"discharge_temp_f": 210.0, "suction_pressure_psi": 25.0, "gas_flow_mcf": 5000.0},
     (None, 975.0, 1014.7 / 39.7, (N, N, W, N, N, W, N, None))),
    # (255 - 210) / 1 h = 45 °F/h: critical; suction 18 psi is at or below the low critical level 20.
    ("C1", 240, {"discharge_temp_f": 255.0, "suction_pressure_psi": 18.0},
     (45.0, 982.0, 1014.7 / 32.7, (N, W, C, N, N, N, N, C))),
    # (262 - 210) over 70 minutes = 44.57 °F/h; every high-direction sensor past a limit.
    ("C1", 250, {"vibration_mms": 8.5, "discharge_temp_f": 262.0, "suction_pressure_psi": 40.0,
                 "discharge_pressure_psi": 1300.0, "horsepower_consumption": 1900.0},
     (52.0 / (70 / 60), 1260.0, 1314.7 / 54.7, (C, C, N, W, W, N, W, C))),
    # Cooling fast, (200 - 262) / (50/60 h) = -74.4 °F/h: a falling rate never warns.
    ("C1", 300, {}, (-74.4, 940.0, 1014.7 / 74.7, (N, N, N, N, N, N, N, N))),
    # Exactly 24 h after minute 0: minute 0 is outside the (t - 24h, t] window.
    ("C1", 24 * 60, {"discharge_temp_f": 205.0}, (None, 940.0, 1014.7 / 74.7, (N, N, N, N, N, N, N, None))),
    # C2 shares C1's timestamps and never mixes with it.
    ("C2", 0, {"vibration_mms": 2.0, "discharge_temp_f": 300.0, "discharge_pressure_psi": 1100.0},
     (None, 1040.0, 1114.7 / 74.7, (N, C, N, N, N, N, N, None))),
    ("C2", 60, {"discharge_temp_f": 240.0}, (-60.0, 940.0, 1014.7 / 74.7, (N, W, N, N, N, N, N, N))),
    ("C2", 65, {"discharge_temp_f": 250.0}, (-50.0 / (65 / 60), 940.0, 1014.7 / 74.7, (N, W, N, N, N, N, N, N))),
    # Every sensor missing: every derived signal and status null, the windows still hold earlier readings.
    ("C2", 120, dict.fromkeys(REGISTRY.sensors),
     (None, None, None, (None,) * 8)),
]


@BOTH_WAYS
def test_whole_gold_rows_for_every_rolling_sensor_derived_signal_and_status(spark, reference):
    rows = [reading(cid, minute, **values) for cid, minute, values, _ in WHOLE_CASES]
    silver_readings = silver(spark, rows)
    gold = build_gold_features(silver_readings, registry=REGISTRY, reference=reference)

    schema = gold_schema(REGISTRY)
    expected_rows = []
    for row, (_, _, _, (rate, differential, ratio, statuses)) in zip(rows, WHOLE_CASES):
        timestamp = row["timestamp"]
        expected_rows.append({
            **row, "is_outlier": False, "outlier_sensors": [], "source_file": "f", "ingested_at": T0,
            "run_id": "r1", "date": timestamp.date(),
            **rolling_oracle(rows, row),
            "temp_rate_of_change": rate, "pressure_differential": differential, "compression_ratio": ratio,
            **dict(zip([f"{name}_status" for name in REGISTRY.signals], statuses, strict=True)),
            "hour_of_day": timestamp.hour, "day_of_week": timestamp.isoweekday(),
            "is_weekend": timestamp.isoweekday() >= 6,
        })
    assert set(expected_rows[0]) == set(schema.fieldNames())
    expected = spark.createDataFrame([tuple(r[f] for f in schema.fieldNames()) for r in expected_rows], schema)
    # Every rolling sensor, window and statistic is a column of the comparison.
    assert len(REGISTRY.rolling_columns()) == len(REGISTRY.rolling_sensors()) * len(WINDOWS) * 3 == 27
    assertDataFrameEqual(gold, expected, checkRowOrder=False, rtol=1e-9)

    # Failing case: one status graded differently is a different DataFrame.
    wrong = expected.withColumn(
        "temp_rate_of_change_status",
        F.when(F.col("temp_rate_of_change") < 0, F.lit("warning")).otherwise(F.col("temp_rate_of_change_status")))
    with pytest.raises(AssertionError):
        assertDataFrameEqual(gold, wrong, checkRowOrder=False, rtol=1e-9)


def random_fleet(seed: int, compressors: int = 4, days: int = 3, *, on_slots: bool = False) -> list[dict]:
    """Readings every ~10 minutes with jitter, dropped readings, multi-hour gaps and null channels.

    ``on_slots``: on silver's 10-minute slots instead (no jitter), and C0's vibration stuck at one value
    for its first half day, where every deviation is exactly 0."""
    rng = np.random.default_rng(seed)
    rows = []
    for unit in range(compressors):
        minute = 0.0
        while minute < days * 24 * 60:
            jitter = rng.integers(-2, 3)
            minute += 10 + (0 if on_slots else jitter) + (rng.random() < 0.05) * rng.integers(60, 300)
            values = {name: float(value) * rng.normal(1.0, 0.05) for name, value in NORMAL.items()}
            values.update({name: None for name in NORMAL if rng.random() < 0.05})
            if on_slots and unit == 0 and minute < 12 * 60:
                values["vibration_mms"] = 3.7
            rows.append(reading(f"C{unit}", round(minute), **values))
    return rows


@pytest.mark.parametrize("on_slots", [False, True], ids=["jittered", "cadence-slots"])
def test_arrow_and_spark_windows_give_the_same_gold_on_a_random_fleet(spark, on_slots):
    readings = silver(spark, random_fleet(seed=5, on_slots=on_slots))
    fast = build_gold_features(readings, registry=REGISTRY)
    plain = build_gold_features(readings, registry=REGISTRY, reference=True)
    assert readings.count() > 1000 and fast.where("temp_rate_of_change IS NULL").count() > 0
    if on_slots:  # a stuck channel deviates by exactly 0, not by the rounding left over from earlier readings
        assert fast.where("compressor_id = 'C0' AND vibration_std_4hr = 0").count() > 10
    assertDataFrameEqual(fast, plain, checkRowOrder=False, rtol=1e-9)

    # Failing case: a 24 h maximum off by a thousandth is a different result.
    nudged = plain.withColumn("vibration_max_24hr", F.col("vibration_max_24hr") * 1.001)
    with pytest.raises(AssertionError):
        assertDataFrameEqual(fast, nudged, checkRowOrder=False, rtol=1e-9)
