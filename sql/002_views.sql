-- Views hold no data, so they are dropped and recreated to pick up definition changes.
-- None of them reads the wall clock: "latest" is the newest row, whatever its date.
DROP VIEW IF EXISTS v_fleet_health_summary;
DROP VIEW IF EXISTS v_active_alerts;
DROP VIEW IF EXISTS v_latest_readings;

-- Newest 1hr aggregate per compressor. LATERAL … LIMIT 1 walks the unique index backwards once
-- per compressor; DISTINCT ON would sort the whole table (PostgreSQL has no skip scan).
-- a.* takes every aggregate column, including those the sensor registry added (the views are
-- recreated after them on every schema apply).
CREATE VIEW v_latest_readings AS
SELECT c.model, c.station_id, latest.*
FROM compressor_metadata AS c
CROSS JOIN LATERAL (
    SELECT a.*
    FROM sensor_readings_agg AS a
    WHERE a.compressor_id = c.compressor_id AND a.window_type = '1hr'
    ORDER BY a.agg_timestamp DESC
    LIMIT 1
) AS latest;

CREATE VIEW v_active_alerts AS
SELECT h.id, h.compressor_id, c.model, c.station_id, s.station_name,
       h.alert_timestamp, h.last_seen_at, h.alert_type, h.severity,
       severity_rank(h.severity) AS severity_rank,
       h.sensor_name, h.sensor_value, h.peak_value, h.threshold_value, h.message,
       h.acknowledged, h.acknowledged_by, h.acknowledged_at, h.note
FROM alert_history AS h
JOIN compressor_metadata AS c ON c.compressor_id = h.compressor_id
JOIN station_locations AS s ON s.station_id = c.station_id
WHERE NOT h.resolved
ORDER BY severity_rank DESC, h.alert_timestamp DESC;

-- Health is the worst open severity by rank (critical > warning > healthy), never by string order; a unit
-- with an open stale alert (silent past the freshness limit outside logged downtime) is 'stale' unless critical.
CREATE VIEW v_fleet_health_summary AS
SELECT c.compressor_id, c.model, c.horsepower, c.station_id, s.station_name,
       c.latitude, c.longitude,
       latest.agg_timestamp AS last_reading_time,
       COALESCE(open_alerts.alert_count, 0) AS active_alert_count,
       CASE WHEN open_alerts.stale_alert AND open_alerts.worst_rank < severity_rank('critical') THEN 'stale'
            ELSE health_status(COALESCE(open_alerts.worst_rank, 0)) END AS health_status,
       COALESCE(open_alerts.worst_rank, 0) AS health_rank,
       prediction.failure_probability, prediction.warning_probability, prediction.rul_days,
       prediction.prediction_timestamp, prediction.rul_p10_hours, prediction.rul_p50_hours, prediction.rul_p90_hours,
       prediction.message AS prediction_message
FROM compressor_metadata AS c
JOIN station_locations AS s ON s.station_id = c.station_id
LEFT JOIN LATERAL (
    SELECT a.agg_timestamp FROM sensor_readings_agg AS a
    WHERE a.compressor_id = c.compressor_id AND a.window_type = '1hr'
    ORDER BY a.agg_timestamp DESC LIMIT 1
) AS latest ON TRUE
LEFT JOIN LATERAL (
    SELECT count(*) AS alert_count,
           max(severity_rank(h.severity)) AS worst_rank, bool_or(h.alert_type = 'stale') AS stale_alert
    FROM alert_history AS h
    WHERE h.compressor_id = c.compressor_id AND NOT h.resolved
) AS open_alerts ON TRUE
LEFT JOIN LATERAL (
    SELECT p.failure_probability, p.warning_probability, p.rul_days, p.prediction_timestamp, p.rul_p10_hours, p.rul_p50_hours,
           p.rul_p90_hours, p.message
    FROM ml_predictions AS p
    WHERE p.compressor_id = c.compressor_id
    ORDER BY p.prediction_timestamp DESC LIMIT 1
) AS prediction ON TRUE
ORDER BY health_rank DESC, c.compressor_id;
