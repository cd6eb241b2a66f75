"""The backtest a trained model is stored with: its out-of-sample scores and the prediction alerts they raise,
next to the threshold alerts and the trend baseline, measured against known failures (``evaluate``).

Known failures are the simulator's ground truth (``<landing>/ground_truth/events.csv``) when the data is
simulated, and otherwise the maintenance log's failures (``evaluate.failures_from_log``: their precursor
is unknown, so an alert in the ``LOG_PRECURSOR_HOURS`` before a logged trip counts as a warning). Ground truth
is read here for evaluation only; training never sees it.

Methods, all on the hours the model scored:

- ``model``: the version's hourly scores (out of fold: no unit is scored by a model that saw its labels),
  alerted by the product's prediction lifecycle (``alerts.prediction_episodes``, levels from config);
- ``threshold alerts``: the threshold and rate-of-change alerts the pipeline actually raised;
- ``trend baseline``: ``baseline.replay_trend`` at every scored hour, under the same lifecycle at
  ``baseline.TREND_ALERT_LEVEL``.
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame

from altaviz.config import Settings
from altaviz.model import baseline
from altaviz.model.evaluate import Backtest, failures_from_log, run_backtest
from altaviz.serving import alerts

LOG_PRECURSOR_HOURS = 14 * 24.0


def backtest_model(
    scores: pd.DataFrame,
    *,
    gold_readings: DataFrame,
    threshold_openings: pd.DataFrame,
    maintenance_events: pd.DataFrame,
    truth: pd.DataFrame | None,
    settings: Settings,
) -> Backtest:
    """Backtest one model version. ``scores``: its hourly predictions (compressor_id, prediction_timestamp,
    failure_probability, rul_p10/50/90_hours, message); ``threshold_openings``: compressor_id, opened_at of the
    pipeline's threshold alerts; ``maintenance_events``: compressor_id, event_date, event_type (they resolve
    prediction alerts, and stand in for the ground truth when ``truth`` is None)."""
    resolving = maintenance_events[maintenance_events["event_type"].isin(alerts.RESOLVING_EVENT_TYPES)]
    events = list(zip(resolving["compressor_id"], pd.to_datetime(resolving["event_date"], utc=True)))
    source = "the simulator's ground truth"
    if truth is None:
        truth = failures_from_log(maintenance_events, precursor_hours=LOG_PRECURSOR_HOURS)
        source = f"the maintenance log's failures (no ground truth; a warning is an alert in the {LOG_PRECURSOR_HOURS:.0f} h before a trip)"
    keys = gold_readings.sparkSession.createDataFrame(scores[["compressor_id", "prediction_timestamp"]])
    trend = baseline.replay_trend(gold_readings, keys, registry=settings.registry).toPandas()
    trend["prediction_timestamp"] = pd.to_datetime(trend["prediction_timestamp"], utc=True)
    trend_alerting = alerts.at_level(settings.alerts, baseline.TREND_ALERT_LEVEL)
    methods = {
        "model": (scores, alerts.prediction_episodes(scores, alerting=settings.alerts, events=events)),
        "threshold alerts": (None, threshold_openings),
        "trend baseline": (trend, alerts.prediction_episodes(trend.assign(message=""), alerting=trend_alerting, events=events)),
    }
    return run_backtest(methods, truth, source=source, horizon_hours=settings.model.horizon_hours)
