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
from altaviz.registry import HEALTH_BY_RANK, WINDOWS
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
       COALESCE(open_alerts.worst_rank, 0) AS alert_rank, COALESCE(open_alerts.stale_alert, FALSE) AS stale_alert,
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
           max(severity_rank(h.severity)) AS worst_rank, COALESCE(bool_or(h.alert_type = 'stale'), FALSE) AS stale_alert
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
    SELECT m.failure_probability, m.warning_probability, m.rul_days, m.prediction_timestamp, m.rul_p10_hours,
           m.rul_p50_hours, m.rul_p90_hours, m.message
    FROM ml_predictions AS m
    WHERE m.compressor_id = c.compressor_id AND m.prediction_timestamp <= %(as_of)s
    ORDER BY m.prediction_timestamp DESC LIMIT 1
) AS p ON TRUE
ORDER BY c.compressor_id
"""
# The newest hourly window's end: the pipeline's as-of for the data it holds. One backward step on the
# unique key per unit (the table has no time index: see sql/001_tables.sql).
NEWEST_READING_SQL = """
SELECT max(latest.agg_timestamp) + interval '1 hour' AS newest
FROM compressor_metadata AS c
CROSS JOIN LATERAL (
    SELECT a.agg_timestamp FROM sensor_readings_agg AS a
    WHERE a.compressor_id = c.compressor_id AND a.window_type = '1hr'
    ORDER BY a.agg_timestamp DESC LIMIT 1
) AS latest
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

    Stale: no reading, or the newest is older than ``stale_after`` at ``as_of``, or a stale alert open
    (the pipeline's freshness gate failed for the unit), and not in logged downtime. ``status`` is the
    worst of the open alerts' health and staleness: critical > stale > warning >
    healthy (STATUS_RANK), so a silent unit never shows as healthy, and a critical one stays critical.
    """
    last = pd.to_datetime(fleet["last_reading_time"], utc=True)
    silent = last.isna() | (pd.Timestamp(as_of) - last > stale_after) | fleet["stale_alert"].astype(bool)
    stale = silent & ~fleet["in_downtime"].astype(bool)
    alert_health = fleet["alert_rank"].map(HEALTH_BY_RANK).fillna("healthy")
    status = alert_health.where(~stale | (alert_health == "critical"), "stale")
    return fleet.assign(last_reading_time=last, stale=stale, status=status)


def set_alert_state(alert_id: int, *, action: str, by: str, note: str | None, settings: Settings) -> dict:
    """Acknowledge, un-acknowledge or resolve one alert on behalf of an operator; returns the alert row."""
    return db.set_alert_operator_state(alert_id, action=action, by=by, note=note, settings=settings)


# --- Predictive Alerts (pages/alerts.py): open alerts, resolved history, one unit's latest prediction ---
# Filters are parameters; a NULL one means "any" (the casts type a parameter PostgreSQL may only see
# compared with NULL). An alert escalated after as-of was still a warning then: its severity at as-of
# decides the filter and the order.
ALERT_FILTER_KEYS = ("severity", "alert_type", "station_id", "compressor_id", "acknowledged")
SEVERITY_AT_AS_OF = "CASE WHEN h.escalated_at > %(as_of)s THEN 'warning' ELSE h.severity END"
ALERTS_FROM = """
FROM alert_history AS h
JOIN compressor_metadata AS c ON c.compressor_id = h.compressor_id
JOIN station_locations AS s ON s.station_id = c.station_id"""
ALERT_FILTERS = f"""
  AND (%(severity)s::text IS NULL OR {SEVERITY_AT_AS_OF} = %(severity)s::text)
  AND (%(alert_type)s::text IS NULL OR h.alert_type = %(alert_type)s::text)
  AND (%(station_id)s::text IS NULL OR c.station_id = %(station_id)s::text)
  AND (%(compressor_id)s::text IS NULL OR h.compressor_id = %(compressor_id)s::text)"""
OPEN_ALERTS_WHERE = f"""
WHERE {OPEN_AT_AS_OF}{ALERT_FILTERS}
  AND (%(acknowledged)s::boolean IS NULL OR h.acknowledged = %(acknowledged)s::boolean)"""
OPEN_ALERTS_SQL = f"""
SELECT h.id, h.compressor_id, c.station_id, s.station_name, {SEVERITY_AT_AS_OF} AS severity, h.alert_type,
       h.sensor_name, h.peak_value, h.threshold_value, h.sensor_value, h.alert_timestamp, h.last_seen_at,
       %(as_of)s::timestamptz - h.alert_timestamp AS open_for,
       h.acknowledged, h.acknowledged_by, h.acknowledged_at, h.note, h.message
{ALERTS_FROM}{OPEN_ALERTS_WHERE}
ORDER BY severity_rank({SEVERITY_AT_AS_OF}) DESC, h.alert_timestamp DESC, h.id DESC
LIMIT %(limit)s
"""
OPEN_ALERT_COUNT_SQL = f"SELECT count(*) AS matching{ALERTS_FROM}{OPEN_ALERTS_WHERE}"
# Resolved by as-of and within the period before it: the complement of OPEN_AT_AS_OF among alerts opened by
# then. An operator's resolution is final whatever the as-of (its resolved_at is the wall clock), so it shows
# here even when an earlier as-of is viewed; an automatic one only once its reading is at or before as-of.
RESOLVED_ALERTS_WHERE = f"""
WHERE h.resolved AND h.alert_timestamp <= %(as_of)s AND h.resolved_at > %(since)s
  AND (h.resolved_by IS DISTINCT FROM 'auto' OR h.resolved_at <= %(as_of)s){ALERT_FILTERS}"""
RESOLVED_ALERTS_SQL = f"""
SELECT h.id, h.compressor_id, s.station_name, h.severity, h.alert_type, h.sensor_name, h.peak_value,
       h.threshold_value, h.alert_timestamp, h.resolved_at, h.resolved_by, h.note, h.message
{ALERTS_FROM}{RESOLVED_ALERTS_WHERE}
ORDER BY h.resolved_at DESC, h.id DESC
LIMIT %(limit)s
"""
RESOLVED_ALERT_COUNT_SQL = f"SELECT count(*) AS matching{ALERTS_FROM}{RESOLVED_ALERTS_WHERE}"
# One unit's newest score at or before as-of, on ix_ml_predictions_latest.
UNIT_LATEST_PREDICTION_SQL = """
SELECT compressor_id, prediction_timestamp, model_version, failure_probability, warning_probability,
       rul_p10_hours, rul_p50_hours, rul_p90_hours, message, features_used
FROM ml_predictions
WHERE compressor_id = %(compressor_id)s AND prediction_timestamp <= %(as_of)s
ORDER BY prediction_timestamp DESC
LIMIT 1
"""


def alert_filter_params(as_of: datetime, filters: dict | None = None) -> dict:
    """Query parameters for the alert filters: every key of ALERT_FILTER_KEYS, None (any) unless given."""
    filters = filters or {}
    unknown = set(filters) - set(ALERT_FILTER_KEYS)
    if unknown:
        raise ValueError(f"unknown alert filter {sorted(unknown)}")
    return {"as_of": as_of, **{key: filters.get(key) for key in ALERT_FILTER_KEYS}}


def read_open_alerts(settings: Settings, as_of: datetime, *, filters: dict | None = None,
                     limit: int = 50) -> tuple[pd.DataFrame, int]:
    """Alerts open at ``as_of`` that match ``filters``: at most ``limit`` rows (worst severity at as-of,
    then newest first) and the exact number that match."""
    params = alert_filter_params(as_of, filters)
    rows = db.query(OPEN_ALERTS_SQL, {**params, "limit": limit}, settings=settings)
    count = db.query(OPEN_ALERT_COUNT_SQL, params, settings=settings)["matching"].iloc[0]
    return rows, int(count)


def read_resolved_alerts(settings: Settings, as_of: datetime, *, period: timedelta, filters: dict | None = None,
                         limit: int = 50) -> tuple[pd.DataFrame, int]:
    """Alerts resolved in the ``period`` before ``as_of`` that match ``filters`` (acknowledged aside): at most
    ``limit`` rows, newest resolution first, and the exact number that match."""
    params = {**alert_filter_params(as_of, {**(filters or {}), "acknowledged": None}), "since": as_of - period}
    rows = db.query(RESOLVED_ALERTS_SQL, {**params, "limit": limit}, settings=settings)
    count = db.query(RESOLVED_ALERT_COUNT_SQL, params, settings=settings)["matching"].iloc[0]
    return rows, int(count)


def read_unit_latest_prediction(settings: Settings, compressor_id: str, as_of: datetime) -> pd.DataFrame:
    """One unit's newest prediction at or before ``as_of`` (no rows when it has none)."""
    return db.query(UNIT_LATEST_PREDICTION_SQL, {"compressor_id": compressor_id, "as_of": as_of}, settings=settings)


# --- Real-Time Monitoring (pages/monitoring.py): one unit over a time range, every read on an index ---
# Windows are taken whole, ending in (start, as_of]: a window that ends after as-of holds readings from
# after it. agg_timestamp is the window start, so both bounds move back one window length; the bounds are
# constants, so the unique key (compressor_id, window_type, agg_timestamp) serves the range scan.
UNIT_WINDOWS_SQL = sql.SQL("""
SELECT {columns}
FROM sensor_readings_agg
WHERE compressor_id = %(compressor_id)s AND window_type = %(window_type)s
  AND agg_timestamp > %(start)s - %(window)s AND agg_timestamp <= %(as_of)s - %(window)s
ORDER BY agg_timestamp
""")
# The gauges' values: the newest whole hour by as-of, one backward step on the same unique key.
UNIT_LATEST_HOUR_SQL = sql.SQL("""
SELECT {columns}
FROM sensor_readings_agg
WHERE compressor_id = %(compressor_id)s AND window_type = '1hr' AND agg_timestamp <= %(as_of)s - interval '1 hour'
ORDER BY agg_timestamp DESC
LIMIT 1
""")
# Alerts opened in (start, as_of], on ix_alert_history_compressor_time. An alert escalated after as-of was
# still a warning then.
UNIT_ALERTS_SQL = """
SELECT h.alert_timestamp,
       CASE WHEN h.escalated_at > %(as_of)s THEN 'warning' ELSE h.severity END AS severity,
       h.alert_type, h.sensor_name, h.message
FROM alert_history AS h
WHERE h.compressor_id = %(compressor_id)s AND h.alert_timestamp > %(start)s AND h.alert_timestamp <= %(as_of)s
ORDER BY h.alert_timestamp, h.id
"""
# Maintenance logged in (start, as_of], on the unique key (compressor_id, event_date, event_type).
UNIT_MAINTENANCE_SQL = """
SELECT event_date, event_type, description, downtime_hours
FROM maintenance_events
WHERE compressor_id = %(compressor_id)s AND event_date > %(start)s AND event_date <= %(as_of)s
ORDER BY event_date, event_type
"""
# Scores in (start, as_of], on ix_ml_predictions_latest; one per scoring time (the newest written, when a
# model version re-scored the same hour).
UNIT_PREDICTIONS_SQL = """
SELECT DISTINCT ON (prediction_timestamp) prediction_timestamp, failure_probability, warning_probability
FROM ml_predictions
WHERE compressor_id = %(compressor_id)s AND prediction_timestamp > %(start)s AND prediction_timestamp <= %(as_of)s
ORDER BY prediction_timestamp, updated_at DESC, id DESC
"""


def unit_windows_sql(columns: Sequence[str], statement: sql.SQL = UNIT_WINDOWS_SQL) -> sql.Composed:
    """A unit-windows query selecting ``agg_timestamp`` and these aggregate columns as quoted identifiers."""
    return statement.format(columns=sql.SQL(", ").join(map(sql.Identifier, ("agg_timestamp", *columns))))


def read_unit_windows(
    settings: Settings, compressor_id: str, *, start: datetime, as_of: datetime, window_type: str,
    columns: Sequence[str],
) -> pd.DataFrame:
    """One row per ``window_type`` window of one unit that ended in (start, as_of], oldest first:
    ``agg_timestamp`` (the window start) and the given aggregate columns."""
    params = {"compressor_id": compressor_id, "window_type": window_type, "start": start, "as_of": as_of,
              "window": timedelta(seconds=WINDOWS[window_type])}
    return db.query(unit_windows_sql(columns), params, settings=settings)


def read_unit_latest_hour(settings: Settings, compressor_id: str, *, as_of: datetime, columns: Sequence[str]):
    """The unit's newest hourly window that ended by ``as_of`` (one row, or none): ``agg_timestamp`` and columns."""
    statement = unit_windows_sql(columns, UNIT_LATEST_HOUR_SQL)
    return db.query(statement, {"compressor_id": compressor_id, "as_of": as_of}, settings=settings)


def _unit_rows(statement: str, settings: Settings, compressor_id: str, start: datetime, as_of: datetime):
    return db.query(statement, {"compressor_id": compressor_id, "start": start, "as_of": as_of}, settings=settings)


def read_unit_alerts(settings: Settings, compressor_id: str, *, start: datetime, as_of: datetime) -> pd.DataFrame:
    """One row per alert of one unit opened in (start, as_of]: time, severity then, type, signal, message."""
    return _unit_rows(UNIT_ALERTS_SQL, settings, compressor_id, start, as_of)


def read_unit_maintenance(settings: Settings, compressor_id: str, *, start: datetime, as_of: datetime) -> pd.DataFrame:
    """One row per maintenance event of one unit logged in (start, as_of]."""
    return _unit_rows(UNIT_MAINTENANCE_SQL, settings, compressor_id, start, as_of)


def read_unit_predictions(settings: Settings, compressor_id: str, *, start: datetime, as_of: datetime) -> pd.DataFrame:
    """One row per scoring time of one unit in (start, as_of]: failure and early-warning probabilities."""
    return _unit_rows(UNIT_PREDICTIONS_SQL, settings, compressor_id, start, as_of)


# --- Data Quality (pages/quality.py): the four metrics per run over time, the latest run per unit, what
# silver quarantined and which files bronze rejected. A run belongs to an as-of when its metric_timestamp
# (the as_of silver measured at) is at or before it; "latest" is by that time, then run id (the runner's
# ids are UTC times), never by when a row was written.
QUALITY_RUNS = 200  # newest runs drawn over time: over half a year of daily runs, eight days of hourly ones
QUALITY_RUN_SQL = """
SELECT run_id, metric_timestamp FROM data_quality_metrics
WHERE metric_timestamp <= %(as_of)s
ORDER BY metric_timestamp DESC, run_id DESC LIMIT 1
"""
QUALITY_HISTORY_SQL = """
SELECT m.run_id, m.metric_timestamp, m.metric_type, m.metric_name, m.metric_value, m.threshold_value,
       m.pass_threshold
FROM data_quality_metrics AS m
JOIN (
    SELECT run_id FROM data_quality_metrics
    WHERE compressor_id IS NULL AND metric_timestamp <= %(as_of)s
    GROUP BY run_id ORDER BY max(metric_timestamp) DESC, run_id DESC LIMIT %(runs)s
) AS recent USING (run_id)
WHERE m.compressor_id IS NULL
ORDER BY m.metric_timestamp, m.run_id, m.metric_type, m.metric_name
"""
# One row per unit of one run, from the per-unit metrics and their details (silver's metric_rows).
QUALITY_UNITS_SQL = """
SELECT compressor_id,
       max(metric_value) FILTER (WHERE metric_type = 'completeness') AS completeness,
       max(metric_value) FILTER (WHERE metric_type = 'freshness') AS freshness_minutes,
       COALESCE(bool_or((details ->> 'in_logged_downtime')::boolean) FILTER (WHERE metric_type = 'freshness'),
                FALSE) AS in_downtime,
       max((details ->> 'duplicates')::numeric::bigint) FILTER (WHERE metric_type = 'consistency') AS duplicates,
       max((details ->> 'rejected')::numeric::bigint) FILTER (WHERE metric_type = 'accuracy') AS rejected,
       count(*) FILTER (WHERE NOT pass_threshold) AS failed_count,
       COALESCE(string_agg(DISTINCT metric_type, ', ' ORDER BY metric_type) FILTER (WHERE NOT pass_threshold), '')
           AS failed_checks
FROM data_quality_metrics
WHERE run_id = %(run_id)s AND compressor_id IS NOT NULL
GROUP BY compressor_id
ORDER BY compressor_id
"""
QUARANTINE_SQL = """
SELECT compressor_id, reason, row_count, source_files, first_reading, last_reading, example_detail
FROM quarantine_summary
WHERE run_id = %(run_id)s
ORDER BY row_count DESC, reason, compressor_id NULLS FIRST
"""
# A rejected delivery shows at an as-of when it was logged by then, when the run that rejected it measured
# quality by then (simulated data is ingested long after its as-of), or when no run measured after as-of
# (the newest view shows every rejection, also those of runs that stopped at bronze). Every row of a run
# has its metric_timestamp, so one row of it tells (a filter on all of them reads a whole fleet per file).
REJECTED_FILES_SQL = """
SELECT f.source_file, f.reason, f.ingested_at, f.run_id, f.file_format, f.size_bytes
FROM rejected_files AS f
WHERE f.ingested_at <= %(as_of)s
   OR (SELECT m.metric_timestamp FROM data_quality_metrics AS m WHERE m.run_id = f.run_id LIMIT 1) <= %(as_of)s
   OR NOT EXISTS (SELECT 1 FROM data_quality_metrics AS m WHERE m.metric_timestamp > %(as_of)s)
ORDER BY f.ingested_at DESC, f.source_file
LIMIT %(limit)s
"""


def read_quality_run(settings: Settings, as_of: datetime) -> dict | None:
    """The latest data-quality run at or before ``as_of``: {run_id, metric_timestamp}, None when there is none."""
    runs = db.query(QUALITY_RUN_SQL, {"as_of": as_of}, settings=settings)
    return None if runs.empty else runs.iloc[0].to_dict()


def read_quality_history(settings: Settings, as_of: datetime, *, runs: int = QUALITY_RUNS) -> pd.DataFrame:
    """The fleet's metrics of the newest ``runs`` runs at or before ``as_of``, one row per run and metric
    (type and name), oldest run first: value, limit (``threshold_value``) and verdict."""
    return db.query(QUALITY_HISTORY_SQL, {"as_of": as_of, "runs": runs}, settings=settings)


def read_unit_quality(settings: Settings, run_id: str) -> pd.DataFrame:
    """One row per compressor of one run: completeness, freshness (minutes; excused in logged downtime),
    duplicates and rule-rejected rows, and which checks failed."""
    return db.query(QUALITY_UNITS_SQL, {"run_id": run_id}, settings=settings)


def read_quarantine(settings: Settings, run_id: str) -> pd.DataFrame:
    """What silver quarantined in one run: one row per (compressor, reason), largest first."""
    return db.query(QUARANTINE_SQL, {"run_id": run_id}, settings=settings)


def read_rejected_files(settings: Settings, as_of: datetime, *, limit: int = 100) -> pd.DataFrame:
    """Landing files bronze rejected whole, as seen at ``as_of`` (see REJECTED_FILES_SQL), newest first."""
    return db.query(REJECTED_FILES_SQL, {"as_of": as_of, "limit": limit}, settings=settings)


# --- Fleet Overview (pages/fleet.py): a unit's latest hourly means for the map popup ---
# The same window as FLEET_SQL's last_reading_time (the newest that started before as-of), so the popup's
# readings and its "last reading" agree; one row at most, on the unique key.
UNIT_LATEST_READINGS_SQL = sql.SQL("""
SELECT agg_timestamp + interval '1 hour' AS window_end, {columns}
FROM sensor_readings_agg
WHERE compressor_id = %(compressor_id)s AND window_type = '1hr' AND agg_timestamp < %(as_of)s
ORDER BY agg_timestamp DESC
LIMIT 1
""")


def unit_latest_readings_sql(columns: Sequence[str]) -> sql.Composed:
    """The latest-readings query selecting these aggregate columns as quoted identifiers."""
    return UNIT_LATEST_READINGS_SQL.format(columns=sql.SQL(", ").join(map(sql.Identifier, columns)))


def read_unit_latest_readings(
    settings: Settings, compressor_id: str, as_of: datetime, columns: Sequence[str]
) -> pd.DataFrame:
    """One unit's newest hourly window that started before ``as_of``: ``window_end`` and the given aggregate
    columns; no rows when it never reported."""
    params = {"compressor_id": compressor_id, "as_of": as_of}
    return db.query(unit_latest_readings_sql(columns), params, settings=settings)
