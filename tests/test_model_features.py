"""Model features and labels: hours around a failure and its repair, windows that never span a repair."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from altaviz.model.features import build_model_features, feature_columns, hourly_readings, scoring_readings
from altaviz.model.labels import build_labels
from altaviz.registry import SENSOR_COLUMNS
from tests.model_fixtures import T0, synthetic_fleet, to_spark

TRIP = datetime(2026, 1, 5, 12, 0)
LOG_SCHEMA = ("compressor_id string, event_date timestamp, event_type string, description string, "
              "downtime_hours double, severity string")


def test_labels_around_a_failure_and_a_repair(spark):
    # C1 trips at TRIP, offline 10 h (no hours in between), repaired at 22:00; C2 never fails.
    maintenance = spark.createDataFrame([
        ("C1", TRIP, "failure", "bearing", 10.0, "critical"),
        ("C1", TRIP - timedelta(days=3), "inspection", "walk-down", 0.0, "low"),
    ], LOG_SCHEMA)
    hours = spark.createDataFrame([
        ("C1", TRIP - timedelta(hours=49)), ("C1", TRIP - timedelta(hours=48)), ("C1", TRIP - timedelta(hours=1)),
        ("C1", TRIP - timedelta(minutes=10)), ("C1", TRIP + timedelta(hours=11)), ("C1", TRIP + timedelta(hours=13)),
        ("C2", TRIP - timedelta(hours=2)), ("C2", TRIP),
    ], "compressor_id string, prediction_timestamp timestamp")
    expected = spark.createDataFrame([
        ("C1", TRIP - timedelta(hours=49), 0, 49.0, 1),  # the trip is 49 h away: beyond the 48 h horizon
        ("C1", TRIP - timedelta(hours=48), 1, 48.0, 1),  # exactly 48 h: inside (t, t + 48 h]
        ("C1", TRIP - timedelta(hours=1), 1, 1.0, 1),
        ("C1", TRIP - timedelta(minutes=10), 1, 10 / 60, 1),  # the last reading before the trip
        ("C1", TRIP + timedelta(hours=11), 0, 2.0, 0),  # repaired: no trip ahead, censored at the unit's last hour
        ("C1", TRIP + timedelta(hours=13), 0, 0.0, 0),
        ("C2", TRIP - timedelta(hours=2), 0, 2.0, 0),
        ("C2", TRIP, 0, 0.0, 0),
    ], "compressor_id string, prediction_timestamp timestamp, label int, rul_hours double, observed int")
    assertDataFrameEqual(build_labels(hours, maintenance, horizon_hours=48), expected)


def _readings_at(spark, stamps: dict[str, list[str]]):
    rows = pd.DataFrame([{"compressor_id": unit, "timestamp": pd.Timestamp(f"2026-01-01 {at}"),
                          **dict.fromkeys(SENSOR_COLUMNS, 1.0)} for unit, ats in stamps.items() for at in ats])
    return to_spark(spark, rows, pd.DataFrame())[0]


@pytest.mark.parametrize("cadence, stamps, expected", [
    # Hours are (h - 1 h, h]; slots (s - cadence, s]: 00:25 shares 00:30's slot, 01:00 closes the first hour.
    (10, {"C1": ["00:10:00", "00:20:00", "00:25:00", "00:30:00", "01:00:00", "01:00:30"], "C2": ["00:05:00"]},
     [("C1", "01:00:00", 4 / 6), ("C1", "01:00:30", 1 / 6), ("C2", "00:05:00", 1 / 6)]),
    # One-minute cadence: sixty slots an hour, every one of them a bit of the same long.
    (1, {"C1": [f"{m // 60:02d}:{m % 60:02d}:00" for m in range(1, 61)] + ["01:00:59"]},
     [("C1", "01:00:00", 1.0), ("C1", "01:00:59", 1 / 60)]),
], ids=["ten-minute", "one-minute"])
def test_coverage_counts_the_cadence_slots_holding_a_reading(spark, settings_no_db, cadence, stamps, expected):
    hours = hourly_readings(_readings_at(spark, stamps), registry=settings_no_db.registry, cadence_minutes=cadence)
    got = hours.select("compressor_id", "prediction_timestamp", "coverage").toPandas()
    want = pd.DataFrame([(unit, pd.Timestamp(f"2026-01-01 {at}"), share) for unit, at, share in expected],
                        columns=got.columns)
    pd.testing.assert_frame_equal(got.sort_values(["compressor_id", "prediction_timestamp"], ignore_index=True),
                                  want, check_dtype=False)


@pytest.fixture(scope="module")
def repaired_unit(spark, settings_no_db):
    # One unit: vibration ramps up over 4 days, trips at 100 h, offline 12 h, reads normal after the repair.
    readings, maintenance = synthetic_fleet(1, 8, failing={0: [100.0]}, seed=3)
    gold, log = to_spark(spark, readings, maintenance)
    features = build_model_features(gold, log, registry=settings_no_db.registry, cadence_minutes=10)
    return features.toPandas().sort_values("prediction_timestamp", ignore_index=True)


def test_no_hour_inside_downtime_and_segments_start_at_the_repair(repaired_unit):
    trip, repaired = T0 + timedelta(hours=100), T0 + timedelta(hours=112)
    stamps = repaired_unit["prediction_timestamp"]
    assert not ((stamps >= trip) & (stamps < repaired)).any()
    after = repaired_unit[stamps >= repaired]
    assert (after["segment_start"] == repaired).all()
    assert (repaired_unit[stamps < trip]["segment_start"] == T0).all()
    assert after["hours_since_repair"].min() >= 0 and repaired_unit[stamps < trip]["hours_since_repair"].isna().all()


def test_slopes_and_baseline_do_not_reach_across_a_repair(repaired_unit):
    repaired = T0 + timedelta(hours=112)
    after = repaired_unit[repaired_unit["prediction_timestamp"] >= repaired].sort_values("prediction_timestamp")
    # The first five hours after the repair have fewer than 6 hourly points in their segment: no 24 h slope,
    # although the 24 h before them (the ramp to the trip) would give a steep one.
    assert after.head(5)["vibration_mms__slope_24h"].isna().all()
    assert after["vibration_mms__slope_24h"].dropna().abs().max() < 1.0
    # Baseline deviation waits for the new machine's own 72 h baseline.
    assert after[after["hours_in_segment"] < 72]["vibration_mms__z"].isna().all()
    assert after[after["hours_in_segment"] >= 72]["vibration_mms__z"].notna().all()
    # Before the trip the ramp shows: steep 24 h slope and a large deviation near the trip.
    before = repaired_unit[repaired_unit["prediction_timestamp"] < T0 + timedelta(hours=100)]
    assert before.tail(1)["vibration_mms__slope_24h"].iloc[0] > 1.0
    # (Its precursor began at 4 h, inside the first baseline: the deviation is smaller than it would be.)
    assert before.tail(1)["vibration_mms__z"].iloc[0] > 3


def test_one_row_per_compressor_hour_with_every_registry_feature(repaired_unit, settings_no_db):
    assert not repaired_unit.duplicated(["compressor_id", "prediction_timestamp"]).any()
    assert set(feature_columns(settings_no_db.registry)) <= set(repaired_unit.columns)
    for sensor in settings_no_db.registry.sensors:
        assert f"{sensor}__slope_7d" in repaired_unit.columns
    assert repaired_unit["coverage"].between(0, 1).all()


@pytest.fixture(scope="module")
def varied_fleet(spark, settings_no_db):
    """Three units over 12 days: one repaired twice, hours missing for a day on another, and hours whose
    vibration is all null (a null hourly mean: the frame's count and fit skip it). (gold, log, registry)"""
    readings, maintenance = synthetic_fleet(3, 12, failing={0: [100.0, 200.0]}, seed=11)
    readings = readings[~((readings["compressor_id"] == "C02") & readings["timestamp"].between(
        T0 + timedelta(days=5), T0 + timedelta(days=6)))].copy()
    silent = (readings["compressor_id"] == "C03") & readings["timestamp"].dt.hour.isin([3, 4, 5])
    readings.loc[silent, "vibration_mms"] = None
    gold, log = to_spark(spark, readings, maintenance)
    return gold, log, settings_no_db.registry


def test_python_and_spark_slopes_and_baselines_give_the_same_features(varied_fleet):
    gold, log, registry = varied_fleet
    fast = build_model_features(gold, log, registry=registry, cadence_minutes=10)
    plain = build_model_features(gold, log, registry=registry, cadence_minutes=10, reference=True)
    assert fast.where("vibration_mms__slope_7d IS NOT NULL").count() > 500
    assert fast.where("vibration_mms__z IS NOT NULL AND load_ratio IS NOT NULL").count() > 300
    assert fast.where("vibration_mms__mean IS NULL AND vibration_mms__slope_24h IS NOT NULL").count() > 0
    assertDataFrameEqual(fast, plain, checkRowOrder=False, rtol=1e-9, atol=1e-9)

    # Failing cases: a 7-day slope or a baseline deviation off by a thousandth is a different result.
    for column in ("vibration_mms__slope_7d", "vibration_mms__z", "load_ratio"):
        nudged = plain.withColumn(column, F.col(column) * 1.001)
        with pytest.raises(AssertionError):
            assertDataFrameEqual(fast, nudged, checkRowOrder=False, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("after", [
    T0 + timedelta(days=3, minutes=25),  # the frame reaches back before the data: every reading is needed
    T0 + timedelta(hours=112),  # the second segment's first hour (C01's first repair)
    T0 + timedelta(days=10, hours=7, minutes=35),  # C01's third segment still in its baseline; a day of C02 missing
    T0 + timedelta(days=11, hours=23),  # the last hour only
])
def test_the_readings_a_score_needs_give_the_features_all_of_gold_gives(varied_fleet, after):
    gold, log, registry = varied_fleet

    def features_after(readings):
        return build_model_features(readings, log, registry=registry, cadence_minutes=10).where(
            F.col("prediction_timestamp") > F.lit(after))

    needed = scoring_readings(gold, log, after=after)
    everything = features_after(gold)
    assert everything.count() > 0 and needed.count() <= gold.count()
    assertDataFrameEqual(features_after(needed), everything, checkRowOrder=False, rtol=1e-9, atol=1e-9)

    if after < T0 + timedelta(days=10):
        return  # earlier, the week before reaches into the first segment's baseline: nothing to leave out
    # Failing cases: the last week of readings without the first segments' baselines; the readings needed but
    # the first day of the 7-day frame (the baselines, days earlier, kept).
    week = gold.where(F.col("timestamp") > F.lit(after - timedelta(days=7)))
    short = needed.where(~F.col("timestamp").between(after - timedelta(days=7), after - timedelta(days=6)))
    for readings in (week, short):
        with pytest.raises(AssertionError):
            assertDataFrameEqual(features_after(readings), everything, checkRowOrder=False, rtol=1e-9, atol=1e-9)
