"""A run over history (a backfill): its as-of is the newest reading, so freshness means what it says."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from spark_fixtures import lake_settings, reading, write_parquet, write_reference

from altaviz.bronze.stage import ingest_landing
from altaviz.io import lake
from altaviz.runner import RunParams
from altaviz.silver.stage import build_silver
from reliability import reliability

HISTORY = datetime(2024, 5, 1, tzinfo=timezone.utc)  # years before the wall clock


def history_lake(spark, tmp_path, *, last_minutes: dict[str, int]):
    """Two units' readings every 10 minutes from HISTORY, each up to its ``last_minutes``, through bronze."""
    settings = lake_settings(tmp_path)
    landing = tmp_path / "landing"
    write_reference(landing)
    rows = [dict(reading(unit, None), timestamp=HISTORY + timedelta(minutes=minute))
            for unit, last in last_minutes.items() for minute in range(0, last + 1, 10)]
    write_parquet(landing / lake.SENSOR_READINGS_DIR / "history.parquet", rows)
    ingest_landing(spark, landing, run_id="backfill", settings=settings)
    return settings


def gate(report, name):
    return next((g.value, g.passed) for g in report.gates if g.gate == name)


@reliability("input", "A backfill: a year-old history loaded without an end time",
             "as of its newest reading: the unit that reported to the end is fresh, the one that stopped an hour "
             "earlier is named stale; as of today every unit would be years stale")
def test_a_backfill_takes_its_as_of_from_the_newest_reading(spark, tmp_path):
    settings = history_lake(spark, tmp_path, last_minutes={"C1": 360, "C2": 300})

    report = build_silver(spark, run_id="backfill", settings=settings)

    assert report.as_of == HISTORY + timedelta(minutes=360)
    assert gate(report, "freshness_sla_minutes") == (60.0, False)  # C2, silent for its last hour
    per_unit = report.compressor_metrics.set_index("compressor_id")["freshness_minutes"].to_dict()
    assert per_unit == {"C1": 0.0, "C2": 60.0}


def test_a_backfill_of_units_reporting_to_the_end_passes_freshness_and_today_would_not(spark, tmp_path):
    settings = history_lake(spark, tmp_path, last_minutes={"C1": 360, "C2": 360})

    backfill = build_silver(spark, run_id="backfill", settings=settings)
    today = build_silver(spark, run_id="today", as_of=datetime.now(timezone.utc), settings=settings)

    assert gate(backfill, "freshness_sla_minutes") == (0.0, True)
    value, passed = gate(today, "freshness_sla_minutes")
    assert value > 365 * 24 * 60 and not passed


def test_a_run_over_delivered_files_leaves_its_days_to_the_data_and_a_simulated_one_does_not(tmp_path):
    settings = lake_settings(tmp_path)

    backfill = RunParams.defaults(settings, simulate=False)
    explicit = RunParams.defaults(settings, simulate=False, end_date="2024-05-02")
    simulated = RunParams.defaults(settings)

    assert (backfill.start_date, backfill.end_date) == ("", "")
    assert (explicit.start_date, explicit.end_date) == ("", "2024-05-02")
    assert (simulated.start_date, simulated.end_date) == (settings.pipeline.start_date, settings.pipeline.end_date)
