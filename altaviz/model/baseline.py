"""Failure prediction: a transparent trend baseline over the last 24 h of gold readings.

For each compressor and sensor, a least-squares line over the 24 h before that unit's newest reading
gives the current level (the fitted value at the newest reading) and the drift per hour. From those:

- proximity: how far the current level has moved from the normal band toward the critical limit
  (0 inside the band, 1 at the limit; sensors without a critical level use the warning level);
- hours to limit: when the drift, if it continues, carries the level to that limit. Only a level that
  has already left the normal band is extrapolated: inside the band, daily load swings make a 24 h
  slope point somewhere without meaning anything.

failure_probability = the worst sensor's max(proximity², exp(-hours_to_limit / horizon)); rul_days is the
shortest time to a limit, capped at the horizon of the estimate. It needs no training data, so it works
on the first run, and it is the baseline any learned model must beat.

One row per compressor: compressor_id, prediction_timestamp, failure_probability, rul_days,
confidence_score (the share of the 24 h's ``cadence_minutes`` slots holding a reading), model_version,
features_used (JSON).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from altaviz import sliding
from altaviz.config import Settings, get_settings
from altaviz.registry import Sensor

MODEL_VERSION = "trend-baseline-1"
LOOKBACK_HOURS = 24
HORIZON_HOURS = 7 * 24  # drift that reaches a limit within a week is what the trend can still tell
RUL_CAP_DAYS = 90.0
# The level at which the replayed baseline alerts in a backtest (the sweep on the training seed,
# bench/results/backtest.md): the trend score is a proximity, not a probability, so it has its own level.
TREND_ALERT_LEVEL = 0.05


def _proximity(level: Column, normal_edge: float, limit: float) -> Column:
    """0 inside the normal band, 1 at the limit, linear in between (direction taken from the signs)."""
    return F.least(F.greatest((level - F.lit(normal_edge)) / F.lit(limit - normal_edge), F.lit(0.0)), F.lit(1.0))


def _hours_to_limit(level: Column, slope: Column, target: float, sensor: Sensor) -> Column:
    """Hours until the fitted line reaches ``target``; null when drifting away; 0 when already there."""
    toward = sensor.breaches(slope, 0) & (slope != 0)  # strictly toward the bad side
    return F.when(sensor.breaches(level, target), F.lit(0.0)).when(toward, (F.lit(target) - level) / slope)


def trend_risk(sensors: dict[str, Sensor]) -> tuple[Column, Column]:
    """(failure probability, hours to the nearest limit) from ``<sensor>__level`` and ``<sensor>__slope``
    (per hour) columns: the worst sensor's max(proximity², exp(-hours_to_limit / horizon))."""
    risks, hours = [], []
    for sensor, limit in sensors.items():
        target = limit.critical if limit.critical is not None else limit.warning
        level, slope = F.col(f"{sensor}__level"), F.col(f"{sensor}__slope")
        proximity = F.coalesce(_proximity(level, limit.normal_edge, target), F.lit(0.0))
        to_limit = F.when(proximity > 0, _hours_to_limit(level, slope, target, limit))
        trend = F.coalesce(F.exp(-to_limit / F.lit(float(HORIZON_HOURS))), F.lit(0.0))
        risks.append(F.greatest(F.pow(proximity, 2), trend))
        hours.append(to_limit)
    return F.greatest(*risks), F.least(*hours)


def predict_failures(gold_readings: DataFrame, *, settings: Settings | None = None) -> DataFrame:
    """Score each compressor at its newest reading; one row per compressor."""
    settings = settings or get_settings()
    sensors = trend_sensors(settings.registry)
    columns = tuple(sensors)
    per_unit = Window.partitionBy("compressor_id").rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    recent = (
        gold_readings.select("compressor_id", "timestamp", *columns)
        .withColumn("newest", F.max("timestamp").over(per_unit))
        # Hours relative to the newest reading, so the fitted intercept is the level "now".
        .withColumn("hours_ago", (F.unix_timestamp("timestamp") - F.unix_timestamp("newest")) / 3600.0)
        .where(F.col("hours_ago") > -LOOKBACK_HOURS)
    )
    slot_seconds = settings.pipeline.cadence_minutes * 60
    fits = recent.groupBy("compressor_id").agg(
        F.max("newest").alias("prediction_timestamp"),
        F.count(F.lit(1)).alias("readings"),
        # Confidence is time covered, not rows: a 1 s feed must not count 600 times a 10-minute one. Slots
        # are (s - cadence, s], closed on the right like the 24 h: at most 24 h / cadence of them.
        F.count_distinct(F.ceil(F.unix_seconds("timestamp") / F.lit(slot_seconds))).alias("slots"),
        *[F.regr_intercept(sensor, "hours_ago").alias(f"{sensor}__level") for sensor in columns],
        *[F.regr_slope(sensor, "hours_ago").alias(f"{sensor}__slope") for sensor in columns],
    )
    probability, shortest = trend_risk(sensors)
    expected_slots = LOOKBACK_HOURS * 60 / settings.pipeline.cadence_minutes
    features = F.to_json(F.struct(
        *[F.round(F.col(f"{sensor}__level"), 3).alias(f"{sensor}_level") for sensor in columns],
        *[F.round(F.col(f"{sensor}__slope"), 4).alias(f"{sensor}_slope_per_hour") for sensor in columns],
        F.col("readings").alias("readings_24h"),
    ))
    return fits.select(
        "compressor_id",
        "prediction_timestamp",
        F.round(probability, 4).alias("failure_probability"),
        F.round(F.least(shortest / 24.0, F.lit(RUL_CAP_DAYS)), 2).alias("rul_days_raw"),
        F.round(F.least(F.col("slots") / F.lit(expected_slots), F.lit(1.0)), 3).alias("confidence_score"),
        F.lit(MODEL_VERSION).alias("model_version"),
        features.alias("features_used"),
    ).select(
        "compressor_id", "prediction_timestamp", "failure_probability",
        # No sensor drifting toward a limit: the remaining life is beyond what the trend can tell.
        F.coalesce("rul_days_raw", F.lit(RUL_CAP_DAYS)).alias("rul_days"),
        "confidence_score", "model_version", "features_used",
    )


def replay_trend(gold_readings: DataFrame, hours: DataFrame, *, registry, reference: bool = False) -> DataFrame:
    """The baseline replayed at past hours, for a backtest: at every reading the least-squares level and
    slope over the 24 h before it (per sensor, ``replayed_fits``), scored by ``trend_risk`` and kept at ``hours``
    (compressor_id, prediction_timestamp). Returns compressor_id, prediction_timestamp, failure_probability."""
    sensors = trend_sensors(registry)
    fits = replayed_fits(gold_readings, sensors=tuple(sensors), reference=reference)
    probability, _ = trend_risk(sensors)
    return hours.select("compressor_id", "prediction_timestamp").join(
        fits, on=["compressor_id", "prediction_timestamp"], how="inner"
    ).select("compressor_id", "prediction_timestamp", F.round(probability, 4).alias("failure_probability"))


def trend_sensors(registry) -> dict[str, Sensor]:
    """The sensors the trend reads: those with a normal band (an edge to drift from)."""
    return {name: s for name, s in registry.sensors.items() if s.normal is not None}


def replayed_fits(gold_readings: DataFrame, *, sensors: tuple[str, ...], reference: bool = False) -> DataFrame:
    """Every reading's compressor_id, ``prediction_timestamp`` (its time), ``<sensor>__level`` and
    ``<sensor>__slope`` (per hour): the least squares of the sensor over (t - 24 h, t], the level being the
    line's value at t. Computed on buckets of whole compressors in Python (``trend_fits``); ``reference=True``
    states it in Spark, range windows that re-aggregate every frame whole (the default run's backtest spent
    about 30 s there). A test holds the two equal."""
    rows = (gold_readings.select("compressor_id", "timestamp", *sensors)
            .withColumn("_epoch", F.unix_seconds("timestamp")))
    columns = fit_columns(sensors)
    if reference:
        frame = (Window.partitionBy("compressor_id").orderBy("_epoch")
                 .rangeBetween(-(LOOKBACK_HOURS * 3600 - 1), Window.currentRow))
        # Hours since the unit's first reading: the line is the same, and its moments cancel less than on
        # hours since 1970 (~490,000).
        at = (F.col("_epoch") - F.min("_epoch").over(Window.partitionBy("compressor_id"))) / 3600.0
        fitted = []
        for name in sensors:
            slope = F.regr_slope(name, at).over(frame)
            level = F.avg(name).over(frame) + slope * (at - F.regr_avgx(name, at).over(frame))
            fitted += [level.alias(f"{name}__level"), slope.alias(f"{name}__slope")]
        rows = rows.select("*", *fitted)
    else:
        rows = sliding.apply_per_compressor(rows, lambda some: trend_fits(some, sensors=sensors), columns)
    return rows.select("compressor_id", F.col("timestamp").alias("prediction_timestamp"), *columns)


def trend_fits(readings: pa.Table, *, sensors: tuple[str, ...]) -> pa.Table:
    """Whole compressors' readings (Arrow, with ``_epoch``, any order) plus the columns of ``replayed_fits``:
    pandas' rolling means of x, y, xy and xx over each reading's 24 h (nulls skipped; x in hours and y both
    centred per unit, so the moments cancel little); no slope from fewer than two readings, as Spark's
    ``regr_slope``."""
    epochs = readings.column("_epoch").to_numpy()
    units = sliding.unit_codes(readings)
    order, keys = sliding.series_keys(units, epochs)
    units = units[order]
    hours = epochs[order] / 3600.0
    hours = hours - sliding.series_means(units, hours, np.ones(len(hours), dtype=bool))
    bounds = sliding.frame_bounds(keys, LOOKBACK_HOURS * 3600)
    added = []
    for name in sensors:
        values = sliding.floats(readings, name)[order]
        known = ~np.isnan(values)
        offset = sliding.series_means(units, values, known)
        slope, mean_x, mean_y, count = sliding.rolling_lines(np.where(known, hours, np.nan), values - offset, bounds)
        slope = np.where(count >= 2, slope, np.nan)
        level = offset + mean_y + slope * (hours - mean_x)
        added += [sliding.unsorted(level, order), sliding.unsorted(slope, order)]
    return pa.Table.from_arrays([*readings.columns, *added], names=[*readings.column_names, *fit_columns(sensors)])


def fit_columns(sensors: tuple[str, ...]) -> list[str]:
    """``<sensor>__level`` and ``<sensor>__slope`` of each sensor, in ``replayed_fits``' order."""
    return [f"{name}__{part}" for name in sensors for part in ("level", "slope")]
