"""A serving database filled with literal, deterministic rows, written straight to PostgreSQL (no Spark):
the browser tests' fleet and the dashboard benchmark's fleet-month.

Shape: ``compressors`` units, ten to a station, hourly/4-hourly/daily aggregates for ``days`` days before
``AS_OF`` inside each sensor's normal band, one prediction per unit and hour, three quality runs. On top:
unit 2 has an open critical vibration alert, units 3 and 4 warnings (one acknowledged), unit 1 a resolved
alert and a maintenance event, and the LAST unit stopped reporting six hours before AS_OF (stale).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from altaviz.config import Settings
from altaviz.io import db

AS_OF = pd.Timestamp("2026-02-10 00:00", tz="UTC")
SILENT_HOURS = 6
WINDOWS = {"1hr": "1h", "4hr": "4h", "24hr": "24h"}


def unit_id(number: int) -> str:
    return f"COMP-{number:04d}"


def _metadata(compressors: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    stations = math.ceil(compressors / 10)
    station_rows = pd.DataFrame({
        "station_id": [f"ST-{s:03d}" for s in range(stations)],
        "station_name": [f"Station {s:03d}" for s in range(stations)],
        # Spread over Texas on a coarse grid: 28-34 N, 94-103 W.
        "latitude": [28.5 + (s * 0.37) % 5.5 for s in range(stations)],
        "longitude": [-102.5 + (s * 0.83) % 8.5 for s in range(stations)],
        "region": "Texas", "city": None, "state": "TX",
    })
    units = pd.DataFrame({
        "compressor_id": [unit_id(n) for n in range(1, compressors + 1)],
        "model": (["Ajax DPC-360", "Ariel JGK/4", "Caterpillar G3516"] * compressors)[:compressors],
        "horsepower": 1400, "install_date": pd.Timestamp("2022-01-01").date(),
        "station_id": [f"ST-{(n - 1) // 10:03d}" for n in range(1, compressors + 1)],
    })
    located = units.merge(station_rows[["station_id", "latitude", "longitude"]], on="station_id")
    return station_rows, located


def _aggregates(settings: Settings, compressors: int, days: int, window: str, step: str) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    hours = pd.date_range(AS_OF - pd.Timedelta(days=days), AS_OF, freq=step, inclusive="left")
    ids = np.repeat([unit_id(n) for n in range(1, compressors + 1)], len(hours))
    frame = pd.DataFrame({"compressor_id": ids, "agg_timestamp": np.tile(hours, compressors), "window_type": window})
    for column, statistic, name in settings.registry.aggregate_columns():
        sensor = settings.registry.sensors[name]
        low, high = sensor.normal or (0.0, sensor.warning)
        middle, spread = (low + high) / 2, (high - low) / 6
        frame[column] = (spread if statistic == "std" else middle) + rng.normal(0, spread / 4, len(frame))
    frame["pressure_delta_mean"] = frame.get("discharge_pressure_mean", 0) - frame.get("suction_pressure_mean", 0)
    frame["discharge_temp_rate_of_change"] = rng.normal(0, 0.3, len(frame))
    frame["reading_count"], frame["missing_readings"] = 6, 0
    silent = (frame["compressor_id"] == unit_id(compressors)) & (
        frame["agg_timestamp"] >= AS_OF - pd.Timedelta(hours=SILENT_HOURS))
    return frame[~silent]


def _alerts() -> pd.DataFrame:
    rows = [
        (2, "critical", "vibration_mms", 9.1, 9.4, 8.0, 30, False, None),
        (3, "warning", "discharge_temp_f", 246.0, 248.5, 240.0, 80, True, "night shift"),
        (4, "warning", "suction_pressure_psi", 28.0, 27.1, 30.0, 5, False, None),
    ]
    frame = pd.DataFrame([{
        "compressor_id": unit_id(unit), "alert_timestamp": AS_OF - pd.Timedelta(hours=hours),
        "last_seen_at": AS_OF - pd.Timedelta(hours=1), "alert_type": "threshold", "severity": severity,
        "sensor_name": sensor, "sensor_value": value, "peak_value": peak, "threshold_value": limit,
        "message": f"{sensor} at {value} beyond {severity} level {limit}", "acknowledged": acked,
        "acknowledged_by": by, "resolved": False,
    } for unit, severity, sensor, value, peak, limit, hours, acked, by in rows])
    resolved = {"compressor_id": unit_id(1), "alert_timestamp": AS_OF - pd.Timedelta(days=3),
                "last_seen_at": AS_OF - pd.Timedelta(days=2, hours=20), "alert_type": "threshold",
                "severity": "warning", "sensor_name": "vibration_mms", "sensor_value": 6.4, "peak_value": 6.9,
                "threshold_value": 6.0, "message": "vibration_mms at 6.4 beyond warning level 6.0",
                "acknowledged": True, "acknowledged_by": "auto", "resolved": True,
                "resolved_at": AS_OF - pd.Timedelta(days=2, hours=18), "resolved_by": "auto"}
    return pd.concat([frame, pd.DataFrame([resolved])], ignore_index=True)


def _predictions(compressors: int, days: int) -> pd.DataFrame:
    hours = pd.date_range(AS_OF - pd.Timedelta(days=days), AS_OF, freq="1h", inclusive="left")
    ids = np.repeat([unit_id(n) for n in range(1, compressors + 1)], len(hours))
    risk = np.where(ids == unit_id(2), 0.7, 0.02)
    drivers = json.dumps({"method": "coefficient x standardized value", "drivers": [
        {"feature": "vibration_mms__mean", "value": 9.0, "contribution": 1.7}]})
    return pd.DataFrame({
        "compressor_id": ids, "prediction_timestamp": np.tile(hours, compressors), "failure_probability": risk,
        "warning_probability": np.minimum(risk * 1.2, 1), "model_version": "seeded-1", "features_used": drivers,
        "rul_p10_hours": np.where(risk > 0.5, 12.0, np.nan), "rul_p50_hours": np.where(risk > 0.5, 22.0, np.nan),
        "rul_p90_hours": np.where(risk > 0.5, 32.0, np.nan), "message": "seeded prediction",
    })


def _quality(compressors: int) -> pd.DataFrame:
    rows = []
    for run in range(3):
        stamp = AS_OF - pd.Timedelta(days=2 - run)
        run_id = f"seed-run-{run}"
        for metric, value, limit in (("freshness", 10.0, 15.0), ("completeness", 0.998 - 0.05 * (run == 1), 0.95),
                                     ("consistency", 0.999, 0.95), ("accuracy", 0.999, 0.95)):
            rows.append((run_id, stamp, None, metric, value, limit, value <= limit if metric == "freshness"
                         else value >= limit, "{}"))
            for n in range(1, compressors + 1):
                rows.append((run_id, stamp, unit_id(n), metric, value, limit, True, "{}"))
    return pd.DataFrame(rows, columns=["run_id", "metric_timestamp", "compressor_id", "metric_type", "metric_value",
                                       "threshold_value", "pass_threshold", "details"])


def seed(settings: Settings, *, compressors: int = 12, days: int = 7) -> int:
    """Replace the serving tables' rows with the seeded fleet; returns the number of rows written."""
    db.apply_schema(settings)
    stations, units = _metadata(compressors)
    maintenance = pd.DataFrame([{"compressor_id": unit_id(1), "event_date": AS_OF - pd.Timedelta(days=2, hours=12),
                                 "event_type": "scheduled", "description": "Packing and lubricator service",
                                 "downtime_hours": 4.0, "severity": "low"}])
    tables = [("station_locations", stations), ("compressor_metadata", units), ("maintenance_events", maintenance),
              ("alert_history", _alerts()), ("ml_predictions", _predictions(compressors, days)),
              ("data_quality_metrics", _quality(compressors))]
    tables[3:3] = [("sensor_readings_agg", _aggregates(settings, compressors, days, window, step))
                   for window, step in WINDOWS.items()]
    written = 0
    with db.transaction(settings) as conn:
        existing = [row[0] for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()]
        conn.execute("TRUNCATE " + ", ".join(existing) + " CASCADE")
        for table, frame in tables:
            written += db.copy_rows(conn, table, frame)
    with db.connect(settings, autocommit=True) as conn:
        conn.execute("ANALYZE")
    return written
