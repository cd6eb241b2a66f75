"""The model warns earlier than the thresholds on a simulated fleet it never saw (a small backtest).

Train on one simulated fleet (seed 21), score another (seed 22), and compare the model's first prediction alert (the
product's lifecycle) before each failure with the first reading at or beyond a warning limit. Readings come straight from the landing files
(the bench runs the full bronze → silver → gold pipeline; here the stages would only add minutes).
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import functions as F

from altaviz.model import evaluate
from altaviz.model.features import build_model_features, feature_columns
from altaviz.model.labels import build_labels
from altaviz.model.score import score_hours
from altaviz.model.train import train_model, training_frame
from altaviz.serving import alerts
from altaviz.simulate import SimulationParams, read_readings, simulate_fleet

def _fleet(spark, tmp_path, seed, settings):
    params = SimulationParams(compressor_count=12, start_date="2026-01-01", end_date="2026-02-15", seed=seed,
                              failures_per_compressor_year=8.0, degrading_at_end=0)
    landing = tmp_path / f"landing-{seed}"
    simulate_fleet(params, landing)
    readings = read_readings(landing)
    readings["timestamp"] = readings["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None)
    gold = spark.createDataFrame(readings).withColumn("timestamp", F.col("timestamp").cast("timestamp"))
    log = pd.read_csv(landing / "maintenance_logs.csv", parse_dates=["event_date"])
    maintenance = spark.createDataFrame(log).withColumn("event_date", F.col("event_date").cast("timestamp")) \
        .withColumn("downtime_hours", F.col("downtime_hours").cast("double"))
    features = build_model_features(gold, maintenance, registry=settings.registry, cadence_minutes=10)
    labels = build_labels(features, maintenance, horizon_hours=48)
    truth = pd.read_csv(landing / "ground_truth" / "events.csv")
    for column in ("start", "failure_time"):
        truth[column] = pd.to_datetime(truth[column], utc=True)
    return gold, training_frame(features, labels), truth


def test_model_warns_earlier_than_the_thresholds_on_an_unseen_fleet(spark, tmp_path, settings_no_db):
    _, training, _ = _fleet(spark, tmp_path, 21, settings_no_db)
    gold, held_out, truth = _fleet(spark, tmp_path, 22, settings_no_db)
    model, _ = train_model(training, features=feature_columns(settings_no_db.registry),
                           estimator="logistic_regression", folds=3, seed=7, model_version="test",
                           horizon_hours=48)
    scores = score_hours(model, held_out, registry=settings_no_db.registry, horizon_hours=48).toPandas()
    scores["prediction_timestamp"] = pd.to_datetime(scores["prediction_timestamp"], utc=True)
    coverage = scores.groupby("compressor_id", as_index=False)["prediction_timestamp"].agg(first="min", last="max")

    breach = F.lit(False)
    for name, sensor in settings_no_db.registry.sensors.items():
        breach = breach | F.coalesce(sensor.breaches(F.col(name), sensor.warning), F.lit(False))
    threshold = gold.where(breach).select("compressor_id", F.col("timestamp").alias("opened_at")).toPandas()
    threshold["opened_at"] = pd.to_datetime(threshold["opened_at"], utc=True)

    failed = evaluate.failures(truth, coverage)
    # The product's prediction-alert lifecycle at the configured levels (no maintenance events: a stricter test).
    episodes = alerts.prediction_episodes(scores, alerting=settings_no_db.alerts)
    model_leads = evaluate.lead_times(episodes, failed)
    threshold_leads = evaluate.lead_times(threshold, failed)
    compared = model_leads.merge(threshold_leads, on=["compressor_id", "failure_time"], suffixes=("_model", "_threshold"))
    compared = compared[compared["completed_model"]]
    assert len(compared) >= 3
    model_lead = compared["lead_hours_model"].fillna(0.0)
    threshold_lead = compared["lead_hours_threshold"].fillna(0.0)
    assert model_lead.median() > threshold_lead.median()
    assert (model_lead >= 24).mean() > (threshold_lead >= 24).mean()
