"""The model stage on a small lake: trains, saves a version and scores each unit's newest hour; with too few
logged failures it trains nothing and the trend baseline scores, saying so."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pandas as pd

from altaviz.io import lake
from altaviz.model.score import PREDICTION_COLUMNS
from altaviz.model.features import feature_columns
from altaviz.model.stage import build_predictions, reuse_mismatch, save_trained, warning_horizon
from altaviz.model.train import TrainedModel
from altaviz.model.store import list_versions
from tests.model_fixtures import synthetic_fleet, to_spark
from tests.spark_fixtures import lake_settings


def _lake(spark, tmp_path, failing):
    settings = lake_settings(tmp_path, data_dir=tmp_path)
    settings = dataclasses.replace(settings, model=dataclasses.replace(settings.model, folds=2))
    readings, maintenance = synthetic_fleet(4, 8, failing=failing, seed=9)
    gold, log = to_spark(spark, readings, maintenance)
    lake.write_table(gold, "sensors_gold", settings=settings)
    lake.write_table(log, "maintenance_logs", settings=settings)
    return settings


def test_stage_trains_saves_and_scores_the_newest_hour(spark, tmp_path):
    settings = _lake(spark, tmp_path, {0: [60.0], 1: [110.0], 2: [150.0]})
    report = build_predictions(spark, settings=settings)
    assert not report.cold_start and report.metadata["failures"] == 3
    # Three failures train the 48 h model but not the early-warning one (model.warning_min_failures: 10).
    assert report.trained.warning is None and report.summary().endswith(
        "; no early-warning classifier: fewer logged failures than model.warning_min_failures, or turned off")
    assert list_versions(tmp_path) == []  # saved only once its scores are stored
    save_trained(report, settings=settings)
    assert list_versions(tmp_path) == [report.model_version]
    predictions = report.predictions.toPandas()
    assert tuple(predictions.columns) == PREDICTION_COLUMNS
    assert sorted(predictions["compressor_id"]) == ["C01", "C02", "C03", "C04"]
    assert (predictions["prediction_timestamp"] == pd.Timestamp("2026-01-08 23:50:00")).all()
    assert (predictions["model_version"] == report.model_version).all()


def test_stage_cold_start_uses_the_baseline_and_says_so(spark, tmp_path):
    settings = _lake(spark, tmp_path, {0: [60.0]})
    report = build_predictions(spark, settings=settings)
    assert report.cold_start and list_versions(tmp_path) == []
    assert report.summary().startswith("ml_predictions: no trained model (1 failure(s) in the maintenance log, 3 needed")
    assert report.predictions.toPandas()["message"].str.startswith("No trained failure model").all()


def test_a_saved_model_is_reused_for_new_hours_only_unless_retrain_is_asked(spark, tmp_path):
    settings = _lake(spark, tmp_path, {0: [60.0], 1: [110.0], 2: [150.0]})
    trained = build_predictions(spark, settings=settings)
    assert trained.trained is not None
    save_trained(trained, settings=settings)
    # Same data, saved model: nothing after its training window, so nothing new to score.
    again = build_predictions(spark, settings=settings, history=True)
    assert (again.trained, again.cold_start, again.model_version) == (None, False, trained.model_version)
    assert again.predictions.count() == 0
    assert "(saved, trained up to 2026-01-08T23" in again.summary()
    # Two more days arrive: the saved model scores exactly the hours after its training window (walk-forward):
    # 48 new hours per unit, and the hour (23:00, 00:00] that was still open at 23:50 and is now complete.
    readings, maintenance = synthetic_fleet(4, 10, failing={0: [60.0], 1: [110.0], 2: [150.0]}, seed=9)
    gold, _ = to_spark(spark, readings, maintenance)
    lake.write_table(gold, "sensors_gold", settings=settings)
    newer = build_predictions(spark, settings=settings, history=True).predictions.toPandas()
    assert len(newer) == 4 * 49 and newer["prediction_timestamp"].min() == pd.Timestamp("2026-01-09 00:00:00")
    assert set(newer["model_version"]) == {trained.model_version}
    # An incremental run (since its first day) scores only the hours ending at or after it, as the whole
    # history would score them: midnight's hour, 23 more and the open one ending 23:50, per unit.
    since = datetime(2026, 1, 10, tzinfo=timezone.utc)
    recent = build_predictions(spark, settings=settings, history=True, since=since).predictions.toPandas()
    expected = newer[newer["prediction_timestamp"] >= pd.Timestamp("2026-01-10")]
    assert len(recent) == 4 * 25 and len(expected) == len(recent)
    key = ["compressor_id", "prediction_timestamp"]
    pd.testing.assert_frame_equal(recent.sort_values(key).reset_index(drop=True),
                                  expected.sort_values(key).reset_index(drop=True), rtol=1e-9)
    # Asked to retrain: a new model on all ten days, its own version; every hour scored again (out of fold but
    # each unit's newest).
    retrained = build_predictions(spark, settings=settings, history=True, retrain=True)
    save_trained(retrained, settings=settings)
    assert retrained.trained is not None and retrained.model_version != trained.model_version
    assert list_versions(tmp_path) == [trained.model_version, retrained.model_version]
    history = retrained.predictions.groupBy("model_version").count().toPandas().set_index("model_version")["count"]
    assert history.to_dict() == {retrained.model_version: 4, f"{retrained.model_version}-oof": retrained.metadata["hours"] - 4}



def test_the_early_warning_classifier_needs_enough_failures_and_can_be_turned_off(settings_no_db):
    cfg = settings_no_db.model
    enough = cfg.warning_min_failures
    assert [warning_horizon(cfg, failures=n) for n in (enough - 1, enough, enough + 5)] == [None, 168, 168]
    assert warning_horizon(dataclasses.replace(cfg, warning_horizon_hours=0), failures=enough + 5) is None


def test_a_saved_model_trained_under_other_settings_is_not_reused(settings_no_db):
    cfg = settings_no_db.model
    metadata = {"model_version": "lr-x", "features": list(feature_columns(settings_no_db.registry)),
                "estimator": cfg.estimator, "seed": cfg.seed, "horizon_hours": cfg.horizon_hours,
                "warning_horizon_hours": cfg.warning_horizon_hours, "failures": cfg.warning_min_failures}
    saved = TrainedModel(None, None, None, tuple(metadata["features"]), metadata)
    assert reuse_mismatch(saved, settings=settings_no_db) is None
    changed = TrainedModel(None, None, None, (), {**metadata, "seed": cfg.seed + 1, "features": ["old"],
                                                  "horizon_hours": None, "warning_horizon_hours": None})
    assert reuse_mismatch(changed, settings=settings_no_db) == (
        "saved model lr-x does not match the settings (features, seed, horizon_hours, warning_horizon_hours): retrained")
