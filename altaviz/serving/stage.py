"""05_publish: the serving layer. Aggregates and alerts computed from gold, dimensions, maintenance
events, data-quality metrics, what silver quarantined and which files bronze rejected, loaded into
PostgreSQL in one transaction.

Every load is ``db.copy_upsert``: rows whose natural key is not stored yet are copied straight in; the
others go through a temporary staging table and one ``INSERT … ON CONFLICT (natural key) DO UPDATE``
that only touches rows whose values changed. Publishing the same lake twice therefore leaves every
table as it was, ``updated_at`` included, and what operators did to alerts is never in the loaded
columns, so it survives every rerun.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from altaviz.config import Settings, get_settings
from altaviz.faults import crash_point
from altaviz.io import db, lake
from altaviz.model import store
from altaviz.model.backtest import backtest_model
from altaviz.model.evaluate import Backtest
from altaviz.model.score import PREDICTION_COLUMNS as MODEL_PREDICTION_COLUMNS
from altaviz.model.stage import build_predictions, save_trained
from altaviz.runs import as_utc
from altaviz.serving import alerts
from altaviz.simulate import read_ground_truth
from altaviz.serving.transforms import (
    COMPRESSOR_COLUMNS,
    DQ_COLUMNS,
    MAINTENANCE_COLUMNS,
    QUARANTINE_SUMMARY_COLUMNS,
    REJECTED_FILE_COLUMNS,
    STATION_COLUMNS,
    aggregate_columns,
    build_maintenance_events,
    build_quality_metrics,
    build_quarantine_summary,
    build_rejected_files,
    build_serving_aggregates,
    newest_quality_run,
    serving_predictions,
    validate_event_types,
    validate_unique,
)

PUBLISH_LOCK = "altaviz.publish"


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
    model: str = ""  # what scored the predictions, in one line
    backtest: Backtest | None = None  # the scoring model's backtest; None on a cold start
    model_version: str | None = None  # the trained model that scored (None: the trend baseline, a cold start)

    def backtest_text(self) -> str:
        """The scoring model's backtest table, or why there is none."""
        if self.backtest is not None:
            return self.backtest.to_text()
        if self.model_version is None:
            return "No trained model yet (cold start): nothing to backtest."
        return f"Model {self.model_version} has no stored backtest; `altaviz run --retrain` trains and backtests a new one."

    def to_frame(self) -> pd.DataFrame:
        """One row per table or alert count, for display."""
        return pd.DataFrame(
            [{"item": name, "rows_staged": self.staged.get(name), "rows_written": value}
             for name, value in self.counts.items()]
        ).astype({"rows_staged": "Int64"})


def validate_publish_run(report: PublishReport) -> None:
    """Raise when this run had no aggregate window to publish: gold holds no reading from ``since`` on."""
    if not report.staged.get("sensor_readings_agg"):
        since = "the start of gold" if report.since is None else report.since.isoformat()
        raise RuntimeError(f"publish found no gold readings from {since}: no aggregates, alerts or scores to load")


def _read_gold(spark: SparkSession, settings: Settings, since: datetime | None) -> DataFrame:
    if since is None:
        return lake.read_table(spark, "sensors_gold", settings=settings)
    # Whole days from `since`: the 24hr window holding it starts at midnight, and `date` prunes files.
    first_day = as_utc(since).date()
    return lake.read_table(spark, "sensors_gold", settings=settings, where=F.col("date") >= F.lit(first_day))


def alert_start(latest: list[dict], since: datetime | None, *, settings: Settings) -> datetime | None:
    """The earliest reading an incremental evaluation needs: ``since``, or the last breach of an alert
    still open (it is evaluated from there), whichever is earlier, less the longest rule window
    (``alerts.evaluation_lookback``) so a stretch that began before it is seen whole."""
    if since is None:
        return None
    open_since = [alerts.alert_from_row(row).last_seen_at for row in latest if not row["resolved"]]
    return min([as_utc(since), *open_since]) - alerts.evaluation_lookback(settings.alerts)


def fleet_alert_signals(settings: Settings, unit_models: Mapping[str, str | None] | None = None
                        ) -> tuple[alerts.Signal, ...]:
    """Threshold, rate-of-change and anomaly signals: what ``publish`` evaluates on gold readings, each unit
    against its own limits (``unit_models``: compressor_id -> model, for the per-model ones)."""
    return (alerts.alert_signals(settings.registry, unit_models)
            + alerts.anomaly_signals(settings.registry, settings.alerts, unit_models))


def evaluate_fleet_alerts(
    gold_readings: DataFrame, latest: list[dict], *, settings: Settings,
    since: datetime | None = None, unit_models: Mapping[str, str | None] | None = None,
) -> alerts.AlertEvaluation:
    """Threshold, rate-of-change and anomaly alerts for the readings no earlier run evaluated (from
    ``since``; all when None), resuming from the newest stored alerts. ``gold_readings`` must start at
    ``alert_start`` so every rule window is whole. ``unit_models`` (compressor_id -> model) selects the
    per-model limits of ``config/sensors.yaml``; per-unit limits apply by compressor_id regardless."""
    signals = fleet_alert_signals(settings, unit_models)
    steps = alerts.build_alert_steps(
        gold_readings, signals=signals, alerting=settings.alerts, registry=settings.registry,
        watermarks=alerts.watermark_rows(latest), evaluate_from=since,
    )
    frame = to_frame(steps, alerts.STEP_COLUMNS)
    return alerts.evaluate_alerts(frame, latest, signals=signals)


def evaluate_prediction_alerts(
    conn, scores: pd.DataFrame, *, settings: Settings
) -> alerts.AlertEvaluation:
    """Prediction alerts from a model's scores (compressor_id, prediction_timestamp, failure_probability,
    message), resuming from the stored prediction alerts; maintenance and failure events already in
    ``maintenance_events`` resolve them. Pass the new scores with at least
    ``alerts.prediction_resolve_after_scores`` earlier ones per unit."""
    latest = db.latest_alerts(conn, ("prediction",))
    events = conn.execute(
        "SELECT compressor_id, event_date FROM maintenance_events WHERE event_type = ANY(%s)",
        (list(alerts.RESOLVING_EVENT_TYPES),),
    ).fetchall()
    return alerts.evaluate_prediction_alerts(scores, latest, alerting=settings.alerts, events=events)


def evaluate_stale_alerts(
    conn, quality: pd.DataFrame, *, known: set[str], settings: Settings
) -> alerts.AlertEvaluation:
    """Stale alerts from the per-unit freshness rows of every data-quality run (``DQ_COLUMNS``), resuming
    from the stored ones; ids not in ``compressor_metadata`` are silver's quarantine business, not a unit."""
    freshness = quality[(quality["metric_type"] == "freshness") & quality["compressor_id"].isin(known)]
    return alerts.evaluate_stale_alerts(freshness, db.latest_alerts(conn, ("stale",)),
                                        freshness_sla_minutes=settings.pipeline.freshness_sla_minutes)


def publish(
    spark: SparkSession, *, run_id: str, settings: Settings | None = None, since: datetime | None = None,
    retrain: bool = False, landing_dir: str | None = None,
) -> PublishReport:
    """Load the serving tables from the lake in one transaction and return what changed.

    Order follows the foreign keys: stations, compressors, maintenance events, aggregates, predictions,
    alerts (threshold, rate of change, anomaly, prediction, and stale from silver's per-unit freshness
    gate), data-quality metrics, then the quarantine counts of the newest data-quality run and the files
    bronze rejected (each skipped while its lake table does not exist yet). ``since`` makes the run
    incremental: only aggregate windows ending after it are recomputed and reloaded, and a saved model scores
    only the hours ending at or after it; alerts always resume from their own per-problem watermark.
    Predictions come from ``altaviz.model.stage.build_predictions`` (the saved model unless ``retrain``);
    their scores raise prediction alerts. A model trained in this run is backtested on its out-of-sample scores
    (``altaviz.model.backtest``; ground truth from ``landing_dir`` when the data is simulated) and the
    backtest is stored with the version; the report carries the scoring model's backtest.
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
                _read_gold(spark, settings, since), registry=settings.registry,
                cadence_minutes=settings.pipeline.cadence_minutes, since=since,
            ),
            aggregate_columns(settings.registry),
        )
        load("sensor_readings_agg", _stamped(aggregates, run_id), ("compressor_id", "window_type", "agg_timestamp"))

        # Every compressor-hour: out-of-fold history, the newest hours by the model trained on everything
        # (or the trend baseline on a cold start); a saved model scores the hours since ``since``. Keyed by
        # model version, so earlier models' scores stay.
        prediction = build_predictions(spark, settings=settings, history=True, retrain=retrain, since=since)
        predictions = serving_predictions(to_frame(prediction.predictions, MODEL_PREDICTION_COLUMNS))
        load("ml_predictions", _stamped(predictions, run_id), ("compressor_id", "prediction_timestamp", "model_version"))

        alert_types = tuple(sorted({s.alert_type for s in fleet_alert_signals(settings)}))
        latest = db.latest_alerts(conn, alert_types)
        alert_readings = _read_gold(spark, settings, alert_start(latest, since, settings=settings))
        unit_models = dict(zip(compressors["compressor_id"], compressors["model"]))
        evaluation = evaluate_fleet_alerts(alert_readings, latest, settings=settings, since=since,
                                           unit_models=unit_models)
        if not prediction.cold_start:  # a baseline proximity score is no probability to alert on
            context = db.recent_predictions(conn, prediction.model_version, before=predictions,
                                            per_unit=settings.alerts.prediction_resolve_after_scores)
            scores = predictions if context.empty else pd.concat([context, predictions], ignore_index=True)
            evaluation += evaluate_prediction_alerts(conn, scores, settings=settings)
        quality = to_frame(
            build_quality_metrics(lake.read_table(spark, "data_quality_metrics", settings=settings)), DQ_COLUMNS
        )
        evaluation += evaluate_stale_alerts(conn, quality, known=set(compressors["compressor_id"]), settings=settings)
        alert_rows = evaluation.to_frame(run_id)
        staged["alert_history"] = len(alert_rows)
        counts["alert_history"] = db.upsert_alerts(conn, alert_rows)
        counts["alerts_opened"] = evaluation.opened
        counts["alerts_updated"] = evaluation.updated
        counts["alerts_resolved"] = evaluation.resolved
        crash_point("publish-loading")  # most tables loaded, nothing committed
        backtest = None
        if prediction.trained:  # backtested on its out-of-fold history only (the newest hours are in-sample)
            backtest = backtest_model(
                predictions[predictions["model_version"] == f"{prediction.model_version}-oof"],
                gold_readings=lake.read_table(spark, "sensors_gold", settings=settings),
                threshold_openings=db.alert_openings(conn, ("threshold", "rate_of_change")),
                maintenance_events=events, truth=read_ground_truth(landing_dir or settings.pipeline.landing_dir),
                settings=settings)

        # DQ rows carry the run that measured them (their own run_id), which is part of their key.
        load("data_quality_metrics", quality, ("run_id", "metric_type", "metric_name", "compressor_id"),
             conflict="run_id, metric_type, metric_name, (COALESCE(compressor_id, '*fleet*'))", untracked=())

        # The dashboard reads PostgreSQL only: the quarantine and the rejected deliveries live in the lake.
        # sensors_quarantine is rewritten by every silver run, so it is the newest quality run's result.
        quarantine_run = newest_quality_run(quality)
        if quarantine_run is not None and lake.table_exists(spark, "sensors_quarantine", settings=settings):
            summary = to_frame(build_quarantine_summary(
                lake.read_table(spark, "sensors_quarantine", settings=settings), run_id=quarantine_run),
                QUARANTINE_SUMMARY_COLUMNS)
            load("quarantine_summary", summary, ("run_id", "reason", "compressor_id"),
                 conflict="run_id, reason, (COALESCE(compressor_id, '*none*'))", untracked=())
            counts["quarantine_summary"] += drop_vanished_quarantine(conn, quarantine_run, summary)
        if lake.table_exists(spark, "ingest_log", settings=settings):
            rejected = to_frame(build_rejected_files(lake.read_table(spark, "ingest_log", settings=settings)),
                                REJECTED_FILE_COLUMNS)
            load("rejected_files", rejected, ("content_sha256",), untracked=())
    crash_point("publish-committed")  # every table committed, the model not saved yet
    # Saved only now that its scores are committed: a failed publish leaves no model for later runs to reuse.
    save_trained(prediction, settings=settings, evaluation=backtest.to_json() if backtest else None)
    if backtest is None and not prediction.cold_start:
        stored = store.load_evaluation(settings.pipeline.data_dir, prediction.model_version)
        backtest = Backtest.from_json(stored) if stored else None
    return PublishReport(run_id, since, counts, staged, prediction.summary(), backtest,
                         model_version=None if prediction.cold_start else prediction.model_version)


def drop_vanished_quarantine(conn, run_id: str, summary: pd.DataFrame) -> int:
    """Delete ``run_id``'s quarantine counts that ``summary`` no longer has (silver rerun under the same run
    id over changed bronze): the table then holds exactly what the lake says. Returns rows deleted."""
    return conn.execute(
        "DELETE FROM quarantine_summary AS t WHERE t.run_id = %s AND NOT EXISTS ("
        " SELECT 1 FROM unnest(%s::text[], %s::text[]) AS k(compressor_id, reason)"
        " WHERE k.compressor_id IS NOT DISTINCT FROM t.compressor_id AND k.reason = t.reason)",
        (run_id, summary["compressor_id"].astype(object).where(summary["compressor_id"].notna(), None).tolist(),
         summary["reason"].tolist()),
    ).rowcount


def acknowledge_alert(alert_id: int, *, by: str, note: str | None = None, settings: Settings | None = None) -> dict:
    """An operator acknowledges an alert; returns the alert row. The acknowledgement survives reruns."""
    return db.set_alert_operator_state(alert_id, action="acknowledge", by=by, note=note, settings=settings)


def resolve_alert(alert_id: int, *, by: str, note: str | None = None, settings: Settings | None = None) -> dict:
    """An operator resolves an alert; if the condition persists in newer readings, a new alert opens."""
    return db.set_alert_operator_state(alert_id, action="resolve", by=by, note=note, settings=settings)
