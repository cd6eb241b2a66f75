"""Evaluation against the simulator's ground truth (pandas; evaluation only, never training).

Inputs are plain frames so any alert rule can be plugged in:

- ``truth``: ``ground_truth/events.csv`` (compressor_id, category, kind, sensor, start, end, failure_time);
  only ``category == 'failure'`` rows are failures. ``start`` is the first precursor reading.
- ``episodes``: alert episodes, one row per opened alert: compressor_id, opened_at. Whatever lifecycle opens
  them (``altaviz.serving.alerts`` once it has prediction alerts, a threshold rule, a bench rule) is the caller's.
- ``scores``: hourly scores: compressor_id, prediction_timestamp, failure_probability, and optionally
  rul_p10_hours, rul_p50_hours, rul_p90_hours.
- ``coverage``: compressor_id, first, last (the observed span of each evaluated unit), for alert rates.

A failure is *warned* when an episode of its unit opens in [start, failure_time) and the earliest such episode
leads the trip by at least ``min_lead_hours``; its lead is failure_time − that opening. Failures whose trip lies
after the unit's last reading (still developing when the data ends) have no lead to measure: they are left out of
recall, and alerts in their precursor are not false. Any other episode is a *false alert*.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

HOURS_PER_WEEK = 168.0


def failures(truth: pd.DataFrame, coverage: pd.DataFrame) -> pd.DataFrame:
    """Failures of the evaluated units: compressor_id, start, failure_time, completed (trip inside the data)."""
    failed = truth[truth["category"] == "failure"][["compressor_id", "kind", "start", "failure_time"]]
    failed = failed.merge(coverage, on="compressor_id", how="inner")
    return failed.assign(completed=failed["failure_time"] <= failed["last"] + pd.Timedelta(hours=1)).drop(columns=["first", "last"])


def match_episodes(episodes: pd.DataFrame, failed: pd.DataFrame) -> pd.DataFrame:
    """Episodes with ``failure_time`` of the failure whose precursor they open in (NaT: none, a false alert)."""
    if episodes.empty:
        return episodes.assign(failure_time=pd.Series(dtype="datetime64[ns, UTC]"))
    paired = episodes.reset_index(names="episode").merge(failed[["compressor_id", "start", "failure_time"]],
                                                         on="compressor_id", how="left")
    inside = (paired["opened_at"] >= paired["start"]) & (paired["opened_at"] < paired["failure_time"])
    hit = paired[inside].drop_duplicates("episode").set_index("episode")["failure_time"]
    return episodes.assign(failure_time=hit.reindex(range(len(episodes))).to_numpy())


def lead_times(episodes: pd.DataFrame, failed: pd.DataFrame) -> pd.DataFrame:
    """Per failure: compressor_id, kind, failure_time, completed, first_alert_at, lead_hours (NaN: not warned)."""
    matched = match_episodes(episodes.reset_index(drop=True), failed).dropna(subset=["failure_time"])
    first = matched.groupby(["compressor_id", "failure_time"], as_index=False)["opened_at"].min()
    out = failed.merge(first.rename(columns={"opened_at": "first_alert_at"}), on=["compressor_id", "failure_time"], how="left")
    return out.assign(lead_hours=(out["failure_time"] - out["first_alert_at"]).dt.total_seconds() / 3600.0)


def alert_metrics(episodes: pd.DataFrame, truth: pd.DataFrame, coverage: pd.DataFrame, *, min_lead_hours: float = 24.0) -> dict:
    """Recall at ``min_lead_hours``, median and P10 lead (warned failures), false alerts per compressor-week."""
    # Only alerts inside a unit's evaluated span: an alert from before or after it has no scores to match.
    spans = episodes.merge(coverage, on="compressor_id", how="inner")
    inside = (spans["opened_at"] >= spans["first"]) & (spans["opened_at"] <= spans["last"])
    episodes = spans[inside].drop(columns=["first", "last"]).reset_index(drop=True)
    failed = failures(truth, coverage)
    leads = lead_times(episodes, failed)
    completed = leads[leads["completed"]]
    warned = completed["lead_hours"] >= min_lead_hours
    matched = match_episodes(episodes, failed)
    weeks = ((coverage["last"] - coverage["first"]).dt.total_seconds() / 3600.0).sum() / HOURS_PER_WEEK
    any_lead = completed["lead_hours"].dropna()
    return {
        "failures": int(len(completed)),
        "warned": int(warned.sum()),
        f"recall_{int(min_lead_hours)}h": float(warned.mean()) if len(completed) else float("nan"),
        "median_lead_hours": float(any_lead.median()) if len(any_lead) else float("nan"),
        "p10_lead_hours": float(any_lead.quantile(0.1)) if len(any_lead) else float("nan"),
        "false_alerts": int(matched["failure_time"].isna().sum()),
        "compressor_weeks": float(weeks),
        "false_alerts_per_compressor_week": float(matched["failure_time"].isna().sum() / weeks) if weeks else float("nan"),
    }


def true_labels(scores: pd.DataFrame, truth: pd.DataFrame, *, horizon_hours: float) -> pd.Series:
    """1 when a true failure trips in (t, t + horizon] of the score's unit, from the ground truth."""
    failed = truth[truth["category"] == "failure"][["compressor_id", "failure_time"]]
    paired = scores[["compressor_id", "prediction_timestamp"]].reset_index(names="row").merge(failed, on="compressor_id", how="left")
    ahead = (paired["failure_time"] - paired["prediction_timestamp"]).dt.total_seconds() / 3600.0
    hit = paired[(ahead > 0) & (ahead <= horizon_hours)]["row"].unique()
    return pd.Series(np.isin(np.arange(len(scores)), hit).astype(int), index=scores.index)


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """PR-AUC as average precision (step-wise, ties broken pessimistically by sorting positives last)."""
    labels, scores = np.asarray(labels, dtype=int), np.asarray(scores, dtype=float)
    if labels.sum() == 0:
        return float("nan")
    order = np.lexsort((labels, -scores))
    hits = labels[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / hits.sum())


def rul_metrics(scores: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """On hours with a band and a true trip ahead: median |P50 − true hours| and the share inside [P10, P90]."""
    banded = scores.dropna(subset=["rul_p50_hours"])
    failed = truth[truth["category"] == "failure"][["compressor_id", "failure_time"]]
    paired = banded.merge(failed, on="compressor_id", how="inner")
    paired = paired.assign(true_hours=(paired["failure_time"] - paired["prediction_timestamp"]).dt.total_seconds() / 3600.0)
    paired = paired[paired["true_hours"] > 0].sort_values("true_hours").drop_duplicates(["compressor_id", "prediction_timestamp"])
    if paired.empty:
        return {"rul_hours_scored": 0, "rul_p50_abs_error_hours": float("nan"), "rul_share_inside_p10_p90": float("nan")}
    inside = (paired["true_hours"] >= paired["rul_p10_hours"]) & (paired["true_hours"] <= paired["rul_p90_hours"])
    return {
        "rul_hours_scored": int(len(paired)),
        "banded_hours": int(len(banded)),
        "rul_p50_abs_error_hours": float((paired["rul_p50_hours"] - paired["true_hours"]).abs().median()),
        "rul_share_inside_p10_p90": float(inside.mean()),
    }


def evaluate_scores(scores: pd.DataFrame, episodes: pd.DataFrame, truth: pd.DataFrame, *, horizon_hours: float,
                    min_lead_hours: float = 24.0) -> dict:
    """Every metric for hourly ``scores`` of the evaluated units and the ``episodes`` an alert rule opened on them."""
    coverage = scores.groupby("compressor_id", as_index=False)["prediction_timestamp"].agg(first="min", last="max")
    labels = true_labels(scores, truth, horizon_hours=horizon_hours)
    metrics = alert_metrics(episodes, truth, coverage, min_lead_hours=min_lead_hours)
    metrics[f"pr_auc_{int(horizon_hours)}h"] = average_precision(labels.to_numpy(), scores["failure_probability"].to_numpy())
    metrics["positive_hours"] = int(labels.sum())
    if "rul_p50_hours" in scores:
        metrics.update(rul_metrics(scores, truth))
    return metrics


def reliability_table(scored: pd.DataFrame, *, bins: int = 10) -> pd.DataFrame:
    """Predicted-probability bin vs observed rate: bin, low, high, hours, mean_predicted, observed_rate."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(scored["failure_probability"], edges[1:-1]), 0, bins - 1)
    grouped = scored.assign(bin=index).groupby("bin")
    table = pd.DataFrame({
        "hours": grouped.size(),
        "mean_predicted": grouped["failure_probability"].mean(),
        "observed_rate": grouped["label"].mean(),
    }).reindex(range(bins))
    table.insert(0, "low", edges[:-1])
    table.insert(1, "high", edges[1:])
    return table.reset_index().assign(hours=lambda t: t["hours"].fillna(0).astype(int))


def failures_from_log(maintenance_events: pd.DataFrame, *, precursor_hours: float) -> pd.DataFrame:
    """Ground-truth-shaped failures from the maintenance log, for data without a simulator's ground truth:
    every logged ``failure`` (compressor_id, event_date) with its precursor assumed to start
    ``precursor_hours`` before the trip (an alert in that window counts as a warning, not a false alert)."""
    logged = maintenance_events[maintenance_events["event_type"] == "failure"]
    trip = pd.to_datetime(logged["event_date"], utc=True)
    return pd.DataFrame({
        "compressor_id": logged["compressor_id"].to_numpy(), "category": "failure", "kind": "logged failure",
        "start": (trip - pd.Timedelta(hours=precursor_hours)).to_numpy(), "failure_time": trip.to_numpy(),
    }).astype({"start": "datetime64[ns, UTC]", "failure_time": "datetime64[ns, UTC]"})


RISK_HOURS = 168.0  # the backtest keeps (and its figure draws) the model's score over the week before each trip
BACKTEST_METRICS = ("failures", "warned", "recall_24h", "median_lead_hours", "p10_lead_hours", "false_alerts",
                    "false_alerts_per_compressor_week", "pr_auc", "rul_p50_abs_error_hours",
                    "rul_share_inside_p10_p90")


METRIC_LABELS = {
    "failures": "failures (completed)", "warned": "warned >= 24 h ahead", "recall_24h": "recall (>= 24 h)",
    "median_lead_hours": "median lead (h)", "p10_lead_hours": "P10 lead (h)", "false_alerts": "false alerts",
    "false_alerts_per_compressor_week": "false alerts / unit-week", "pr_auc": "PR-AUC (horizon)",
    "rul_p50_abs_error_hours": "RUL P50 abs error (h)", "rul_share_inside_p10_p90": "true time inside P10-P90",
}


@dataclass(frozen=True)
class Backtest:
    """A model's scores and alerts, and the yardsticks', measured against known failures.

    ``table``: one row per method (``method`` + ``BACKTEST_METRICS``; NaN where a method has no such
    number, e.g. PR-AUC of alerts without scores). ``leads``: per completed failure and method, the first
    alert in its precursor and the lead (NaN: not warned). ``risk``: the model's score in the
    ``risk_hours`` before each completed trip (compressor_id, failure_time, kind, hours_before,
    failure_probability and, with an early-warning classifier, warning_probability), what the plot draws.
    ``reliability``: predicted vs observed 48 h outcome.
    """

    source: str  # what the failures came from
    table: pd.DataFrame
    leads: pd.DataFrame
    risk: pd.DataFrame
    reliability: pd.DataFrame

    def to_text(self) -> str:
        """The table as a reader sees it: one column per method, one row per metric, and the source."""
        shown = self.table.set_index("method").T.rename(index=METRIC_LABELS)
        formatted = shown.map(lambda v: "–" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:,.2f}".rstrip("0").rstrip("."))
        return f"Known failures from {self.source}.\n" + formatted.to_string()

    def to_json(self) -> dict:
        frames = {name: getattr(self, name) for name in ("table", "leads", "risk", "reliability")}
        return {"source": self.source, **{name: json.loads(frame.to_json(orient="records", date_format="iso"))
                                          for name, frame in frames.items()}}

    @classmethod
    def from_json(cls, data: dict) -> "Backtest":
        frames = {}
        for name in ("table", "leads", "risk", "reliability"):
            frame = pd.DataFrame(data[name])
            for column in ("failure_time", "first_alert_at"):
                if column in frame:
                    frame[column] = pd.to_datetime(frame[column], utc=True)
            frames[name] = frame
        return cls(source=data["source"], **frames)


def run_backtest(
    methods: dict[str, tuple[pd.DataFrame | None, pd.DataFrame]],
    truth: pd.DataFrame,
    *,
    source: str,
    horizon_hours: float,
    model: str = "model",
    min_lead_hours: float = 24.0,
    risk_hours: float = RISK_HOURS,
) -> Backtest:
    """Every method (name -> (hourly scores or None, alert episodes: compressor_id, opened_at)) on the units
    and hours the ``model`` method scored; see ``Backtest``."""
    scores = methods[model][0]
    coverage = scores.groupby("compressor_id", as_index=False)["prediction_timestamp"].agg(first="min", last="max")
    failed = failures(truth, coverage)
    rows, leads = [], []
    for name, (method_scores, episodes) in methods.items():
        if method_scores is not None:
            metrics = evaluate_scores(method_scores, episodes, truth, horizon_hours=horizon_hours,
                                      min_lead_hours=min_lead_hours)
        else:
            metrics = alert_metrics(episodes, truth, coverage, min_lead_hours=min_lead_hours)
        metrics["pr_auc"] = metrics.pop(f"pr_auc_{int(horizon_hours)}h", np.nan)  # at the model's horizon
        rows.append({"method": name, **{key: metrics.get(key, np.nan) for key in BACKTEST_METRICS}})
        unit_episodes = episodes[episodes["compressor_id"].isin(coverage["compressor_id"])].reset_index(drop=True)
        method_leads = lead_times(unit_episodes, failed)
        leads.append(method_leads[method_leads["completed"]].drop(columns=["completed", "start"]).assign(method=name))
    completed = failed[failed["completed"]]
    paired = scores.merge(completed[["compressor_id", "failure_time", "kind"]], on="compressor_id", how="inner")
    hours_before = (paired["failure_time"] - paired["prediction_timestamp"]).dt.total_seconds() / 3600.0
    risk = paired.assign(hours_before=hours_before)[(hours_before > 0) & (hours_before <= risk_hours)]
    labelled = scores.assign(label=true_labels(scores, truth, horizon_hours=horizon_hours))
    return Backtest(
        source=source,
        table=pd.DataFrame(rows, columns=["method", *BACKTEST_METRICS]),
        leads=pd.concat(leads, ignore_index=True),
        risk=risk[["compressor_id", "failure_time", "kind", "hours_before", "failure_probability",
                   *(["warning_probability"] if "warning_probability" in risk else [])]]
        .sort_values(["failure_time", "compressor_id", "hours_before"], ascending=[True, True, False]).reset_index(drop=True),
        reliability=reliability_table(labelled),
    )
