"""Scoring: one row per compressor per hour, the ``ml_predictions`` grain (no I/O).

Columns (``PREDICTION_COLUMNS``): compressor_id, prediction_timestamp (the hour's last reading),
failure_probability (calibrated, [0, 1], a failure trip within ``horizon_hours``), warning_probability
(the early-warning classifier's: a trip within ``model.warning_horizon_hours``; null without one), rul_p10_hours,
rul_p50_hours, rul_p90_hours (P10 ≤ P50 ≤ P90, or all null), model_version, features_used (JSON: the top
drivers, see ``explain``), message (one sentence), coverage.

``coverage`` replaces the old ``confidence_score``, which was a reading count dressed as confidence: it is
the share of the hour's ``cadence_minutes`` slots that hold a reading (1.0 = complete hour; time, not
rows). It says how much data stands behind the score, not how sure the model is.

The remaining-life band is null, never a placeholder, when the model cannot tell: the failure probability
is below ``BAND_MIN_PROBABILITY`` (the unit is not heading for a trip the model can see), or P90 is beyond
``BAND_MAX_HOURS`` (the band is wider than anything the training data can back).

Cold start (``score_baseline``): with no trained model the trend baseline (``altaviz.model.baseline``) scores
each unit at its newest reading, and the message says so in plain words.
"""

from __future__ import annotations

from dataclasses import replace

from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from altaviz.config import Settings
from altaviz.model import baseline
from altaviz.model.explain import with_drivers, with_message
from altaviz.model.train import (
    TrainedModel, calibrate, fit_each, fit_survival, raw_scores, rul_band, with_folds,
)
from altaviz.registry import SensorRegistry

PREDICTION_COLUMNS = ("compressor_id", "prediction_timestamp", "failure_probability", "warning_probability",
                      "rul_p10_hours", "rul_p50_hours", "rul_p90_hours", "model_version", "features_used", "message",
                      "coverage")
BAND_MIN_PROBABILITY = 0.2
BAND_MAX_HOURS = 14 * 24.0


def score_hours(
    model: TrainedModel, features: DataFrame, *, registry: SensorRegistry, horizon_hours: int
) -> DataFrame:
    """Score every hour of ``features`` with ``model``; ``PREDICTION_COLUMNS``."""
    features = with_warning_probability(model.warning, features)
    scored = model.classifier.transform(features).withColumn("raw_score", vector_to_array("probability")[1])
    scored = with_drivers(scored, classifier=model.classifier, features=model.features)
    keep = [*features.columns, "raw_score", "drivers", "drivers_method"]
    calibrated = calibrate(model.calibrator, scored.select(*keep))
    banded = rul_band(model.survival, calibrated.select(*keep, "failure_probability"))
    can_tell = (F.col("failure_probability") >= BAND_MIN_PROBABILITY) & (F.col("rul_p90_hours") <= BAND_MAX_HOURS)
    bands = {name: F.when(can_tell, F.round(name, 1)) for name in ("rul_p10_hours", "rul_p50_hours", "rul_p90_hours")}
    with_band = banded.withColumns(bands)
    return (
        with_message(with_band, registry=registry, horizon_hours=horizon_hours, band_min_probability=BAND_MIN_PROBABILITY,
                     warning_horizon_hours=model.warning.metadata["horizon_hours"] if model.warning else None)
        .select(
            "compressor_id",
            "prediction_timestamp",
            F.round("failure_probability", 4).alias("failure_probability"),
            F.round("warning_probability", 4).alias("warning_probability"),
            "rul_p10_hours", "rul_p50_hours", "rul_p90_hours",
            F.lit(model.metadata["model_version"]).alias("model_version"),
            F.to_json(F.struct(F.col("drivers_method").alias("method"), F.col("drivers").alias("drivers"))).alias("features_used"),
            "message",
            F.round("coverage", 3).alias("coverage"),
        )
    )


def with_warning_probability(warning: TrainedModel | None, features: DataFrame) -> DataFrame:
    """``features`` with ``warning_probability``: the early-warning classifier's calibrated score (null when
    there is none)."""
    if warning is None:
        return features.withColumn("warning_probability", F.lit(None).cast("double"))
    calibrated = calibrate(warning.calibrator, raw_scores(warning.classifier, features))
    return calibrated.select(*features.columns, F.col("failure_probability").alias("warning_probability"))


def newest_hours(features: DataFrame) -> DataFrame:
    """Each compressor's newest hour of ``features``."""
    newest = features.groupBy("compressor_id").agg(F.max("prediction_timestamp").alias("prediction_timestamp"))
    return features.join(newest, on=["compressor_id", "prediction_timestamp"], how="inner")


def score_baseline(gold_readings: DataFrame, *, settings: Settings, reason: str) -> DataFrame:
    """Cold start: the trend baseline at each unit's newest reading, in ``PREDICTION_COLUMNS``; the message
    says that no model is trained and why (``reason``). The baseline has no remaining-life band: null."""
    trend = baseline.predict_failures(gold_readings, settings=settings)
    message = F.format_string(
        "No trained failure model (%s); this score is the 24 h trend baseline: %s", F.lit(reason),
        F.when(F.col("failure_probability") >= BAND_MIN_PROBABILITY, "a sensor is drifting toward its limit")
        .otherwise("no sensor drifting toward a limit"),
    )
    null = F.lit(None).cast("double")
    return trend.select(
        "compressor_id", "prediction_timestamp", "failure_probability", null.alias("warning_probability"),
        null.alias("rul_p10_hours"), null.alias("rul_p50_hours"), null.alias("rul_p90_hours"),
        "model_version", "features_used", message.alias("message"),
        F.col("confidence_score").alias("coverage"),  # the baseline's score: slots with a reading / slots in 24 h
    )


def score_history(training: DataFrame, model: TrainedModel, *, registry: SensorRegistry, horizon_hours: int) -> DataFrame:
    """Out-of-sample history in ``PREDICTION_COLUMNS``: every hour but each unit's newest is scored by a
    classifier, a calibrator and a remaining-life model fitted on the OTHER folds (grouped by compressor, as
    in ``cross_fit_scores``); each unit's newest hour is scored by ``model`` (trained on everything).
    ``model_version`` of the history rows is ``<version>-oof``. ``model`` is what ``train_model`` returned on
    ``training``: its fold models (``model.cross_fit``) are reused, not fitted again."""
    fitted = model.cross_fit
    if fitted is None:
        raise ValueError("score_history needs the model train_model returned (with its fold models), not a loaded one")
    with_fold = with_folds(training, fitted.assignment)
    newest = newest_hours(training)
    older = with_fold.join(newest.select("compressor_id", "prediction_timestamp"),
                           on=["compressor_id", "prediction_timestamp"], how="left_anti")
    parts = [score_hours(model, newest.select(*training.columns), registry=registry, horizon_hours=horizon_hours)]
    survivals = fit_each(lambda rows: fit_survival(rows, features=model.features),
                         (with_fold.where(F.col("fold") != fold).drop("fold")
                          for fold in range(len(fitted.classifiers))))
    for fold, classifier in enumerate(fitted.classifiers):
        warning = model.warning
        fold_warning = warning and replace(warning, classifier=warning.cross_fit.classifiers[fold],
                                           calibrator=warning.cross_fit.calibrators[fold], cross_fit=None)
        fold_model = TrainedModel(
            classifier=classifier,
            calibrator=fitted.calibrators[fold],
            survival=survivals[fold],
            features=model.features,
            metadata={**model.metadata, "model_version": f"{model.metadata['model_version']}-oof"},
            warning=fold_warning,
        )
        rows = older.where(F.col("fold") == fold).drop("fold")
        parts.append(score_hours(fold_model, rows, registry=registry, horizon_hours=horizon_hours))
    history = parts[0]
    for part in parts[1:]:
        history = history.unionByName(part)
    return history
