"""05_publish: the serving layer. Aggregates and alerts computed from gold, dimensions, maintenance
events and data-quality metrics, loaded into PostgreSQL in one transaction.

Every load is COPY into a temporary staging table, then one ``INSERT … ON CONFLICT (natural key)
DO UPDATE`` that only touches rows whose values changed (``db.copy_upsert``). Publishing the same
lake twice therefore leaves every table as it was, ``updated_at`` included, and what operators did to
alerts is never in the loaded columns, so it survives every rerun.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from altaviz import alerts, db, lake, model
from altaviz.config import Settings, get_settings
from altaviz.runs import as_utc

# Tumbling windows of sensor_readings_agg, aligned to UTC midnight (each divides a day).
AGG_WINDOWS = {"1hr": 3600, "4hr": 4 * 3600, "24hr": 24 * 3600}
AGG_DECIMALS = 6  # sensors report ~0.01; rounding keeps reruns bit-identical whatever Spark's sum order

AGG_COLUMNS = (
    "compressor_id", "agg_timestamp", "window_type",
    "vibration_mean", "vibration_std", "vibration_min", "vibration_max",
    "discharge_temp_mean", "discharge_temp_std", "discharge_temp_max", "discharge_temp_rate_of_change",
    "suction_pressure_mean", "suction_pressure_std", "suction_pressure_min",
    "discharge_pressure_mean", "discharge_pressure_std", "discharge_pressure_max",
    "pressure_delta_mean", "horsepower_mean", "horsepower_std", "gas_flow_mean",
    "reading_count", "missing_readings",
)
STATION_COLUMNS = ("station_id", "station_name", "latitude", "longitude", "region", "city", "state")
COMPRESSOR_COLUMNS = ("compressor_id", "model", "horsepower", "install_date", "station_id", "latitude", "longitude")
MAINTENANCE_COLUMNS = ("compressor_id", "event_date", "event_type", "description", "downtime_hours", "severity")
EVENT_TYPES = ("scheduled", "unscheduled", "inspection", "failure")
DQ_COLUMNS = (
    "run_id", "metric_timestamp", "compressor_id", "metric_type", "metric_name", "metric_value",
    "threshold_value", "pass_threshold", "details",
)
PREDICTION_COLUMNS = (
    "compressor_id", "prediction_timestamp", "failure_probability", "rul_days", "confidence_score",
    "model_version", "features_used",
)
PUBLISH_LOCK = "altaviz.publish"


# --------------------------------------------------------------------------- transformations (no I/O)


def build_serving_aggregates(
    gold_readings: DataFrame, *, cadence_minutes: int, since: datetime | None = None
) -> DataFrame:
    """Tumbling 1hr/4hr/24hr windows: one row per compressor per window type per window start.

    ``agg_timestamp`` is the window start (UTC). ``reading_count`` counts the readings received;
    ``missing_readings`` = window length / cadence − received (never negative).
    ``discharge_temp_rate_of_change`` is the least-squares slope of discharge temperature over time
    in °F/h: unlike (last − first) / hours it is not swung by one noisy reading at an edge, and unlike
    a mean of gold's reading-to-reading rates it does not depend on gaps. ``pressure_delta_mean`` is
    the mean of gold's ``pressure_differential``. With ``since``, only windows that end after it.
    """
    epoch = F.unix_timestamp("timestamp")
    spans = F.array(*[F.struct(F.lit(name).alias("window_type"), F.lit(seconds).alias("window_seconds"))
                      for name, seconds in AGG_WINDOWS.items()])
    windowed = (
        gold_readings.select(
            "compressor_id", "timestamp", "vibration_mms", "discharge_temp_f", "suction_pressure_psi",
            "discharge_pressure_psi", "horsepower_consumption", "gas_flow_mcf", "pressure_differential",
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
    rounded = lambda column: F.round(column, AGG_DECIMALS)  # noqa: E731
    aggregates = (
        windowed.groupBy("compressor_id", "window_type", "window_seconds", "agg_timestamp")
        .agg(
            rounded(F.avg("vibration_mms")).alias("vibration_mean"),
            rounded(F.stddev_samp("vibration_mms")).alias("vibration_std"),
            F.min("vibration_mms").alias("vibration_min"),
            F.max("vibration_mms").alias("vibration_max"),
            rounded(F.avg("discharge_temp_f")).alias("discharge_temp_mean"),
            rounded(F.stddev_samp("discharge_temp_f")).alias("discharge_temp_std"),
            F.max("discharge_temp_f").alias("discharge_temp_max"),
            rounded(F.regr_slope("discharge_temp_f", "epoch_hours")).alias("discharge_temp_rate_of_change"),
            rounded(F.avg("suction_pressure_psi")).alias("suction_pressure_mean"),
            rounded(F.stddev_samp("suction_pressure_psi")).alias("suction_pressure_std"),
            F.min("suction_pressure_psi").alias("suction_pressure_min"),
            rounded(F.avg("discharge_pressure_psi")).alias("discharge_pressure_mean"),
            rounded(F.stddev_samp("discharge_pressure_psi")).alias("discharge_pressure_std"),
            F.max("discharge_pressure_psi").alias("discharge_pressure_max"),
            rounded(F.avg("pressure_differential")).alias("pressure_delta_mean"),
            rounded(F.avg("horsepower_consumption")).alias("horsepower_mean"),
            rounded(F.stddev_samp("horsepower_consumption")).alias("horsepower_std"),
            rounded(F.avg("gas_flow_mcf")).alias("gas_flow_mean"),
            F.count(F.lit(1)).cast("int").alias("reading_count"),
        )
        .withColumn("missing_readings", F.greatest(expected - F.col("reading_count"), F.lit(0)))
    )
    if since is not None:
        window_end = F.col("agg_timestamp") + F.make_dt_interval(secs=F.col("window_seconds"))
        aggregates = aggregates.where(window_end > F.lit(as_utc(since)))
    return aggregates.select(*AGG_COLUMNS)


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


# --------------------------------------------------------------------------- driver-side frames




def to_frame(rows: DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Collect a (small, aggregated) DataFrame to the driver through Arrow, timestamps as UTC."""
    selected = rows.select(*columns)
    frame = selected.toArrow().to_pandas()
    for name, kind in selected.dtypes:
        if kind.startswith("timestamp") and not frame.empty:
            stamps = pd.to_datetime(frame[name])
            frame[name] = stamps.dt.tz_localize("UTC") if stamps.dt.tz is None else stamps.dt.tz_convert("UTC")
    return frame


def _stamped(frame: pd.DataFrame, run_id: str) -> pd.DataFrame:
    return frame.assign(run_id=run_id)


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


# --------------------------------------------------------------------------- publish


@dataclass(frozen=True)
class PublishReport:
    """What one publish wrote: rows inserted or changed per table, and alerts opened/updated/resolved.

    ``staged`` counts the rows sent through COPY; a rerun over the same lake stages them all and
    changes none.
    """

    run_id: str
    since: datetime | None
    counts: dict[str, int]
    staged: dict[str, int] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """One row per table or alert count, for display."""
        return pd.DataFrame(
            [{"item": name, "rows_staged": self.staged.get(name), "rows_written": value}
             for name, value in self.counts.items()]
        ).astype({"rows_staged": "Int64"})


def _read_gold(spark: SparkSession, settings: Settings, since: datetime | None) -> DataFrame:
    if since is None:
        return lake.read_table(spark, "sensors_gold", settings=settings)
    # Whole days from `since`: the 24hr window holding it starts at midnight, and `date` prunes files.
    first_day = as_utc(since).date()
    return lake.read_table(spark, "sensors_gold", settings=settings, where=F.col("date") >= F.lit(first_day))


def _watermarks(spark: SparkSession, latest: list[dict]) -> DataFrame | None:
    if not latest:
        return None
    schema = T.StructType(
        [T.StructField(name, T.StringType(), False) for name in alerts.PROBLEM_KEY]
        + [T.StructField("watermark", T.TimestampType(), False)]
    )
    return spark.createDataFrame(alerts.watermark_rows(latest), schema)


def alert_start(latest: list[dict], since: datetime | None) -> datetime | None:
    """The earliest reading an incremental evaluation needs: ``since``, or the last breach of an
    alert still open (it counts its normal readings from there), whichever is earlier."""
    if since is None:
        return None
    open_since = [alerts.alert_from_row(row).last_seen_at for row in latest if not row["resolved"]]
    return min([as_utc(since), *open_since])


def evaluate_fleet_alerts(
    spark: SparkSession, gold_readings: DataFrame, latest: list[dict], *, settings: Settings
) -> alerts.AlertEvaluation:
    """Alerts for the readings no earlier run evaluated, resuming from the newest stored alerts."""
    thresholds = settings.thresholds
    signals = alerts.alert_signals(thresholds)
    candidates = alerts.build_alert_candidates(
        gold_readings, signals=signals, resolve_after=thresholds.auto_resolve_after_normal_readings,
        watermarks=_watermarks(spark, latest),
    )
    frame = to_frame(candidates, (*alerts.PROBLEM_KEY, "timestamp", "value"))
    return alerts.evaluate_alerts(
        frame, latest, signals=signals, resolve_after=thresholds.auto_resolve_after_normal_readings
    )


def publish(
    spark: SparkSession, *, run_id: str, settings: Settings | None = None, since: datetime | None = None
) -> PublishReport:
    """Load the serving tables from the lake in one transaction and return what changed.

    Order follows the foreign keys: stations, compressors, maintenance events, aggregates, predictions,
    alerts, data-quality metrics. ``since`` makes the run incremental: only aggregate windows ending after it
    are recomputed and reloaded; alerts always resume from their own per-problem watermark.
    Raises ``db.DatabaseUnavailable`` (host, port, database; never the password) when PostgreSQL is
    down and ``db.LoadFailed`` when a load is refused; either way nothing of this run stays visible.
    """
    settings = settings or get_settings()
    if not run_id:
        raise ValueError("run_id is required: every loaded row names the run that produced it")
    counts: dict[str, int] = {}
    staged: dict[str, int] = {}
    # Connect first: an unreachable database fails in a second, before any Spark work.
    with db.transaction(settings, lock=PUBLISH_LOCK) as conn:

        def load(table: str, frame: pd.DataFrame, key: tuple[str, ...], conflict: str | None = None,
                 untracked: tuple[str, ...] = ("run_id",)) -> None:
            validate_unique(frame, key, table)
            staged[table] = len(frame)
            counts[table] = db.copy_upsert(conn, table, frame, key=key, conflict=conflict, untracked=untracked)

        stations = to_frame(lake.read_table(spark, "station_locations", settings=settings), STATION_COLUMNS)
        load("station_locations", _stamped(stations, run_id), ("station_id",))

        compressors = to_frame(
            lake.read_table(spark, "compressor_metadata", settings=settings)
            .withColumn("horsepower", F.round("horsepower").cast("int"))
            .withColumn("install_date", F.col("install_date").cast("date")),
            COMPRESSOR_COLUMNS,
        )
        load("compressor_metadata", _stamped(compressors, run_id), ("compressor_id",))

        events = to_frame(
            build_maintenance_events(lake.read_table(spark, "maintenance_logs", settings=settings)),
            MAINTENANCE_COLUMNS,
        )
        validate_event_types(events)
        load("maintenance_events", _stamped(events, run_id), ("compressor_id", "event_date", "event_type"))

        aggregates = to_frame(
            build_serving_aggregates(
                _read_gold(spark, settings, since), cadence_minutes=settings.pipeline.cadence_minutes, since=since
            ),
            AGG_COLUMNS,
        )
        load("sensor_readings_agg", _stamped(aggregates, run_id), ("compressor_id", "window_type", "agg_timestamp"))

        # Scored at each unit's newest reading, so a rerun on the same data rewrites the same rows.
        predictions = to_frame(
            model.predict_failures(lake.read_table(spark, "sensors_gold", settings=settings), settings=settings),
            PREDICTION_COLUMNS,
        )
        load("ml_predictions", _stamped(predictions, run_id), ("compressor_id", "prediction_timestamp", "model_version"))

        alert_types = tuple(sorted({s.alert_type for s in alerts.alert_signals(settings.thresholds)}))
        latest = db.latest_alerts(conn, alert_types)
        alert_readings = _read_gold(spark, settings, alert_start(latest, since))
        evaluation = evaluate_fleet_alerts(spark, alert_readings, latest, settings=settings)
        alert_rows = evaluation.to_frame(run_id)
        staged["alert_history"] = len(alert_rows)
        counts["alert_history"] = db.upsert_alerts(conn, alert_rows)
        counts["alerts_opened"] = evaluation.opened
        counts["alerts_updated"] = evaluation.updated
        counts["alerts_resolved"] = evaluation.resolved

        # DQ rows carry the run that measured them (their own run_id), which is part of their key.
        quality = to_frame(
            build_quality_metrics(lake.read_table(spark, "data_quality_metrics", settings=settings)), DQ_COLUMNS
        )
        load("data_quality_metrics", quality, ("run_id", "metric_type", "metric_name", "compressor_id"),
             conflict="run_id, metric_type, metric_name, (COALESCE(compressor_id, '*fleet*'))", untracked=())
    return PublishReport(run_id, since, counts, staged)


def acknowledge_alert(alert_id: int, *, by: str, note: str | None = None, settings: Settings | None = None) -> dict:
    """An operator acknowledges an alert; returns the alert row. The acknowledgement survives reruns."""
    return db.set_alert_operator_state(alert_id, action="acknowledge", by=by, note=note, settings=settings)


def resolve_alert(alert_id: int, *, by: str, note: str | None = None, settings: Settings | None = None) -> dict:
    """An operator resolves an alert; if the condition persists in newer readings, a new alert opens."""
    return db.set_alert_operator_state(alert_id, action="resolve", by=by, note=note, settings=settings)
