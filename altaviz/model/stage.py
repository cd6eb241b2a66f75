"""Model stage: gold + maintenance log (Delta) -> trained model (saved) -> predictions, one call for 05_publish.

``build_predictions`` reads ``sensors_gold`` and ``maintenance_logs``, builds hourly features and log labels,
and then either

- scores with the newest saved model (``store.load_model``) when there is one and ``retrain`` is False: the hours
  after its training window (walk-forward: every score out of sample in time; a rerun on the same data scores
  nothing new). A saved model whose features no longer match the sensor registry is not reused: it retrains; or
- trains (cross-fitted, calibrated, with the remaining-life model), saves the model under
  ``<data_dir>/models/<model_version>/`` and scores: each unit's newest hour by the model trained on everything
  and, with ``history=True``, every earlier hour out of fold; or
- on a cold start (fewer logged failures than ``model.min_failures``) trains nothing and scores each unit's
  newest reading with the trend baseline, saying so in ``message``.

It writes nothing but the saved model: the caller publishes ``report.predictions`` (``score.PREDICTION_COLUMNS``).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from altaviz.config import Settings, get_settings
from altaviz.io import lake
from altaviz.model.features import build_model_features, feature_columns
from altaviz.model.labels import build_labels
from altaviz.model.score import newest_hours, score_baseline, score_history, score_hours
from altaviz.model.store import load_model, model_version, save_model
from altaviz.model.train import cold_start_reason, train_model
from altaviz.schemas import MAINTENANCE_LOGS_SCHEMA


@dataclass(frozen=True)
class PredictionReport:
    predictions: DataFrame  # score.PREDICTION_COLUMNS
    model_version: str
    cold_start: bool
    reason: str  # why the baseline scored (cold start), else ''
    metadata: dict
    trained: bool = False  # this run trained and saved the model (False: a saved model or the baseline scored)

    def summary(self) -> str:
        if self.cold_start:
            return f"ml_predictions: no trained model ({self.reason}); the trend baseline scored each unit"
        what = "trained now" if self.trained else f"saved, trained up to {self.metadata['training_window']['end'][:16]}"
        return (f"ml_predictions: model {self.model_version} ({what}) from {self.metadata['failures']} logged failures, "
                f"{self.metadata['compressors']} compressors, {self.metadata['hours']:,} hours")


def build_predictions(
    spark: SparkSession, *, settings: Settings | None = None, history: bool = False, retrain: bool = False
) -> PredictionReport:
    """Score with the saved model, or train (or fall back) and score; see the module docstring."""
    settings = settings or get_settings()
    cfg = settings.model
    gold = lake.read_table(spark, "sensors_gold", settings=settings)
    maintenance = lake.read_table_or_empty(spark, "maintenance_logs", MAINTENANCE_LOGS_SCHEMA, settings=settings)
    features = build_model_features(gold, maintenance, registry=settings.registry,
                                    cadence_minutes=settings.pipeline.cadence_minutes).persist()
    saved = None if retrain else load_model(settings.pipeline.data_dir)
    if saved is not None and saved.features == feature_columns(settings.registry):
        after_training = features.where(F.col("prediction_timestamp") > F.lit(saved.metadata["training_window"]["end"]).cast("timestamp"))
        hours = after_training if history else newest_hours(after_training)
        predictions = score_hours(saved, hours, registry=settings.registry, horizon_hours=cfg.horizon_hours)
        return PredictionReport(predictions, saved.metadata["model_version"], False, "", saved.metadata)
    labels = build_labels(features, maintenance, horizon_hours=cfg.horizon_hours)
    training = features.join(labels, on=["compressor_id", "prediction_timestamp"], how="inner").persist()
    reason = cold_start_reason(training, min_failures=cfg.min_failures)
    if reason is not None:
        fallback = score_baseline(gold, settings=settings, reason=reason)
        return PredictionReport(fallback, "trend-baseline-1", True, reason, {})
    end = training.agg(F.max("prediction_timestamp")).first()[0]
    version = model_version(cfg.estimator, end, cfg.seed)
    model, _ = train_model(training, features=feature_columns(settings.registry), estimator=cfg.estimator,
                           folds=cfg.folds, seed=cfg.seed, model_version=version)
    save_model(model, settings.pipeline.data_dir)
    if history:
        predictions = score_history(training, model, folds=cfg.folds, seed=cfg.seed, registry=settings.registry,
                                    horizon_hours=cfg.horizon_hours)
    else:
        predictions = score_hours(model, newest_hours(features), registry=settings.registry, horizon_hours=cfg.horizon_hours)
    return PredictionReport(predictions, version, False, "", model.metadata, trained=True)
