"""Helpers for the lake tests: settings with a private lake root, literal landing folders."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from altaviz.config import Settings, load_settings
from altaviz.registry import SENSOR_COLUMNS

T0 = datetime(2026, 1, 5, tzinfo=timezone.utc)
NORMAL = {
    "vibration_mms": 3.0,
    "discharge_temp_f": 200.0,
    "suction_pressure_psi": 60.0,
    "discharge_pressure_psi": 1000.0,
    "horsepower_consumption": 1400.0,
    "gas_flow_mcf": 10000.0,
}
COMPRESSORS = ("C1", "C2")


def lake_settings(root: Path, **pipeline_changes) -> Settings:
    """The project settings with the lake under ``root`` (and any pipeline fields replaced). A test writes
    its landing files whole before bronze runs: bronze need not wait for them to settle."""
    settings = load_settings()
    pipeline_changes = {"settle_seconds": 0, **pipeline_changes}
    pipeline = dataclasses.replace(settings.pipeline, lake_root=str(root / "lake"), **pipeline_changes)
    return dataclasses.replace(settings, pipeline=pipeline)


def reading(compressor_id: str | None, minutes: float | None, **values) -> dict:
    """One landing row: ``minutes`` after T0 (None = no timestamp), normal values unless given."""
    timestamp = None if minutes is None else T0 + timedelta(minutes=minutes)
    return {"compressor_id": compressor_id, "timestamp": timestamp, **NORMAL, **values}


def write_parquet(path: Path, rows: list[dict], *, tz: str | None = "UTC", unit: str = "us") -> Path:
    frame = pd.DataFrame(rows)
    fields = []
    for name in frame.columns:
        if name == "timestamp":
            fields.append(pa.field(name, pa.timestamp(unit, tz=tz)))
        elif name == "compressor_id":
            fields.append(pa.field(name, pa.string()))
        else:
            fields.append(pa.field(name, pa.float64() if frame[name].dtype.kind in "fi" else pa.string()))
    if "timestamp" in frame:
        stamps = pd.to_datetime(frame["timestamp"], utc=True)
        frame["timestamp"] = stamps if tz else stamps.dt.tz_localize(None)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(frame, schema=pa.schema(fields), preserve_index=False), path)
    return path


def write_csv(path: Path, rows: list[dict]) -> Path:
    frame = pd.DataFrame(rows)
    if "timestamp" in frame:
        frame["timestamp"] = [
            value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else value for value in frame["timestamp"]
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def write_reference(landing: Path, compressors=COMPRESSORS, maintenance: list[dict] | None = None) -> None:
    """compressor_metadata.csv, station_locations.csv and maintenance_logs.csv for ``compressors``."""
    landing.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        [
            {"compressor_id": cid, "model": "Ajax DPC-360", "horsepower": 1340, "install_date": "2020-05-01",
             "station_id": "S1", "latitude": 28.88, "longitude": -97.9}
            for cid in compressors
        ]
    ).to_csv(landing / "compressor_metadata.csv", index=False)
    pd.DataFrame(
        [{"station_id": "S1", "station_name": "Karnes", "latitude": 28.88, "longitude": -97.9,
          "region": "Eagle Ford", "city": "Karnes City", "state": "TX"}]
    ).to_csv(landing / "station_locations.csv", index=False)
    columns = ["compressor_id", "event_date", "event_type", "description", "downtime_hours", "severity"]
    pd.DataFrame(maintenance or [], columns=columns).to_csv(landing / "maintenance_logs.csv", index=False)


__all__ = ["COMPRESSORS", "NORMAL", "SENSOR_COLUMNS", "T0", "lake_settings", "reading", "write_csv",
           "write_parquet", "write_reference"]
