"""Silver's outlier flags and cadence slots computed in Python over buckets of whole compressors.

Spark's formulation (``transforms.with_outlier_flags`` then ``transforms.aggregate_to_cadence``, kept as
``build_silver_rows(..., reference=True)``) shuffles the readings twice, once to Python for the per-unit
medians and once to group each slot, and its deterministic slot mean sorts an array per sensor and slot:
59 of the 94 s that silver's rows took on a fleet-month. Here one shuffle brings whole compressors to Python,
which computes the medians and MADs, flags each reading, and aggregates to the slot, in numpy. When
every slot holds one reading (data on the grid, the usual case) the rows come out as they went in.
``tests/test_silver_slots.py`` holds both formulations equal.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from altaviz import sliding
from altaviz.registry import SENSOR_COLUMNS

MICROS = 1_000_000
# 0.6745 is the 75th percentile of the standard normal: it makes the MAD comparable to a std.
MAD_TO_SIGMA = 0.6745
# How a cadence slot's readings become its one value: the mean, except vibration, whose limits are judged
# on the peak RMS level (ISO 10816 zones): averaging 1 s readings would hide the burst the limits exist to catch.
SLOT_STATISTIC = {"vibration_mms": "max"}  # every other sensor: "mean"
LATEST = ("ingested_at", "source_file", "run_id")  # a slot's provenance: its latest-ingested reading's


def flag_and_aggregate(readings: DataFrame, *, mad_threshold: float, cadence_minutes: int) -> DataFrame:
    """Valid readings -> one row per compressor per slot, as ``with_outlier_flags`` then
    ``aggregate_to_cadence`` give them (columns of ``SILVER_SCHEMA`` but ``date``)."""
    sensors = list(SENSOR_COLUMNS)  # named here: a Python worker may have loaded another registry
    schema = T.StructType(
        [T.StructField("compressor_id", T.StringType()), T.StructField("timestamp", T.TimestampType())]
        + [T.StructField(name, T.DoubleType()) for name in sensors]
        + [T.StructField("is_outlier", T.BooleanType()), T.StructField("outlier_sensors", T.ArrayType(T.StringType())),
           T.StructField("source_file", T.StringType()), T.StructField("ingested_at", T.TimestampType()),
           T.StructField("run_id", T.StringType())]
    )
    rows = readings.select("compressor_id", "timestamp", *[F.col(name).cast("double") for name in sensors],
                           "source_file", "ingested_at", "run_id")
    step = cadence_minutes * 60 * MICROS
    return sliding.compressor_buckets(rows).applyInArrow(
        lambda some: bucket_slots(some, sensors, mad_threshold=mad_threshold, step_micros=step), schema=schema)


def bucket_slots(readings: pa.Table, sensors: list[str], *, mad_threshold: float, step_micros: int) -> pa.Table:
    """Whole compressors' valid readings (Arrow, any order) -> their flagged slot rows."""
    codes, units = sliding.unit_dictionary(readings)
    values = np.column_stack([sliding.floats(readings, name) for name in sensors])
    medians, mads = sliding.baselines(codes, values, len(units))
    with np.errstate(invalid="ignore", divide="ignore"):
        robust_z = MAD_TO_SIGMA * np.abs(values - medians[codes]) / mads[codes]
        flagged = (mads[codes] > 0) & (robust_z > mad_threshold)  # NaN compares False: null flags nothing
    micros = readings.column("timestamp").cast(pa.int64()).to_numpy()
    slot_micros = np.floor_divide(micros, step_micros) * step_micros  # each reading's slot start
    order = np.lexsort((slot_micros, codes))
    key_codes, key_slots = codes[order], slot_micros[order]
    new_slot = (key_codes[1:] != key_codes[:-1]) | (key_slots[1:] != key_slots[:-1])
    starts = np.flatnonzero(np.concatenate(([True], new_slot)))  # each slot's first row in ``order``
    if len(starts) == len(order):  # one reading per slot: it is its own slot
        picked, slot_values, slot_flags = np.arange(len(codes)), values, flagged
        slot_times = slot_micros
    else:
        slot = np.concatenate(([0], np.cumsum(new_slot)))  # each row's slot, in ``order``
        sorted_values = values[order]
        with np.errstate(invalid="ignore"):
            slot_values = np.column_stack([
                np.fmax.reduceat(sorted_values[:, i], starts)  # fmax skips NaN (null)
                if SLOT_STATISTIC.get(name, "mean") == "max" else _slot_mean(sorted_values[:, i], slot, len(starts))
                for i, name in enumerate(sensors)])
        slot_flags = np.logical_or.reduceat(flagged[order], starts, axis=0)
        picked = order[_latest_in_slot(readings, order, slot, starts)]
        slot_times = slot_micros[picked]
    return pa.Table.from_arrays([
        readings.column("compressor_id").take(picked),
        pa.array(slot_times, type=pa.timestamp("us", tz="UTC")),
        *[pa.array(slot_values[:, i], type=pa.float64(), from_pandas=True) for i in range(len(sensors))],
        pa.array(slot_flags.any(axis=1)),
        _sensor_lists(slot_flags, sensors),
        *[readings.column(name).take(picked) for name in ("source_file", "ingested_at", "run_id")],
    ], names=["compressor_id", "timestamp", *sensors, "is_outlier", "outlier_sensors", "source_file", "ingested_at",
              "run_id"])


def _slot_mean(values: np.ndarray, slot: np.ndarray, slot_count: int) -> np.ndarray:
    """Per slot (``slot``: each value's, 0 to ``slot_count`` - 1), the mean of its known values summed in ascending
    order from the smallest, as ``transforms._slot_mean`` folds them: the same bits whatever the row order."""
    known = ~np.isnan(values)
    slot, known_values = slot[known], values[known]
    by_value = np.lexsort((known_values, slot))
    slot, known_values = slot[by_value], known_values[by_value]
    counts = np.bincount(slot, minlength=slot_count)
    position = np.arange(len(slot)) - np.repeat(np.cumsum(counts) - counts, counts)
    total = np.full(slot_count, np.nan)
    first = position == 0
    total[slot[first]] = known_values[first]
    for k in range(1, int(counts.max(initial=0))):  # one vector step per place in the longest slot
        at = position == k
        total[slot[at]] += known_values[at]
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / counts


def _latest_in_slot(readings: pa.Table, order: np.ndarray, slot: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per slot, the position in ``order`` of its reading with the greatest (ingested_at, source_file,
    run_id), Spark's ``max`` of that struct."""
    ranks = [_ranks(readings.column(name))[order] for name in reversed(LATEST)]
    by_latest = np.lexsort((*ranks, slot))  # within each slot ascending: the slot's last row is its latest
    ends = np.append(starts[1:], len(order)) - 1
    return by_latest[ends]


def _ranks(column: pa.ChunkedArray) -> np.ndarray:
    """Each value's rank in ascending order (equal values equal ranks); nulls lowest, as in Spark's order."""
    encoded = column.combine_chunks().dictionary_encode()
    dictionary = encoded.dictionary
    if pa.types.is_timestamp(dictionary.type):
        dictionary = dictionary.cast(pa.int64())
    rank_of = np.empty(len(dictionary), dtype=np.int64)
    rank_of[np.argsort(dictionary.to_numpy(zero_copy_only=False), kind="stable")] = np.arange(1, len(dictionary) + 1)
    indices = encoded.indices
    return np.where(indices.is_null().to_numpy(zero_copy_only=False), 0,
                    rank_of[indices.fill_null(0).to_numpy()] if len(dictionary) else 0)


def _sensor_lists(flags: np.ndarray, sensors: list[str]) -> pa.Array:
    """Per row, the names of the flagged sensors in ``sensors`` order (an empty list when none)."""
    offsets = np.concatenate(([0], np.cumsum(flags.sum(axis=1)))).astype(np.int32)
    names = np.broadcast_to(np.asarray(sensors, dtype=object), flags.shape)[flags]
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(names, type=pa.string()))
