"""The trend baseline: a drifting unit scores high with a short remaining life, a steady one low.

Whole output rows of ``predict_failures`` on literal readings, against rows worked out by hand from
the limits in ``config/sensors.yaml`` (each expected value says how it was computed).
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import pytest
from pyspark.sql import Row
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from altaviz.model.baseline import (
    HORIZON_HOURS,
    MODEL_VERSION,
    RUL_CAP_DAYS,
    predict_failures,
    replay_trend,
    replayed_fits,
    trend_sensors,
)
from altaviz.registry import SENSOR_COLUMNS
from tests.model_fixtures import T0, synthetic_fleet, to_spark

NEWEST = datetime(2026, 1, 10, 12, 0)
NORMAL = {"vibration_mms": 3.0, "discharge_temp_f": 200.0, "suction_pressure_psi": 60.0,
          "discharge_pressure_psi": 1050.0, "horsepower_consumption": 1400.0, "gas_flow_mcf": 10000.0}
OUTPUT = ("compressor_id string, prediction_timestamp timestamp, failure_probability double, rul_days double, "
          "confidence_score double, model_version string, features_used string")


def readings(compressor_id: str, hours: int = 30, *, per_hour: dict | None = None, **now) -> list[Row]:
    """A reading every 10 minutes for ``hours`` up to NEWEST: ``now`` values at NEWEST, changing by
    ``per_hour`` (sensor -> units per hour), NORMAL otherwise."""
    rows = []
    for step in range(hours * 6):
        values = {**NORMAL, **now}
        for sensor, slope in (per_hour or {}).items():
            values[sensor] -= slope * step / 6
        rows.append(Row(compressor_id=compressor_id, timestamp=NEWEST - timedelta(minutes=10 * step), **values))
    return rows


def features(readings_24h: int = 144, *, levels: dict | None = None, slopes: dict | None = None) -> str:
    """``features_used`` as the model writes it: every level, then every slope, then the reading count."""
    levels = {**NORMAL, **(levels or {})}
    return json.dumps(
        {**{f"{s}_level": levels[s] for s in SENSOR_COLUMNS},
         **{f"{s}_slope_per_hour": (slopes or {}).get(s, 0.0) for s in SENSOR_COLUMNS},
         "readings_24h": readings_24h},
        separators=(",", ":"),
    )


def trend_risk(hours_to_limit: float) -> float:
    return round(math.exp(-hours_to_limit / HORIZON_HOURS), 4)


@pytest.fixture(scope="module")
def predictions(spark, settings):
    # A: vibration rising 0.1 mm/s per hour, now 5.0 (above the 4.5 normal edge) -> 8.0 in 30 h.
    # B: perfectly steady.  C: vibration already above the critical limit.
    # D: rising as fast as A but still inside the normal band: not extrapolated.
    # E: a low-direction sensor: suction falling 0.5 psi/h, now 32 (below the 40 edge) -> 20 in 24 h;
    #    gas flow steady at 7000 (no critical level: the 6000 warning is its limit); only 12 hours of
    #    readings, one with a dead temperature channel.
    e_rows = readings("E", 12, per_hour={"suction_pressure_psi": -0.5}, suction_pressure_psi=32.0, gas_flow_mcf=7000.0)
    e_rows[5] = Row(**{**e_rows[5].asDict(), "discharge_temp_f": None})
    rows = (readings("A", per_hour={"vibration_mms": 0.1}, vibration_mms=5.0) + readings("B")
            + readings("C", vibration_mms=9.0) + readings("D", per_hour={"vibration_mms": 0.1}) + e_rows)
    frame = spark.createDataFrame(rows).select("compressor_id", "timestamp", *SENSOR_COLUMNS)
    return predict_failures(frame, settings=settings)


EXPECTED = [
    # 24 h of readings before the newest (the one exactly 24 h back is outside): 144 -> confidence 1.
    # A: proximity (5 - 4.5) / (8 - 4.5) = 0.14, squared 0.02 < exp(-30 h / 168 h); 30 h = 1.25 days.
    ("A", NEWEST, trend_risk(30.0), 1.25, 1.0, MODEL_VERSION,
     features(levels={"vibration_mms": 5.0}, slopes={"vibration_mms": 0.1})),
    ("B", NEWEST, 0.0, RUL_CAP_DAYS, 1.0, MODEL_VERSION, features()),
    # C: proximity capped at 1; at the limit already: 0 hours left.
    ("C", NEWEST, 1.0, 0.0, 1.0, MODEL_VERSION, features(levels={"vibration_mms": 9.0})),
    ("D", NEWEST, 0.0, RUL_CAP_DAYS, 1.0, MODEL_VERSION, features(slopes={"vibration_mms": 0.1})),
    # E: suction proximity (32 - 40) / (20 - 40) = 0.4 -> 0.16, 24 h to the limit -> exp(-24/168) = 0.8668;
    # gas flow (7000 - 8000) / (6000 - 8000) = 0.5 -> 0.25 but not drifting. 72 of 144 readings.
    ("E", NEWEST, trend_risk(24.0), 1.0, 0.5, MODEL_VERSION,
     features(72, levels={"suction_pressure_psi": 32.0, "gas_flow_mcf": 7000.0},
              slopes={"suction_pressure_psi": -0.5})),
]


def test_predictions_are_the_hand_computed_rows(spark, predictions):
    assert predictions.columns == ["compressor_id", "prediction_timestamp", "failure_probability", "rul_days",
                                   "confidence_score", "model_version", "features_used"]
    assertDataFrameEqual(predictions, spark.createDataFrame(EXPECTED, OUTPUT), rtol=1e-9)


def test_a_changed_reading_changes_the_row(spark, predictions):
    """Failing case of the comparison: one unit's row differing in one field is caught."""
    changed = [EXPECTED[0][:3] + (1.26,) + EXPECTED[0][4:], *EXPECTED[1:]]
    with pytest.raises(AssertionError):
        assertDataFrameEqual(predictions, spark.createDataFrame(changed, OUTPUT), rtol=1e-9)


def test_python_and_spark_replays_of_the_trend_give_the_same_fits_and_scores(spark, settings_no_db):
    """The backtest's replayed baseline, in Python (``trend_fits``) and as Spark range windows, on three units
    over three days: one drifting to a trip, one silent after its first day but for a lone reading (no slope
    from one point), one whose vibration is null for three hours of every day."""
    readings, maintenance = synthetic_fleet(3, 3, failing={0: [60.0]}, seed=9)
    unit, at = readings["compressor_id"], readings["timestamp"]
    gap = (unit == "C02") & at.between(T0 + timedelta(days=1), T0 + timedelta(days=3)) & (at != T0 + timedelta(days=2))
    readings = readings[~gap].copy()
    readings.loc[(unit == "C03") & at.dt.hour.isin([3, 4, 5]), "vibration_mms"] = None
    gold, _ = to_spark(spark, readings, maintenance)
    registry = settings_no_db.registry
    sensors = tuple(trend_sensors(registry))
    fast, plain = (replayed_fits(gold, sensors=sensors, reference=reference) for reference in (False, True))
    lone = fast.where((F.col("compressor_id") == "C02") & (F.col("prediction_timestamp") == T0 + timedelta(days=2)))
    assert lone.select("vibration_mms__level", "vibration_mms__slope").first() == (None, None)
    assert fast.where("vibration_mms__slope IS NULL").count() > 1  # also C03's first reading of each day
    # The two sum in other orders: over two or three readings 10 minutes apart a slope agrees to 1e-7 per hour.
    assertDataFrameEqual(fast, plain, checkRowOrder=False, rtol=1e-9, atol=1e-6)
    nudged = plain.withColumn("vibration_mms__slope", F.col("vibration_mms__slope") * 1.001)
    with pytest.raises(AssertionError):  # a slope off by a thousandth is a different fit
        assertDataFrameEqual(fast, nudged, checkRowOrder=False, rtol=1e-9, atol=1e-6)

    hours = gold.where(F.minute("timestamp") == 50).select("compressor_id",
                                                          F.col("timestamp").alias("prediction_timestamp"))
    scores = replay_trend(gold, hours, registry=registry)
    assert scores.where("failure_probability > 0.05").count() > 10  # C01 drifting toward its trip
    assertDataFrameEqual(scores, replay_trend(gold, hours, registry=registry, reference=True), checkRowOrder=False)
