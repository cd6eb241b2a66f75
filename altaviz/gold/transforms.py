"""04 gold transformations (no I/O): health features per reading.

Grain: one row per silver reading (compressor_id, timestamp). Columns: ``schemas.gold_schema`` — all
silver columns, then

- ``<short>_{mean,std,max}_{1hr,4hr,24hr}`` for each sensor the registry marks ``rolling``: time-range
  windows per compressor over (t − w, t] on epoch seconds (gaps shrink the window, never widen it);
- ``temp_rate_of_change``: °F per hour from the last discharge temperature 50–70 minutes earlier in
  time (null when there is none: a gap is not bridged with "six rows back");
- ``pressure_differential`` (discharge − suction, psi) and ``compression_ratio`` on absolute pressures;
- ``{sensor}_status`` for every registry sensor, ``pressure_differential_status``,
  ``temp_rate_of_change_status``: 'normal' | 'warning' | 'critical' from ``config/sensors.yaml`` honoring
  each limit's direction (null when the value is null); a signed rate only warns in the configured direction;
- ``hour_of_day``, ``day_of_week`` (ISO: 1 = Monday … 7 = Sunday), ``is_weekend`` (UTC calendar).
"""

from __future__ import annotations

from datetime import timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

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


def with_pressure_features(readings: DataFrame) -> DataFrame:
    """Add ``pressure_differential`` (psi) and ``compression_ratio`` on absolute pressures."""
    discharge, suction = F.col("discharge_pressure_psi"), F.col("suction_pressure_psi")
    absolute_suction = suction + ATMOSPHERE_PSI
    return readings.withColumn("pressure_differential", discharge - suction).withColumn(
        "compression_ratio", F.when(absolute_suction > 0, (discharge + ATMOSPHERE_PSI) / absolute_suction)
    )


def status(value: Column, sensor: Sensor) -> Column:
    """'normal' | 'warning' | 'critical' for ``value`` against the sensor's limits (direction-aware, null-safe)."""
    graded = F.when(value.isNull(), F.lit(None).cast("string"))
    if sensor.critical is not None:
        graded = graded.when(sensor.breaches(value, sensor.critical), F.lit("critical"))
    return graded.when(sensor.breaches(value, sensor.warning), F.lit("warning")).otherwise(F.lit("normal"))


def with_statuses(readings: DataFrame, *, registry: SensorRegistry) -> DataFrame:
    """Add ``{signal}_status`` for every sensor and derived signal in the registry."""
    return readings.select(
        "*", *[status(F.col(name), sensor).alias(f"{name}_status") for name, sensor in registry.signals.items()]
    )


def with_calendar(readings: DataFrame) -> DataFrame:
    """Add ``hour_of_day``, ISO ``day_of_week`` and ``is_weekend`` (UTC)."""
    iso_day = ((F.dayofweek("timestamp") + 5) % 7) + 1  # Spark: 1 = Sunday; ISO: 1 = Monday
    return readings.select("*", F.hour("timestamp").alias("hour_of_day"), iso_day.alias("day_of_week")).withColumn(
        "is_weekend", F.col("day_of_week") >= 6
    )


def build_gold_features(silver_readings: DataFrame, *, registry: SensorRegistry) -> DataFrame:
    """Silver readings -> ``gold_schema(registry)``, one row per reading (see module docstring)."""
    return (
        silver_readings.withColumn("_epoch", F.unix_seconds("timestamp"))
        .transform(with_rolling_stats, registry=registry)
        .transform(with_temp_rate_of_change)
        .transform(with_pressure_features)
        .transform(with_statuses, registry=registry)
        .transform(with_calendar)
        .select(*gold_schema(registry).fieldNames())
    )
