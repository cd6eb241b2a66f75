"""04 gold transformations (no I/O): health features per reading.

Grain: one row per silver reading (compressor_id, timestamp). Columns: ``schemas.gold_schema`` — all
silver columns, then

- ``<short>_{mean,std,max}_{1hr,4hr,24hr}`` for each sensor the registry marks ``rolling``: time-range
  windows per compressor over (t − w, t] on epoch seconds (gaps shrink the window, never widen it);
- ``temp_rate_of_change``: °F per hour from the last discharge temperature 50–70 minutes earlier in
  time (null when there is none: a gap is not bridged with "six rows back");

Those two are time-window features, computed two ways with identical results (``tests/test_features.py``):

- ``build_gold_features`` (what the stage runs) hands buckets of whole compressors to Python as Arrow
  (``altaviz.sliding``): the other columns pass through unconverted, each window's row bounds come from one
  ``searchsorted``, and pandas' rolling kernels add and drop one reading at a time within them;
- ``reference=True`` states them as Spark range windows (``with_rolling_stats``,
  ``with_temp_rate_of_change``), the plain definition. Spark re-aggregates a sliding frame whole for
  every row, so its cost grows with readings per window: 4.2× slower here (``bench/bench_gold.py``).

The rest:
- ``pressure_differential`` (discharge − suction, psi) and ``compression_ratio`` on absolute pressures;
- ``{sensor}_status`` for every registry sensor, ``pressure_differential_status``,
  ``temp_rate_of_change_status``: 'normal' | 'warning' | 'critical' from ``config/sensors.yaml`` honoring
  each limit's direction (null when the value is null); a signed rate only warns in the configured direction;
  a unit with its own limits (``limits:``, per model or per unit) is graded against those (``unit_limits``);
- ``hour_of_day``, ``day_of_week`` (ISO: 1 = Monday … 7 = Sunday), ``is_weekend`` (UTC calendar).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Callable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from altaviz import sliding
from altaviz.registry import ROLLING_STATISTICS, WINDOWS, Sensor, SensorRegistry
from altaviz.schemas import gold_schema
from altaviz.units import ATMOSPHERE_PSI

LOOKBACK = timedelta(seconds=max(WINDOWS.values()))  # the longest window: what an incremental run must re-read
RATE_FROM, RATE_TO = 70 * 60, 50 * 60  # "one hour earlier": the last reading 70..50 minutes back


def _by_compressor_in_time() -> Window:
    return Window.partitionBy("compressor_id").orderBy("_epoch")


_ROLLING = {"mean": F.avg, "std": F.stddev_samp, "max": F.max}


def with_rolling_stats(readings: DataFrame, *, registry: SensorRegistry) -> DataFrame:
    """Add ``<short>_<mean|std|max>_<window>`` over the 1hr/4hr/24hr time-range windows for every
    sensor the registry marks ``rolling``."""
    columns = []
    for sensor in registry.rolling_sensors():
        for label, seconds in WINDOWS.items():
            frame = _by_compressor_in_time().rangeBetween(-(seconds - 1), Window.currentRow)
            columns += [
                _ROLLING[stat](sensor.name).over(frame).alias(f"{sensor.short}_{stat}_{label}")
                for stat in ROLLING_STATISTICS
            ]
    return readings.select("*", *columns)


def with_temp_rate_of_change(readings: DataFrame) -> DataFrame:
    """Add ``temp_rate_of_change`` (°F/h) from the last temperature 50–70 minutes earlier in time."""
    an_hour_back = _by_compressor_in_time().rangeBetween(-RATE_FROM, -RATE_TO)
    earlier = F.last(
        F.when(F.col("discharge_temp_f").isNotNull(), F.struct(F.col("_epoch").alias("epoch"), F.col("discharge_temp_f").alias("temp"))),
        ignorenulls=True,
    ).over(an_hour_back)
    hours_between = (F.col("_epoch") - F.col("_earlier.epoch")) / 3600.0
    return (
        readings.withColumn("_earlier", earlier)
        .withColumn("temp_rate_of_change", (F.col("discharge_temp_f") - F.col("_earlier.temp")) / hours_between)
        .drop("_earlier")
    )


def _rate_of_change(keys: np.ndarray, temps: np.ndarray) -> np.ndarray:
    """°F/h from the last known temperature 50–70 minutes back (NaN when there is none), rows sorted by
    ``keys`` (seconds, one compressor's far above the last one's, see ``rolling_and_rate``)."""
    known = ~np.isnan(temps)
    known_keys, known_temps = keys[known], temps[known]
    if not len(known_keys):
        return np.full(len(keys), np.nan)
    last = np.searchsorted(known_keys, keys - RATE_TO, side="right") - 1
    taken = np.maximum(last, 0)
    earlier_key, earlier_temp = known_keys[taken], known_temps[taken]
    found = (last >= 0) & (earlier_key >= keys - RATE_FROM)
    rate = np.full(len(keys), np.nan)
    hours_between = (keys[found] - earlier_key[found]) / 3600.0
    rate[found] = (temps[found] - earlier_temp[found]) / hours_between
    return rate


def rolling_and_rate(readings: pa.Table, *, registry: SensorRegistry) -> pa.Table:
    """Whole compressors' readings (Arrow, with ``_epoch``, any row order) plus the rolling statistics and
    ``temp_rate_of_change``: the values of ``with_rolling_stats`` and ``with_temp_rate_of_change`` (silver
    holds one reading per compressor and timestamp, so a range frame's peers are the row alone).

    Only the sensor columns are converted; the other columns pass through as they came, in their order.
    """
    order, keys = sliding.series_keys(sliding.unit_codes(readings), readings.column("_epoch").to_numpy())
    sensors = registry.rolling_sensors()
    values = pd.DataFrame({sensor.name: sliding.floats(readings, sensor.name)[order] for sensor in sensors})
    features = {}
    for label, seconds in WINDOWS.items():
        # (t - w, t]: pandas adds and drops one reading at a time (compensated sums; nulls skipped).
        window = values.rolling(sliding.frame_bounds(keys, seconds), min_periods=1)
        computed = {"mean": window.mean(), "std": window.std(ddof=1), "max": window.max()}
        for sensor in sensors:
            for stat in ROLLING_STATISTICS:
                features[f"{sensor.short}_{stat}_{label}"] = computed[stat][sensor.name].to_numpy()
    features["temp_rate_of_change"] = _rate_of_change(keys, sliding.floats(readings, "discharge_temp_f")[order])
    added = [sliding.unsorted(column, order) for column in features.values()]
    return pa.Table.from_arrays([*readings.columns, *added], names=[*readings.column_names, *features])


def with_time_window_features(readings: DataFrame, *, registry: SensorRegistry) -> DataFrame:
    """Add the rolling statistics and ``temp_rate_of_change``, one Arrow call per bucket of whole compressors."""
    return sliding.apply_per_compressor(readings, lambda some: rolling_and_rate(some, registry=registry),
                                        [*registry.rolling_columns(), "temp_rate_of_change"])


def with_pressure_features(readings: DataFrame) -> DataFrame:
    """Add ``pressure_differential`` (psi) and ``compression_ratio`` on absolute pressures."""
    discharge, suction = F.col("discharge_pressure_psi"), F.col("suction_pressure_psi")
    absolute_suction = suction + ATMOSPHERE_PSI
    return readings.withColumn("pressure_differential", discharge - suction).withColumn(
        "compression_ratio", F.when(absolute_suction > 0, (discharge + ATMOSPHERE_PSI) / absolute_suction)
    )


UnitLimits = Mapping[str, Mapping[str, Sensor]]  # signal -> compressor_id -> limits (SensorRegistry.unit_limits)


def _number(value: float | None) -> Column:
    return F.lit(value).cast("double")


def unit_level(
    sensor: Sensor, per_unit: Mapping[str, Sensor] | None, level: Callable[[Sensor], float | None]
) -> Column:
    """A limit of ``sensor`` per reading: ``level`` of the unit's own limits where they differ (a CASE on
    ``compressor_id``, units grouped by value), else of the fleet default; null where there is no such level."""
    default = level(sensor)
    units_by_value: dict[float | None, list[str]] = {}
    for compressor_id, limits in sorted((per_unit or {}).items()):
        if level(limits) != default:
            units_by_value.setdefault(level(limits), []).append(compressor_id)
    column = _number(default)
    for value, units in reversed(units_by_value.items()):  # nested from the last case in: CASE order is kept
        column = F.when(F.col("compressor_id").isin(units), _number(value)).otherwise(column)
    return column


def status(value: Column, sensor: Sensor, per_unit: Mapping[str, Sensor] | None = None) -> Column:
    """'normal' | 'warning' | 'critical' for ``value`` against the sensor's limits (direction-aware, null-safe),
    each unit in ``per_unit`` (compressor_id -> limits) against its own."""
    graded = F.when(value.isNull(), F.lit(None).cast("string"))
    if per_unit:
        # A unit without a critical level has a null one: a null CASE condition never holds.
        if sensor.critical is not None or any(limits.critical is not None for limits in per_unit.values()):
            graded = graded.when(sensor.breaches(value, unit_level(sensor, per_unit, lambda s: s.critical)),
                                 F.lit("critical"))
        warning = unit_level(sensor, per_unit, lambda s: s.warning)
        return graded.when(sensor.breaches(value, warning), F.lit("warning")).otherwise(F.lit("normal"))
    if sensor.critical is not None:
        graded = graded.when(sensor.breaches(value, sensor.critical), F.lit("critical"))
    return graded.when(sensor.breaches(value, sensor.warning), F.lit("warning")).otherwise(F.lit("normal"))


def with_statuses(readings: DataFrame, *, registry: SensorRegistry, unit_limits: UnitLimits | None = None) -> DataFrame:
    """Add ``{signal}_status`` for every sensor and derived signal in the registry; units in ``unit_limits``
    are graded against their own limits."""
    unit_limits = unit_limits or {}
    return readings.select("*", *[
        status(F.col(name), sensor, unit_limits.get(name)).alias(f"{name}_status")
        for name, sensor in registry.signals.items()
    ])


def with_calendar(readings: DataFrame) -> DataFrame:
    """Add ``hour_of_day``, ISO ``day_of_week`` and ``is_weekend`` (UTC)."""
    iso_day = ((F.dayofweek("timestamp") + 5) % 7) + 1  # Spark: 1 = Sunday; ISO: 1 = Monday
    return readings.select("*", F.hour("timestamp").alias("hour_of_day"), iso_day.alias("day_of_week")).withColumn(
        "is_weekend", F.col("day_of_week") >= 6
    )


def build_gold_features(
    silver_readings: DataFrame, *, registry: SensorRegistry, reference: bool = False,
    unit_limits: UnitLimits | None = None,
) -> DataFrame:
    """Silver readings -> ``gold_schema(registry)``, one row per reading (see module docstring).

    ``reference=True`` computes the time-window features with Spark range windows instead of pandas.
    ``unit_limits``: the units with limits of their own (``SensorRegistry.unit_limits``), graded against them.
    """
    with_epoch = silver_readings.withColumn("_epoch", F.unix_seconds("timestamp"))
    if reference:
        with_windows = with_epoch.transform(with_rolling_stats, registry=registry).transform(with_temp_rate_of_change)
    else:
        with_windows = with_epoch.transform(with_time_window_features, registry=registry)
    return (
        with_windows.transform(with_pressure_features)
        .transform(with_statuses, registry=registry, unit_limits=unit_limits)
        .transform(with_calendar)
        .select(*gold_schema(registry).fieldNames())
    )
