"""Model stage: gold + maintenance log (Delta) -> trained model (saved) -> predictions, one call for 05_publish.

``build_predictions`` reads ``sensors_gold`` and ``maintenance_logs``, builds hourly features and log labels,
and then either

- scores with the newest saved model (``store.load_model``) when there is one and ``retrain`` is False: the hours
  after its training window (walk-forward: every score out of sample in time; a rerun on the same data scores
  nothing new) and, given ``since``, ending at or after it, with features from only the readings those hours
  need (``features.scoring_readings``: scoring a new day costs a week of readings, not the history). A saved
  model whose features, estimator, seed or horizon no longer match the settings is not reused
  (``reuse_mismatch``): it retrains; or
- trains (cross-fitted, calibrated, with the remaining-life model and, from ``model.warning_min_failures`` logged
  failures on, the early-warning classifier), saves the model under
  ``<data_dir>/models/<model_version>/`` and scores: each unit's newest hour by the model trained on everything
  and, with ``history=True``, every earlier hour out of fold; or
- on a cold start (fewer logged failures than ``model.min_failures``; a log with fewer failure entries is one
  before any feature is built) trains nothing and scores each unit's newest reading with the trend baseline,
  saying so in ``message``.

It writes nothing: the caller publishes ``report.predictions`` (``score.PREDICTION_COLUMNS``) and then saves a
newly trained model with ``save_trained``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from altaviz.config import ModelSettings, Settings, get_settings
from altaviz.io import lake
from altaviz.model.features import build_model_features, feature_columns, scoring_readings
from altaviz.model.labels import build_labels
from altaviz.model.score import newest_hours, score_baseline, score_history, score_hours
from altaviz.model.store import load_model, model_version, save_model
from altaviz.model.train import (
    TrainedModel,
    cold_start_reason,
    count_failures,
    count_logged_failures,
    train_model,
    training_frame,
    training_window,
)
from altaviz.runs import as_utc
from altaviz.schemas import MAINTENANCE_LOGS_SCHEMA


@dataclass(frozen=True)
class PredictionReport:
    predictions: DataFrame  # score.PREDICTION_COLUMNS
    model_version: str
    cold_start: bool
    reason: str  # why the baseline scored (cold start) or why a saved model was not reused, else ''
    metadata: dict
    trained: TrainedModel | None = None  # trained in this run, not saved yet (``save_trained``)

    def summary(self) -> str:
        if self.cold_start:
            return f"ml_predictions: no trained model ({self.reason}); the trend baseline scored each unit"
        what = "trained now" if self.trained else f"saved, trained up to {self.metadata['training_window']['end'][:16]}"
        why = f"; {self.reason}" if self.reason else ""
        early = (f"early warning over {self.metadata['warning_horizon_hours']} h"
                 if self.metadata.get("warning_horizon_hours")
                 else "no early-warning classifier: fewer logged failures than model.warning_min_failures, or turned off")
        return (f"ml_predictions: model {self.model_version} ({what}{why}) from {self.metadata['failures']} logged "
                f"failures, {self.metadata['compressors']} compressors, {self.metadata['hours']:,} hours; {early}")


def reuse_mismatch(saved: TrainedModel, *, settings: Settings) -> str | None:
    """Why the saved model cannot score under the current settings (features, estimator, seed, horizon), in
    plain words; None when it can."""
    cfg = settings.model
    wanted = {"features": list(feature_columns(settings.registry)), "estimator": cfg.estimator, "seed": cfg.seed,
              "horizon_hours": cfg.horizon_hours,
              "warning_horizon_hours": warning_horizon(cfg, failures=saved.metadata.get("failures", 0))}
    changed = [name for name, value in wanted.items() if saved.metadata.get(name) != value]
    if not changed:
        return None
    return f"saved model {saved.metadata['model_version']} does not match the settings ({', '.join(changed)}): retrained"


def warning_horizon(cfg: ModelSettings, *, failures: int) -> int | None:
    """The early-warning classifier's horizon for a model trained on ``failures`` logged failures: None when the
    settings ask for none or there are fewer than ``warning_min_failures`` to learn a week-long drift from."""
    if not cfg.warning_horizon_hours or failures < cfg.warning_min_failures:
        return None
    return cfg.warning_horizon_hours


def build_predictions(
    spark: SparkSession, *, settings: Settings | None = None, history: bool = False, retrain: bool = False,
    since: datetime | None = None,
) -> PredictionReport:
    """Score with the saved model, or train (or fall back) and score; see the module docstring. A model
    trained here is returned in ``report.trained`` and saved by ``save_trained`` once its scores are stored.
    ``since``: a saved model scores only the hours ending at or after it (those an incremental run changed;
    earlier ones kept their scores), from just the readings their features need (``scoring_readings``)."""
    settings = settings or get_settings()
    cfg = settings.model
    gold = lake.read_table(spark, "sensors_gold", settings=settings)
    maintenance = lake.read_table_or_empty(spark, "maintenance_logs", MAINTENANCE_LOGS_SCHEMA, settings=settings)
    saved = None if retrain else load_model(settings.pipeline.data_dir)
    mismatch = reuse_mismatch(saved, settings=settings) if saved is not None else None
    if saved is not None and mismatch is None:
        # Walk-forward: only hours after the training window; an hour ending at ``since`` has a new reading.
        after = as_utc(saved.metadata["training_window"]["end"])
        if since is not None:
            after = max(after, as_utc(since) - timedelta(microseconds=1))
        readings = scoring_readings(gold, maintenance, after=after)
        features = build_model_features(readings, maintenance, registry=settings.registry,
                                        cadence_minutes=settings.pipeline.cadence_minutes)
        after_training = features.where(F.col("prediction_timestamp") > F.lit(after))
        hours = after_training if history else newest_hours(after_training)
        predictions = score_hours(saved, hours, registry=settings.registry, horizon_hours=cfg.horizon_hours)
        return PredictionReport(predictions, saved.metadata["model_version"], False, "", saved.metadata)
    # Too few failures in the log is a cold start before any feature is built (the labels hold at most those).
    reason = cold_start_reason(count_logged_failures(maintenance), min_failures=cfg.min_failures)
    if reason is not None:
        return _cold_start(gold, settings=settings, reason=reason)
    features = build_model_features(gold, maintenance, registry=settings.registry,
                                    cadence_minutes=settings.pipeline.cadence_minutes)
    labels = build_labels(features, maintenance, horizon_hours=cfg.horizon_hours)
    training = training_frame(features, labels)
    failures = count_failures(training)
    reason = cold_start_reason(failures, min_failures=cfg.min_failures)
    if reason is not None:
        return _cold_start(gold, settings=settings, reason=reason)
    end = datetime.fromisoformat(training_window(training)["end"])
    version = model_version(cfg.estimator, end, cfg.seed)
    model, _ = train_model(training, features=feature_columns(settings.registry), estimator=cfg.estimator,
                           folds=cfg.folds, seed=cfg.seed, model_version=version, horizon_hours=cfg.horizon_hours,
                           warning_horizon_hours=warning_horizon(cfg, failures=failures))
    if history:
        predictions = score_history(training, model, registry=settings.registry, horizon_hours=cfg.horizon_hours)
    else:
        predictions = score_hours(model, newest_hours(features), registry=settings.registry, horizon_hours=cfg.horizon_hours)
    return PredictionReport(predictions, version, False, mismatch or "", model.metadata, trained=model)


def _cold_start(gold: DataFrame, *, settings: Settings, reason: str) -> PredictionReport:
    """No model to train: the trend baseline scores each unit's newest reading, saying why in its message."""
    fallback = score_baseline(gold, settings=settings, reason=reason)
    return PredictionReport(fallback, "trend-baseline-1", True, reason, {})


def save_trained(report: PredictionReport, *, settings: Settings, evaluation: dict | None = None) -> None:
    """Save the model a report trained (and its backtest) under the data root; nothing when it trained none.
    Called after its scores are stored, so a failed publish leaves no model that later runs would reuse."""
    if report.trained is not None:
        save_model(report.trained, settings.pipeline.data_dir, evaluation=evaluation)
