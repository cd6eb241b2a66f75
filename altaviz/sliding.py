"""Sliding time frames computed in Python over whole compressors, handed over as Arrow.

Spark re-aggregates a sliding range frame whole for every row, so its cost grows with the rows per frame.
Here a bucket of whole compressors arrives as one Arrow table (``apply_per_compressor``), its rows are
sorted on one integer key per series (``series_keys``), each frame's row bounds come from one
``searchsorted`` (``frame_bounds``), and pandas' rolling kernels add and drop one row at a time within
them. Gold's rolling statistics, the model's hourly slopes and baselines, the backtest's replayed trend
baseline (``model/baseline.py``) and the alert steps (``serving/alerts/sliding_steps.py``) are computed this
way; silver's flags and cadence slots (``silver/slots.py``) use the buckets alone. Each keeps its Spark
formulation as ``reference=True`` and a test holds the two equal.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.api.indexers import BaseIndexer
from pyspark.sql import DataFrame, GroupedData
from pyspark.sql import functions as F
from pyspark.sql import types as T

GROUPS_PER_TASK = 8  # several Python calls per shuffle partition: the JVM sends one while Python computes another
SERIES_SPAN = 2**40  # seconds (35,000 years) between two series' keys: no frame reaches into the previous series


class RowBounds(BaseIndexer):
    """pandas rolling windows over precomputed row bounds ``[start, end)``."""

    def get_window_bounds(self, num_values=0, min_periods=None, center=None, closed=None, step=None):
        return self.start, self.end


def unit_codes(rows: pa.Table) -> np.ndarray:
    """Each row's compressor as a small integer (its index among the table's compressors)."""
    return unit_dictionary(rows)[0]


def unit_dictionary(rows: pa.Table) -> tuple[np.ndarray, pa.Array]:
    """(codes, units): ``unit_codes`` and the compressor ids they index."""
    encoded = rows.column("compressor_id").combine_chunks().dictionary_encode()
    return encoded.indices.to_numpy(), encoded.dictionary


def baselines(codes: np.ndarray, values: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Per series code (0 to ``count`` - 1) and column of ``values``: the median, nulls (NaN) skipped, and the
    median absolute deviation from it; arrays of ``count`` x columns, NaN for a code with no known value."""
    # An even count's median is the mean of the middle two, as Spark's percentile interpolates it.
    medians = pd.DataFrame(values).groupby(codes).median().reindex(np.arange(count)).to_numpy()
    deviations = pd.DataFrame(np.abs(values - medians[codes])).groupby(codes).median()
    return medians, deviations.reindex(np.arange(count)).to_numpy()


def series_keys(series: np.ndarray, epochs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, keys): the row order that sorts by series then time, and each sorted row's key, ``series``
    (small non-negative integers) times ``SERIES_SPAN`` plus the epoch seconds."""
    keys = series.astype(np.int64) * SERIES_SPAN + (epochs - epochs.min())
    order = np.argsort(keys, kind="stable")
    return order, keys[order]


def frame_bounds(keys: np.ndarray, seconds: int) -> RowBounds:
    """The frame (t − seconds, t] of every sorted row, as Spark's ``rangeBetween(-(seconds - 1), 0)`` on
    epoch seconds takes it."""
    return RowBounds(start=np.searchsorted(keys, keys - seconds, side="right"), end=np.arange(1, len(keys) + 1))


def series_means(series: np.ndarray, values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Each row's series mean of ``values`` over the ``known`` rows (0 for a series with none)."""
    sums = np.bincount(series, weights=np.where(known, values, 0.0))
    counts = np.bincount(series, weights=known.astype(np.float64))
    return (sums / np.maximum(counts, 1.0))[series]


def rolling_lines(x: np.ndarray, y: np.ndarray, bounds: RowBounds) -> tuple[np.ndarray, ...]:
    """The least-squares line of ``y`` on ``x`` over each row's frame, from pandas' rolling means of x, y, xy
    and xx: (slope, mean x, mean y, rows known). ``x`` must be NaN where ``y`` is (those rows are skipped);
    centre both per series first, so the moments cancel little."""
    frame = pd.DataFrame({"x": x, "y": y, "xy": x * y, "xx": x * x}).rolling(bounds, min_periods=1)
    mean, count = frame.mean(), frame["y"].count().to_numpy()
    slope = ((mean["xy"] - mean["x"] * mean["y"]) / (mean["xx"] - mean["x"] ** 2)).to_numpy()
    return slope, mean["x"].to_numpy(), mean["y"].to_numpy(), count


def floats(rows: pa.Table, name: str) -> np.ndarray:
    """A column as float64, nulls as NaN."""
    return rows.column(name).to_numpy().astype(np.float64, copy=False)


def unsorted(sorted_values: np.ndarray, order: np.ndarray) -> pa.Array:
    """Values computed in sorted row order, back in the input's order, as float64 (NaN -> null)."""
    in_input_order = np.empty_like(sorted_values)
    in_input_order[order] = sorted_values
    return pa.array(in_input_order, type=pa.float64(), from_pandas=True)


def apply_per_compressor(rows: DataFrame, compute: Callable[[pa.Table], pa.Table], added: list[str]) -> DataFrame:
    """``rows`` plus the double columns ``added``, computed by ``compute`` on buckets of whole compressors.

    On ``bench/bench_gold.py``'s 200 units one call per compressor took 6.1 s, 32 buckets 4.1 s: a call has a
    fixed cost. Buckets scale with ``spark.sql.shuffle.partitions``, which is raised with the data,
    so a call holds a slice of one task's rows."""
    schema = T.StructType(rows.schema.fields + [T.StructField(name, T.DoubleType()) for name in added])
    return compressor_buckets(rows).applyInArrow(compute, schema=schema)


def compressor_buckets(rows: DataFrame) -> GroupedData:
    """``rows`` grouped into buckets of whole compressors, for ``applyInArrow``."""
    buckets = GROUPS_PER_TASK * int(rows.sparkSession.conf.get("spark.sql.shuffle.partitions"))
    return rows.groupBy(F.pmod(F.xxhash64("compressor_id"), F.lit(buckets)))
