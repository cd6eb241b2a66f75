"""Every SQL statement the dashboard runs, and the functions that run it through ``altaviz.io.db``.

Values always travel as query parameters, never formatted into the SQL text. The only names put into
SQL are aggregate column names taken from the sensor registry (never from the browser), quoted with
``psycopg.sql.Identifier``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from psycopg import sql

from altaviz.config import Settings
from altaviz.io import db
from altaviz.runs import as_utc

FLEET_SQL = "SELECT * FROM v_fleet_health_summary ORDER BY compressor_id"
NEWEST_READING_SQL = "SELECT max(agg_timestamp) AS newest FROM sensor_readings_agg WHERE window_type = '1hr'"
ALERTS_SQL = """
SELECT id, compressor_id, station_name, severity, alert_type, sensor_name, sensor_value, threshold_value,
       alert_timestamp, last_seen_at, acknowledged, acknowledged_by, message
FROM v_active_alerts LIMIT %s
"""
HISTORY_SQL = sql.SQL("""
SELECT {columns}
FROM sensor_readings_agg
WHERE compressor_id = %s AND window_type = '1hr' AND agg_timestamp > %s AND agg_timestamp <= %s
ORDER BY agg_timestamp
""")
QUALITY_SQL = """
SELECT metric_type, metric_value, threshold_value, pass_threshold, metric_timestamp, run_id
FROM data_quality_metrics
WHERE compressor_id IS NULL
  AND run_id = (SELECT run_id FROM data_quality_metrics ORDER BY metric_timestamp DESC, updated_at DESC LIMIT 1)
ORDER BY metric_type
"""


def resolve_as_of(as_of: str | datetime | None, settings: Settings) -> datetime | None:
    """The dashboard's "now": ``as_of`` when given, else the newest hourly aggregate (None if there is none)."""
    if as_of:
        return as_utc(as_of)
    newest = db.query(NEWEST_READING_SQL, settings=settings)["newest"].iloc[0]
    return None if pd.isna(newest) else pd.Timestamp(newest).to_pydatetime()


def read_fleet(settings: Settings) -> pd.DataFrame:
    """One row per compressor: location, health, open-alert count and the latest prediction."""
    return db.query(FLEET_SQL, settings=settings)


def read_open_alerts(settings: Settings, *, limit: int = 500) -> pd.DataFrame:
    """One row per open alert, most severe and newest first."""
    return db.query(ALERTS_SQL, (limit,), settings=settings)


def history_sql(columns: Sequence[str]) -> sql.Composed:
    """The history query selecting ``agg_timestamp`` and these aggregate columns, each quoted as an identifier."""
    return HISTORY_SQL.format(columns=sql.SQL(", ").join(map(sql.Identifier, ("agg_timestamp", *columns))))


def read_history(
    compressor_id: str, start: datetime, end: datetime, columns: Sequence[str], settings: Settings
) -> pd.DataFrame:
    """One row per hour in (start, end] for one compressor: ``agg_timestamp`` and the given aggregate columns."""
    return db.query(history_sql(columns), (compressor_id, start, end), settings=settings)


def read_quality(settings: Settings) -> pd.DataFrame:
    """The fleet-wide data-quality metrics of the latest run, one row per metric."""
    return db.query(QUALITY_SQL, settings=settings)


def set_alert_state(alert_id: int, *, action: str, by: str, note: str | None, settings: Settings) -> None:
    """Acknowledge or resolve one alert on behalf of an operator."""
    db.set_alert_operator_state(alert_id, action=action, by=by, note=note, settings=settings)
