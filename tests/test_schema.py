"""The serving schema: applying it again changes nothing and never drops data; it stays on PostgreSQL 14."""

from __future__ import annotations

import re

import pytest

from altaviz.io import db
from altaviz.registry import get_registry

CATALOG = {
    "columns": """SELECT table_name, column_name, data_type, is_nullable, column_default
                  FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2""",
    "constraints": """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
                      FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2""",
    "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1",
    "views": "SELECT viewname, definition FROM pg_views WHERE schemaname = 'public' ORDER BY 1",
}


def catalog(settings) -> dict[str, list[tuple]]:
    with db.connect(settings) as conn:
        return {name: conn.execute(sql).fetchall() for name, sql in CATALOG.items()}


def seed(settings) -> None:
    with db.transaction(settings) as conn:
        conn.execute("INSERT INTO station_locations (station_id, station_name, latitude, longitude) "
                     "VALUES ('S', 'Station', 30, -97)")
        conn.execute("INSERT INTO compressor_metadata (compressor_id, model, horsepower, station_id) "
                     "VALUES ('A', 'm', 1340, 'S')")
        conn.execute("INSERT INTO alert_history (compressor_id, alert_timestamp, last_seen_at, alert_type, "
                     "severity, sensor_name, message, acknowledged, acknowledged_by) VALUES "
                     "('A', '2026-01-01', '2026-01-01', 'threshold', 'warning', 'vibration_mms', 'm', TRUE, 'op')")


def data(settings) -> dict[str, list[tuple]]:
    with db.connect(settings) as conn:
        return {table: conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
                for table in ("station_locations", "compressor_metadata", "alert_history")}


def test_applying_the_schema_again_changes_nothing_and_keeps_data(serving_settings):  # noqa: F811
    seed(serving_settings)
    before, rows_before = catalog(serving_settings), data(serving_settings)
    assert len({row[0] for row in before["columns"]} - {row[0] for row in before["views"]}) == 9
    assert {row[0] for row in before["views"]} == {"v_latest_readings", "v_active_alerts", "v_fleet_health_summary"}
    assert db.apply_schema(serving_settings) == ["001_tables.sql", "sensor registry columns", "002_views.sql"]
    assert catalog(serving_settings) == before
    assert data(serving_settings) == rows_before
    # Failing case: the comparison does see a change to the catalog.
    with db.transaction(serving_settings) as conn:
        conn.execute("CREATE INDEX ix_extra ON alert_history (severity)")
    assert catalog(serving_settings) != before


def test_upgrading_an_older_database_keeps_its_rows(serving_settings):  # noqa: F811
    """A database created before metric_name existed gets the column and the wider key in place."""
    with db.transaction(serving_settings) as conn:
        conn.execute("DROP INDEX ux_data_quality_metrics_key")
        conn.execute("ALTER TABLE data_quality_metrics DROP COLUMN metric_name")
        conn.execute("CREATE UNIQUE INDEX ux_data_quality_metrics ON data_quality_metrics "
                     "(run_id, metric_type, (COALESCE(compressor_id, '*fleet*')))")
        conn.execute("INSERT INTO data_quality_metrics (run_id, metric_timestamp, metric_type, metric_value, "
                     "pass_threshold) VALUES ('r1', '2026-01-01', 'completeness', 0.99, TRUE)")
    db.apply_schema(serving_settings)
    with db.connect(serving_settings) as conn:
        assert conn.execute("SELECT run_id, metric_name FROM data_quality_metrics").fetchall() == [("r1", "")]
        indexes = {row[0] for row in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'data_quality_metrics'")}
    assert "ux_data_quality_metrics_key" in indexes and "ux_data_quality_metrics" not in indexes


# What the DDL must never contain, each rule named: the static check of the library's schema files.
DDL_RULES = {
    "drops data": r"\bDROP\s+(TABLE|SCHEMA|DATABASE|COLUMN)\b|\bTRUNCATE\b|\bDELETE\s+FROM\b",
    # PostgreSQL 15+ only: NULLS NOT DISTINCT, MERGE, the security_invoker view option.
    "needs PostgreSQL 15": r"NULLS\s+NOT\s+DISTINCT|\bMERGE\s+INTO\b|SECURITY_INVOKER",
    # Every table, index and column is created only when missing, so a second apply is a no-op.
    "not idempotent": r"CREATE\s+(UNIQUE\s+)?(TABLE|INDEX)\s+(?!IF\s+NOT\s+EXISTS)|ADD\s+COLUMN\s+(?!IF\s+NOT\s+EXISTS)",
}


def ddl_violations(ddl: str) -> list[str]:
    """The names of the rules ``ddl`` breaks (comments ignored)."""
    text = re.sub(r"--[^\n]*", "", ddl).upper()
    return [rule for rule, pattern in DDL_RULES.items() if re.search(pattern, text)]


def applied_ddl() -> dict[str, str]:
    """Every statement ``db.apply_schema`` runs: the schema files and the registry's generated columns."""
    return {
        **{path.name: path.read_text() for path in db.schema_files()},
        "sensor registry columns": db.registry_columns_sql(get_registry()),
    }


@pytest.mark.parametrize("name", list(applied_ddl()))
def test_schema_never_drops_data_and_stays_on_postgresql_14(name):
    assert ddl_violations(applied_ddl()[name]) == []


def test_the_static_check_catches_each_rule_in_the_library_ddl():
    """Failing case of the check above: the library's own DDL, each rule broken once."""
    tables = applied_ddl()["001_tables.sql"]
    columns = applied_ddl()["sensor registry columns"]
    assert "CREATE TABLE IF NOT EXISTS" in tables and "ADD COLUMN IF NOT EXISTS" in columns
    assert ddl_violations(tables + "\nDROP TABLE alert_history;") == ["drops data"]
    assert ddl_violations(tables + "\nALTER TABLE alert_history DROP COLUMN note;") == ["drops data"]
    assert ddl_violations(tables.replace("CREATE TABLE IF NOT EXISTS", "CREATE TABLE", 1)) == ["not idempotent"]
    assert ddl_violations(columns.replace("ADD COLUMN IF NOT EXISTS", "ADD COLUMN", 1)) == ["not idempotent"]
    assert ddl_violations(tables + "\nMERGE INTO alert_history USING x ON TRUE WHEN MATCHED THEN DO NOTHING;") == [
        "needs PostgreSQL 15"]
    # A rule in a comment is not a statement.
    assert ddl_violations(tables + "\n-- DROP TABLE alert_history;") == []


def test_severity_rank_in_sql_is_the_registry_order(serving_settings):
    from altaviz.registry import HEALTH_BY_RANK, SEVERITY_RANK

    with db.connect(serving_settings) as conn:
        ranks = {name: conn.execute("SELECT severity_rank(%s)", (name,)).fetchone()[0] for name in SEVERITY_RANK}
        health = {rank: conn.execute("SELECT health_status(%s)", (rank,)).fetchone()[0] for rank in HEALTH_BY_RANK}
        unknown = conn.execute("SELECT severity_rank('catastrophic'), severity_rank(NULL)").fetchone()
    assert ranks == SEVERITY_RANK
    assert health == HEALTH_BY_RANK
    assert unknown == (0, 0)


def test_a_sensor_added_to_the_registry_adds_its_columns_and_keeps_the_data(serving_settings):
    from dataclasses import replace

    from altaviz.registry import Sensor

    seed(serving_settings)
    rows_before = data(serving_settings)
    lube = Sensor(name="lube_oil_pressure_psi", label="Lube oil pressure", unit="psi", short="lube_oil_pressure",
                  direction="low", warning=30.0, critical=20.0, normal=(40.0, 60.0), aggregates=("mean", "min"))
    registry = replace(serving_settings.registry, sensors={**serving_settings.registry.sensors, lube.name: lube})
    db.apply_schema(replace(serving_settings, registry=registry))
    with db.connect(serving_settings) as conn:
        added = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = %s AND column_name LIKE 'lube_oil%%' ORDER BY 1", ("sensor_readings_agg",)
        ).fetchall()
        in_view = conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'v_latest_readings' AND column_name LIKE 'lube_oil%%' ORDER BY 1"
        ).fetchall()
    assert added == [("lube_oil_pressure_mean", "double precision"), ("lube_oil_pressure_min", "double precision")]
    assert in_view == [("lube_oil_pressure_mean",), ("lube_oil_pressure_min",)]
    assert data(serving_settings) == rows_before
