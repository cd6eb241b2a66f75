"""Model features: one row per compressor per hour, from gold readings and the maintenance log (no I/O).

Grain: one row per (compressor_id, hour) in which the unit reported; an hour is (h − 1 h, h] and
``prediction_timestamp`` is its last reading (the hour's end when the hour is complete), so a score never
uses a reading after its own timestamp. Hours inside logged downtime (a failure's trip until its repair)
do not exist: the unit is offline.

Segments: each unit's life is cut at every repair (a failure's ``event_date + downtime_hours``); a repaired
unit is a new machine, so no slope, baseline or window below reaches across a repair.

Per sensor of the registry that has a normal band (``<sensor>__<feature>``):

- ``mean``, ``std``: the hour's level and spread (sample standard deviation of its readings);
- ``slope_24h``, ``slope_7d``: least-squares slope of the hourly means, in sensor units per day, over the
  time-range frame (t − 24 h, t] / (t − 7 d, t] on epoch seconds inside the segment; null with fewer
  than 6 / 24 hourly points;
- ``z``: robust z = 0.6745 · (mean − median) / MAD against the unit's own healthy baseline: the hourly means
  of the first ``baseline_hours`` of the segment (the first days after a repair, or of the data). It is null
  until that baseline is complete, so it never uses a reading after the hour; a precursor that has started
  by the hour is weeks away from the baseline, which a trailing window (e.g. 14 days ending 3 days back)
  could not promise for a bearing that degrades over 10-24 days. The MAD is floored at 2 % of the normal
  band so that a stuck, noiseless channel does not divide by zero.

Context: ``coverage`` (the hour's ``cadence_minutes`` slots holding a reading / slots per hour: time, not
rows), ``hours_since_maintenance`` (any logged event at or before the hour; null when none), ``hours_since_repair`` (null when the data holds none),
``hours_in_segment`` (since the repair, or since the unit's first reading), ``load_ratio`` (horsepower mean
over the baseline median of horsepower), ``hour_sin``/``hour_cos`` (hour of day, UTC, on the circle).
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from functools import reduce

import numpy as np
import pyarrow as pa
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from altaviz import sliding
from altaviz.registry import Sensor, SensorRegistry
from altaviz.runs import as_utc

LOAD_SENSOR = "horsepower_consumption"  # the driver's work: load is horsepower over the unit's own median
BASELINE_HOURS = 72
SLOPE_FRAMES = {"24h": (24 * 3600, 6), "7d": (7 * 24 * 3600, 24)}  # frame seconds, least hourly points
MAD_FLOOR_SHARE = 0.02
ROBUST_Z = 0.6745
KEY = ("compressor_id", "prediction_timestamp")
CONTEXT_FEATURES = ("coverage", "hours_since_maintenance", "hours_since_repair", "hours_in_segment",
                    "load_ratio", "hour_sin", "hour_cos")
SENSOR_FEATURES = ("mean", "std", "slope_24h", "slope_7d", "z")


def model_sensors(registry: SensorRegistry) -> tuple[Sensor, ...]:
    """The sensors the model describes: every registry sensor with a normal band."""
    return tuple(sensor for sensor in registry.sensors.values() if sensor.normal is not None)


def feature_columns(registry: SensorRegistry) -> tuple[str, ...]:
    """Feature column names, in the order the model's vector uses them."""
    per_sensor = tuple(f"{s.name}__{f}" for s in model_sensors(registry) for f in SENSOR_FEATURES)
    return per_sensor + CONTEXT_FEATURES


def repairs(maintenance: DataFrame) -> DataFrame:
    """One row per logged failure: compressor_id, trip_at, repaired_at (trip + downtime)."""
    return maintenance.where(F.col("event_type") == "failure").select(
        "compressor_id",
        F.col("event_date").alias("trip_at"),
        (F.col("event_date") + F.make_dt_interval(secs=F.coalesce("downtime_hours", F.lit(0.0)) * 3600))
        .alias("repaired_at"),
    )


def scoring_readings(gold_readings: DataFrame, maintenance: DataFrame, *, after: datetime,
                     baseline_hours: int = BASELINE_HOURS) -> DataFrame:
    """The gold readings that the features of the hours after ``after`` depend on, so that scoring a few new
    hours does not pay for the features of the whole history: the longest slope frame before them, and the
    baseline hours of every segment (from a unit's first reading or a repair), which each later hour's ``z`` and
    ``load_ratio`` compare with. Both are cut on hour boundaries, so every hour they hold is whole. The
    filters compare ``timestamp`` with constants, so a Delta table skips the files of the days in between.

    ``build_model_features`` on these rows gives every hour after ``after`` the features it gets from all of
    gold, to the last bits (the slopes centre each segment on the hours present); a test holds the two equal."""
    hour = 3600
    longest = max(seconds for seconds, _ in SLOPE_FRAMES.values())
    cut = (int(as_utc(after).timestamp()) - longest) // hour * hour  # an hour boundary at or before the frame
    starts = (gold_readings.groupBy("compressor_id").agg(F.min("timestamp").alias("_start"))
              .unionByName(repairs(maintenance).select("compressor_id", F.col("repaired_at").alias("_start"))))
    start_epoch = F.unix_seconds("_start")
    # Whole hours (h - 1 h, h] from the hour before the segment's first to one past its baseline: the first
    # hour's end, which a segment without a repair starts at, is at most an hour after its first reading.
    baselines = starts.select(
        F.col("compressor_id").alias("_unit"),
        (F.floor(start_epoch / hour) * hour - hour).alias("_from"),
        (F.ceil(start_epoch / hour) * hour + (baseline_hours + 1) * hour).alias("_through"),
    ).localCheckpoint()  # a few rows per unit, read twice below
    spans = _merged_spans([(row["_from"], row["_through"]) for row in baselines.select("_from", "_through")
                           .where(F.col("_from") < F.lit(cut)).distinct().collect()])
    timestamp = F.col("timestamp")
    recent = gold_readings.where(timestamp > F.lit(_utc(cut)))
    if not spans:
        return recent
    in_spans = reduce(lambda a, b: a | b, [(timestamp > F.lit(_utc(low))) & (timestamp <= F.lit(_utc(high)))
                                           for low, high in spans])
    epoch = F.unix_seconds("timestamp")
    own_baseline = (F.col("compressor_id") == F.col("_unit")) & (epoch > F.col("_from")) & (epoch <= F.col("_through"))
    older = (gold_readings.where((timestamp <= F.lit(_utc(cut))) & in_spans)
             .join(F.broadcast(baselines), on=own_baseline, how="left_semi"))
    return older.unionByName(recent)


def _merged_spans(spans: list[tuple[int, int]], most: int = 50) -> list[tuple[int, int]]:
    """Overlapping (low, high] spans merged; past ``most`` of them, the one span that covers them all."""
    merged: list[tuple[int, int]] = []
    for low, high in sorted(spans):
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged if len(merged) <= most else [(merged[0][0], max(high for _, high in merged))]


def _utc(epoch_seconds: int) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, timezone.utc)


def hourly_readings(gold_readings: DataFrame, *, registry: SensorRegistry, cadence_minutes: int) -> DataFrame:
    """One row per compressor and hour (h − 1 h, h]: prediction_timestamp (last reading), ``<s>__mean``,
    ``<s>__std``, ``coverage``."""
    sensors = model_sensors(registry)
    epoch = F.unix_seconds("timestamp")
    hour_end = F.ceil(epoch / 3600.0) * 3600
    # Slots (s - cadence, s], closed on the right like the hour: at most 61 of them touch an hour (cadence
    # >= 1 minute), so an hour's slots are the bits of one long, counted by a plain aggregate (a distinct
    # count would double every row).
    cadence_seconds = cadence_minutes * 60
    # In SQL: classic pyspark's F.shiftleft takes the shift as a Python int only (Spark Connect's takes a column).
    slot_bit = F.expr(f"shiftleft(1L, ceil(_hour_end / {cadence_seconds})"
                      f" - ceil(unix_seconds(timestamp) / {cadence_seconds}))")
    return (
        gold_readings.select("compressor_id", "timestamp", *[s.name for s in sensors])
        .withColumn("_hour_end", hour_end)
        .groupBy("compressor_id", "_hour_end")
        .agg(
            F.max("timestamp").alias("prediction_timestamp"),
            F.bit_count(F.bit_or(slot_bit)).alias("_slots"),
            *[F.avg(s.name).alias(f"{s.name}__mean") for s in sensors],
            *[F.stddev_samp(s.name).alias(f"{s.name}__std") for s in sensors],
        )
        .withColumn("coverage", F.least(F.col("_slots") / F.lit(60.0 / cadence_minutes), F.lit(1.0)))
        .drop("_slots", "_hour_end")
    )


def with_segments(hourly: DataFrame, maintenance: DataFrame) -> DataFrame:
    """Drop hours inside downtime; add ``segment_start`` (the last repair, else the unit's first reading) and
    ``hours_since_repair`` (null when no repair precedes the hour)."""
    fixes = repairs(maintenance)
    in_downtime = hourly.alias("h").join(
        fixes.alias("r"),
        on=(F.col("h.compressor_id") == F.col("r.compressor_id"))
        & (F.col("h.prediction_timestamp") >= F.col("r.trip_at"))
        & (F.col("h.prediction_timestamp") < F.col("r.repaired_at")),
        how="left_anti",
    )
    last_repair = _last_before(in_downtime.select(*KEY), fixes.select("compressor_id", F.col("repaired_at").alias("at")))
    per_unit = Window.partitionBy("compressor_id").rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    first_reading = F.min("prediction_timestamp").over(per_unit)
    return (
        in_downtime.join(last_repair.withColumnRenamed("last_at", "last_repair"), on=list(KEY), how="left")
        .withColumn("segment_start", F.coalesce("last_repair", first_reading))
        .withColumn("hours_since_repair", _hours_between("last_repair", "prediction_timestamp"))
        .drop("last_repair")
    )


def _last_before(keys: DataFrame, events: DataFrame) -> DataFrame:
    """Per (compressor_id, prediction_timestamp) of ``keys``: ``last_at``, the newest event ``at`` at or before it."""
    return (
        keys.join(events.withColumnRenamed("compressor_id", "_unit"),
                  on=(F.col("compressor_id") == F.col("_unit")) & (F.col("at") <= F.col("prediction_timestamp")),
                  how="inner")
        .groupBy(*KEY)
        .agg(F.max("at").alias("last_at"))
    )


def _hours_between(earlier: str, later: str) -> Column:
    return (F.unix_seconds(later) - F.unix_seconds(earlier)) / 3600.0


def with_trends(segmented: DataFrame, *, registry: SensorRegistry, baseline_hours: int,
                reference: bool = False) -> DataFrame:
    """Add what needs a unit's other hours, inside each segment: ``<s>__slope_24h`` and ``<s>__slope_7d``
    (units per day), ``<s>__z`` and ``load_ratio`` (against the segment's first ``baseline_hours``).

    Computed on buckets of whole compressors in Python (``hourly_trends``); ``reference=True`` states them in
    Spark, the plain definition: range windows for the slopes, which re-aggregate every frame whole (86 s vs
    5 s on a fleet-month), and exact medians joined back for the baselines (11 s). A test holds the two equal."""
    with_keys = (segmented.withColumn("_epoch", F.unix_seconds("prediction_timestamp"))
                 .withColumn("_segment", F.unix_seconds("segment_start")))
    if reference:
        added = (with_keys.transform(_slope_windows, registry=registry)
                 .transform(with_baseline_z, registry=registry, baseline_hours=baseline_hours))
    else:
        added = sliding.apply_per_compressor(
            with_keys, lambda some: hourly_trends(some, registry=registry, baseline_hours=baseline_hours),
            [*_slope_columns(registry), *_baseline_columns(registry)])
    return added.drop("_epoch", "_segment")


def _slope_columns(registry: SensorRegistry) -> list[str]:
    return [f"{sensor.name}__slope_{label}" for label in SLOPE_FRAMES for sensor in model_sensors(registry)]


def _slope_windows(segmented: DataFrame, *, registry: SensorRegistry) -> DataFrame:
    columns = []
    days = (F.col("_epoch") - F.col("_segment")) / 86400.0
    for label, (seconds, least_points) in SLOPE_FRAMES.items():
        frame = (Window.partitionBy("compressor_id", "segment_start").orderBy("_epoch")
                 .rangeBetween(-(seconds - 1), Window.currentRow))
        for sensor in model_sensors(registry):
            level = F.col(f"{sensor.name}__mean")
            enough = F.count(level).over(frame) >= least_points
            columns.append(F.when(enough, F.regr_slope(level, days).over(frame))
                           .alias(f"{sensor.name}__slope_{label}"))
    return segmented.select("*", *columns)


def hourly_trends(hours: pa.Table, *, registry: SensorRegistry, baseline_hours: int) -> pa.Table:
    """Whole compressors' hourly rows (Arrow, with ``_epoch`` and ``_segment`` seconds, any order) plus the
    columns of ``_slope_windows`` and ``with_baseline_z``.

    A slope is the least squares of the hourly means over days, over the frame's rows where the mean is known
    (null with fewer than the frame's least points); a baseline is the median and MAD of the hourly means of
    the segment's first ``baseline_hours``, as Spark's ``median`` takes them (nulls skipped)."""
    epochs, segments = hours.column("_epoch").to_numpy(), hours.column("_segment").to_numpy()
    # One series per (unit, segment): no frame or baseline spans a repair.
    _, series = np.unique(np.stack([sliding.unit_codes(hours), segments], axis=1), axis=0, return_inverse=True)
    series = series.ravel()
    order, keys = sliding.series_keys(series, epochs)
    series = series[order]
    # x in days, centred per series (the slope is unchanged): the moments below then cancel little.
    seconds_in = (epochs - segments)[order]
    days = seconds_in / 86400.0
    in_baseline = seconds_in < baseline_hours * 3600
    sensors = model_sensors(registry)
    levels = np.column_stack([sliding.floats(hours, f"{sensor.name}__mean")[order] for sensor in sensors])
    # Each row's segment baseline: the median and MAD of the segment's first hours (NaN where it has none).
    medians, mads = (baseline[series] for baseline in sliding.baselines(
        series[in_baseline], levels[in_baseline], count=int(series.max()) + 1))
    added = {}
    for column, sensor in enumerate(sensors):
        level, median = levels[:, column], medians[:, column]
        known = ~np.isnan(level)
        x = np.where(known, days - sliding.series_means(series, days, known), np.nan)
        y = level - sliding.series_means(series, level, known)
        for label, (seconds, least_points) in SLOPE_FRAMES.items():
            slope, _, _, count = sliding.rolling_lines(x, y, sliding.frame_bounds(keys, seconds))
            added[f"{sensor.name}__slope_{label}"] = np.where(count >= least_points, slope, np.nan)
        low, high = sensor.normal  # type: ignore[misc]
        mad = np.fmax(mads[:, column], MAD_FLOOR_SHARE * (high - low))  # fmax, as Spark's greatest: NaN ignored
        added[f"{sensor.name}__z"] = np.where(in_baseline, np.nan, ROBUST_Z * (level - median) / mad)
        if sensor.name == LOAD_SENSOR:
            added["load_ratio"] = np.where(in_baseline, np.nan, level / median)
    added.setdefault("load_ratio", np.full(len(series), np.nan))
    names = [*_slope_columns(registry), *_baseline_columns(registry)]
    columns = [sliding.unsorted(added[name], order) for name in names]
    return pa.Table.from_arrays([*hours.columns, *columns], names=[*hours.column_names, *names])


def _baseline_columns(registry: SensorRegistry) -> list[str]:
    return [*(f"{sensor.name}__z" for sensor in model_sensors(registry)), "load_ratio"]


def with_baseline_z(segmented: DataFrame, *, registry: SensorRegistry, baseline_hours: int) -> DataFrame:
    """Add ``<s>__z`` against the segment's first ``baseline_hours`` and ``load_ratio`` in Spark: exact medians
    grouped per segment and joined back to every hour (``with_trends(reference=True)``)."""
    sensors = model_sensors(registry)
    in_baseline = _hours_between("segment_start", "prediction_timestamp") < baseline_hours
    baseline_rows = segmented.where(in_baseline)
    medians = baseline_rows.groupBy("compressor_id", "segment_start").agg(
        *[F.median(f"{s.name}__mean").alias(f"{s.name}__median") for s in sensors]
    )
    mads = baseline_rows.join(medians, on=["compressor_id", "segment_start"], how="inner").groupBy(
        "compressor_id", "segment_start"
    ).agg(*[F.median(F.abs(F.col(f"{s.name}__mean") - F.col(f"{s.name}__median"))).alias(f"{s.name}__mad")
            for s in sensors])
    baseline = medians.join(mads, on=["compressor_id", "segment_start"], how="inner")
    complete = ~in_baseline
    z_columns = []
    for sensor in sensors:
        low, high = sensor.normal  # type: ignore[misc]
        mad = F.greatest(F.col(f"{sensor.name}__mad"), F.lit(MAD_FLOOR_SHARE * (high - low)))
        z = F.lit(ROBUST_Z) * (F.col(f"{sensor.name}__mean") - F.col(f"{sensor.name}__median")) / mad
        z_columns.append(F.when(complete, z).alias(f"{sensor.name}__z"))
    load = (F.when(complete, F.col(f"{LOAD_SENSOR}__mean") / F.col(f"{LOAD_SENSOR}__median"))
            if LOAD_SENSOR in {s.name for s in sensors} else F.lit(None).cast("double"))
    joined = segmented.join(baseline, on=["compressor_id", "segment_start"], how="left")
    return joined.select(*segmented.columns, *z_columns, load.alias("load_ratio"))


def with_maintenance_age(segmented: DataFrame, maintenance: DataFrame) -> DataFrame:
    """Add ``hours_since_maintenance`` (any logged event at or before the hour) and ``hours_in_segment``."""
    last_event = _last_before(segmented.select(*KEY), maintenance.select("compressor_id", F.col("event_date").alias("at")))
    return (
        segmented.join(last_event, on=list(KEY), how="left")
        .withColumn("hours_since_maintenance", _hours_between("last_at", "prediction_timestamp"))
        .withColumn("hours_in_segment", _hours_between("segment_start", "prediction_timestamp"))
        .drop("last_at")
    )


def with_hour_of_day(segmented: DataFrame) -> DataFrame:
    """Add ``hour_sin`` and ``hour_cos``: the UTC hour of day on the unit circle (23 h is next to 0 h)."""
    angle = F.hour("prediction_timestamp") * F.lit(2 * math.pi / 24)
    return segmented.withColumn("hour_sin", F.sin(angle)).withColumn("hour_cos", F.cos(angle))


def build_model_features(
    gold_readings: DataFrame,
    maintenance: DataFrame,
    *,
    registry: SensorRegistry,
    cadence_minutes: int,
    baseline_hours: int = BASELINE_HOURS,
    reference: bool = False,
) -> DataFrame:
    """Gold readings + maintenance log -> one row per compressor per hour: compressor_id,
    prediction_timestamp, segment_start, then ``feature_columns(registry)``.

    The rows come back materialized, with their plan cut (a local checkpoint): labelling, every fit and
    every score start from them, and over Spark Connect a model fit copies its dataset's plan through a
    protobuf decoder that refuses more than 100 levels of nesting, which these features plus labels and
    folds would exceed. ``reference=True`` computes slopes and baselines in Spark (``with_trends``)."""
    return (
        hourly_readings(gold_readings, registry=registry, cadence_minutes=cadence_minutes)
        .transform(with_segments, maintenance)
        .transform(with_trends, registry=registry, baseline_hours=baseline_hours, reference=reference)
        .transform(with_maintenance_age, maintenance)
        .transform(with_hour_of_day)
        .select(*KEY, "segment_start", *feature_columns(registry))
        .localCheckpoint()
    )
