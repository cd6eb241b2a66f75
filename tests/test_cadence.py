"""Cadence: readings faster than ``cadence_minutes`` become one silver row per unit per slot (mean, max for
vibration); readings on the grid come out unchanged; completeness and the model's coverage count time, not rows."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual
from spark_fixtures import NORMAL, T0, lake_settings, write_parquet, write_reference

from altaviz.bronze.stage import ingest_landing
from altaviz.config import load_settings
from altaviz.io import lake
from altaviz.model.baseline import predict_failures
from altaviz.model.features import hourly_readings
from altaviz.registry import SENSOR_COLUMNS
from altaviz.schemas import BRONZE_SCHEMA, SILVER_SCHEMA
from altaviz.silver.quality import check_quality_gates, metric_rows
from altaviz.silver.stage import build_silver
from altaviz.silver.transforms import (
    build_silver_rows,
    completeness_by_compressor,
    with_duplicate_reason,
    with_outlier_flags,
    with_rule_reason,
)

SETTINGS = load_settings()
CADENCE = SETTINGS.pipeline.cadence_minutes
MAD = SETTINGS.pipeline.outlier_mad_threshold
AS_OF = T0 + timedelta(days=1)
EARLY, LATE = T0 + timedelta(days=2), T0 + timedelta(days=3)  # ingest times (after the readings)
NO_DOWNTIME = "compressor_id string, event_date timestamp, downtime_hours double"
SLOTS = "compressor_id string, expected long, received long"


def at(seconds: float, cid: str = "C1", *, file="day.parquet", ingested=EARLY, run_id="r1", **values) -> tuple:
    """One bronze row ``seconds`` after T0, normal values unless given."""
    row = {**NORMAL, **values}
    return (cid, T0 + timedelta(seconds=seconds), *[row[n] for n in SENSOR_COLUMNS], {}, {}, file, ingested, run_id)


def silver_of(spark, rows: list[tuple]):
    bronze = spark.createDataFrame(rows, BRONZE_SCHEMA)
    known = spark.createDataFrame([(cid, date(2020, 5, 1)) for cid in ("C1", "C2")],
                                  "compressor_id string, install_date date")
    classified = bronze.transform(
        with_rule_reason, registry=SETTINGS.registry, as_of=AS_OF, compressors=known
    ).transform(with_duplicate_reason)
    return classified, build_silver_rows(classified, mad_threshold=MAD, cadence_minutes=CADENCE)


def slot_row(cid, minutes, *, vibration, temp, gas=NORMAL["gas_flow_mcf"], outliers=(), file="day.parquet",
             ingested=EARLY, run_id="r1") -> tuple:
    values = {**NORMAL, "vibration_mms": vibration, "discharge_temp_f": temp, "gas_flow_mcf": gas}
    stamp = T0 + timedelta(minutes=minutes)
    return (cid, stamp, *[values[n] for n in SENSOR_COLUMNS], bool(outliers), list(outliers), file, ingested,
            run_id, stamp.date())


# ------------------------------------------------------------------ 1 s readings -> one row per slot


def one_second_bronze() -> list[tuple]:
    """30 minutes of 1 s readings for C1 and C2. Vibration climbs 0.01 mm/s a second and drops each minute
    (C1 3.00..3.59, C2 4.00..4.59: slot mean +0.295, max +0.59); temperature alternates ±0.5 °F around
    200 + the slot's index; C2's gas flow channel is dead in the last slot."""
    rows = []
    for s in range(1800):
        slot = s // 600
        temp = 200.0 + slot + (0.5 if s % 2 == 0 else -0.5)
        rows.append(at(s, "C1", vibration_mms=3.0 + (s % 60) / 100, discharge_temp_f=temp))
        c2_vibration = 9.0 if s == 700 else 4.0 + (s % 60) / 100  # one real spike: the max keeps it
        rows.append(at(s, "C2", vibration_mms=c2_vibration, discharge_temp_f=temp,
                       gas_flow_mcf=None if slot == 2 else NORMAL["gas_flow_mcf"]))
    # C1 at 0:05 first arrived with a wrong temperature; a later delivery restates it (the newer copy wins).
    rows[10] = at(5, "C1", vibration_mms=3.05, discharge_temp_f=260.0)
    rows.append(at(5, "C1", file="restated.parquet", ingested=LATE, run_id="r2", vibration_mms=3.05,
                   discharge_temp_f=199.5))
    rows.append(at(10, "C1", vibration_mms=250.0))  # physically impossible: quarantined, never aggregated
    return rows


def test_one_second_readings_become_one_silver_row_per_unit_per_slot(spark):
    classified, silver = silver_of(spark, one_second_bronze())
    spike_mean = 4.295 + (9.0 - 4.40) / 600  # the 4.40 reading at 11:40 replaced by the 9.0 spike
    expected = spark.createDataFrame(
        [
            slot_row("C1", 0, vibration=3.59, temp=200.0, file="restated.parquet", ingested=LATE, run_id="r2"),
            slot_row("C1", 10, vibration=3.59, temp=201.0),
            slot_row("C1", 20, vibration=3.59, temp=202.0),
            slot_row("C2", 0, vibration=4.59, temp=200.0),
            slot_row("C2", 10, vibration=9.0, temp=201.0, outliers=("vibration_mms",)),
            slot_row("C2", 20, vibration=4.59, temp=202.0, gas=None),
        ],
        SILVER_SCHEMA,
    )
    assertDataFrameEqual(silver, expected, checkRowOrder=False, rtol=1e-12)
    # The slot means of vibration (the max is what silver keeps) over the same readings:
    means = (classified.where(F.col("reason").isNull())
             .groupBy("compressor_id", F.floor(F.unix_seconds("timestamp") / 600).alias("slot"))
             .agg(F.avg("vibration_mms").alias("mean")).orderBy("compressor_id", "slot"))
    assert [r["mean"] for r in means.collect()] == pytest.approx([3.295] * 3 + [4.295, spike_mean, 4.295])
    # The raw rows are judged one by one: one restated, one quarantined, every other reading valid.
    reasons = {r["reason"]: r["n"] for r in classified.groupBy("reason").agg(F.count(F.lit(1)).alias("n")).collect()}
    assert reasons == {None: 3600, "restated": 1, "physically_impossible": 1}


def test_a_slot_mean_of_all_readings_including_superseded_or_rejected_ones_is_caught(spark):
    """Failing case: silver computed from every raw row (restated and quarantined ones too) is not the table."""
    _, silver = silver_of(spark, one_second_bronze())
    wrong = silver.withColumn("vibration_mms", F.when(F.col("compressor_id") == "C1", F.lit(250.0))
                              .otherwise(F.col("vibration_mms")))
    with pytest.raises(AssertionError):
        assertDataFrameEqual(silver, wrong, checkRowOrder=False, rtol=1e-12)
    c1_first = silver.where((F.col("compressor_id") == "C1") & (F.col("timestamp") == F.lit(T0))).first()
    assert c1_first["discharge_temp_f"] == pytest.approx(200.0)  # with the superseded 260 it would be 200.1


# ------------------------------------------------------------------ data at the cadence: unchanged


def test_readings_on_the_grid_come_out_exactly_as_before(spark):
    rows = [at(600 * i, cid, vibration_mms=3.0 + 0.01 * i) for cid in ("C1", "C2") for i in range(12) if i != 5]
    rows += [at(600 * 3, "C1", file="late.parquet", ingested=LATE, vibration_mms=12.0),  # restates, an outlier
             at(600 * 4, "C2", gas_flow_mcf=None)]  # a same-file duplicate with a dead channel
    classified, silver = silver_of(spark, rows)
    # Silver before cadence aggregation: the valid readings, flagged, unchanged.
    before = (classified.where(F.col("reason").isNull())
              .select("compressor_id", "timestamp", *SENSOR_COLUMNS, "source_file", "ingested_at", "run_id")
              .transform(with_outlier_flags, mad_threshold=MAD)
              .withColumn("date", F.to_date("timestamp")).select(*SILVER_SCHEMA.fieldNames()))
    assert silver.where("is_outlier").count() == 1
    assertDataFrameEqual(silver, before, checkRowOrder=False, rtol=0.0, atol=0.0)


def test_readings_off_the_grid_are_stamped_with_their_slot_start(spark):
    """Failing case of 'unchanged': a reading 3 minutes past the grid is moved to its slot's start."""
    _, silver = silver_of(spark, [at(600 * i + 180, "C1") for i in range(3)])
    seconds = silver.select((F.unix_seconds("timestamp") - int(T0.timestamp())).alias("s")).orderBy("s")
    assert [r["s"] for r in seconds.collect()] == [0, 600, 1200]  # not 180, 780, 1380


# ------------------------------------------------------------------ completeness counts time


def completeness(spark, rows: list[tuple]):
    _, silver = silver_of(spark, rows)
    downtime = spark.createDataFrame([], NO_DOWNTIME)
    return completeness_by_compressor(silver, downtime, cadence_minutes=CADENCE)


def test_one_second_data_covering_20_of_30_minutes_is_two_thirds_complete_whatever_the_row_count(spark):
    covered = [s for s in range(1800) if not 600 <= s < 1200]  # minutes 0-10 and 20-30: 1,200 rows
    rows = [at(s, "C1") for s in covered] + [at(s / 4, "C2") for s in range(0, 7200) if not 2400 <= s < 4800]
    actual = completeness(spark, rows)  # C2: 4 readings a second, 4,800 rows, the same 20 minutes
    assertDataFrameEqual(actual, spark.createDataFrame([("C1", 3, 2), ("C2", 3, 2)], SLOTS))
    per_unit = actual.toPandas().assign(rows_read=0, duplicates=0, rejected=0, freshness_minutes=1.0,
                                        in_logged_downtime=False)
    metrics = metric_rows(per_unit, run_id="r1", as_of=AS_OF, settings=SETTINGS)
    values = (metrics[metrics["metric_type"] == "completeness"]
              .fillna({"compressor_id": "fleet"}).set_index("compressor_id"))
    assert values["metric_value"].to_dict() == pytest.approx({"C1": 2 / 3, "C2": 2 / 3, "fleet": 2 / 3})
    assert not values["pass_threshold"].any()  # a third missing breaks the 5 % gate


def test_one_second_data_covering_every_slot_is_complete(spark):
    """Passing case: 1,800 rows covering all 30 minutes are 3 of 3 slots, not 1,800 of 3."""
    actual = completeness(spark, [at(s, "C1") for s in range(1800)])
    assertDataFrameEqual(actual, spark.createDataFrame([("C1", 3, 3)], SLOTS))


def test_thirty_minute_data_is_a_third_complete_not_an_error(spark):
    # 48 readings 30 minutes apart: the span from the first to the last is 142 ten-minute slots, 48 received
    # (1/3 but for the span ending at the last reading: n readings cover n of 3n - 2 slots).
    rows = [at(1800 * i, "C1") for i in range(48)]
    classified, silver = silver_of(spark, rows)
    assert silver.count() == 48 and classified.where(F.col("reason").isNotNull()).count() == 0
    actual = completeness(spark, rows)
    assertDataFrameEqual(actual, spark.createDataFrame([("C1", 142, 48)], SLOTS))
    per_unit = actual.toPandas().assign(rows_read=48, duplicates=0, rejected=0, freshness_minutes=1.0,
                                        in_logged_downtime=False)
    metrics = metric_rows(per_unit, run_id="r1", as_of=AS_OF, settings=SETTINGS)
    fleet = metrics[metrics["compressor_id"].isna()].set_index("metric_type")["metric_value"]
    assert fleet["completeness"] == pytest.approx(48 / 142) and fleet["completeness"] == pytest.approx(1 / 3, abs=0.01)
    gate = {g.gate: g for g in check_quality_gates(metrics, SETTINGS)}["gates.max_missing_rate"]
    assert not gate.passed and "is above the limit" in gate.message  # measured and gated, not raised


# ------------------------------------------------------------------ the stage: raw-row gates, slots in silver


def test_the_stage_aggregates_one_second_data_and_keeps_the_rate_gates_per_raw_row(spark, tmp_path):
    landing = tmp_path / "landing"
    write_reference(landing)
    c1 = [{"compressor_id": "C1", "timestamp": T0 + timedelta(seconds=s), **NORMAL}
          for s in range(1800) if not 600 <= s < 1200]
    c2 = [{"compressor_id": "C2", "timestamp": T0 + timedelta(seconds=s), **NORMAL} for s in range(1800)]
    write_parquet(landing / "sensor_readings" / "pump.parquet", c1 + c2 + c2[:30])  # 30 raw duplicates
    settings = lake_settings(tmp_path, gates=dataclasses.replace(SETTINGS.pipeline.gates, max_missing_rate=0.5))
    ingest_landing(spark, landing, run_id="r1", settings=settings, ingested_at=EARLY)
    as_of = T0 + timedelta(minutes=30)
    report = build_silver(spark, run_id="r1", as_of=as_of, settings=settings)
    assert (report.rows_read, report.rows_valid, report.counts["sensors_silver"]) == (3030, 3000, 5)
    gates = {g.gate: g for g in report.gates}
    assert gates["gates.max_duplicate_rate"].value == pytest.approx(30 / 3030)  # per raw row, not per slot
    assert gates["gates.max_rejection_rate"].value == 0.0
    completeness = report.compressor_metrics.set_index("compressor_id")["completeness"].to_dict()
    assert completeness == pytest.approx({"C1": 2 / 3, "C2": 1.0})
    # Freshness from the newest raw reading (29:59), not its slot's start (20:00).
    assert report.fleet_metrics["freshness"] == pytest.approx(1 / 60)
    assert report.passed and report.silver_written
    silver = lake.read_table(spark, "sensors_silver", settings=settings)
    minutes = (F.unix_seconds("timestamp") - int(T0.timestamp())) / 60
    slots = silver.select("compressor_id", minutes.cast("int").alias("minute")).orderBy("compressor_id", "minute")
    assert [tuple(r) for r in slots.collect()] == [("C1", 0), ("C1", 20), ("C2", 0), ("C2", 10), ("C2", 20)]
    # A rerun over the same bronze changes nothing: the slot means are summed in a fixed order.
    version = lake.latest_version(spark, "sensors_silver", settings=settings)
    build_silver(spark, run_id="r1", as_of=as_of, settings=settings)
    history = lake.read_history(spark, "sensors_silver", settings=settings).where(F.col("version") > version)
    assert all(r["operationMetrics"].get("numTargetRowsUpdated", "0") == "0" for r in history.collect())


# ------------------------------------------------------------------ the model's coverage counts time


def gold_like(spark, seconds: list[float], cid: str = "C1"):
    rows = [(cid, T0 + timedelta(seconds=s), *[NORMAL[n] for n in SENSOR_COLUMNS]) for s in seconds]
    return spark.createDataFrame(rows, "compressor_id string, timestamp timestamp, "
                                 + ", ".join(f"{n} double" for n in SENSOR_COLUMNS))


def test_hourly_coverage_is_the_share_of_slots_with_a_reading_not_a_row_count(spark):
    # C1: 1 s readings for the first half of the hour ending T0 + 1 h (1,800 rows, 3 of 6 slots).
    # C2: one reading every 10 minutes, the whole hour (6 rows, 6 of 6 slots).
    half = gold_like(spark, list(range(1, 1801)), "C1")
    full = gold_like(spark, [600 * i for i in range(1, 7)], "C2")
    hourly = hourly_readings(half.unionByName(full), registry=SETTINGS.registry, cadence_minutes=CADENCE)
    coverage = {r["compressor_id"]: r["coverage"] for r in hourly.select("compressor_id", "coverage").collect()}
    assert coverage == pytest.approx({"C1": 0.5, "C2": 1.0})


def test_the_baseline_confidence_is_the_share_of_24_hours_covered(spark, settings_no_db):
    # 1 minute readings over the last 12 of 24 hours: 720 rows, 72 of 144 slots -> 0.5, not capped at 1.
    minute_feed = gold_like(spark, [60 * m for m in range(1, 721)], "C1")
    grid_feed = gold_like(spark, [600 * i for i in range(-144, 1)], "C2")  # 24 h on the grid: complete
    scores = predict_failures(minute_feed.unionByName(grid_feed), settings=settings_no_db)
    confidence = {r["compressor_id"]: r["confidence_score"] for r in scores.collect()}
    assert confidence == {"C1": 0.5, "C2": 1.0}
