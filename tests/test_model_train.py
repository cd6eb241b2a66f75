"""Training, scoring and the model registry on a small synthetic fleet: deterministic for a seed, probabilities
in [0, 1], ordered or null remaining-life bands, identical scores after save/load, no leakage across folds,
a visible cold start."""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual
from altaviz.model import train

from altaviz.model.features import build_model_features, feature_columns
from altaviz.model.labels import build_labels
from altaviz.model.score import PREDICTION_COLUMNS, score_baseline, score_history, score_hours
from altaviz.model.store import load_evaluation, list_versions, load_model, save_model
from altaviz.model.train import (
    assign_folds,
    cold_start_reason,
    count_failures,
    count_logged_failures,
    cross_fit_scores,
    relabel,
    train_model,
    training_frame,
)
from tests.model_fixtures import MAINTENANCE_COLUMNS, T0, synthetic_fleet, to_spark

FAILING = {0: [120.0], 1: [200.0], 2: [90.0, 250.0], 3: [160.0], 4: [230.0]}


@pytest.fixture(scope="module")
def fleet(spark, settings_no_db):
    readings, maintenance = synthetic_fleet(8, 12, failing=FAILING, seed=5)
    gold, log = to_spark(spark, readings, maintenance)
    features = build_model_features(gold, log, registry=settings_no_db.registry, cadence_minutes=10)
    labels = build_labels(features, log, horizon_hours=48)
    training = training_frame(features, labels)
    return {"gold": gold, "log": log, "training": training, "features": feature_columns(settings_no_db.registry)}


@pytest.fixture(scope="module")
def trained(fleet):
    model, out_of_fold = train_model(fleet["training"], features=fleet["features"], estimator="logistic_regression",
                                     folds=3, seed=7, model_version="test-v1", horizon_hours=48,
                                     warning_horizon_hours=96)
    return model, out_of_fold


@pytest.fixture(scope="module")
def scores(trained, fleet, settings_no_db):
    model, _ = trained
    return score_hours(model, fleet["training"], registry=settings_no_db.registry, horizon_hours=48).persist()


def test_training_is_deterministic_for_a_seed(trained, fleet, scores, settings_no_db):
    again, _ = train_model(fleet["training"], features=fleet["features"], estimator="logistic_regression",
                           folds=3, seed=7, model_version="test-v1", horizon_hours=48, warning_horizon_hours=96)
    rescored = score_hours(again, fleet["training"], registry=settings_no_db.registry, horizon_hours=48)
    assertDataFrameEqual(rescored, scores)


def test_scores_have_the_contract_columns_probabilities_and_ordered_bands(scores):
    assert tuple(scores.columns) == PREDICTION_COLUMNS
    rows = scores.toPandas()
    assert rows["failure_probability"].between(0, 1).all() and rows["warning_probability"].between(0, 1).all()
    band = rows[["rul_p10_hours", "rul_p50_hours", "rul_p90_hours"]]
    all_null, none_null = band.isna().all(axis=1), band.notna().all(axis=1)
    assert (all_null | none_null).all()
    ordered = band[none_null]
    assert ((ordered["rul_p10_hours"] <= ordered["rul_p50_hours"]) & (ordered["rul_p50_hours"] <= ordered["rul_p90_hours"])).all()
    assert rows["message"].notna().all() and rows["coverage"].between(0, 1).all()
    drivers = json.loads(rows["features_used"].iloc[0])
    assert len(drivers["drivers"]) == 3 and {"feature", "contribution", "value"} == set(drivers["drivers"][0])


def test_a_unit_heading_for_a_trip_scores_higher_and_says_why(scores):
    rows = scores.toPandas()
    # C01 trips at 120 h (2026-01-06 00:00); 10 h before, vibration and temperature are far above baseline.
    near_trip = rows[(rows["compressor_id"] == "C01") & (rows["prediction_timestamp"] == "2026-01-05 14:00:00")].iloc[0]
    healthy = rows[rows["compressor_id"] == "C08"]["failure_probability"]
    assert near_trip["failure_probability"] > healthy.quantile(0.99)
    assert near_trip["message"].split(":")[0] in ("bearing wear likely", "valve leak likely")
    assert " up " in near_trip["message"] and "above this unit's baseline" in near_trip["message"]
    assert near_trip["rul_p10_hours"] <= 10 <= near_trip["rul_p90_hours"]  # the true remaining life: 10 h


def test_the_early_warning_classifier_rises_days_before_the_48h_one(scores, fleet):
    rows = scores.toPandas()
    # C01 trips at 120 h; 72 h before (2026-01-03 00:00) its vibration has only begun to drift.
    early = rows[(rows["compressor_id"] == "C01") & (rows["prediction_timestamp"] == "2026-01-03 00:00:00")].iloc[0]
    healthy = rows[rows["compressor_id"] == "C08"]
    assert early["warning_probability"] > healthy["warning_probability"].quantile(0.99)
    assert early["warning_probability"] > early["failure_probability"]
    assert "within 96 h" in early["message"]
    # Its labels are the 48 h labels' rule at the longer horizon: relabelled training == labels built at 96 h.
    at_96 = build_labels(fleet["training"].select("compressor_id", "prediction_timestamp"), fleet["log"], horizon_hours=96)
    key = ["compressor_id", "prediction_timestamp"]
    assertDataFrameEqual(relabel(fleet["training"], horizon_hours=96).select(*key, "label"), at_96.select(*key, "label"))
    # ... and not at 48 h, where fewer hours are positive.
    assert relabel(fleet["training"], horizon_hours=48).where("label = 1").count() < at_96.where("label = 1").count()


def test_the_history_scores_both_classifiers_out_of_fold(trained, fleet, scores, settings_no_db):
    """Every hour but each unit's newest comes from the fold models (48 h and early warning) that never saw
    that unit: the history differs from the full model's scores there and equals them on the newest hour."""
    model, _ = trained
    history = score_history(fleet["training"], model, registry=settings_no_db.registry, horizon_hours=48).toPandas()
    full = scores.toPandas()
    assert len(history) == len(full) and history["warning_probability"].between(0, 1).all()
    newest = history["model_version"] == "test-v1"
    assert newest.sum() == 8 and (history.loc[~newest, "model_version"] == "test-v1-oof").all()
    key = ["compressor_id", "prediction_timestamp"]
    paired = history.merge(full, on=key, suffixes=("", "_full"))
    same = (paired["warning_probability"] - paired["warning_probability_full"]).abs() < 1e-9
    assert same[paired["model_version"] == "test-v1"].all()
    assert not same[paired["model_version"] == "test-v1-oof"].all()


def test_a_saved_model_reloads_and_scores_identically(trained, fleet, scores, tmp_path, settings_no_db):
    model, _ = trained
    save_model(model, tmp_path, evaluation={"source": "a stale backtest"})
    save_model(model, tmp_path)  # saved again without one: the old evaluation must not survive
    assert list_versions(tmp_path) == ["test-v1"] and load_evaluation(tmp_path, "test-v1") is None
    loaded = load_model(tmp_path)
    metadata = json.loads((tmp_path / "models" / "test-v1" / "metadata.json").read_text())
    assert {k: metadata[k] for k in ("estimator", "seed", "folds", "horizon_hours", "failures")} == {
        "estimator": "logistic_regression", "seed": 7, "folds": 3, "horizon_hours": 48, "failures": 6}
    assert metadata["features"] == list(fleet["features"]) and metadata["warning_horizon_hours"] == 96
    assert loaded.warning is not None and loaded.warning.metadata["horizon_hours"] == 96
    assertDataFrameEqual(score_hours(loaded, fleet["training"], registry=settings_no_db.registry, horizon_hours=48), scores)
    assert load_model(tmp_path / "nothing-here") is None


def test_folds_are_grouped_by_compressor(fleet):
    units = [f"C{i:02d}" for i in range(1, 9)]
    folds = assign_folds(units, folds=3, seed=7)
    assert sorted(folds) == units and set(folds.values()) == {0, 1, 2}
    assert folds == assign_folds(list(reversed(units)), folds=3, seed=7)


def test_a_units_own_labels_never_reach_its_out_of_fold_score(fleet):
    """Leakage: rewrite every label of C01 (as if its log said it was always about to fail). Out of fold, C01 is
    scored by a model that never saw C01's rows, so its scores must not move; a row-level (ungrouped) split
    would let the rewritten labels train the model that scores C01 and this test would fail."""
    training = fleet["training"]
    tampered = training.withColumn("label", F.when(F.col("compressor_id") == "C01", F.lit(1)).otherwise(F.col("label")))
    honest = cross_fit_scores(training, features=fleet["features"], folds=3, seed=7, estimator="logistic_regression")
    leaked = cross_fit_scores(tampered, features=fleet["features"], folds=3, seed=7, estimator="logistic_regression")

    def own(scored):
        return scored.where(F.col("compressor_id") == "C01").select("compressor_id", "prediction_timestamp", "raw_score")

    assertDataFrameEqual(own(leaked), own(honest))
    others = honest.where(F.col("compressor_id") != "C01").select("prediction_timestamp", "compressor_id", "raw_score")
    moved = leaked.where(F.col("compressor_id") != "C01").select("prediction_timestamp", "compressor_id", "raw_score")
    assert others.exceptAll(moved).count() > 0  # the tampered labels did train the models of the other folds


def test_cold_start_falls_back_to_the_trend_baseline_in_plain_words(spark, settings_no_db):
    readings, maintenance = synthetic_fleet(2, 4, failing={0: [60.0]}, seed=2)
    gold, log = to_spark(spark, readings, maintenance)
    features = build_model_features(gold, log, registry=settings_no_db.registry, cadence_minutes=10)
    training = training_frame(features, build_labels(features, log, horizon_hours=48))
    reason = cold_start_reason(count_failures(training), min_failures=3)
    assert reason == "1 failure(s) in the maintenance log, 3 needed to learn from"
    fallback = score_baseline(gold, settings=settings_no_db, reason=reason).toPandas()
    assert tuple(fallback.columns) == PREDICTION_COLUMNS and len(fallback) == 2
    assert fallback["message"].str.startswith("No trained failure model (1 failure(s) in the maintenance log, 3 needed").all()
    assert fallback[["warning_probability", "rul_p10_hours", "rul_p50_hours", "rul_p90_hours"]].isna().all().all()
    assert (fallback["model_version"] == "trend-baseline-1").all()


def test_enough_failures_means_no_cold_start(fleet):
    assert cold_start_reason(count_failures(fleet["training"]), min_failures=3) is None


def test_the_log_bounds_the_failures_the_labels_hold(spark, settings_no_db):
    # Two trips with readings before them; the same trip logged twice; a repair; a trip before any reading.
    readings, maintenance = synthetic_fleet(3, 4, failing={0: [60.0], 1: [40.0]}, seed=4)
    extra = pd.DataFrame([maintenance.iloc[0].tolist(),
                          ["C03", T0 + timedelta(hours=20), "scheduled", "oil change", 4.0, "low"],
                          ["C03", T0 - timedelta(days=3), "failure", "bearing", 12.0, "critical"]],
                         columns=MAINTENANCE_COLUMNS)
    gold, log = to_spark(spark, readings, pd.concat([maintenance, extra], ignore_index=True))
    features = build_model_features(gold, log, registry=settings_no_db.registry, cadence_minutes=10)
    labels = build_labels(features, log, horizon_hours=48)
    training = training_frame(features, labels)
    assert (count_logged_failures(log), count_failures(training)) == (3, 2)
    # Fewer entries in the log than needed: a cold start known from the log alone.
    assert cold_start_reason(count_logged_failures(log), min_failures=4) == (
        "3 failure(s) in the maintenance log, 4 needed to learn from")
    assert cold_start_reason(count_logged_failures(log), min_failures=3) is None
    assert cold_start_reason(count_failures(training), min_failures=3) == (
        "2 failure(s) in the maintenance log, 3 needed to learn from")


def test_the_training_frame_is_the_join_in_as_few_partitions_as_its_rows_need(spark, settings_no_db, monkeypatch):
    readings, maintenance = synthetic_fleet(3, 4, failing={0: [60.0]}, seed=3)
    gold, log = to_spark(spark, readings, maintenance)
    features = build_model_features(gold, log, registry=settings_no_db.registry, cadence_minutes=10)
    labels = build_labels(features, log, horizon_hours=48)
    joined = features.join(labels, on=["compressor_id", "prediction_timestamp"], how="inner")

    def partitions(frame):
        return frame.select(F.spark_partition_id().alias("p")).distinct().count()

    rows = joined.count()
    assert partitions(joined.persist()) >= 3  # cached, the join keeps the session's shuffle partitions
    training = training_frame(features, labels)
    assertDataFrameEqual(training, joined)
    assert partitions(training) == 1
    monkeypatch.setattr(train, "ROWS_PER_FIT_PARTITION", rows // 2 + 1)
    assert partitions(training_frame(features, labels)) == 2
