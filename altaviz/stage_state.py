"""Skip a stage whose inputs have not changed since it last succeeded: a rerun over an unchanged landing folder
finishes in seconds instead of re-reading bronze and recomputing silver, gold and the serving tables.

A stage's state (``stage_state``) is everything its result depends on, taken when it succeeded and compared
before it runs again:

- the version of every Delta table it reads or writes (``STAGE_TABLES``; read from ``_delta_log``, no Spark
  needed), so new bronze rows, a changed reference file, or a table someone rewrote all make it run;
- the notebook's parameters other than ``run_id`` (days, as-of time, ``retrain``, landing folder);
- the settings (every config value, the site folder's included) and the code (the ``altaviz`` package and the
  notebook itself);
- for 02_bronze the landing folder: every file's path, size and content hash, taken *before* bronze ran, so
  a file written or changed while it ran (one it left for the next run) makes the next run look again; a
  simulator that rewrites the same bytes changes nothing;
- for 05_publish the saved models and the serving database's row counts and newest ``updated_at`` per
  table (a new or emptied database is published again).

Nothing is skipped when a state cannot be taken (a lake on a Hadoop URI other than ``file:``, a database that
is not up): the stage runs, as it always did. 01_simulate always runs. A stage that does run recomputes what
it always did (bronze reads only files it has not logged; silver, gold and publish their whole range). A
backfill without an end day takes its as-of time from the data, not the clock, so the one clock-dependent case
is a reading stamped in the future that the clock has since passed (skipped until something else changes).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from altaviz.config import Settings
from altaviz.io import lake
from altaviz.runs import resolve_landing

# What each skippable stage reads or writes in the lake.
STAGE_TABLES = {
    "02_bronze": ("sensors_bronze", "ingest_log", "compressor_metadata", "station_locations", "maintenance_logs"),
    "03_silver": ("sensors_bronze", "compressor_metadata", "maintenance_logs", "sensors_silver",
                  "sensors_quarantine", "data_quality_metrics"),
    "04_gold": ("sensors_silver", "compressor_metadata", "sensors_gold"),
    "05_publish": ("station_locations", "compressor_metadata", "maintenance_logs", "sensors_gold",
                   "data_quality_metrics", "sensors_quarantine", "ingest_log"),
}
SERVING_TABLES = ("station_locations", "compressor_metadata", "maintenance_events", "sensor_readings_agg",
                  "ml_predictions", "alert_history", "data_quality_metrics", "quarantine_summary", "rejected_files")
PACKAGE_DIR = Path(__file__).resolve().parent


def code_digest(notebook: Path) -> str:
    """The altaviz package's Python files and the notebook, hashed: new code recomputes."""
    digest = hashlib.sha256(notebook.read_bytes())
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def serving_state(settings: Settings) -> list | None:
    """Row count and newest ``updated_at`` of each serving table; None when the database cannot be reached."""
    from altaviz.io import db

    union = " UNION ALL ".join(
        f"SELECT '{table}', count(*), max(updated_at)::text FROM {table}" for table in SERVING_TABLES
    )
    try:
        with db.connect(settings) as conn:
            return [list(row) for row in conn.execute(union).fetchall()]
    except Exception:  # down, or no schema yet: publish runs and finds out itself
        return None


def landing_digest(landing_dir: Path) -> list:
    """Every file under the landing folder: relative path, size and content hash (not the modification time)."""
    files = sorted(path for path in landing_dir.rglob("*") if path.is_file()) if landing_dir.is_dir() else []
    listed = []
    for path in files:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        listed.append([str(path.relative_to(landing_dir)), path.stat().st_size, digest.hexdigest()])
    return listed


def stage_state(notebook: str, parameters: dict, settings: Settings, *, notebook_path: Path,
                landing: list | None = None) -> dict | None:
    """What ``notebook``'s result depends on; None when it is not a skippable stage or some part cannot be read
    (then it runs). ``landing``: bronze's landing digest taken before it ran (default: now)."""
    if notebook not in STAGE_TABLES:
        return None
    versions = {table: lake.local_version(table, settings) for table in STAGE_TABLES[notebook]}
    if any(version is None for version in versions.values()):
        return None
    state = {
        "tables": versions,
        "parameters": {name: value for name, value in sorted(parameters.items()) if name != "run_id"},
        "settings": hashlib.sha256(repr(settings).encode()).hexdigest(),
        "code": code_digest(notebook_path),
    }
    if notebook == "02_bronze":
        state["landing"] = landing if landing is not None else landing_digest(
            resolve_landing(parameters.get("landing_dir", ""), settings))
    if notebook == "05_publish":
        models = settings.pipeline.data_dir / "models"
        state["models"] = sorted(path.name for path in models.iterdir()) if models.is_dir() else []
        state["serving"] = serving_state(settings)
        if state["serving"] is None:
            return None
    return json.loads(json.dumps(state, default=str))  # as it reads back from the state file


def _state_file(settings: Settings, notebook: str) -> Path:
    return settings.pipeline.data_dir / "stages" / f"{notebook}.json"


def last_success(settings: Settings, notebook: str) -> dict | None:
    """{"state", "run_id"} of the stage's last successful execution on this data root, if recorded."""
    path = _state_file(settings, notebook)
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def record_success(settings: Settings, notebook: str, *, run_id: str, state: dict | None) -> None:
    """Remember the state the stage left (None: forget it, so the next run executes the stage)."""
    path = _state_file(settings, notebook)
    if state is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"state": state, "run_id": run_id}, sort_keys=True))


def unchanged_since(notebook: str, state: dict | None, settings: Settings) -> str | None:
    """The run whose execution of ``notebook`` this one would repeat exactly (its state is unchanged), else None."""
    previous = last_success(settings, notebook)
    if state is None or previous is None or previous.get("state") != state:
        return None
    return previous["run_id"]
