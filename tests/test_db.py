"""Where the serving database is and how it is described: never with the password."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from altaviz.io import db
from altaviz.config import PROJECT_ROOT, load_settings
from reliability import reliability


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # released on exit: nothing listens there


@pytest.mark.parametrize("url", [
    "postgresql://ops:hunter2@db.example:6543/fleet",
    "host=db.example port=6543 dbname=fleet user=ops password=hunter2",
    "postgresql://ops@db.example:6543/fleet?password=hunter2",
])
def test_external_url_is_described_without_its_password(url):
    settings = load_settings(env={"DATABASE_URL": url})
    where = db.target(settings)
    assert where.describe() == "PostgreSQL at host=db.example port=6543 dbname=fleet"
    shown = db.redacted_url(settings)
    assert "hunter2" not in shown and "***" in shown and "db.example" in shown


def test_db_variables_build_the_connection():
    settings = load_settings(env={"DB_HOST": "db.example", "DB_PORT": "6543", "DB_NAME": "fleet",
                                  "DB_USER": "ops", "DB_PASSWORD": "p@ss word"})
    where = db.target(settings)
    assert where.describe() == "PostgreSQL at host=db.example port=6543 dbname=fleet"
    assert "p@ss word" not in db.redacted_url(settings)


def test_unreachable_database_names_host_port_database_not_password():
    port = closed_port()
    settings = load_settings(env={"DB_HOST": "127.0.0.1", "DB_PORT": str(port), "DB_PASSWORD": "s3cr3t"})
    with pytest.raises(db.DatabaseUnavailable) as failure:
        with db.connect(settings):
            pass
    message = str(failure.value)
    assert f"host=127.0.0.1 port={port} dbname=altaviz" in message and "s3cr3t" not in message


@reliability("fault", "`altaviz run` against a stopped database",
             "non-zero exit before any notebook, naming host, port and database, not the password")
def test_run_against_a_stopped_database_exits_non_zero(tmp_path):
    """`altaviz run` fails before any notebook runs, with a message an operator can act on."""
    port = closed_port()
    env = {"PATH": "/usr/bin:/bin", "DB_HOST": "127.0.0.1", "DB_PORT": str(port), "DB_PASSWORD": "s3cr3t",
           "ALTAVIZ_DATA_DIR": str(tmp_path / "data"), "ALTAVIZ_RUNS_DIR": str(tmp_path / "runs")}
    completed = subprocess.run([sys.executable, "-m", "altaviz.cli", "run", "--run-id", "down"], env=env,
                               capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120)
    assert completed.returncode != 0
    assert f"cannot connect to PostgreSQL at host=127.0.0.1 port={port} dbname=altaviz" in completed.stderr
    assert "s3cr3t" not in completed.stdout + completed.stderr
    assert not (tmp_path / "runs" / "down").exists()  # no notebook ran


def test_recent_predictions_are_the_context_before_each_units_new_scores(serving_settings):
    import pandas as pd

    t = [pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(hours=h) for h in range(6)]
    with db.transaction(serving_settings) as conn:
        conn.execute("INSERT INTO station_locations (station_id, station_name, latitude, longitude) VALUES ('S', 'S', 30, -97)")
        conn.execute("INSERT INTO compressor_metadata (compressor_id, model, horsepower, station_id) "
                     "VALUES ('A', 'm', 1340, 'S'), ('B', 'm', 1340, 'S')")
        rows = [("A", t[h], h / 10, "v1-oof" if h < 3 else "v1") for h in range(5)]
        rows += [("A", t[3] + pd.Timedelta(minutes=30), 0.9, "v0"), ("B", t[0], 0.3, "v1-oof"), ("B", t[4], 0.4, "v1")]
        for unit, moment, probability, version in rows:  # the early-warning score: 0.1 above the 48 h one
            conn.execute("INSERT INTO ml_predictions (compressor_id, prediction_timestamp, failure_probability, "
                         "warning_probability, model_version, message) VALUES (%s, %s, %s, %s, %s, 'm')",
                         (unit, moment, probability, round(probability + 0.1, 2), version))
        new = pd.DataFrame({"compressor_id": ["A", "B"], "prediction_timestamp": [t[4], t[5]]})
        context = db.recent_predictions(conn, "v1", before=new, per_unit=2)
        # A: its two newest v1 scores before hour 4 (another model's score is no context); B: both it has before 5.
        assert context.values.tolist() == [
            ["A", t[2], 0.2, 0.3, "m", "v1-oof"], ["A", t[3], 0.3, 0.4, "m", "v1"],
            ["B", t[0], 0.3, 0.4, "m", "v1-oof"], ["B", t[4], 0.4, 0.5, "m", "v1"]]
        assert db.recent_predictions(conn, "v1", before=new.iloc[:0], per_unit=2).empty


@reliability("input", "A compressor rated below one horsepower (a pump skid of 0.5 hp), on a new database and on one "
             "made when the rating was whole horsepower", "stored as 0.5 on both; a rating of 0 is still refused")
def test_a_fractional_horsepower_rating_is_kept_and_old_databases_are_widened(serving_settings):
    with db.transaction(serving_settings) as conn:  # a database made before: whole horsepower
        conn.execute("DROP VIEW v_fleet_health_summary, v_active_alerts, v_latest_readings")
        conn.execute("ALTER TABLE compressor_metadata ALTER COLUMN horsepower TYPE INTEGER")
    db.apply_schema(serving_settings)
    with db.transaction(serving_settings) as conn:
        conn.execute("INSERT INTO station_locations (station_id, station_name, latitude, longitude) VALUES ('P', 'P', 30, -97)")
        conn.execute("INSERT INTO compressor_metadata (compressor_id, model, horsepower, station_id) "
                     "VALUES ('PUMP-1', 'skid', 0.5, 'P')")
        stored = conn.execute("SELECT horsepower FROM compressor_metadata WHERE compressor_id = 'PUMP-1'").fetchall()
    assert stored == [(0.5,)]
    with pytest.raises(db.LoadFailed, match="compressor_metadata_horsepower_check"), db.transaction(serving_settings) as conn:
        conn.execute("INSERT INTO compressor_metadata (compressor_id, model, horsepower, station_id) "
                     "VALUES ('PUMP-2', 'skid', 0, 'P')")


AGG_KEY = ("compressor_id", "window_type", "agg_timestamp")


def _hourly_rows(hours, *, vibration, run_id, zone="UTC"):
    import pandas as pd

    start = pd.Timestamp("2026-01-01", tz="UTC")
    rows = [(unit, "1hr", (start + pd.Timedelta(hours=h)).tz_convert(zone), vibration(unit, h), 6, 0, run_id)
            for unit in ("A", "B") for h in hours]
    return pd.DataFrame(rows, columns=[*AGG_KEY, "vibration_mean", "reading_count", "missing_readings", "run_id"])


def _stored_aggregates(conn):
    return conn.execute("SELECT compressor_id, extract(hour FROM agg_timestamp AT TIME ZONE 'UTC')::int, "
                        "vibration_mean, run_id FROM sensor_readings_agg ORDER BY 1, 2").fetchall()


def _with_two_units(conn):
    conn.execute("INSERT INTO station_locations (station_id, station_name, latitude, longitude) "
                 "VALUES ('S', 'S', 30, -97)")
    conn.execute("INSERT INTO compressor_metadata (compressor_id, model, horsepower, station_id) "
                 "VALUES ('A', 'm', 1340, 'S'), ('B', 'm', 1340, 'S')")


def test_copy_upsert_copies_new_keys_straight_in_and_upserts_only_the_stored_ones(serving_settings):
    with db.transaction(serving_settings) as conn:
        _with_two_units(conn)
        first = _hourly_rows(range(4), vibration=lambda unit, h: float(h), run_id="r1")
        assert db.copy_upsert(conn, "sensor_readings_agg", first, key=AGG_KEY) == 8
    with db.transaction(serving_settings) as conn:
        before = dict(((u, t), at) for u, t, at in conn.execute(
            "SELECT compressor_id, agg_timestamp, updated_at FROM sensor_readings_agg").fetchall())
        # Hours 2-5 in another time zone: 2 unchanged, 3 changed, 4 and 5 new.
        second = _hourly_rows(range(2, 6), vibration=lambda unit, h: h + (0.5 if h == 3 else 0.0), run_id="r2",
                              zone="America/Chicago")
        assert db._stored_keys(conn, "sensor_readings_agg", second, AGG_KEY).tolist() == [True, True, False, False] * 2
        assert db.copy_upsert(conn, "sensor_readings_agg", second, key=AGG_KEY) == 2 + 4
        assert _stored_aggregates(conn) == [
            (unit, h, h + (0.5 if h == 3 else 0.0), "r1" if h < 3 else "r2") for unit in ("A", "B") for h in range(6)]
        after = dict(((u, t), at) for u, t, at in conn.execute(
            "SELECT compressor_id, agg_timestamp, updated_at FROM sensor_readings_agg").fetchall())
        assert {k for k in before if after[k] != before[k]} == {k for k in before if k[1].hour == 3}


@reliability("input", "Aggregates reloaded with timestamps carrying nanoseconds, which PostgreSQL keeps to the "
             "microsecond, so the loader's comparison with the stored keys misses them",
             "the direct COPY collides, is undone, and every row takes the staged upsert: nothing duplicated or lost")
def test_copy_upsert_falls_back_to_staging_when_a_stored_key_is_missed(serving_settings, monkeypatch):
    import pandas as pd

    copied_into: list[str] = []
    copy_rows = db.copy_rows
    monkeypatch.setattr(db, "copy_rows", lambda conn, table, frame: copied_into.append(table) or
                        copy_rows(conn, table, frame))
    with db.transaction(serving_settings) as conn:
        _with_two_units(conn)
        rows = _hourly_rows(range(3), vibration=lambda unit, h: float(h), run_id="r1")
        db.copy_upsert(conn, "sensor_readings_agg", rows, key=AGG_KEY)
        # Hours 0-2 again (nanoseconds added) and 3-8 new: few stored keys in range, so the loader splits.
        more = _hourly_rows(range(9), vibration=lambda unit, h: float(h), run_id="r2")
        finer = more.assign(agg_timestamp=more["agg_timestamp"] + pd.Timedelta(nanoseconds=500))
        assert not db._stored_keys(conn, "sensor_readings_agg", finer, AGG_KEY).any()  # the miss
        copied_into.clear()
        assert db.copy_upsert(conn, "sensor_readings_agg", finer, key=AGG_KEY) == 2 * 6
        assert copied_into == ["sensor_readings_agg", "staging_sensor_readings_agg"]  # collided, undone, staged
        changed = finer.assign(vibration_mean=finer["vibration_mean"] + 1)
        assert db.copy_upsert(conn, "sensor_readings_agg", changed.iloc[:2], key=AGG_KEY) == 2
        assert _stored_aggregates(conn) == [
            (unit, h, h + (1.0 if unit == "A" and h < 2 else 0.0), "r2" if h >= 3 or (unit == "A" and h < 2) else "r1")
            for unit in ("A", "B") for h in range(9)]
