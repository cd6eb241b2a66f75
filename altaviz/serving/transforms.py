"""Serving transformations (no I/O): tumbling-window aggregates from gold, maintenance events and
data-quality metrics in the serving shape, and the checks a load runs before it writes."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from altaviz.model.score import PREDICTION_COLUMNS as MODEL_PREDICTION_COLUMNS
from altaviz.registry import WINDOWS, SensorRegistry, get_registry
from altaviz.runs import as_utc

AGG_DECIMALS = 6  # sensors report ~0.01; rounding keeps reruns bit-identical whatever Spark's sum order
_ROUNDED = {"mean", "std"}  # min and max are readings, already exact


def aggregate_columns(registry: SensorRegistry) -> tuple[str, ...]:
    """``sensor_readings_agg``'s loaded columns: keys, each sensor's statistics from the registry, the
    derived signals (``pressure_delta_mean``, ``discharge_temp_rate_of_change``), then the counts."""
    derived = registry.derived
    return (
        "compressor_id", "agg_timestamp", "window_type",
        *[column for column, _, _ in registry.aggregate_columns()],
        f"{derived['pressure_differential'].short}_mean", derived["temp_rate_of_change"].short,
        "reading_count", "missing_readings",
    )


AGG_COLUMNS = aggregate_columns(get_registry())
STATION_COLUMNS = ("station_id", "station_name", "latitude", "longitude", "region", "city", "state")
COMPRESSOR_COLUMNS = ("compressor_id", "model", "horsepower", "install_date", "station_id", "latitude", "longitude")
MAINTENANCE_COLUMNS = ("compressor_id", "event_date", "event_type", "description", "downtime_hours", "severity")
EVENT_TYPES = ("scheduled", "unscheduled", "inspection", "failure")
DQ_COLUMNS = (
    "run_id", "metric_timestamp", "compressor_id", "metric_type", "metric_name", "metric_value",
    "threshold_value", "pass_threshold", "details",
)
# ml_predictions as loaded: the model's columns plus rul_days (the P50 in days, for the contract).
PREDICTION_COLUMNS = (*MODEL_PREDICTION_COLUMNS, "rul_days")
QUARANTINE_SUMMARY_COLUMNS = (
    "run_id", "compressor_id", "reason", "row_count", "source_files", "first_reading", "last_reading",
    "example_detail",
)
REJECTED_FILE_COLUMNS = (
    "content_sha256", "source_file", "file_format", "size_bytes", "reason", "ingested_at", "run_id",
)


_STATISTIC = {"mean": F.avg, "std": F.stddev_samp, "min": F.min, "max": F.max}


def build_serving_aggregates(
    gold_readings: DataFrame, *, registry: SensorRegistry, cadence_minutes: int, since: datetime | None = None
) -> DataFrame:
    """Tumbling 1hr/4hr/24hr windows: one row per compressor per window type per window start.

    Columns: ``aggregate_columns(registry)``. ``agg_timestamp`` is the window start (UTC), aligned to
    UTC midnight. Each sensor gets the statistics its registry entry lists (``<short>_<statistic>``).
    ``reading_count`` counts the readings received; ``missing_readings`` = window length / cadence −
    received (never negative). ``discharge_temp_rate_of_change`` is the least-squares slope of discharge
    temperature over time in °F/h: unlike (last − first) / hours it is not swung by one noisy reading
    at an edge, and unlike a mean of gold's reading-to-reading rates it does not depend on gaps.
    ``pressure_delta_mean`` is the mean of gold's ``pressure_differential``. With ``since``, only
    windows that end after it.
    """
    epoch = F.unix_timestamp("timestamp")
    spans = F.array(*[F.struct(F.lit(name).alias("window_type"), F.lit(seconds).alias("window_seconds"))
                      for name, seconds in WINDOWS.items()])
    windowed = (
        gold_readings.select(
            "compressor_id", "timestamp", *registry.columns, "pressure_differential",
            (epoch / 3600.0).alias("epoch_hours"), F.explode(spans).alias("span"),
        )
        .withColumn("window_type", F.col("span.window_type"))
        .withColumn("window_seconds", F.col("span.window_seconds"))
        .withColumn(
            "agg_timestamp",
            F.timestamp_seconds(F.floor(F.unix_timestamp("timestamp") / F.col("window_seconds")) * F.col("window_seconds")),
        )
    )
    expected = (F.col("window_seconds") / F.lit(cadence_minutes * 60)).cast("int")

    def statistic(stat: str, sensor: str) -> Column:
        value = _STATISTIC[stat](sensor)
        return F.round(value, AGG_DECIMALS) if stat in _ROUNDED else value

    derived = registry.derived
    aggregates = (
        windowed.groupBy("compressor_id", "window_type", "window_seconds", "agg_timestamp")
        .agg(
            *[statistic(stat, sensor).alias(column) for column, stat, sensor in registry.aggregate_columns()],
            F.round(F.avg("pressure_differential"), AGG_DECIMALS).alias(f"{derived['pressure_differential'].short}_mean"),
            F.round(F.regr_slope("discharge_temp_f", "epoch_hours"), AGG_DECIMALS).alias(
                derived["temp_rate_of_change"].short
            ),
            F.count(F.lit(1)).cast("int").alias("reading_count"),
        )
        .withColumn("missing_readings", F.greatest(expected - F.col("reading_count"), F.lit(0)))
    )
    if since is not None:
        window_end = F.col("agg_timestamp") + F.make_dt_interval(secs=F.col("window_seconds"))
        aggregates = aggregates.where(window_end > F.lit(as_utc(since)))
    return aggregates.select(*aggregate_columns(registry))


def build_maintenance_events(maintenance_logs: DataFrame) -> DataFrame:
    """Maintenance log rows in the serving shape: one row per (compressor, event time, event type)."""
    return maintenance_logs.select(
        F.col("compressor_id").cast("string").alias("compressor_id"),
        F.col("event_date").cast("timestamp").alias("event_date"),
        F.lower(F.trim(F.col("event_type").cast("string"))).alias("event_type"),
        F.col("description").cast("string").alias("description"),
        F.col("downtime_hours").cast("double").alias("downtime_hours"),
        F.col("severity").cast("string").alias("severity"),
    )


def build_quality_metrics(quality_metrics: DataFrame) -> DataFrame:
    """Silver's data-quality metrics in the serving shape, each row keeping the run that produced it.

    ``metric_name`` tells apart several checks of one type in one run: the Delta column when it
    exists, else ``details.metric`` / ``details.check`` / ``details.name``, else ''.
    """
    columns = set(quality_metrics.columns)
    details = F.col("details") if "details" in columns else F.lit(None).cast("string")
    if "details" in columns and not isinstance(quality_metrics.schema["details"].dataType, T.StringType):
        details = F.to_json(details)
    if "metric_name" in columns:
        metric_name = F.col("metric_name")
    else:
        metric_name = F.coalesce(*[F.get_json_object(details, f"$.{key}") for key in ("metric", "check", "name")])
    return quality_metrics.select(
        F.col("run_id").cast("string").alias("run_id"),
        F.col("metric_timestamp").cast("timestamp").alias("metric_timestamp"),
        F.col("compressor_id").cast("string").alias("compressor_id"),
        F.col("metric_type").cast("string").alias("metric_type"),
        F.coalesce(metric_name, F.lit("")).alias("metric_name"),
        F.col("metric_value").cast("double").alias("metric_value"),
        F.col("threshold_value").cast("double").alias("threshold_value"),
        F.col("pass_threshold").cast("boolean").alias("pass_threshold"),
        F.coalesce(details, F.lit("{}")).alias("details"),
    )


def build_quarantine_summary(quarantine: DataFrame, *, run_id: str) -> DataFrame:
    """Silver's quarantined rows counted: one row per (compressor, reason) with ``row_count``, the number
    of ``source_files``, the first and last reading time and one ``example_detail`` (the smallest, so a
    rerun picks the same one); ``run_id`` names the data-quality run the quarantine belongs to."""
    return (
        quarantine.groupBy("compressor_id", "reason")
        .agg(
            F.count(F.lit(1)).alias("row_count"),
            F.count_distinct("source_file").cast("int").alias("source_files"),
            F.min("timestamp").alias("first_reading"),
            F.max("timestamp").alias("last_reading"),
            F.min("reason_detail").alias("example_detail"),
        )
        .withColumn("run_id", F.lit(run_id))
        .select(*QUARANTINE_SUMMARY_COLUMNS)
    )


def build_rejected_files(ingest_log: DataFrame) -> DataFrame:
    """The deliveries bronze rejected whole: one row per file content (``content_sha256``) with its reason,
    when it was logged and the run that rejected it."""
    return ingest_log.where(F.col("status") == "rejected").select(
        "content_sha256", "source_file", "file_format", "size_bytes",
        F.coalesce(F.col("reason"), F.lit("rejected (no reason logged)")).alias("reason"),
        "ingested_at", "run_id",
    )


def newest_quality_run(quality: pd.DataFrame) -> str | None:
    """The run of the newest data-quality metrics (latest ``metric_timestamp``, then the greatest run id:
    the runner's ids are UTC times): the silver run whose result the lake's quarantine table holds."""
    if quality.empty:
        return None
    newest = quality.sort_values(["metric_timestamp", "run_id"]).iloc[-1]
    return str(newest["run_id"])


def validate_event_types(events: pd.DataFrame) -> None:
    """Raise naming the values when a maintenance event type is not one the schema knows."""
    unknown = sorted(set(events["event_type"].dropna()) - set(EVENT_TYPES))
    if unknown or events["event_type"].isna().any():
        raise ValueError(f"maintenance_logs: event_type must be one of {EVENT_TYPES}, found {unknown or [None]}")


def validate_unique(frame: pd.DataFrame, key: tuple[str, ...], table: str) -> None:
    """Raise naming a duplicated natural key: an upsert cannot choose between two rows."""
    duplicated = frame[frame.duplicated(list(key), keep=False)]
    if not duplicated.empty:
        example = duplicated.iloc[0][list(key)].to_dict()
        raise ValueError(f"{table}: {len(duplicated)} rows share a natural key {key}, e.g. {example}")


def serving_predictions(scores: pd.DataFrame) -> pd.DataFrame:
    """The model's scores in the ``ml_predictions`` shape: ``rul_days`` is the P50 in days (null where the
    band is null); ``confidence_score`` is no longer written (``coverage`` says what it measures)."""
    return scores.assign(rul_days=scores["rul_p50_hours"] / 24.0)[list(PREDICTION_COLUMNS)]
