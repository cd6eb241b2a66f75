"""04 gold: health features per reading, written to Delta ``sensors_gold`` partitioned by ``date``.

Grain: one row per silver reading (compressor_id, timestamp). Columns: ``schemas.GOLD_SCHEMA`` — all
silver columns, then

- ``{vibration,discharge_temp,discharge_pressure}_{mean,std,max}_{1h,4h,24h}``: time-range windows per
  compressor over (t − w, t] on epoch seconds (gaps shrink the window, they never widen it);
- ``temp_rate_of_change``: °F per hour from the last discharge temperature 50–70 minutes earlier in
  time (null when there is none: a gap is not bridged with "six rows back");
- ``pressure_differential`` (discharge − suction, psi) and ``compression_ratio`` on absolute pressures;
- ``{sensor}_status`` for the six sensors, ``pressure_differential_status``,
  ``temp_rate_of_change_status``: 'normal' | 'warning' | 'critical' from ``thresholds.yaml`` honoring
  each limit's direction (null when the value is null); a signed rate only warns in the configured direction;
- ``hour_of_day``, ``day_of_week`` (ISO: 1 = Monday … 7 = Sunday), ``is_weekend`` (UTC calendar).

Incremental: ``build_gold(start=, end=)`` reads silver for [start − 24 h, end) (pruned on silver's date
partitions), computes features, keeps [start, end) and writes it with one Delta ``replaceWhere`` on
those dates and timestamps, so the rows at the boundary equal a full recompute. Without start/end
the whole table is rewritten from all of silver. Time travel: see ``altaviz.lake``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Mapping

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from altaviz import lake
from altaviz.config import SENSOR_COLUMNS, Limit, Settings, Thresholds, get_settings
from altaviz.runs import as_utc
from altaviz.schemas import GOLD_SCHEMA, ROLLING_SENSORS, WINDOWS

ATMOSPHERE_PSI = 14.7  # absolute = gauge + atmosphere, for the compression ratio
LOOKBACK = timedelta(hours=24)  # the longest window: what an incremental run must re-read
RATE_FROM, RATE_TO = 70 * 60, 50 * 60  # "one hour earlier": the last reading 70..50 minutes back


@dataclass(frozen=True)
class GoldReport:
    start: datetime | None
    end: datetime | None
    rows_written: int
    rows_by_date: Mapping[str, int] = field(default_factory=dict)  # 'YYYY-MM-DD' -> rows
    counts: Mapping[str, int] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """One row per date partition written: date, rows."""
        return pd.DataFrame(sorted(self.rows_by_date.items()), columns=["date", "rows"])




def _by_compressor_in_time() -> Window:
    return Window.partitionBy("compressor_id").orderBy("_epoch")


def with_rolling_stats(readings: DataFrame) -> DataFrame:
    """Add mean/std/max over 1 h, 4 h and 24 h time-range windows for the three rolling sensors."""
    columns = []
    for prefix, sensor in ROLLING_SENSORS.items():
        for label, seconds in WINDOWS.items():
            frame = _by_compressor_in_time().rangeBetween(-(seconds - 1), Window.currentRow)
            columns += [
                F.avg(sensor).over(frame).alias(f"{prefix}_mean_{label}"),
                F.stddev_samp(sensor).over(frame).alias(f"{prefix}_std_{label}"),
                F.max(sensor).over(frame).alias(f"{prefix}_max_{label}"),
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


def status(value: Column, limit: Limit) -> Column:
    """'normal' | 'warning' | 'critical' for ``value`` against ``limit`` (direction-aware, null-safe)."""

    def breaches(level: float) -> Column:
        return value >= level if limit.direction == "high" else value <= level

    graded = F.when(value.isNull(), F.lit(None).cast("string"))
    if limit.critical is not None:
        graded = graded.when(breaches(limit.critical), F.lit("critical"))
    return graded.when(breaches(limit.warning), F.lit("warning")).otherwise(F.lit("normal"))


def with_statuses(readings: DataFrame, *, thresholds: Thresholds) -> DataFrame:
    """Add ``{sensor}_status`` for the six sensors and the two derived signals."""
    signals = {name: thresholds.sensors[name] for name in SENSOR_COLUMNS} | dict(thresholds.derived)
    return readings.select("*", *[status(F.col(name), limit).alias(f"{name}_status") for name, limit in signals.items()])


def with_calendar(readings: DataFrame) -> DataFrame:
    """Add ``hour_of_day``, ISO ``day_of_week`` and ``is_weekend`` (UTC)."""
    iso_day = ((F.dayofweek("timestamp") + 5) % 7) + 1  # Spark: 1 = Sunday; ISO: 1 = Monday
    return readings.select("*", F.hour("timestamp").alias("hour_of_day"), iso_day.alias("day_of_week")).withColumn(
        "is_weekend", F.col("day_of_week") >= 6
    )


def build_gold_features(silver_readings: DataFrame, *, thresholds: Thresholds) -> DataFrame:
    """Silver readings -> ``GOLD_SCHEMA``, one row per reading (see module docstring)."""
    return (
        silver_readings.withColumn("_epoch", F.unix_seconds("timestamp"))
        .transform(with_rolling_stats)
        .transform(with_temp_rate_of_change)
        .transform(with_pressure_features)
        .transform(with_statuses, thresholds=thresholds)
        .transform(with_calendar)
        .select(*GOLD_SCHEMA.fieldNames())
    )


def _sql_timestamp(moment: datetime) -> str:
    return f"TIMESTAMP '{as_utc(moment):%Y-%m-%d %H:%M:%S.%f}'"


def build_gold(
    spark: SparkSession,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    settings: Settings | None = None,
) -> GoldReport:
    """Compute features for [start, end) (or everything) from silver and write them to ``sensors_gold``."""
    settings = settings or get_settings()
    if not lake.table_exists(spark, "sensors_silver", settings=settings):
        raise RuntimeError("Delta table sensors_silver does not exist: run 03_silver first")
    if (start is None) != (end is None):
        raise ValueError("give both start and end, or neither (everything in silver)")
    replace_where = None
    if start is None:
        silver = lake.read_table(spark, "sensors_silver", settings=settings)
        in_range = F.lit(True)
    else:
        start, end = as_utc(start), as_utc(end)
        if end <= start:
            raise ValueError(f"end {end.isoformat()} is not after start {start.isoformat()}")
        read_from = start - LOOKBACK
        first_day, last_day = read_from.date(), (end - timedelta(microseconds=1)).date()
        in_dates = (F.col("date") >= F.lit(first_day)) & (F.col("date") <= F.lit(last_day))  # partition pruning
        silver = lake.read_table(spark, "sensors_silver", settings=settings, where=in_dates).where(
            (F.col("timestamp") >= F.lit(read_from)) & (F.col("timestamp") < F.lit(end))
        )
        in_range = (F.col("timestamp") >= F.lit(start)) & (F.col("timestamp") < F.lit(end))
        replace_where = (
            f"date >= DATE '{start.date()}' AND date <= DATE '{last_day}' "
            f"AND timestamp >= {_sql_timestamp(start)} AND timestamp < {_sql_timestamp(end)}"
        )

    gold_rows = build_gold_features(silver, thresholds=settings.thresholds).where(in_range).persist()
    try:
        rows_by_date = {
            str(row["date"]): int(row["rows"])
            for row in gold_rows.groupBy("date").agg(F.count(F.lit(1)).alias("rows")).collect()
        }
        lake.write_table(gold_rows, "sensors_gold", settings=settings, partition_by=["date"], replace_where=replace_where)
    finally:
        gold_rows.unpersist()
    rows_written = sum(rows_by_date.values())
    total = lake.read_table(spark, "sensors_gold", settings=settings).count()
    return GoldReport(
        start=start,
        end=end,
        rows_written=rows_written,
        rows_by_date=rows_by_date,
        counts={"sensors_gold": total, "sensors_gold_written": rows_written},
    )
