"""The landing writer: runs the plan chunk by chunk and writes readings, metadata, maintenance log and
ground truth (see the package docstring for the contract); ``read_readings`` reads them back."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from altaviz.registry import SensorRegistry
from altaviz.simulate.failure_modes import get_failure_modes
from altaviz.simulate.faults import apply_value_faults, offline_and_busy, row_order, select_faults
from altaviz.simulate.params import FAULT_KINDS, SimulationParams, SimulationSummary
from altaviz.simulate.physics import simulate_signals
from altaviz.simulate.schedule import Plan, make_plan
from altaviz.simulate.windows import rows_for

KEY_COLUMNS = ("compressor_id", "timestamp")
GROUND_TRUTH_COLUMNS = ("compressor_id", "category", "kind", "sensor", "start", "end", "failure_time")
MAINTENANCE_COLUMNS = ("compressor_id", "event_date", "event_type", "description", "downtime_hours",
                       "severity")


def readings_table(plan: Plan, c0: int, signals: dict[str, np.ndarray], positions: np.ndarray) -> pa.Table:
    """The chunk's rows as an Arrow table: KEY_COLUMNS, then one column per registry sensor."""
    n_steps = plan.params.steps
    unit, step = np.divmod(positions, n_steps)
    ids = pa.array(plan.fleet.compressor_ids[c0:c0 + signals[plan.sensors[0].name].shape[0]], pa.string())
    compressor = pa.DictionaryArray.from_arrays(pa.array(unit.astype(np.int32)), ids).cast(pa.string())
    start_us = (plan.params.start - date(1970, 1, 1)).days * 86_400 * 1_000_000
    step_us = plan.params.cadence_minutes * 60 * 1_000_000
    timestamp = pa.array(start_us + step * step_us, pa.timestamp("us", tz="UTC"))
    columns = [compressor, timestamp]
    for sensor in plan.sensors:
        values = np.round(signals[sensor.name].ravel()[positions], sensor.decimals)
        columns.append(pa.array(values, pa.float64(), mask=np.isnan(values)))
    return pa.Table.from_arrays(columns, names=[*KEY_COLUMNS, *(sensor.name for sensor in plan.sensors)])


def write_readings(table: pa.Table, path: Path) -> None:
    """Parquet (microsecond UTC timestamps Spark reads) or CSV (UTC 'YYYY-MM-DD HH:MM:SS')."""
    if path.suffix == ".parquet":
        pq.write_table(table, path, compression="snappy", coerce_timestamps="us",
                       allow_truncated_timestamps=False)
        return
    # Format each distinct grid time once, then expand; whole seconds, since Arrow's %S would print
    # the microseconds of a 'us' timestamp.
    encoded = pc.dictionary_encode(table.column("timestamp")).combine_chunks()
    grid_text = pc.strftime(encoded.dictionary.cast(pa.timestamp("s")), format="%Y-%m-%d %H:%M:%S")
    as_text = pa.DictionaryArray.from_arrays(encoded.indices, grid_text).cast(pa.string())
    # No quoting: ids, timestamps and numbers never hold a comma, and plain CSV is what historians export.
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    with pa.OSFile(str(path), "wb") as sink:
        sink.write((",".join(table.column_names) + "\n").encode())
        pacsv.write_csv(table.set_column(1, "timestamp", as_text), sink, write_options=options)


# --------------------------------------------------------------------------------------------------
# Driver.


def _timestamps(params: SimulationParams, steps: pd.Series | np.ndarray) -> list[str]:
    base = pd.Timestamp(params.start_date)
    return (base + pd.to_timedelta(np.asarray(steps, dtype=np.int64) * params.cadence_minutes, unit="min")
            ).strftime("%Y-%m-%d %H:%M:%S").tolist()


def ground_truth_frame(plan: Plan, faults: pd.DataFrame) -> pd.DataFrame:
    """One row per injected failure and sensor fault, GROUND_TRUTH_COLUMNS."""
    params, ids = plan.params, np.array(plan.fleet.compressor_ids)
    failures = plan.failures
    failure_rows = pd.DataFrame({
        "compressor_id": ids[failures["comp"].to_numpy()], "category": "failure", "kind": failures["mode"],
        "sensor": None, "start": _timestamps(params, failures["precursor_start"]),
        "end": _timestamps(params, failures["repaired_step"]),
        "failure_time": _timestamps(params, failures["failure_step"])})
    fault_rows = pd.DataFrame({
        "compressor_id": ids[faults["comp"].to_numpy()], "category": "sensor_fault", "kind": faults["kind"],
        "sensor": faults["sensor"], "start": _timestamps(params, faults["start"]),
        "end": _timestamps(params, faults["end"]), "failure_time": None})
    truth = pd.concat([failure_rows, fault_rows], ignore_index=True)
    return truth.sort_values(["compressor_id", "start", "category", "kind"], kind="stable", ignore_index=True)[
        list(GROUND_TRUTH_COLUMNS)]


def maintenance_frame(plan: Plan) -> pd.DataFrame:
    """maintenance_logs rows, MAINTENANCE_COLUMNS."""
    events, ids = plan.maintenance, np.array(plan.fleet.compressor_ids)
    return pd.DataFrame({
        "compressor_id": ids[events["comp"].to_numpy()],
        "event_date": _timestamps(plan.params, events["step"]),
        "event_type": events["event_type"].to_numpy(),
        "description": events["description"].to_numpy(),
        "downtime_hours": np.round(events["downtime_steps"].to_numpy() / plan.params.steps_per_hour, 2),
        "severity": events["severity"].to_numpy(),
    })[list(MAINTENANCE_COLUMNS)]


def chunk_file_name(index: int, csv_every: int) -> str:
    is_csv = csv_every > 0 and index % csv_every == csv_every - 1
    return f"part-{index:05d}.{'csv' if is_csv else 'parquet'}"


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n")


def _clear_own_files(landing_dir: Path) -> None:
    """Remove chunk files of earlier runs, so a smaller rerun leaves no stale readings behind."""
    for pattern in ("part-*.parquet", "part-*.csv"):
        for stale in (landing_dir / "sensor_readings").glob(pattern):
            stale.unlink()


def simulate_fleet(params: SimulationParams, landing_dir: Path, *, registry: SensorRegistry | None = None,
                   progress: Callable[[str], None] | None = None) -> SimulationSummary:
    """Write the simulated landing folder (see the package docstring) and summarise it; one reading
    column per sensor of ``registry`` (default: the registry of this process)."""
    began = time.perf_counter()
    landing_dir = Path(landing_dir)
    (landing_dir / "sensor_readings").mkdir(parents=True, exist_ok=True)
    (landing_dir / "ground_truth").mkdir(parents=True, exist_ok=True)
    _clear_own_files(landing_dir)

    plan = make_plan(params, registry)
    per_file = params.units_per_file
    n_chunks = math.ceil(params.compressor_count / per_file)
    files, kept_faults, readings = [], [], 0
    for i in range(n_chunks):
        c0, c1 = i * per_file, min((i + 1) * per_file, params.compressor_count)
        failures = rows_for(plan.failures, c0, c1)
        offline, busy = offline_and_busy(failures, rows_for(plan.maintenance, c0, c1), c0, c1 - c0, params.steps)
        faults = select_faults([rows_for(group, c0, c1) for group in plan.fault_candidates], busy, c0)
        signals = simulate_signals(plan, c0, c1, failures)
        apply_value_faults(signals, faults, c0)
        table = readings_table(plan, c0, signals, row_order(offline, faults, c0))
        name = f"sensor_readings/{chunk_file_name(i, params.csv_every)}"
        write_readings(table, landing_dir / name)
        files.append(name)
        kept_faults.append(faults)
        readings += table.num_rows
        if progress is not None:
            ids = plan.fleet.compressor_ids
            progress(f"chunk {i + 1}/{n_chunks}: {ids[c0]}..{ids[c1 - 1]}, {table.num_rows:,} readings -> {name}")
        del signals, table, offline, busy  # release this chunk before the next allocates: bounded memory

    faults = pd.concat(kept_faults, ignore_index=True)
    metadata = {
        "compressor_metadata.csv": plan.fleet.compressors,
        "station_locations.csv": plan.fleet.stations,
        "maintenance_logs.csv": maintenance_frame(plan),
        "ground_truth/events.csv": ground_truth_frame(plan, faults),
    }
    for name, frame in metadata.items():
        _write_csv(frame, landing_dir / name)
        files.append(name)

    return SimulationSummary(
        readings_written=readings,
        compressors=params.compressor_count,
        stations=len(plan.fleet.stations),
        failures=int(plan.completed.sum()),
        failures_by_mode={m: int((plan.failures.loc[plan.completed, "mode"] == m).sum())
                         for m in get_failure_modes()},
        degrading_at_end=int((~plan.completed).sum()),
        faults_by_kind={k: int((faults["kind"] == k).sum()) for k in FAULT_KINDS},
        maintenance_events=len(plan.maintenance),
        files=sorted(files),
        start_date=params.start_date,
        end_date=params.end_date,
        seed=params.seed,
        seconds=time.perf_counter() - began,
    )


def read_ground_truth(landing_dir: Path) -> pd.DataFrame | None:
    """``ground_truth/events.csv`` with start, end and failure_time as UTC times (evaluation, figures and tests
    only: the pipeline never reads it); None for a landing folder without one (a historian export)."""
    path = Path(landing_dir) / "ground_truth" / "events.csv"
    if not path.is_file():
        return None
    # Fault kind 'null' is a name here, not a missing value: only empty cells are missing.
    events = pd.read_csv(path, keep_default_na=False, na_values=[""])
    for column in ("start", "end", "failure_time"):
        events[column] = pd.to_datetime(events[column], utc=True)
    return events


def read_readings(landing_dir: Path, compressor_id: str | None = None) -> pd.DataFrame:
    """Every reading in file order, one row per row written (for previews, figures and tests; the
    pipeline ingests with Spark), or only one unit's, read file by file so memory stays bounded on a
    large fleet. Timestamps come back as UTC whatever the file format."""
    frames = []
    for path in sorted((Path(landing_dir) / "sensor_readings").glob("part-*")):
        if path.suffix == ".parquet":
            unit_only = None if compressor_id is None else [("compressor_id", "==", compressor_id)]
            frame = pq.read_table(path, filters=unit_only).to_pandas()
        elif path.suffix == ".csv":
            frame = pd.read_csv(path, dtype={"compressor_id": str})
            if compressor_id is not None:
                frame = frame[frame["compressor_id"] == compressor_id].reset_index(drop=True)
            stamps = pd.to_datetime(frame["timestamp"], format="%Y-%m-%d %H:%M:%S")
            frame["timestamp"] = stamps.dt.tz_localize("UTC").astype("datetime64[us, UTC]")
        else:
            continue
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)

