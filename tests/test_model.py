"""The trend baseline: a drifting unit scores high with a short remaining life, a steady one low."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import pytest
from pyspark.sql import Row

from altaviz.registry import SENSOR_COLUMNS
from altaviz.model.baseline import MODEL_VERSION, RUL_CAP_DAYS, predict_failures

NEWEST = datetime(2026, 1, 10, 12, 0)
NORMAL = {"vibration_mms": 3.0, "discharge_temp_f": 200.0, "suction_pressure_psi": 60.0,
          "discharge_pressure_psi": 1050.0, "horsepower_consumption": 1400.0, "gas_flow_mcf": 10000.0}


def readings(compressor_id: str, vibration_per_hour: float, hours: int = 30, vibration_now: float = 3.0):
    rows = []
    for step in range(hours * 6):
        at = NEWEST - timedelta(minutes=10 * step)
        values = dict(NORMAL, vibration_mms=vibration_now - vibration_per_hour * step / 6)
        rows.append(Row(compressor_id=compressor_id, timestamp=at, **values))
    return rows


@pytest.fixture(scope="module")
def predictions(spark, settings):
    # Unit A: vibration rising 0.1 mm/s per hour, now 5.0 (above the 4.5 normal edge) -> 8.0 in 30 h.
    # Unit B: perfectly steady. Unit C: already above the critical limit.
    # Unit D: rising as fast as A but still inside the normal band: not extrapolated.
    rows = readings("A", 0.1, vibration_now=5.0) + readings("B", 0.0) + readings("D", 0.1) + [
        Row(**{**r.asDict(), "compressor_id": "C", "vibration_mms": 9.0}) for r in readings("B", 0.0)]
    frame = spark.createDataFrame(rows).select("compressor_id", "timestamp", *SENSOR_COLUMNS)
    return {row.compressor_id: row for row in predict_failures(frame, settings=settings).collect()}


def test_drifting_unit(predictions):
    a = predictions["A"]
    assert a.prediction_timestamp == NEWEST
    assert a.rul_days == pytest.approx(30 / 24, abs=0.01)
    assert a.failure_probability == pytest.approx(math.exp(-30 / 168), abs=1e-3)
    assert a.confidence_score == 1.0 and a.model_version == MODEL_VERSION
    features = json.loads(a.features_used)
    assert features["vibration_mms_slope_per_hour"] == pytest.approx(0.1, abs=1e-4)
    assert features["readings_24h"] == 144


@pytest.mark.parametrize("unit", ["B", "D"])
def test_units_inside_the_normal_band_score_zero(predictions, unit):
    assert (predictions[unit].failure_probability, predictions[unit].rul_days) == (0.0, RUL_CAP_DAYS)


def test_unit_past_its_limit(predictions):
    c = predictions["C"]
    assert c.failure_probability == 1.0
    assert c.rul_days == 0.0
