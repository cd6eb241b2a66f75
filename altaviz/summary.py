"""The short report printed at the end of `altaviz run` / `make run`."""

from __future__ import annotations

from altaviz import db
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


def run_summary(manifest: Manifest, settings: Settings) -> str:
    run_id = manifest.params["run_id"]
    lines = [f"Run {run_id}: {manifest.status}"]
    lines.append("Rows per layer:")
    for stage, counts in manifest.row_counts.items():
        for table, rows in counts.items():
            lines.append(f"  {stage:<12} {table:<28} {rows:>10,}")
    alerts = db.query(ALERTS_BY_SEVERITY, settings=settings)
    lines.append("Open alerts: " + (
        ", ".join(f"{row.severity} {row.open_alerts}" for row in alerts.itertuples()) or "none"))
    quality = db.query(FLEET_QUALITY, (run_id,), settings=settings)
    lines.append("Data quality (fleet):")
    for row in quality.itertuples():
        verdict = "pass" if row.pass_threshold else "FAIL"
        lines.append(f"  {row.metric_type:<13} {row.metric_value:>10.4f}  limit {row.threshold_value}  {verdict}")
    lines.append("Stage timings: " + ", ".join(f"{s.notebook} {s.seconds:.0f}s" for s in manifest.stages))
    folder = settings.pipeline.runs_dir / run_id
    lines.append(f"Executed notebooks and manifest.json: {folder}")
    lines.append("Open the dashboard: make dashboard   (or: .venv/bin/altaviz dashboard)")
    return "\n".join(lines)
