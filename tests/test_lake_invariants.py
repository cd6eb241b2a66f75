"""Bronze -> silver -> gold over simulator output: reruns change nothing, one version per write,
time travel, incremental gold == full recompute, and every failure signal reaches gold unchanged."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pandas as pd
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual
from spark_fixtures import lake_settings

from altaviz.io import lake
from altaviz.bronze.stage import ingest_landing
from altaviz.registry import SENSOR_COLUMNS
from altaviz.gold.stage import build_gold
from altaviz.silver.quality import validate_quality_gates
from altaviz.silver.stage import build_silver

START, MID, END = (datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 1, 6, 12, tzinfo=timezone.utc),
                   datetime(2026, 1, 11, tzinfo=timezone.utc))
TABLES = ("sensors_bronze", "ingest_log", "compressor_metadata", "station_locations", "maintenance_logs",
          "sensors_silver", "sensors_quarantine", "data_quality_metrics", "sensors_gold")


def versions(spark, settings) -> dict[str, int]:
    return {name: lake.latest_version(spark, name, settings=settings) for name in TABLES}


def assert_unchanged_since(spark, settings, name: str, version: int) -> None:
    """The table now equals itself at ``version`` (Delta time travel)."""
    assertDataFrameEqual(
        lake.read_table(spark, name, settings=settings),
        lake.read_table(spark, name, settings=settings, version=version),
        checkRowOrder=False,
    )


@pytest.fixture(scope="module")
def pipeline(spark, tmp_path_factory):
    from altaviz.simulate import SimulationParams, simulate_fleet

    root = tmp_path_factory.mktemp("invariants")
    landing = root / "landing"
    params = SimulationParams(
        compressor_count=3, start_date="2026-01-01", end_date="2026-01-11", seed=11, chunk_size=1, csv_every=2,
        forced_failures=((0, "bearing_wear"), (1, "cooling_failure")),
    )
    simulate_fleet(params, landing)
    settings = lake_settings(root)
    bronze = ingest_landing(spark, landing, run_id="r1", settings=settings)
    silver = build_silver(spark, run_id="r1", as_of=END, settings=settings)
    # Gold in two increments, the second starting mid-day: must equal a full recompute (checked below).
    build_gold(spark, start=START, end=MID, settings=settings)
    build_gold(spark, start=MID, end=END, settings=settings)
    incremental_version = lake.latest_version(spark, "sensors_gold", settings=settings)
    full = build_gold(spark, settings=settings)
    return dict(landing=landing, settings=settings, bronze=bronze, silver=silver, full=full,
                incremental_version=incremental_version, first=versions(spark, settings))


def test_simulated_run_loads_csv_and_parquet_and_passes_the_gates(pipeline):
    bronze, silver = pipeline["bronze"], pipeline["silver"]
    assert {name.rsplit(".", 1)[1] for name in bronze.files_ingested} == {"parquet", "csv"}
    assert bronze.files_rejected == ()
    validate_quality_gates(silver)
    assert silver.rows_valid == pipeline["full"].rows_written


def test_incremental_gold_equals_full_recompute(spark, pipeline):
    settings = pipeline["settings"]
    incremental = lake.read_table(spark, "sensors_gold", settings=settings, version=pipeline["incremental_version"])
    assertDataFrameEqual(incremental, lake.read_table(spark, "sensors_gold", settings=settings), checkRowOrder=False)


def test_reruns_leave_every_table_identical_with_one_version_per_write(spark, pipeline):
    settings, first = pipeline["settings"], pipeline["first"]
    ingest_landing(spark, pipeline["landing"], run_id="r2", settings=settings)
    build_silver(spark, run_id="r1", as_of=END, settings=settings)
    build_gold(spark, start=MID, end=END, settings=settings)
    now = versions(spark, settings)
    bronze_tables = ("sensors_bronze", "ingest_log", "compressor_metadata", "station_locations", "maintenance_logs")
    new_versions = {name: now[name] - first[name] for name in TABLES}
    # Delta commits nothing when an empty quarantine overwrites an empty one: at most one version.
    assert new_versions.pop("sensors_quarantine") <= 1
    assert new_versions == {
        **{name: 0 for name in bronze_tables},  # nothing new: no write at all
        "sensors_silver": 1, "data_quality_metrics": 1, "sensors_gold": 1,
    }
    for name in ("sensors_silver", "sensors_quarantine", "data_quality_metrics", "sensors_gold"):
        assert_unchanged_since(spark, settings, name, first[name])
    operations = lake.read_history(spark, "sensors_gold", settings=settings).orderBy("version")
    assert [row["operation"] for row in operations.collect()] == ["WRITE"] * (now["sensors_gold"] + 1)


def _landing_readings(landing) -> pd.DataFrame:
    """The simulator's readings, one per key, with ``epoch_us`` (UTC microseconds) as the time key."""
    frames = []
    for path in sorted((landing / "sensor_readings").iterdir()):
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
        frames.append(frame)
    readings = pd.concat(frames, ignore_index=True).drop_duplicates(["compressor_id", "timestamp"], keep="last")
    return readings.assign(epoch_us=(readings["timestamp"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(microseconds=1))


def _assert_reach_gold_unchanged(spark, settings, expected: pd.DataFrame) -> None:
    keys = spark.createDataFrame(
        [(cid, int(us)) for cid, us in zip(expected["compressor_id"], expected["epoch_us"])], "compressor_id string, epoch_us long"
    )
    gold = lake.read_table(spark, "sensors_gold", settings=settings).select(
        "compressor_id", F.unix_micros("timestamp").alias("epoch_us"), *SENSOR_COLUMNS
    )
    actual = gold.join(keys, on=["compressor_id", "epoch_us"], how="inner").toPandas()
    assert len(actual) == len(expected)
    merged = expected.merge(actual, on=["compressor_id", "epoch_us"], suffixes=("", "_gold"))
    for name in SENSOR_COLUMNS:
        pd.testing.assert_series_equal(merged[name], merged[f"{name}_gold"], check_names=False, rtol=1e-12)


def test_ground_truth_failures_reach_gold_unchanged(spark, pipeline):
    landing, settings = pipeline["landing"], pipeline["settings"]
    truth = pd.read_csv(landing / "ground_truth" / "events.csv", parse_dates=["start", "end"])
    failures = truth[truth["category"] == "failure"]
    assert len(failures) >= 2
    readings = _landing_readings(landing)
    in_failure = pd.Series(False, index=readings.index)
    for event in failures.itertuples():
        start, end = pd.Timestamp(event.start), pd.Timestamp(event.end)
        start = start.tz_localize("UTC") if start.tzinfo is None else start
        end = end.tz_localize("UTC") if end.tzinfo is None else end
        in_failure |= (readings["compressor_id"] == event.compressor_id) & (readings["timestamp"] >= start) & (readings["timestamp"] < end)
    assert in_failure.sum() > 100
    _assert_reach_gold_unchanged(spark, settings, readings[in_failure])


def test_every_critical_reading_reaches_gold_unchanged(spark, pipeline):
    settings = pipeline["settings"]
    readings = _landing_readings(pipeline["landing"])
    is_critical = pd.Series(False, index=readings.index)
    for name, limit in settings.registry.sensors.items():
        if limit.critical is None:
            continue
        values = readings[name]
        low, high = limit.physical
        is_physical = values.between(low, high)
        beyond = values >= limit.critical if limit.direction == "high" else values <= limit.critical
        is_critical |= beyond & is_physical
    assert is_critical.sum() > 0
    _assert_reach_gold_unchanged(spark, settings, readings[is_critical])


def test_gold_reads_prune_date_partitions(spark, pipeline):
    settings = pipeline["settings"]
    one_day = lake.read_table(spark, "sensors_gold", settings=settings, where=F.col("date") == F.lit("2026-01-05").cast("date"))
    files = one_day.inputFiles()
    assert files and all("date=2026-01-05" in path for path in files)


def test_the_delta_log_folder_answers_what_spark_answers(spark, pipeline, tmp_path):
    """``table_exists`` and the newest version come from ``_delta_log`` on a local lake, without a Spark job."""
    settings = pipeline["settings"]
    plain = tmp_path / "lake" / "not_delta"
    plain.mkdir(parents=True)
    (plain / "part-0.parquet").write_bytes(b"")  # a folder of files, but no Delta log
    elsewhere = dataclasses.replace(settings, pipeline=dataclasses.replace(settings.pipeline,
                                                                          lake_root=str(tmp_path / "lake")))
    from_log = {name: lake.local_version(name, settings) for name in TABLES}
    assert from_log == versions(spark, settings)
    assert [lake.table_exists(spark, name, settings=settings) for name in TABLES] == [True] * len(TABLES)
    assert (lake.local_version("not_delta", elsewhere), lake.table_exists(spark, "not_delta", settings=elsewhere)) \
        == (-1, False)
    assert (lake.local_version("never_written", settings), lake.table_exists(spark, "never_written", settings=settings)) \
        == (-1, False)
    # A cleaned-up log keeps a checkpoint for old versions: it counts.
    (plain / "_delta_log").mkdir()
    (plain / "_delta_log" / "00000000000000000010.checkpoint.parquet").write_bytes(b"")
    assert lake.local_version("not_delta", elsewhere) == 10
    # A file: URI is still a folder here; another file system is asked through Spark (table_exists).
    as_uri = dataclasses.replace(settings, pipeline=dataclasses.replace(
        settings.pipeline, lake_root="file://" + settings.pipeline.table_path("").rstrip("/")))
    assert lake.local_version("sensors_gold", as_uri) == from_log["sensors_gold"]
    remote = dataclasses.replace(settings, pipeline=dataclasses.replace(settings.pipeline, lake_root="s3a://fleet/lake"))
    assert lake.local_version("sensors_gold", remote) is None
