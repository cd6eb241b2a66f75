"""The short report printed at the end of `altaviz run` / `make run`."""

from __future__ import annotations

import pandas as pd

from altaviz.io import db
from altaviz.config import Settings
from altaviz.runner import Manifest

ALERTS_BY_SEVERITY = """
SELECT severity, count(*) AS open_alerts FROM v_active_alerts
GROUP BY severity ORDER BY max(severity_rank) DESC
"""
FLEET_QUALITY = """
SELECT metric_type, metric_value, threshold_value, pass_threshold FROM data_quality_metrics
WHERE run_id = %s AND compressor_id IS NULL ORDER BY metric_type
"""


def layer_lines(row_counts: dict[str, dict[str, int]]) -> list[str]:
    """One line per layer from the stages' counts (the full counts are in manifest.json)."""
    landing, bronze = row_counts.get("01_simulate", {}), row_counts.get("02_bronze", {})
    silver, gold = row_counts.get("03_silver", {}), row_counts.get("04_gold", {})
    serving = row_counts.get("05_publish", {})
    quarantined = ", ".join(
        f"{name.removeprefix('quarantine_')} {rows:,}" for name, rows in sorted(silver.items())
        if name.startswith("quarantine_") and rows
    )
    lines = []
    if landing:
        lines.append(f"  landing   {landing.get('landing_readings', 0):>10,} readings simulated")
    if bronze:
        waiting = f", {bronze['files_deferred']} still being written" if bronze.get("files_deferred") else ""
        lines.append(f"  bronze    {bronze.get('sensors_bronze', 0):>10,}  ({bronze.get('files_ingested', 0)} new file(s), "
                     f"{bronze.get('files_skipped_already_ingested', 0)} already ingested, "
                     f"{bronze.get('files_rejected', 0)} rejected{waiting})")
    if silver:
        lines.append(f"  silver    {silver.get('sensors_silver', 0):>10,}  ({silver.get('sensors_quarantine', 0):,} quarantined"
                     f"{': ' + quarantined if quarantined else ''}; {silver.get('outliers_flagged', 0):,} outliers flagged)")
    if gold:
        lines.append(f"  gold      {gold.get('sensors_gold', 0):>10,}")
    if serving:
        lines.append(f"  serving   {serving.get('sensor_readings_agg', 0):>10,} aggregate rows written; alerts opened "
                     f"{serving.get('alerts_opened', 0)}, updated {serving.get('alerts_updated', 0)}, "
                     f"resolved {serving.get('alerts_resolved', 0)}; {serving.get('ml_predictions', 0)} predictions")
    return lines


def run_summary(manifest: Manifest, settings: Settings) -> str:
    run_id = manifest.params["run_id"]
    skipped = {stage.notebook: stage.reused_from for stage in manifest.stages if stage.status == "skipped"}
    lines = [f"Run {run_id}: {manifest.status}", "Rows per layer:", *layer_lines(manifest.row_counts)]
    lines += [f"  {notebook} skipped: inputs unchanged since run {reused} (its tables stand; --recompute runs it)"
              for notebook, reused in skipped.items()]
    alerts = db.query(ALERTS_BY_SEVERITY, settings=settings)
    lines.append("Open alerts: " + (
        ", ".join(f"{row.severity} {row.open_alerts}" for row in alerts.itertuples()) or "none"))
    quality_run = skipped.get("03_silver", run_id)
    quality = db.query(FLEET_QUALITY, (quality_run,), settings=settings)
    lines.append("Data quality (fleet):" if quality_run == run_id else f"Data quality (fleet, run {quality_run}):")
    for row in quality.itertuples():
        verdict = "pass" if row.pass_threshold else "FAIL"
        # Unmeasured and passing: no delivery new since the last passing run (silver.quality.JudgedSpan).
        unmeasured = "nothing new" if row.pass_threshold else "unmeasured"
        value = unmeasured if pd.isna(row.metric_value) else f"{row.metric_value:.4f}"
        lines.append(f"  {row.metric_type:<13} {value:>10}  limit {row.threshold_value}  {verdict}")
    lines.append("Stage timings: " + ", ".join(
        f"{s.notebook} {'skipped' if s.status == 'skipped' else f'{s.seconds:.0f}s'}" for s in manifest.stages))
    folder = settings.pipeline.runs_dir / run_id
    lines.append(f"Executed notebooks and manifest.json: {folder}")
    lines.append("Open the dashboard: make dashboard   (or: .venv/bin/altaviz dashboard)")
    return "\n".join(lines)
