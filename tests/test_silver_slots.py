"""Silver's rows flagged and aggregated in Python over whole compressors (``slots.flag_and_aggregate``) equal
Spark's formulation (``build_silver_rows(..., reference=True)``: ``with_outlier_flags`` then
``aggregate_to_cadence``), bit for bit, on a fleet of 1 s, on-grid and irregular readings.

What a slot means (mean, max for vibration, provenance) is tested on literal rows in test_cadence.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from pyspark.errors import PySparkAssertionError
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from altaviz.registry import SENSOR_COLUMNS
from altaviz.silver.transforms import build_silver_rows

T0 = datetime(2026, 3, 2, tzinfo=timezone.utc)
CADENCE = 10
MAD = 3.5
SCHEMA = T.StructType(
    [T.StructField("compressor_id", T.StringType()), T.StructField("timestamp", T.TimestampType())]
    + [T.StructField(name, T.DoubleType()) for name in SENSOR_COLUMNS]
    + [T.StructField("source_file", T.StringType()), T.StructField("ingested_at", T.TimestampType()),
       T.StructField("run_id", T.StringType()), T.StructField("reason", T.StringType())]
)


def readings(seed: int = 3) -> list[tuple]:
    """Three kinds of unit: 1 s readings for an hour (many per slot, spread over two deliveries, one of them
    re-exported under the same name later), 10-minute readings on the grid (one per slot), and irregular
    readings (some slots hold two or three). Values are noisy with outliers, nulls and a stuck channel
    (MAD 0); a few rows carry a quarantine reason and must be left out."""
    rng = np.random.default_rng(seed)
    rows = []
    kinds = {"C-1S": ("fast", 3600), "C-1S-B": ("fast", 1800), "C-GRID": ("grid", 300), "C-ODD": ("odd", 200)}
    for unit, (kind, count) in kinds.items():
        if kind == "fast":
            seconds = np.arange(count, dtype=float)
        elif kind == "grid":
            seconds = np.arange(count) * CADENCE * 60.0
        else:
            seconds = np.sort(rng.choice(np.arange(0, count * 400, 60), size=count, replace=False)).astype(float)
        for i, second in enumerate(seconds):
            values = 100 + 5 * rng.standard_normal(len(SENSOR_COLUMNS))
            values[rng.random(len(values)) < 0.03] *= 4  # outliers
            values[rng.random(len(values)) < 0.03] = np.nan  # a silent channel
            values[0] = 42.0  # stuck: MAD 0 flags nothing
            late = kind == "fast" and i % 7 == 0
            file = "export.csv" if late or i % 3 else "morning.parquet"
            ingested = T0 + timedelta(days=2 if late else 1)
            reason = "physically_impossible" if i % 97 == 5 else None
            rows.append((unit, (T0 + timedelta(seconds=second)).replace(tzinfo=None),
                         *[None if np.isnan(v) else float(v) for v in values],
                         file, ingested.replace(tzinfo=None), "r2" if late else "r1", reason))
    return rows


def silver(spark, rows, *, reference: bool, mad: float = MAD) -> pd.DataFrame:
    classified = spark.createDataFrame(rows, SCHEMA)
    return build_silver_rows(classified, mad_threshold=mad, cadence_minutes=CADENCE, reference=reference)


def test_python_slots_equal_spark_slots_bit_for_bit(spark):
    rows = readings()
    python, reference = silver(spark, rows, reference=False), silver(spark, rows, reference=True)
    # 1 s units fill each slot with many readings, flagged ones among them; the grid unit loses 4 rejected rows.
    counts = python.groupBy("compressor_id").count().toPandas().set_index("compressor_id")["count"].to_dict()
    assert counts == {"C-1S": 6, "C-1S-B": 3, "C-GRID": 296, "C-ODD": counts["C-ODD"]} and counts["C-ODD"] < 200
    assert python.where("is_outlier").count() > 0
    assertDataFrameEqual(python, reference, rtol=0.0, atol=0.0)


def test_grid_readings_take_the_pass_through_and_still_equal_spark(spark):
    grid = [row for row in readings() if row[0] == "C-GRID"]
    assertDataFrameEqual(silver(spark, grid, reference=False), silver(spark, grid, reference=True),
                         rtol=0.0, atol=0.0)


def test_a_different_threshold_is_caught_by_the_comparison(spark):
    rows = readings()
    with pytest.raises(PySparkAssertionError):
        assertDataFrameEqual(silver(spark, rows, reference=False, mad=MAD * 0.5), silver(spark, rows, reference=True),
                             rtol=0.0, atol=0.0)
