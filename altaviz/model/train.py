"""Training: classifier pipeline, grouped cross-fitting, isotonic calibration and the remaining-life model.

All functions take DataFrames and return DataFrames or fitted Spark ML models; no I/O, no clock, the seed is
an argument. The training frame is ``features`` joined with ``labels`` on (compressor_id, prediction_timestamp).

- Classifier: ``Pipeline(SQLTransformer(fill) → VectorAssembler → StandardScaler(mean, std) → estimator)``.
  The fill stage is part of the saved model: a missing slope or baseline deviation counts as "no evidence"
  (0), a missing hour counter as "long ago" (``HOURS_CAP``); hour counters are capped at ``HOURS_CAP``.
- Folds are grouped by compressor (``assign_folds``): a unit's hours are all in one fold, so the model that
  scores a unit out of fold never saw that unit's labels. Fold models are fitted two at a time (``fit_each``)
  on the training frame's few partitions (``training_frame``).
- Calibration: isotonic regression of the label on out-of-fold raw scores.
- Remaining life: ``AFTSurvivalRegression`` (Weibull) on the same scaled features with the right-censored
  target of ``labels``; quantiles 0.1 / 0.5 / 0.9 give P10 / P50 / P90 hours.
- Early warning (``warning_horizon_hours``, e.g. 7 days): a second classifier, cross-fitted and calibrated the
  same way, on the label "a logged trip within the longer horizon" (``observed`` and ``rul_hours`` at most that
  long). A 48 h classifier learns what the last two days look like, so its alerts open 2-3 days ahead whatever
  the failure; the longer horizon learns the slow drift that comes first (bench/results/backtest.md).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Callable, Iterable, TypeVar

import numpy as np
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import GBTClassifier, LogisticRegression, RandomForestClassifier
from pyspark.ml.feature import SQLTransformer, StandardScaler, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.ml.regression import AFTSurvivalRegression, IsotonicRegression, IsotonicRegressionModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.util import inheritable_thread_target

KEY = ("compressor_id", "prediction_timestamp")
HOURS_CAP = 30 * 24.0  # an hour counter beyond a month says nothing more
HOUR_COUNTERS = ("hours_since_maintenance", "hours_since_repair", "hours_in_segment")
QUANTILES = (0.1, 0.5, 0.9)
# Every iteration of a fit is a Spark job with a task per partition of its rows; on small frames the tasks'
# overhead is the fit's cost (see ``training_frame``).
ROWS_PER_FIT_PARTITION = 250_000
# Fold models are fitted side by side: a fit on one partition keeps one core busy, and the server runs the
# jobs of several clients' threads at once (the default run's four remaining-life fits: 22.6 s one after
# another, 16.3 s two at a time, the same models).
FITS_AT_ONCE = 2
Fitted = TypeVar("Fitted")


def training_frame(features: DataFrame, labels: DataFrame) -> DataFrame:
    """The rows every fit reads: ``features`` joined with ``labels`` on KEY, persisted, in one partition per
    ``ROWS_PER_FIT_PARTITION`` rows. Persisted, the join keeps the session's shuffle partitions (adaptive
    execution does not coalesce a cached plan's), where the default run's 19,000 unit-hours spent most of
    each fit on task overhead: one remaining-life fit took 15.8 s in 4 partitions, 5.3 s in one; a
    fleet-month's 720,000 fit fastest in 2-4 (this machine's cores)."""
    joined = features.join(labels, on=list(KEY), how="inner").persist()
    return joined.coalesce(max(1, math.ceil(joined.count() / ROWS_PER_FIT_PARTITION)))


def fit_each(fit: Callable[[DataFrame], Fitted], frames: Iterable[DataFrame]) -> tuple[Fitted, ...]:
    """``fit`` on every frame, ``FITS_AT_ONCE`` at a time; the results in the frames' order. Each thread gets
    the frames' session as its active one (Spark Connect keeps it per thread, and ML calls look it up)."""
    frames = list(frames)
    in_session = inheritable_thread_target(frames[0].sparkSession)(fit)
    with ThreadPoolExecutor(FITS_AT_ONCE) as pool:
        return tuple(pool.map(in_session, frames))


def fill_statement(features: tuple[str, ...]) -> str:
    """The SQL of the fill stage: every feature non-null, hour counters capped."""
    filled = []
    for name in features:
        if name in HOUR_COUNTERS:
            filled.append(f"LEAST(COALESCE(`{name}`, {HOURS_CAP}), {HOURS_CAP}) AS `{name}__in`")
        elif name == "load_ratio":
            filled.append(f"COALESCE(`{name}`, 1.0) AS `{name}__in`")
        elif name == "coverage":
            filled.append(f"COALESCE(`{name}`, 0.0) AS `{name}__in`")
        else:
            filled.append(f"COALESCE(`{name}`, 0.0) AS `{name}__in`")
    return f"SELECT *, {', '.join(filled)} FROM __THIS__"


def make_estimator(name: str, *, seed: int):
    """The classifier named in config (``model.estimator``); fixed hyper-parameters, seeded."""
    if name == "logistic_regression":
        return LogisticRegression(featuresCol="scaled", labelCol="label", regParam=0.01, elasticNetParam=0.0,
                                  maxIter=200, standardization=False)
    if name == "gbt":
        return GBTClassifier(featuresCol="scaled", labelCol="label", maxIter=40, maxDepth=4, stepSize=0.1,
                             subsamplingRate=0.8, seed=seed)
    if name == "random_forest":
        return RandomForestClassifier(featuresCol="scaled", labelCol="label", numTrees=60, maxDepth=6,
                                      subsamplingRate=0.8, seed=seed)
    raise ValueError(f"unknown estimator {name!r}")


def _front_stages(features: tuple[str, ...]) -> list:
    return [
        SQLTransformer(statement=fill_statement(features)),
        VectorAssembler(inputCols=[f"{name}__in" for name in features], outputCol="vector"),
        StandardScaler(inputCol="vector", outputCol="scaled", withMean=True, withStd=True),
    ]


def fit_classifier(training: DataFrame, *, features: tuple[str, ...], estimator: str, seed: int) -> PipelineModel:
    """Fit fill → assemble → scale → classifier on rows with ``label``."""
    return Pipeline(stages=[*_front_stages(features), make_estimator(estimator, seed=seed)]).fit(training)


def raw_scores(model: PipelineModel, rows: DataFrame) -> DataFrame:
    """``rows`` with ``raw_score``: the classifier's probability of class 1 (uncalibrated)."""
    scored = model.transform(rows)
    return scored.withColumn("raw_score", vector_to_array("probability")[1]).drop(
        "vector", "scaled", "rawPrediction", "probability", "prediction",
        *[c for c in scored.columns if c.endswith("__in")],
    )


def assign_folds(compressor_ids: list[str], *, folds: int, seed: int) -> dict[str, int]:
    """Compressor -> fold in [0, folds): a seeded permutation of the sorted ids, dealt round-robin."""
    ordered = sorted(set(compressor_ids))
    shuffled = np.random.default_rng(seed).permutation(len(ordered))
    return {ordered[index]: position % folds for position, index in enumerate(shuffled)}


def with_folds(training: DataFrame, assignment: dict[str, int]) -> DataFrame:
    """Add ``fold`` from ``assignment`` (compressor -> fold)."""
    pairs = [(unit, fold) for unit, fold in sorted(assignment.items())]
    folds = training.sparkSession.createDataFrame(pairs, "compressor_id string, fold int")
    return training.join(folds, on="compressor_id", how="inner")


@dataclass(frozen=True)
class CrossFit:
    """The fold models of grouped cross-fitting: ``classifiers[k]`` never saw fold ``k``'s units, nor did
    ``calibrators[k]`` (fitted on the other folds' out-of-fold scores by ``with_fold_calibrators``; ``train_model``
    returns both)."""

    assignment: dict[str, int]  # compressor -> fold
    classifiers: tuple[PipelineModel, ...]
    calibrators: tuple[IsotonicRegressionModel, ...] = ()


def cross_fit(training: DataFrame, *, features: tuple[str, ...], folds: int, seed: int, estimator: str) -> CrossFit:
    """Fit one classifier per fold on the other folds (folds grouped by compressor, ``assign_folds``)."""
    units = [row["compressor_id"] for row in training.select("compressor_id").distinct().collect()]
    assignment = assign_folds(units, folds=folds, seed=seed)
    with_fold = with_folds(training, assignment).persist()
    classifiers = fit_each(lambda rows: fit_classifier(rows, features=features, estimator=estimator, seed=seed),
                           (with_fold.where(F.col("fold") != fold) for fold in range(folds)))
    with_fold.unpersist()  # every cached plan slows the planning of every later query in the session
    return CrossFit(assignment, classifiers)


def cross_fit_scores(
    training: DataFrame, *, features: tuple[str, ...], folds: int, seed: int, estimator: str,
    fitted: CrossFit | None = None,
) -> DataFrame:
    """Out-of-fold raw scores: one row per training hour, scored by the model fitted on the other folds
    (grouped by compressor; ``fitted`` reuses classifiers already fitted). Columns: KEY, ``fold``, ``label``,
    ``raw_score``."""
    fitted = fitted or cross_fit(training, features=features, folds=folds, seed=seed, estimator=estimator)
    with_fold = with_folds(training, fitted.assignment)
    parts = [
        raw_scores(classifier, with_fold.where(F.col("fold") == fold)).select(*KEY, "fold", "label", "raw_score")
        for fold, classifier in enumerate(fitted.classifiers)
    ]
    scored = parts[0]
    for part in parts[1:]:
        scored = scored.unionByName(part)
    return scored


def fit_calibrator(out_of_fold: DataFrame) -> IsotonicRegressionModel:
    """Isotonic map from out-of-fold ``raw_score`` to the observed ``label`` rate."""
    return IsotonicRegression(featuresCol="raw_score", labelCol="label", predictionCol="failure_probability",
                              isotonic=True).fit(out_of_fold.select("raw_score", F.col("label").cast("double")))


def with_fold_calibrators(fitted: CrossFit, out_of_fold: DataFrame) -> CrossFit:
    """``fitted`` with one calibrator per fold, each fitted on the OTHER folds' out-of-fold scores
    (``cross_fit_scores``): a unit's calibrated history then rests on no label of that unit."""
    calibrators = fit_each(fit_calibrator, (out_of_fold.where(F.col("fold") != fold)
                                            for fold in range(len(fitted.classifiers))))
    return replace(fitted, calibrators=calibrators)


def calibrate(calibrator: IsotonicRegressionModel | None, scored: DataFrame) -> DataFrame:
    """Add ``failure_probability`` in [0, 1] (the raw score itself when there is no calibrator)."""
    if calibrator is None:
        return scored.withColumn("failure_probability", F.col("raw_score"))
    calibrated = calibrator.transform(scored)
    return calibrated.withColumn("failure_probability", F.least(F.greatest("failure_probability", F.lit(0.0)), F.lit(1.0)))


def fit_survival(training: DataFrame, *, features: tuple[str, ...]) -> PipelineModel:
    """Fill → assemble → scale → AFT on (``rul_hours``, ``observed``); rows with rul_hours = 0 are dropped."""
    aft = AFTSurvivalRegression(featuresCol="scaled", labelCol="rul_hours", censorCol="observed",
                                quantileProbabilities=list(QUANTILES), quantilesCol="rul_quantiles", maxIter=200)
    rows = training.where(F.col("rul_hours") > 0).withColumn("observed", F.col("observed").cast("double"))
    return Pipeline(stages=[*_front_stages(features), aft]).fit(rows)


def rul_band(survival: PipelineModel, rows: DataFrame) -> DataFrame:
    """``rows`` with ``rul_p10_hours``, ``rul_p50_hours``, ``rul_p90_hours`` (unfiltered model output)."""
    predicted = survival.transform(rows)
    quantiles = vector_to_array("rul_quantiles")
    return predicted.select(
        *rows.columns,
        quantiles[0].alias("rul_p10_hours"), quantiles[1].alias("rul_p50_hours"), quantiles[2].alias("rul_p90_hours"),
    )


@dataclass(frozen=True)
class TrainedModel:
    """A fitted model: classifier, calibrator, remaining-life model and what they were trained on.

    ``warning`` is the early-warning classifier (same features, longer horizon) as a TrainedModel of its own
    without a remaining-life model; None when the settings ask for none."""

    classifier: PipelineModel
    calibrator: IsotonicRegressionModel | None
    survival: PipelineModel | None
    features: tuple[str, ...]
    metadata: dict  # version, training window, estimator, seed, failures, metrics
    cross_fit: CrossFit | None = None  # the fold classifiers behind its calibration (not saved: None once loaded)
    warning: TrainedModel | None = None


def count_failures(training: DataFrame) -> int:
    """Logged failures behind the labels: distinct (unit, trip time), the trip being t + rul_hours of an
    observed hour."""
    trip_hour = F.round(F.unix_seconds("prediction_timestamp") / 3600.0 + F.col("rul_hours"), 3)
    trips = training.where(F.col("observed") == 1).select("compressor_id", trip_hour.alias("trip")).distinct()
    return trips.count()


def count_logged_failures(maintenance: DataFrame) -> int:
    """Failure trips in the maintenance log (distinct unit and time): the most ``count_failures`` can find in
    labels drawn from it, so fewer than needed here is a cold start known before any feature is built."""
    return maintenance.where(F.col("event_type") == "failure").select("compressor_id", "event_date").distinct().count()


def cold_start_reason(found: int, *, min_failures: int) -> str | None:
    """Why no model can be trained (``found`` failures, fewer than needed), in plain words; None when one can."""
    if found >= min_failures:
        return None
    return f"{found} failure(s) in the maintenance log, {min_failures} needed to learn from"


def training_window(training: DataFrame) -> dict[str, str]:
    """First and last hour of ``training`` as ISO text in UTC (formatted by Spark in the session's UTC zone:
    a Python datetime from ``collect`` would be in the host's local time)."""
    iso = "yyyy-MM-dd'T'HH:mm:ss"
    row = training.agg(F.date_format(F.min("prediction_timestamp"), iso).alias("start"),
                       F.date_format(F.max("prediction_timestamp"), iso).alias("end")).first()
    return {"start": row["start"], "end": row["end"]}


def relabel(training: DataFrame, *, horizon_hours: float) -> DataFrame:
    """``training`` with ``label`` for another horizon: a logged trip within ``horizon_hours`` (from the
    ``observed`` / ``rul_hours`` that ``labels.build_labels`` gives, so the two labels always agree)."""
    hit = (F.col("observed") == 1) & (F.col("rul_hours") <= F.lit(float(horizon_hours)))
    return training.withColumn("label", hit.cast("int"))


def fit_calibrated(
    training: DataFrame, *, features: tuple[str, ...], estimator: str, folds: int, seed: int
) -> tuple[PipelineModel, IsotonicRegressionModel, CrossFit, DataFrame]:
    """Cross-fit (for calibration and honest scores), then fit on everything: the classifier, its calibrator,
    the fold models (with their own calibrators) and the calibrated out-of-fold scores."""
    fitted = cross_fit(training, features=features, folds=folds, seed=seed, estimator=estimator)
    out_of_fold = cross_fit_scores(training, features=features, folds=folds, seed=seed, estimator=estimator,
                                   fitted=fitted).persist()
    calibrator = fit_calibrator(out_of_fold)
    classifier = fit_classifier(training, features=features, estimator=estimator, seed=seed)
    return classifier, calibrator, with_fold_calibrators(fitted, out_of_fold), calibrate(calibrator, out_of_fold)


def train_model(
    training: DataFrame,
    *,
    features: tuple[str, ...],
    estimator: str,
    folds: int,
    seed: int,
    model_version: str,
    horizon_hours: int,
    warning_horizon_hours: int | None = None,
) -> tuple[TrainedModel, DataFrame]:
    """Cross-fit (for calibration and honest metrics), then fit on everything; with ``warning_horizon_hours``
    also the early-warning classifier. Returns the model and the calibrated out-of-fold scores (KEY, fold,
    label, raw_score, failure_probability, and ``warning_probability`` with an early-warning classifier)."""
    training = training.persist()
    classifier, calibrator, fitted, calibrated = fit_calibrated(training, features=features, estimator=estimator,
                                                                folds=folds, seed=seed)
    survival = fit_survival(training, features=features)
    window = training_window(training)
    metadata = {
        "model_version": model_version,
        "estimator": estimator,
        "seed": seed,
        "folds": folds,
        "features": list(features),
        "training_window": window,
        "horizon_hours": horizon_hours,
        "warning_horizon_hours": warning_horizon_hours,
        "compressors": training.select("compressor_id").distinct().count(),
        "hours": training.count(),
        "failures": count_failures(training),
    }
    warning = None
    if warning_horizon_hours:
        w_classifier, w_calibrator, w_fitted, w_calibrated = fit_calibrated(
            relabel(training, horizon_hours=warning_horizon_hours), features=features, estimator=estimator,
            folds=folds, seed=seed)
        warning = TrainedModel(w_classifier, w_calibrator, None, tuple(features),
                               {**metadata, "horizon_hours": warning_horizon_hours, "warning_horizon_hours": None},
                               w_fitted)
        calibrated = calibrated.join(
            w_calibrated.select(*KEY, F.col("failure_probability").alias("warning_probability")), on=list(KEY))
    return TrainedModel(classifier, calibrator, survival, tuple(features), metadata, fitted, warning), calibrated
