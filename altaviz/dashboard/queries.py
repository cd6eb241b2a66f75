"""Every SQL statement the dashboard runs, and the functions that run it through ``altaviz.io.db``.

Values always travel as query parameters, never formatted into the SQL text. The only names put into
SQL are aggregate column names taken from the sensor registry (never from the browser), quoted with
``psycopg.sql.Identifier``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pandas as pd
from psycopg import sql

from altaviz.config import Settings
from altaviz.io import db
from altaviz.registry import HEALTH_BY_RANK
from altaviz.runs import as_utc

# Display order of a unit's status, worst last (drawn on top, listed first): a silent unit is never
# healthy; a critical alert outranks silence.
STATUS_RANK = {"healthy": 0, "warning": 1, "stale": 2, "critical": 3}

# Every query takes the dashboard's as-of: the fleet, alerts and predictions as they stood then.
# An alert counts as open at as-of when it opened by then and was not yet resolved: an automatic
# resolution is a reading (data time); an operator's resolution is final whatever the as-of.
OPEN_AT_AS_OF = """h.alert_timestamp <= %(as_of)s
      AND (NOT h.resolved OR (h.resolved_by = 'auto' AND h.resolved_at > %(as_of)s))"""
FLEET_SQL = f"""
SELECT c.compressor_id, c.model, c.horsepower, c.station_id, s.station_name, c.latitude, c.longitude,
       latest.agg_timestamp + interval '1 hour' AS last_reading_time,
       COALESCE(open_alerts.alert_count, 0) AS active_alert_count,
       COALESCE(open_alerts.critical_count, 0) AS critical_alert_count,
       COALESCE(open_alerts.alert_count - open_alerts.critical_count, 0) AS warning_alert_count,
       COALESCE(open_alerts.worst_rank, 0) AS alert_rank,
       COALESCE(downtime.in_downtime, FALSE) AS in_downtime,
       p.failure_probability, p.warning_probability, p.rul_days, p.prediction_timestamp,
       p.rul_p10_hours, p.rul_p50_hours, p.rul_p90_hours, p.message AS prediction_message
FROM compressor_metadata AS c
JOIN station_locations AS s ON s.station_id = c.station_id
LEFT JOIN LATERAL (
    SELECT a.agg_timestamp FROM sensor_readings_agg AS a
    WHERE a.compressor_id = c.compressor_id AND a.window_type = '1hr' AND a.agg_timestamp < %(as_of)s
    ORDER BY a.agg_timestamp DESC LIMIT 1
) AS latest ON TRUE
LEFT JOIN LATERAL (
    SELECT count(*) AS alert_count, count(*) FILTER (WHERE h.severity = 'critical') AS critical_count,
           max(severity_rank(h.severity)) AS worst_rank
    FROM alert_history AS h
    WHERE h.compressor_id = c.compressor_id AND {OPEN_AT_AS_OF}
) AS open_alerts ON TRUE
LEFT JOIN LATERAL (
    SELECT TRUE AS in_downtime FROM maintenance_events AS m
    WHERE m.compressor_id = c.compressor_id AND m.event_date <= %(as_of)s
      AND m.event_date + COALESCE(m.downtime_hours, 0) * interval '1 hour' > %(as_of)s
    LIMIT 1
) AS downtime ON TRUE
LEFT JOIN LATERAL (
    SELECT * FROM ml_predictions AS m
    WHERE m.compressor_id = c.compressor_id AND m.prediction_timestamp <= %(as_of)s
    ORDER BY m.prediction_timestamp DESC LIMIT 1
) AS p ON TRUE
ORDER BY c.compressor_id
"""
# The newest hourly window's end: the pipeline's as-of for the data it holds.
NEWEST_READING_SQL = """
SELECT max(agg_timestamp) + interval '1 hour' AS newest FROM sensor_readings_agg WHERE window_type = '1hr'
"""
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
    """The dashboard's "now": ``as_of`` when given, else the end of the newest hourly aggregate (None if
    there is none). Never the wall clock, so historical and simulated data stay visible."""
    if as_of:
        return as_utc(as_of)
    newest = db.query(NEWEST_READING_SQL, settings=settings)["newest"].iloc[0]
    return None if pd.isna(newest) else pd.Timestamp(newest).to_pydatetime()


def read_fleet(settings: Settings, as_of: datetime) -> pd.DataFrame:
    """One row per compressor as it stood at ``as_of``: location, newest reading, open alerts by severity,
    logged downtime, the latest prediction, and ``status`` (see ``fleet_status``)."""
    fleet = db.query(FLEET_SQL, {"as_of": as_of}, settings=settings)
    return fleet_status(fleet, as_of, stale_after=timedelta(minutes=settings.dashboard.stale_after_minutes))


def fleet_status(fleet: pd.DataFrame, as_of: datetime, *, stale_after: timedelta) -> pd.DataFrame:
    """Add ``stale`` and ``status`` to fleet rows.

    Stale: no reading, or the newest is older than ``stale_after`` at ``as_of``, and not in logged
    downtime. ``status`` is the worst of the open alerts' health and staleness: critical > stale > warning >
    healthy (STATUS_RANK), so a silent unit never shows as healthy, and a critical one stays critical.
    """
    last = pd.to_datetime(fleet["last_reading_time"], utc=True)
    silent = last.isna() | (pd.Timestamp(as_of) - last > stale_after)
    stale = silent & ~fleet["in_downtime"].astype(bool)
    alert_health = fleet["alert_rank"].map(HEALTH_BY_RANK).fillna("healthy")
    status = alert_health.where(~stale | (alert_health == "critical"), "stale")
    return fleet.assign(last_reading_time=last, stale=stale, status=status)


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
