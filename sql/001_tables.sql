-- Altaviz serving schema: 9 tables. Safe to apply any number of times (IF NOT EXISTS, no DROP of data).
-- Runs on PostgreSQL 14 and newer (docker-compose mounts this folder into docker-entrypoint-initdb.d).

CREATE TABLE IF NOT EXISTS station_locations (
    station_id      TEXT PRIMARY KEY,
    station_name    TEXT NOT NULL,
    latitude        DOUBLE PRECISION NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude       DOUBLE PRECISION NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    region          TEXT,
    city            TEXT,
    state           TEXT,
    run_id          TEXT,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS compressor_metadata (
    compressor_id   TEXT PRIMARY KEY,
    model           TEXT NOT NULL,
    horsepower      DOUBLE PRECISION NOT NULL CHECK (horsepower > 0),  -- a pump skid may be 0.5 hp
    install_date    DATE,
    station_id      TEXT NOT NULL REFERENCES station_locations (station_id),
    latitude        DOUBLE PRECISION,
    longitude       DOUBLE PRECISION,
    run_id          TEXT,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ix_compressor_metadata_station ON compressor_metadata (station_id);

CREATE TABLE IF NOT EXISTS sensor_readings_agg (
    id                              BIGSERIAL PRIMARY KEY,
    compressor_id                   TEXT NOT NULL REFERENCES compressor_metadata (compressor_id),
    agg_timestamp                   TIMESTAMPTZ NOT NULL,
    window_type                     TEXT NOT NULL CHECK (window_type IN ('1hr', '4hr', '24hr')),
    vibration_mean                  DOUBLE PRECISION,
    vibration_std                   DOUBLE PRECISION,
    vibration_min                   DOUBLE PRECISION,
    vibration_max                   DOUBLE PRECISION,
    discharge_temp_mean             DOUBLE PRECISION,
    discharge_temp_std              DOUBLE PRECISION,
    discharge_temp_max              DOUBLE PRECISION,
    discharge_temp_rate_of_change   DOUBLE PRECISION,
    suction_pressure_mean           DOUBLE PRECISION,
    suction_pressure_std            DOUBLE PRECISION,
    suction_pressure_min            DOUBLE PRECISION,
    discharge_pressure_mean         DOUBLE PRECISION,
    discharge_pressure_std          DOUBLE PRECISION,
    discharge_pressure_max          DOUBLE PRECISION,
    pressure_delta_mean             DOUBLE PRECISION,
    horsepower_mean                 DOUBLE PRECISION,
    horsepower_std                  DOUBLE PRECISION,
    gas_flow_mean                   DOUBLE PRECISION,
    reading_count                   INTEGER NOT NULL CHECK (reading_count >= 0),
    missing_readings                INTEGER NOT NULL CHECK (missing_readings >= 0),
    run_id                          TEXT,
    updated_at                      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT uq_sensor_readings_agg UNIQUE (compressor_id, window_type, agg_timestamp)
);
-- The unique key doubles as the index behind "newest window per compressor" (LATERAL … LIMIT 1), and
-- every dashboard read goes through it. A second index on (window_type, agg_timestamp) cost half of a
-- load's server time (rows arrive compressor by compressor, landing all over a time-ordered index).
DROP INDEX IF EXISTS ix_sensor_readings_agg_time;

CREATE TABLE IF NOT EXISTS maintenance_events (
    id              BIGSERIAL PRIMARY KEY,
    compressor_id   TEXT NOT NULL REFERENCES compressor_metadata (compressor_id),
    event_date      TIMESTAMPTZ NOT NULL,
    event_type      TEXT NOT NULL CHECK (event_type IN ('scheduled', 'unscheduled', 'inspection', 'failure')),
    description     TEXT,
    downtime_hours  DOUBLE PRECISION CHECK (downtime_hours >= 0),
    severity        TEXT,
    run_id          TEXT,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT uq_maintenance_events UNIQUE (compressor_id, event_date, event_type)
);

CREATE TABLE IF NOT EXISTS alert_history (
    id                  BIGSERIAL PRIMARY KEY,
    compressor_id       TEXT NOT NULL REFERENCES compressor_metadata (compressor_id),
    alert_timestamp     TIMESTAMPTZ NOT NULL,              -- when the condition was first seen
    last_seen_at        TIMESTAMPTZ NOT NULL,
    alert_type          TEXT NOT NULL CONSTRAINT alert_history_alert_type_check
                        CHECK (alert_type IN ('threshold', 'rate_of_change', 'anomaly', 'prediction', 'stale')),
    severity            TEXT NOT NULL CHECK (severity IN ('warning', 'critical')),
    sensor_name         TEXT NOT NULL,
    sensor_value        DOUBLE PRECISION,                  -- the latest abnormal value
    peak_value          DOUBLE PRECISION,                  -- the worst value while open
    threshold_value     DOUBLE PRECISION,
    message             TEXT NOT NULL CHECK (message <> ''),
    normal_streak       INTEGER NOT NULL DEFAULT 0,        -- consecutive normal readings since last_seen_at
    acknowledged        BOOLEAN NOT NULL DEFAULT FALSE,
    acknowledged_by     TEXT,
    acknowledged_at     TIMESTAMPTZ,
    resolved            BOOLEAN NOT NULL DEFAULT FALSE,
    resolved_at         TIMESTAMPTZ,
    resolved_by         TEXT,                              -- 'auto' or the operator
    note                TEXT,
    run_id              TEXT,
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- One open alert per problem, enforced by the database, not only by the loader.
CREATE UNIQUE INDEX IF NOT EXISTS ux_alert_history_open
    ON alert_history (compressor_id, sensor_name, alert_type) WHERE NOT resolved;
CREATE INDEX IF NOT EXISTS ix_alert_history_compressor_time ON alert_history (compressor_id, alert_timestamp DESC);
-- The natural key of an alert: a problem first seen at a given reading. Reruns upsert on it, so
-- evaluating the same readings twice can never insert the same alert twice. It also serves the
-- loader's "latest alert per problem" lookup (its per-problem watermark).
CREATE UNIQUE INDEX IF NOT EXISTS ux_alert_history_key
    ON alert_history (compressor_id, sensor_name, alert_type, alert_timestamp);

CREATE TABLE IF NOT EXISTS data_quality_metrics (
    id                  BIGSERIAL PRIMARY KEY,
    run_id              TEXT NOT NULL,
    metric_timestamp    TIMESTAMPTZ NOT NULL,
    compressor_id       TEXT,                              -- NULL = the whole fleet
    metric_type         TEXT NOT NULL CHECK (metric_type IN ('freshness', 'completeness', 'consistency', 'accuracy')),
    metric_value        DOUBLE PRECISION,                  -- NULL: not measured (no rows: fails; nothing new: passes)
    threshold_value     DOUBLE PRECISION,
    pass_threshold      BOOLEAN NOT NULL,
    details             JSONB NOT NULL DEFAULT '{}'::jsonb,
    metric_name         TEXT NOT NULL DEFAULT '',          -- which check of that type ('' = the only one)
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- A run may compute several checks of one type (e.g. two accuracy checks); metric_name tells them
-- apart. Added in place on databases created before the column existed.
ALTER TABLE data_quality_metrics ADD COLUMN IF NOT EXISTS metric_name TEXT NOT NULL DEFAULT '';
-- When an open warning became critical (NULL: opened as critical, or never escalated).
ALTER TABLE alert_history ADD COLUMN IF NOT EXISTS escalated_at TIMESTAMPTZ;
-- 'stale' (a silent unit) joined the alert types later: widen the check of databases made before it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'alert_history_alert_type_check'
                   AND pg_get_constraintdef(oid) LIKE '%stale%') THEN
        ALTER TABLE alert_history DROP CONSTRAINT IF EXISTS alert_history_alert_type_check;
        ALTER TABLE alert_history ADD CONSTRAINT alert_history_alert_type_check
            CHECK (alert_type IN ('threshold', 'rate_of_change', 'anomaly', 'prediction', 'stale'));
    END IF;
END $$;
-- Rated power was whole horsepower: a small unit rounded to 0 and broke the check. Widened in place; the views
-- that read the column are dropped first and made again by 002_views.sql.
DO $$
BEGIN
    IF (SELECT data_type FROM information_schema.columns
        WHERE table_name = 'compressor_metadata' AND column_name = 'horsepower') = 'integer' THEN
        DROP VIEW IF EXISTS v_fleet_health_summary, v_active_alerts, v_latest_readings;
        ALTER TABLE compressor_metadata ALTER COLUMN horsepower TYPE DOUBLE PRECISION;
    END IF;
END $$;
-- A unit with no valid reading has no freshness: the metric is recorded, unmeasured and failing.
ALTER TABLE data_quality_metrics ALTER COLUMN metric_value DROP NOT NULL;
-- NULLS NOT DISTINCT needs PostgreSQL 15; a sentinel in the key keeps this on 14.
-- The key grew metric_name; the narrower index it replaces holds no data of its own.
DROP INDEX IF EXISTS ux_data_quality_metrics;
CREATE UNIQUE INDEX IF NOT EXISTS ux_data_quality_metrics_key
    ON data_quality_metrics (run_id, metric_type, metric_name, (COALESCE(compressor_id, '*fleet*')));
CREATE INDEX IF NOT EXISTS ix_data_quality_metrics_time ON data_quality_metrics (metric_timestamp DESC);
-- The fleet's rows per run over time (the dashboard's history) without reading every unit's rows.
CREATE INDEX IF NOT EXISTS ix_data_quality_metrics_fleet_time
    ON data_quality_metrics (metric_timestamp DESC) WHERE compressor_id IS NULL;

-- What silver set aside, per data-quality run: one row per (run, compressor, reason code). The lake's
-- sensors_quarantine holds only the newest silver run's result; this keeps each published run's counts.
CREATE TABLE IF NOT EXISTS quarantine_summary (
    id                  BIGSERIAL PRIMARY KEY,
    run_id              TEXT NOT NULL,                     -- the data-quality (silver) run it belongs to
    compressor_id       TEXT,                              -- NULL: rows without a compressor id (missing_id)
    reason              TEXT NOT NULL,                     -- schemas.REASON_CODES
    row_count           BIGINT NOT NULL CHECK (row_count > 0),
    source_files        INTEGER NOT NULL CHECK (source_files >= 0),
    first_reading       TIMESTAMPTZ,                       -- NULL when no row had a usable timestamp
    last_reading        TIMESTAMPTZ,
    example_detail      TEXT,                              -- one row's reason_detail, to show what broke
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- The natural key; a sentinel for the missing id keeps it on PostgreSQL 14 (as data_quality_metrics).
CREATE UNIQUE INDEX IF NOT EXISTS ux_quarantine_summary_key
    ON quarantine_summary (run_id, reason, (COALESCE(compressor_id, '*none*')));

-- Landing files bronze rejected whole, with the reason; a delivery is its content, as in the lake's ingest_log.
CREATE TABLE IF NOT EXISTS rejected_files (
    content_sha256      TEXT PRIMARY KEY,
    source_file         TEXT NOT NULL,                     -- relative to the landing folder
    file_format         TEXT,
    size_bytes          BIGINT,
    reason              TEXT NOT NULL,
    ingested_at         TIMESTAMPTZ NOT NULL,              -- when bronze logged (and rejected) it
    run_id              TEXT NOT NULL,                     -- the run whose bronze stage rejected it
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ix_rejected_files_time ON rejected_files (ingested_at DESC);

CREATE TABLE IF NOT EXISTS ml_predictions (
    id                      BIGSERIAL PRIMARY KEY,
    compressor_id           TEXT NOT NULL REFERENCES compressor_metadata (compressor_id),
    prediction_timestamp    TIMESTAMPTZ NOT NULL,
    failure_probability     DOUBLE PRECISION NOT NULL CHECK (failure_probability BETWEEN 0 AND 1),
    rul_days                DOUBLE PRECISION CHECK (rul_days >= 0),
    confidence_score        DOUBLE PRECISION CHECK (confidence_score BETWEEN 0 AND 1),
    model_version           TEXT NOT NULL,
    features_used           JSONB NOT NULL DEFAULT '{}'::jsonb,
    run_id                  TEXT,
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT uq_ml_predictions UNIQUE (compressor_id, prediction_timestamp, model_version)
);
CREATE INDEX IF NOT EXISTS ix_ml_predictions_latest ON ml_predictions (compressor_id, prediction_timestamp DESC);
-- The remaining-life band (hours; null where the model cannot tell, never a placeholder), the model's
-- sentence with its drivers, and the share of the hour's readings behind the score. Added, never
-- rebuilt: a database from an earlier version keeps its history. confidence_score is no longer written
-- (it was a reading count dressed as confidence; coverage says what it is).
ALTER TABLE ml_predictions ADD COLUMN IF NOT EXISTS rul_p10_hours DOUBLE PRECISION CHECK (rul_p10_hours >= 0);
ALTER TABLE ml_predictions ADD COLUMN IF NOT EXISTS rul_p50_hours DOUBLE PRECISION CHECK (rul_p50_hours >= 0);
ALTER TABLE ml_predictions ADD COLUMN IF NOT EXISTS rul_p90_hours DOUBLE PRECISION CHECK (rul_p90_hours >= 0);
ALTER TABLE ml_predictions ADD COLUMN IF NOT EXISTS message TEXT;
ALTER TABLE ml_predictions ADD COLUMN IF NOT EXISTS coverage DOUBLE PRECISION CHECK (coverage BETWEEN 0 AND 1);
-- The early-warning classifier's probability of a trip within model.warning_horizon_hours (null: none).
ALTER TABLE ml_predictions ADD COLUMN IF NOT EXISTS warning_probability DOUBLE PRECISION
    CHECK (warning_probability BETWEEN 0 AND 1);

-- Severity is ordinal: one definition for every view (altaviz.registry.SEVERITY_RANK is the same
-- order in Python, and a test holds the two together). Never compare severity strings.
CREATE OR REPLACE FUNCTION severity_rank(severity TEXT) RETURNS INTEGER
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE severity WHEN 'critical' THEN 2 WHEN 'warning' THEN 1 ELSE 0 END $$;

CREATE OR REPLACE FUNCTION health_status(rank INTEGER) RETURNS TEXT
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE rank WHEN 2 THEN 'critical' WHEN 1 THEN 'warning' ELSE 'healthy' END $$;
