"""Backtest the failure model against the simulator's ground truth, next to the threshold and trend baselines.

Run: ``python -m bench.backtest --seeds 11 12 13 --compressors 40 --days 90 [--scratch DIR]``.

Per seed: simulate into ``<scratch>/seed-<seed>``, run bronze → silver → gold in one Spark session (the stage
functions, not the notebooks), build model features and maintenance-log labels. The FIRST seed is the training
seed: estimators are compared on its out-of-fold scores of the 48 h classifier alone (folds grouped by
compressor), the alert level is swept on the full model's out-of-fold scores (the configured
``alerts.prediction_warning_probability`` is the one the per-seed table uses), and the model trained on all its
units (48 h classifier, early-warning classifier over ``model.warning_horizon_hours``, remaining-life model) scores
the OTHER seeds, which nothing was tuned on. Seed 1's row in the table is its out-of-fold (held-out compressor)
result; the others are fresh fleets. The row ``model 48 h only`` replays the alerts without the early-warning
score: what the early-warning classifier adds.

Prediction alerts: the product's own lifecycle (``alerts.prediction_episodes``: open after
``prediction_open_after_scores`` scores at or above the level, resolve after ``prediction_resolve_after_scores``
below level - margin or at a logged maintenance/failure). Threshold baseline: an episode opens at the first gold reading at or beyond a warning limit
(any sensor, ``Sensor.breaches``) after at least ``THRESHOLD_GAP_HOURS`` without one. Trend baseline: ``baseline.trend_risk``
replayed at every hour on the 24 h before it, under the same lifecycle at its own level
(chosen on the training seed like the model's).

Writes ``bench/results/backtest.md`` and ``bench/results/backtest.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from altaviz.config import get_settings  # noqa: E402
from altaviz.io.spark import get_spark  # noqa: E402
from altaviz.model import baseline, evaluate  # noqa: E402
from altaviz.model.features import build_model_features, feature_columns  # noqa: E402
from altaviz.model.labels import build_labels  # noqa: E402
from altaviz.model.score import score_hours  # noqa: E402
from altaviz.model.stage import warning_horizon  # noqa: E402
from altaviz.model.store import model_version  # noqa: E402
from altaviz.serving import alerts  # noqa: E402
from altaviz.model.train import (  # noqa: E402
    calibrate, count_failures, cross_fit_scores, fit_calibrator, train_model,
)
from altaviz.simulate import read_ground_truth  # noqa: E402
from bench.backtest_data import prepare_seed, read_gold, read_maintenance  # noqa: E402

SETTINGS = get_settings()
THRESHOLD_GAP_HOURS = 6  # the threshold yardstick: a new episode after this long without a breach
LEVELS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
ESTIMATORS = ("logistic_regression", "gbt", "random_forest")
RESULTS = ROOT / "bench" / "results"
TARGETS = {"recall_24h": 0.9, "lead_ratio_vs_threshold": 2.0, "false_alerts_per_compressor_week": 0.05}


def episodes_from_scores(scores: pd.DataFrame, *, level: float, events: list) -> pd.DataFrame:
    """The product's prediction-alert lifecycle (``alerts.prediction_episodes``, the settings' open/resolve
    counts and margin) at warning level ``level`` -> compressor_id, opened_at, ...; ``events`` (compressor_id,
    event time) are the logged maintenance and failures that resolve an alert."""
    return alerts.prediction_episodes(scores.assign(message=""), alerting=alerts.at_level(SETTINGS.alerts, level),
                                      events=events)


def logged_events(spark: SparkSession, root: Path) -> list:
    """(compressor_id, event_date) of the seed's logged maintenance and failures (what resolves an alert)."""
    rows = read_maintenance(spark, root).where(F.col("event_type").isin(*alerts.RESOLVING_EVENT_TYPES))
    return [(row["compressor_id"], row["event_date"]) for row in rows.select("compressor_id", "event_date").collect()]


def threshold_episodes(gold: DataFrame, *, registry) -> pd.DataFrame:
    """First reading at or beyond a warning limit after THRESHOLD_GAP_HOURS without one -> compressor_id, opened_at."""
    breach = F.lit(False)
    for name, sensor in registry.sensors.items():
        breach = breach | F.coalesce(sensor.breaches(F.col(name), sensor.warning), F.lit(False))
    hits = gold.where(breach).select("compressor_id", "timestamp").toPandas().sort_values(["compressor_id", "timestamp"])
    hits["timestamp"] = pd.to_datetime(hits["timestamp"], utc=True)
    gap = hits.groupby("compressor_id")["timestamp"].diff()
    new = gap.isna() | (gap > pd.Timedelta(hours=THRESHOLD_GAP_HOURS))
    return hits[new].rename(columns={"timestamp": "opened_at"}).reset_index(drop=True)


def to_pandas(frame: DataFrame) -> pd.DataFrame:
    data = frame.toPandas()
    data["prediction_timestamp"] = pd.to_datetime(data["prediction_timestamp"], utc=True)
    return data


def build_seed_tables(spark: SparkSession, root: Path, *, settings) -> dict:
    """Features+labels (Parquet), trend scores (Parquet) and threshold episodes (CSV) under ``root``."""
    paths = {"training": root / "model_training.parquet", "trend": root / "trend_scores.parquet",
             "threshold": root / "threshold_episodes.csv"}
    if all(p.exists() for p in paths.values()):
        return {"paths": paths, "seconds": json.loads((root / "tables.json").read_text())}
    seconds = {}
    gold, maintenance = read_gold(spark, root), read_maintenance(spark, root)
    began = time.perf_counter()
    features = build_model_features(gold, maintenance, registry=settings.registry,
                                    cadence_minutes=settings.pipeline.cadence_minutes)
    labels = build_labels(features, maintenance, horizon_hours=settings.model.horizon_hours)
    features.join(labels, on=["compressor_id", "prediction_timestamp"], how="inner").write.mode("overwrite").parquet(
        str(paths["training"]))
    seconds["features_labels"] = time.perf_counter() - began
    began = time.perf_counter()
    keys = spark.read.parquet(str(paths["training"])).select("compressor_id", "prediction_timestamp")
    baseline.replay_trend(gold, keys, registry=settings.registry).write.mode("overwrite").parquet(str(paths["trend"]))
    seconds["trend_baseline"] = time.perf_counter() - began
    began = time.perf_counter()
    threshold_episodes(gold, registry=settings.registry).to_csv(paths["threshold"], index=False)
    seconds["threshold_baseline"] = time.perf_counter() - began
    (root / "tables.json").write_text(json.dumps(seconds))
    return {"paths": paths, "seconds": seconds}


def read_episodes(path: Path) -> pd.DataFrame:
    episodes = pd.read_csv(path)
    episodes["opened_at"] = pd.to_datetime(episodes["opened_at"], utc=True)
    return episodes


def choose_level(scores: pd.DataFrame, truth: pd.DataFrame, events: list, *, horizon: int) -> tuple[float, list[dict]]:
    """The alert level on the training seed: among levels whose false-alert rate meets the target, the highest
    recall, then the longest median lead."""
    sweep = []
    for level in LEVELS:
        metrics = evaluate.evaluate_scores(scores, episodes_from_scores(scores, level=level, events=events), truth, horizon_hours=horizon)
        sweep.append({"level": level, **metrics})
    ok = [row for row in sweep if row["false_alerts_per_compressor_week"] <= TARGETS["false_alerts_per_compressor_week"]]
    best = max(ok or sweep, key=lambda row: (row["recall_24h"], np.nan_to_num(row["median_lead_hours"]),
                                             -row["false_alerts_per_compressor_week"]))
    return best["level"], sweep


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13])
    parser.add_argument("--compressors", type=int, default=40)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/altaviz-backtest"))
    parser.add_argument("--estimators", nargs="+", default=list(ESTIMATORS))
    args = parser.parse_args(argv)
    settings = get_settings()
    spark = get_spark()
    horizon, folds, seed = settings.model.horizon_hours, settings.model.folds, settings.model.seed
    report: dict = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                    "machine": f"{platform.machine()}, {platform.python_version()}", "seeds": {}, "timings": {}}
    began_all = time.perf_counter()
    tables = {}
    for s in args.seeds:
        began = time.perf_counter()
        prepared = prepare_seed(spark, seed=s, compressors=args.compressors, days=args.days, scratch=args.scratch)
        tables[s] = build_seed_tables(spark, args.scratch / f"seed-{s}", settings=settings)
        report["timings"][f"seed {s}"] = {**prepared["seconds"], **tables[s]["seconds"],
                                          "this_run_wall": time.perf_counter() - began}
        report["seeds"][s] = {"failures_logged": prepared["failures"], "degrading_at_end": prepared["degrading_at_end"],
                              "readings": prepared["readings"]}
        print(f"seed {s}: data ready ({time.perf_counter() - began:.0f} s)", flush=True)

    features = feature_columns(settings.registry)
    train_seed = args.seeds[0]  # the others are fleets nothing is trained or tuned on
    training = spark.read.parquet(str(tables[train_seed]["paths"]["training"])).persist()
    truth = {s: read_ground_truth(args.scratch / f"seed-{s}" / "landing") for s in args.seeds}
    events = {s: logged_events(spark, args.scratch / f"seed-{s}") for s in args.seeds}

    # 1. Estimators on the training seed's out-of-fold scores (held-out compressors).
    comparison = {}
    for name in args.estimators:
        began = time.perf_counter()
        oof = cross_fit_scores(training, features=features, folds=folds, seed=seed, estimator=name).persist()
        calibrated = to_pandas(calibrate(fit_calibrator(oof), oof))
        level, sweep = choose_level(calibrated, truth[train_seed], events[train_seed], horizon=horizon)
        chosen = next(row for row in sweep if row["level"] == level)
        comparison[name] = {"pr_auc_oof_labels": evaluate.average_precision(calibrated["label"], calibrated["raw_score"]),
                            "level": level, **chosen, "seconds": time.perf_counter() - began,
                            "sweep": sweep}
        print(f"{name}: {json.dumps({k: v for k, v in comparison[name].items() if k != 'sweep'}, default=str)}", flush=True)
        oof.unpersist()
    report["estimators"] = comparison
    estimator = settings.model.estimator
    report["estimator_used"] = estimator

    # 2. The model trained on every unit of the training seed (calibrated on its out-of-fold scores).
    began = time.perf_counter()
    end = training.agg(F.max("prediction_timestamp")).first()[0]
    model, out_of_fold = train_model(training, features=features, estimator=estimator, folds=folds, seed=seed,
                                     model_version=model_version(estimator, end, seed), horizon_hours=horizon,
                                     warning_horizon_hours=warning_horizon(settings.model, failures=count_failures(training)))
    oof_pd = to_pandas(out_of_fold)
    report["timings"]["train_final"] = time.perf_counter() - began
    # The product's configured level, not the bench's pick: the table shows what a deployment would do.
    level = settings.alerts.prediction_warning_probability
    report["alert_level"] = level
    report["warning_horizon_hours"] = settings.model.warning_horizon_hours
    report["alert_level_chosen_on_training_seed"], report["level_sweep"] = choose_level(
        oof_pd, truth[train_seed], events[train_seed], horizon=horizon)
    trend_level, _ = choose_level(to_pandas(spark.read.parquet(str(tables[train_seed]["paths"]["trend"]))),
                                  truth[train_seed], events[train_seed], horizon=horizon)
    report["trend_alert_level"] = trend_level

    # 3. Every seed: model (out of fold on the training seed, fresh on the others), threshold and trend baselines.
    rows, unseen_scores = [], []
    for s in args.seeds:
        if s == train_seed:
            scores = oof_pd
            kind = "held-out compressors (out of fold)"
        else:
            fresh = spark.read.parquet(str(tables[s]["paths"]["training"]))
            began = time.perf_counter()
            scores = to_pandas(score_hours(model, fresh, registry=settings.registry, horizon_hours=horizon))
            report["timings"][f"seed {s}"]["score"] = time.perf_counter() - began
            kind = "unseen seed"
            unseen_scores.append(scores.assign(label=evaluate.true_labels(scores, truth[s], horizon_hours=horizon)))
        trend = to_pandas(spark.read.parquet(str(tables[s]["paths"]["trend"])))
        near_only = scores.drop(columns=["warning_probability"], errors="ignore")
        episodes_by_method = {  # the alert lifecycle replayed once per method, for the totals and the per-mode table
            "model": episodes_from_scores(scores, level=level, events=events[s]),
            "model 48 h only": episodes_from_scores(near_only, level=level, events=events[s]),
            "trend": episodes_from_scores(trend, level=trend_level, events=events[s]),
            "threshold": read_episodes(tables[s]["paths"]["threshold"]),
        }
        model_metrics = evaluate.evaluate_scores(scores, episodes_by_method["model"], truth[s], horizon_hours=horizon)
        near_metrics = evaluate.evaluate_scores(near_only, episodes_by_method["model 48 h only"], truth[s],
                                                horizon_hours=horizon)
        trend_metrics = evaluate.evaluate_scores(trend, episodes_by_method["trend"], truth[s], horizon_hours=horizon)
        coverage = scores.groupby("compressor_id", as_index=False)["prediction_timestamp"].agg(first="min", last="max")
        threshold_metrics = evaluate.alert_metrics(episodes_by_method["threshold"], truth[s], coverage)
        lead_ratio = model_metrics["median_lead_hours"] / threshold_metrics["median_lead_hours"]
        failed = evaluate.failures(truth[s], coverage)
        failed = failed.assign(precursor_hours=(failed["failure_time"] - failed["start"]).dt.total_seconds() / 3600.0)
        by_kind = {}
        for method, episodes in episodes_by_method.items():
            leads = evaluate.lead_times(episodes, failed)  # keeps failed's precursor_hours
            leads = leads[leads["completed"]]
            by_kind[method] = {
                kind: {"failures": int(len(g)), "warned_24h": int((g["lead_hours"] >= 24).sum()),
                       "median_lead_hours": float(g["lead_hours"].median()) if g["lead_hours"].notna().any() else None,
                       "median_precursor_hours": float(g["precursor_hours"].median())}
                for kind, g in leads.groupby("kind")}
        targets = {
            "recall_24h": model_metrics["recall_24h"] >= TARGETS["recall_24h"],
            "lead_ratio_vs_threshold": lead_ratio >= TARGETS["lead_ratio_vs_threshold"],
            "false_alerts_per_compressor_week":
                model_metrics["false_alerts_per_compressor_week"] <= TARGETS["false_alerts_per_compressor_week"],
        }
        rows.append({"seed": s, "evaluated_on": kind, "model": model_metrics, "model 48 h only": near_metrics,
                     "trend": trend_metrics,
                     "threshold": threshold_metrics, "lead_ratio_vs_threshold": lead_ratio, "targets_met": targets,
                     "by_kind": by_kind})
        print(f"seed {s}: {json.dumps(rows[-1], default=str)}", flush=True)
    report["results"] = rows
    # Calibration checked where it was not fitted: the unseen seeds' scores against the true 48 h outcome.
    if unseen_scores:
        report["reliability"] = evaluate.reliability_table(pd.concat(unseen_scores, ignore_index=True)).to_dict("records")
    report["timings"]["total_wall"] = time.perf_counter() - began_all
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "backtest.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (RESULTS / "backtest.md").write_text(render(report))
    print(render(report))


def _f(value, digits=2) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def render(report: dict) -> str:
    """The markdown report."""
    args = report["args"]
    lines = [
        "# Failure-model backtest", "",
        f"`python -m bench.backtest --seeds {' '.join(map(str, args['seeds']))} --compressors {args['compressors']} "
        f"--days {args['days']}` on {report['machine']}. Training seed: {args['seeds'][0]} (estimators compared and the "
        f"alert level chosen on its out-of-fold scores); the other seeds are fleets nothing was trained or tuned on.",
        "", f"Estimator used: **{report['estimator_used']}**; prediction alerts by the product's lifecycle at the configured "
        f"level {report['alert_level']} (the sweep's pick on the training seed: "
        f"{report.get('alert_level_chosen_on_training_seed')}; trend baseline: {report['trend_alert_level']}).", "",
        f"The model: a 48 h classifier (`failure_probability`, critical alerts, PR-AUC) and an early-warning classifier "
        f"over {report.get('warning_horizon_hours')} h (`warning_probability`); a warning opens on the higher of the two.", "",
        "## Estimators (training seed, out of fold, grouped by compressor; the 48 h classifier alone)", "",
        "| estimator | PR-AUC (log labels) | PR-AUC 48 h (truth) | level | recall ≥ 24 h | median lead h | false alerts / unit-week | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in report["estimators"].items():
        lines.append(f"| {name} | {_f(row['pr_auc_oof_labels'], 3)} | {_f(row['pr_auc_48h'], 3)} | {row['level']} | "
                     f"{_f(row['recall_24h'])} | {_f(row['median_lead_hours'], 0)} | "
                     f"{_f(row['false_alerts_per_compressor_week'], 3)} | {_f(row['seconds'], 0)} |")
    lines += ["", "## Per seed vs targets", "",
              "Targets: recall ≥ 0.9 with ≥ 24 h warning; median lead ≥ 2× the threshold alerts'; ≤ 0.05 false "
              "prediction alerts per compressor-week.", "",
              "| seed | evaluated on | failures | method | recall ≥ 24 h | median lead h | P10 lead h | false alerts / unit-week | PR-AUC 48 h | RUL P50 abs err h | inside P10–P90 |",
              "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in report["results"]:
        for method in ("model", "model 48 h only", "trend", "threshold"):
            if method not in row:
                continue
            m = row[method]
            lines.append(
                f"| {row['seed']} | {row['evaluated_on']} | {m['failures']} | {method} | {_f(m['recall_24h'])} | "
                f"{_f(m['median_lead_hours'], 0)} | {_f(m['p10_lead_hours'], 0)} | {_f(m['false_alerts_per_compressor_week'], 3)} | "
                f"{_f(m.get('pr_auc_48h'), 3)} | {_f(m.get('rul_p50_abs_error_hours'), 1)} | {_f(m.get('rul_share_inside_p10_p90'))} |")
        met = ", ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in row["targets_met"].items())
        lines.append(f"| {row['seed']} | lead ratio model/threshold {_f(row['lead_ratio_vs_threshold'])} | | targets | {met} | | | | | | |")
    lines += ["", "## Failures by mode (warned ≥ 24 h / failures; median lead h; median precursor h)", "",
              "| seed | mode | precursor h | model | model 48 h only | trend | threshold |", "|---|---|---:|---|---|---|---|"]
    for row in report["results"]:
        for kind, model_row in row["by_kind"]["model"].items():
            cells = []
            for method in ("model", "model 48 h only", "trend", "threshold"):
                k = row["by_kind"][method].get(kind, {})
                cells.append(f"{k.get('warned_24h', 0)}/{k.get('failures', 0)}; {_f(k.get('median_lead_hours'), 0)}")
            lines.append(f"| {row['seed']} | {kind} | {_f(model_row['median_precursor_hours'], 0)} | " + " | ".join(cells) + " |")
    trained_modes = set(report["results"][0]["by_kind"]["model"])
    unseen_modes = {k for row in report["results"][1:] for k in row["by_kind"]["model"]} - trained_modes
    lines += ["", "Reading it: a 48 h classifier alone opens its alerts about 2-3 days before a trip whatever the mode; a "
              "bearing's vibration crosses its warning limit 5-6 days ahead, so on bearings the thresholds led it. The "
              "early-warning classifier learns the slow drift that comes first and leads the thresholds on every mode. A "
              "failure whose whole precursor lasts about a day (cooling: median 25 h on seed 12) leaves no method an "
              "alert 24 h ahead but by luck. "
              f"Failure modes absent from the training seed: {', '.join(sorted(unseen_modes)) or 'none'}."]
    lines += ["", "## Reliability (unseen seeds pooled: calibrated probability vs the true 48 h outcome)", "",
              "| bin | hours | mean predicted | observed rate |", "|---|---:|---:|---:|"]
    for row in report.get("reliability", []):
        lines.append(f"| {row['low']:.1f}–{row['high']:.1f} | {row['hours']} | {_f(row['mean_predicted'], 3)} | {_f(row['observed_rate'], 3)} |")
    lines += ["", "## Timings (seconds)", "", "```", json.dumps(report["timings"], indent=1, default=lambda v: round(v, 1)), "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--render"]:  # re-render the markdown from the JSON of the last run
        RESULTS.joinpath("backtest.md").write_text(render(json.loads(RESULTS.joinpath("backtest.json").read_text())))
    else:
        main()
