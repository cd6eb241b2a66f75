"""Run bookkeeping shared by notebooks and the runner: where a run's files go, what each stage counted."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd

from altaviz.config import Settings, get_settings

STAGES = ("01_simulate", "02_bronze", "03_silver", "04_gold", "05_publish")


def run_dir(run_id: str, settings: Settings | None = None) -> Path:
    return (settings or get_settings()).pipeline.runs_dir / run_id


def resolve_landing(landing_dir: str | Path, settings: Settings | None = None) -> Path:
    """The landing folder a notebook parameter names; empty means ``<data_dir>/landing``."""
    if not str(landing_dir):
        return (settings or get_settings()).pipeline.landing_dir
    return Path(landing_dir).expanduser().resolve()


def as_utc(moment) -> datetime:
    """Any datetime-like as an aware UTC datetime; a naive one is taken to be UTC already (the
    pipeline's clock is UTC, and PySpark would otherwise read naive times in the machine's zone)."""
    stamp = pd.Timestamp(moment)
    return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")).to_pydatetime()


def parse_utc(day: str) -> datetime:
    """'YYYY-MM-DD' (or a full ISO time) as an aware UTC datetime; the run's explicit clock."""
    return as_utc(datetime.fromisoformat(day))


def optional_utc(day: str) -> datetime | None:
    """``parse_utc``, or None for an empty parameter: a run over history leaves its dates to the data."""
    return parse_utc(day) if day else None


def record_stage(run_id: str, stage: str, counts: dict[str, int], settings: Settings | None = None) -> Path:
    """Write a stage's row counts where the runner collects them into manifest.json."""
    path = run_dir(run_id, settings) / "stages" / f"{stage}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({k: int(v) for k, v in counts.items()}, indent=2, sort_keys=True))
    return path


def read_stage_counts(run_id: str, settings: Settings | None = None) -> dict[str, dict[str, int]]:
    folder = run_dir(run_id, settings) / "stages"
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
