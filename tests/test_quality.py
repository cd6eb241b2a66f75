"""Silver: rules with reason codes, flag-only outliers, data-quality metrics and gates, MERGE semantics."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual
from spark_fixtures import NORMAL, T0, lake_settings, reading, write_parquet, write_reference

from altaviz.io import lake
from altaviz.bronze.stage import ingest_landing
from altaviz.config import load_settings
from altaviz.registry import SENSOR_COLUMNS
from altaviz.silver.quality import (
    JudgedSpan,
    QualityGateError,
    SilverReport,
    check_quality_gates,
    judged_through,
    metric_rows,
    validate_quality_gates,
)
from altaviz.silver.stage import build_silver
from altaviz.silver.transforms import (
    completeness_by_compressor,
    freshness_by_compressor,
    with_duplicate_reason,
    unit_medians,
    with_outlier_flags,
    with_rule_reason,
)
from altaviz.schemas import BRONZE_SCHEMA
from reliability import reliability

SETTINGS = load_settings()
AS_OF = T0 + timedelta(days=1)
EARLY, LATE = datetime(2026, 2, 1, tzinfo=timezone.utc), datetime(2026, 2, 2, tzinfo=timezone.utc)


def bronze_row(cid, minutes, *, unparsed=None, file="f.parquet", ingested=EARLY, **values):
    row = reading(cid, minutes, **values)
    return (row["compressor_id"], row["timestamp"], *[row[n] for n in SENSOR_COLUMNS], unparsed or {}, {}, file, ingested, "r1")


# ------------------------------------------------------------------ rules


@reliability("input", "Missing or blank compressor ids, unparsable timestamps and values, NaN, infinity, "
                      "impossible values (below a vacuum, negative vibration, absurd), times after as_of or before "
                      "the unit's installation, unknown ids",
             "each row quarantined with its own reason; critical but real readings, a vacuum and dead channels "
             "(null) stay")
def test_each_rule_gets_its_reason_and_critical_or_null_readings_stay(spark):
    rows = [
        bronze_row("C1", 0),                                                   # valid
        bronze_row("C1", 10, vibration_mms=9.5, discharge_temp_f=275.0),       # critical, real: valid
        bronze_row("C1", 20, gas_flow_mcf=None),                               # a dead channel: kept with null
        bronze_row("C1", 25, suction_pressure_psi=-5.0),                       # a vacuum (gauge): real
        bronze_row(None, 30),
        bronze_row("  ", 40),
        bronze_row("C1", None, unparsed={"timestamp": "yesterday"}),
        bronze_row("C1", 50, gas_flow_mcf=None, unparsed={"gas_flow_mcf": "n/a"}),
        bronze_row("C1", 60, discharge_temp_f=float("nan")),
        bronze_row("C1", 70, vibration_mms=float("inf")),
        bronze_row("C1", 80, suction_pressure_psi=-20.0),                      # below a perfect vacuum, -14.7
        bronze_row("C1", 90, vibration_mms=250.0),                             # beyond any real machine
        bronze_row("C1", 24 * 60 + 10),                                        # after as_of
        bronze_row("C9", 0),                                                   # not in metadata
        bronze_row("C2", -60 * 24 * 365),                                      # a year before C2 was installed
        bronze_row("C2", 0, file="old.parquet", ingested=EARLY),               # superseded by a later ingest
        bronze_row("C2", 0, file="new.parquet", ingested=LATE, vibration_mms=3.3),
        bronze_row("C2", 10, file="same.parquet", ingested=EARLY),             # re-exported under its name
        bronze_row("C2", 10, file="same.parquet", ingested=LATE, vibration_mms=3.4),
    ]
    bronze = spark.createDataFrame(rows, BRONZE_SCHEMA)
    known = spark.createDataFrame([("C1", date(2020, 5, 1)), ("C2", T0.date())],
                                  "compressor_id string, install_date date")
    classified = bronze.transform(
        with_rule_reason, registry=SETTINGS.registry, as_of=AS_OF, compressors=known
    ).transform(with_duplicate_reason)
    expected = spark.createDataFrame(
        [
            ("C1", 0.0, None, None), ("C1", 10.0, None, None), ("C1", 20.0, None, None), ("C1", 25.0, None, None),
            (None, 30.0, "missing_id", None), ("  ", 40.0, "missing_id", None),
            ("C1", None, "missing_timestamp", "yesterday"),
            ("C1", 50.0, "non_numeric", '{"gas_flow_mcf":"n/a"}'),
            ("C1", 60.0, "non_finite", "discharge_temp_f"), ("C1", 70.0, "non_finite", "vibration_mms"),
            ("C1", 80.0, "physically_impossible", "suction_pressure_psi"),
            ("C1", 90.0, "physically_impossible", "vibration_mms"),
            ("C1", 1450.0, "future_timestamp", f"after as_of {AS_OF.isoformat()}"),
            ("C9", 0.0, "unknown_compressor", "not in compressor_metadata"),
            ("C2", -525600.0, "before_installation", "before install_date 2026-01-05"),
            ("C2", 0.0, "restated", "restated by new.parquet"), ("C2", 0.0, None, None),
            ("C2", 10.0, "restated", "restated by same.parquet"), ("C2", 10.0, None, None),
        ],
        "compressor_id string, minutes double, reason string, reason_detail string",
    )
    minutes = (F.unix_seconds("timestamp") - int(T0.timestamp())) / 60.0
    actual = classified.select("compressor_id", minutes.alias("minutes"), "reason", "reason_detail")
    assertDataFrameEqual(actual, expected, checkRowOrder=False)
    kept = classified.where(F.col("reason").isNull()).select(
        "compressor_id", "source_file", "vibration_mms", "discharge_temp_f", "suction_pressure_psi")
    assert sorted(kept.collect()) == sorted(
        [("C1", "f.parquet", 3.0, 200.0, 60.0), ("C1", "f.parquet", 9.5, 275.0, 60.0),
         ("C1", "f.parquet", 3.0, 200.0, 60.0), ("C1", "f.parquet", 3.0, 200.0, -5.0),
         ("C2", "new.parquet", 3.3, 200.0, 60.0), ("C2", "same.parquet", 3.4, 200.0, 60.0)]
    )


# ------------------------------------------------------------------ outliers


def test_outliers_are_flagged_per_compressor_and_never_changed(spark):
    # C1 is steady with one spike; C2 runs hot all the time, which is normal *for C2*.
    wobble = [0.0, 0.1, -0.1, 0.05, -0.05, 0.08, -0.08, 0.02, -0.02, 0.04]
    rows = [reading("C1", 10 * i, vibration_mms=3.0 + w) for i, w in enumerate(wobble)]
    rows.append(reading("C1", 100, vibration_mms=12.0))
    rows += [reading("C2", 10 * i, vibration_mms=8.5 + w) for i, w in enumerate(wobble)]
    readings = spark.createDataFrame(pd.DataFrame(rows)).withColumn("timestamp", F.col("timestamp").cast("timestamp"))
    flagged = readings.transform(with_outlier_flags, mad_threshold=6.0)
    expected = readings.withColumn(
        "is_outlier", (F.col("compressor_id") == "C1") & (F.col("vibration_mms") == 12.0)
    ).withColumn("outlier_sensors", F.when(F.col("is_outlier"), F.array(F.lit("vibration_mms"))).otherwise(F.array().cast("array<string>")))
    assertDataFrameEqual(flagged.select(*expected.columns), expected, checkRowOrder=False)


def test_numpy_and_spark_medians_give_the_same_flags_on_a_random_fleet(spark):
    # Odd and even counts per unit, nulls, a unit whose suction pressure never reads, a stuck channel (MAD 0).
    rng = np.random.default_rng(7)
    rows = []
    for unit in range(12):
        for i in range(40 + unit):
            values = {name: float(value) * rng.normal(1.0, 0.03) for name, value in NORMAL.items()}
            values.update({name: None for name in NORMAL if rng.random() < 0.05})
            if unit == 3:
                values["suction_pressure_psi"] = None
            if unit == 4:
                values["vibration_mms"] = 3.0
            if rng.random() < 0.03:
                values["discharge_temp_f"] = 400.0
            rows.append(reading(f"C{unit}", 10 * i, **values))
    readings = spark.createDataFrame(pd.DataFrame(rows)).withColumn("timestamp", F.col("timestamp").cast("timestamp"))
    fast = readings.transform(with_outlier_flags, mad_threshold=6.0)
    plain = readings.transform(with_outlier_flags, mad_threshold=6.0, reference=True)
    assert fast.where("is_outlier").count() > 5
    assertDataFrameEqual(fast, plain, checkRowOrder=False)
    medians = unit_medians(readings)
    assert medians.where("compressor_id = 'C3'").select("_med_suction_pressure_psi", "_mad_suction_pressure_psi") \
        .first() == (None, None)  # null, not NaN: a NaN MAD would compare above every threshold

    # Failing case: one reading's flag the other way round is a different result.
    first = plain.orderBy("compressor_id", "timestamp").first()
    flipped = (F.col("compressor_id") == first["compressor_id"]) & (F.col("timestamp") == first["timestamp"])
    nudged = plain.withColumn("is_outlier", F.when(flipped, ~F.col("is_outlier")).otherwise(F.col("is_outlier")))
    with pytest.raises(AssertionError):
        assertDataFrameEqual(fast, nudged, checkRowOrder=False)


# ------------------------------------------------------------------ completeness


def test_completeness_counts_gaps_but_not_logged_downtime(spark):
    minutes = [0, 10, 20, 40, 80]  # 30 and 70 missing; 50 and 60 inside a logged downtime
    silver = spark.createDataFrame([("C1", T0 + timedelta(minutes=m)) for m in minutes], "compressor_id string, timestamp timestamp")
    downtime = spark.createDataFrame(
        [("C1", T0 + timedelta(minutes=50), 20 / 60), ("C2", T0, 100.0)],
        "compressor_id string, event_date timestamp, downtime_hours double",
    )
    actual = completeness_by_compressor(silver, downtime, cadence_minutes=10)
    assertDataFrameEqual(actual, spark.createDataFrame([("C1", 7, 5)], "compressor_id string, expected long, received long"))



def test_freshness_excuses_only_a_unit_whose_logged_downtime_covers_as_of(spark):
    as_of = T0 + timedelta(hours=10)
    silver = spark.createDataFrame(
        [("C1", as_of - timedelta(minutes=10)), ("C2", T0), ("C3", T0), ("C3", T0 - timedelta(hours=1))],
        "compressor_id string, timestamp timestamp",
    )
    downtime = spark.createDataFrame(
        [("C2", T0 + timedelta(minutes=5), 12.0),  # tripped after its last reading, still down at as_of
         ("C3", T0 + timedelta(minutes=5), 2.0)],  # back from a 2 h repair at 02:05, silent since
        "compressor_id string, event_date timestamp, downtime_hours double",
    )
    actual = freshness_by_compressor(silver, downtime, as_of=as_of)
    expected = spark.createDataFrame(
        [("C1", 10.0, False), ("C2", 600.0, True), ("C3", 600.0, False)],
        "compressor_id string, freshness_minutes double, in_logged_downtime boolean",
    )
    assertDataFrameEqual(actual, expected, checkRowOrder=False)


# ------------------------------------------------------------------ metrics and gates (pure pandas)


def per_compressor(*, rows=1000, duplicates=0, rejected=0, expected=1000, received=1000, freshness=10.0):
    return pd.DataFrame(
        [{"compressor_id": "C1", "rows_read": rows, "duplicates": duplicates, "rejected": rejected,
          "expected": expected, "received": received, "freshness_minutes": freshness}]
    )


def gates_for(**kwargs):
    return {g.gate: g for g in check_quality_gates(metric_rows(per_compressor(**kwargs), run_id="r", as_of=AS_OF, settings=SETTINGS), SETTINGS)}


def test_metric_rows_cover_each_compressor_and_the_fleet():
    metrics = metric_rows(per_compressor(received=990, duplicates=10), run_id="r", as_of=AS_OF, settings=SETTINGS)
    assert len(metrics) == 8 and set(metrics["metric_type"]) == {"freshness", "completeness", "consistency", "accuracy"}
    fleet = metrics[metrics["compressor_id"].isna()].set_index("metric_type")
    assert fleet.loc["completeness", "metric_value"] == pytest.approx(0.99)
    assert json.loads(fleet.loc["consistency", "details"])["duplicate_rate"] == pytest.approx(0.01)
    assert fleet["pass_threshold"].all()


@pytest.mark.parametrize(
    "gate, failing",
    [
        ("gates.max_missing_rate", {"received": 900}),
        ("gates.max_duplicate_rate", {"duplicates": 60}),
        ("gates.max_rejection_rate", {"rejected": 51}),
        ("freshness_sla_minutes", {"freshness": 16.0}),
    ],
)
def test_each_gate_passes_on_good_data_and_fails_on_bad(gate, failing):
    assert gates_for()[gate].passed
    assert gates_for(**failing)[gate].passed is False


def units(*rows):
    """per_compressor rows for several units: (id, freshness_minutes, in_logged_downtime)."""
    return pd.DataFrame(
        [{"compressor_id": cid, "rows_read": 100, "duplicates": 0, "rejected": 0, "expected": 100, "received": 100,
          "freshness_minutes": minutes, "in_logged_downtime": down} for cid, minutes, down in rows]
    )


def freshness_gate(frame):
    return {g.gate: g for g in check_quality_gates(metric_rows(frame, run_id="r", as_of=AS_OF, settings=SETTINGS), SETTINGS)}[
        "freshness_sla_minutes"
    ]


@reliability("input", "One unit silent while the others report",
             "the freshness gate fails, naming the silent unit")
def test_one_silent_unit_fails_the_freshness_gate_however_many_others_report():
    gate = freshness_gate(units(("C1", 10.0, False), ("C2", 10.0, False), ("C3", 130.0, False)))
    assert (gate.passed, gate.value) == (False, 130.0)
    assert gate.message == (
        "quality gate freshness_sla_minutes (freshness): stalest unit C3's newest reading is 130.0 min before as_of, "
        "beyond the SLA of 15 min (1 unit(s) silent: C3); 0 unit(s) in logged downtime excused"
    )


def test_a_unit_in_logged_downtime_is_excused_and_the_rest_must_be_fresh():
    gate = freshness_gate(units(("C1", 10.0, False), ("C2", 12.0, False), ("C3", 130.0, True)))
    assert (gate.passed, gate.value) == (True, 12.0)
    assert gate.message == (
        "quality gate freshness_sla_minutes (freshness): stalest unit C2's newest reading is 12.0 min before as_of, "
        "within the SLA of 15 min; 1 unit(s) in logged downtime excused"
    )
    metrics = metric_rows(units(("C1", 10.0, False), ("C3", 130.0, True)), run_id="r", as_of=AS_OF, settings=SETTINGS)
    per_unit = metrics[metrics["metric_type"].eq("freshness") & metrics["compressor_id"].notna()]
    assert per_unit[["compressor_id", "metric_value", "pass_threshold"]].values.tolist() == [["C1", 10.0, True], ["C3", 130.0, True]]
    assert json.loads(per_unit["details"].iloc[1])["in_logged_downtime"] is True


def test_a_unit_without_a_valid_reading_fails_the_freshness_gate_by_name():
    gate = freshness_gate(units(("C1", 10.0, False), ("C2", None, False)))
    assert gate.passed is False
    assert gate.message == (
        "quality gate freshness_sla_minutes (freshness): no valid reading from C2; 0 unit(s) in logged downtime excused"
    )


@reliability("input", "A quality rate over zero rows",
             "unmeasured and failing, never 0 % passing")
def test_rates_over_no_rows_are_unmeasured_and_fail_their_gates():
    gates = gates_for(rows=0, expected=0, received=0, freshness=None)
    assert {name: (gate.value, gate.passed) for name, gate in gates.items()} == {
        "gates.max_missing_rate": (None, False),
        "gates.max_duplicate_rate": (None, False),
        "gates.max_rejection_rate": (None, False),
        "freshness_sla_minutes": (None, False),
    }
    assert gates["gates.max_duplicate_rate"].message.startswith(
        "quality gate gates.max_duplicate_rate (consistency): no rows to measure the fleet duplicate rate on"
    )


def fleet_rate_rows(run_id, passed, through):
    details = json.dumps({} if through is None else {"judged_through": through})
    return [{"run_id": run_id, "compressor_id": None, "metric_type": metric_type, "pass_threshold": passed,
             "details": details} for metric_type in ("completeness", "consistency", "accuracy")]


def test_the_next_run_judges_what_came_after_the_last_run_whose_rate_gates_passed():
    metrics = pd.DataFrame(
        fleet_rate_rows("old", True, None)  # written before judged spans: judges everything
        + fleet_rate_rows("r1", True, "2026-02-01T00:00:00+00:00")
        + fleet_rate_rows("r2", False, "2026-02-03T00:00:00+00:00")  # failed: its deliveries are judged again
    )
    metrics.loc[len(metrics) - 1, "pass_threshold"] = True  # one rate passing does not make the run pass
    assert judged_through(metrics, run_id="r3") == datetime(2026, 2, 1, tzinfo=timezone.utc)
    assert judged_through(metrics, run_id="r1") is None  # a rerun of r1 does not start after itself
    assert judged_through(metrics.iloc[:0], run_id="r1") is None


def test_a_run_with_nothing_new_after_a_passing_run_has_nothing_to_judge_and_passes():
    judged = JudgedSpan(EARLY, EARLY)
    metrics = metric_rows(per_compressor(rows=0, expected=0, received=0), run_id="r", as_of=AS_OF, settings=SETTINGS,
                          judged=judged)
    gates = {g.gate: (g.value, g.passed) for g in check_quality_gates(metrics, SETTINGS)}
    assert gates == {"gates.max_missing_rate": (None, True), "gates.max_duplicate_rate": (None, True),
                     "gates.max_rejection_rate": (None, True), "freshness_sla_minutes": (10.0, True)}
    message = {g.gate: g.message for g in check_quality_gates(metrics, SETTINGS)}["gates.max_rejection_rate"]
    assert message.startswith("quality gate gates.max_rejection_rate (accuracy): no deliveries new since "
                              "2026-02-01T00:00:00+00:00, nothing to judge [")
    # New rows that are all bad still fail: only an empty judged span passes unmeasured.
    bad = metric_rows(per_compressor(rows=10, rejected=10, expected=0, received=0), run_id="r", as_of=AS_OF,
                      settings=SETTINGS, judged=judged)
    assert {g.gate: g.passed for g in check_quality_gates(bad, SETTINGS)} == {
        "gates.max_missing_rate": False, "gates.max_duplicate_rate": True, "gates.max_rejection_rate": False,
        "freshness_sla_minutes": True}


def test_validate_quality_gates_names_gate_value_and_limit():
    def report(**kwargs):
        return SilverReport("r", AS_OF, 1000, 1000, {}, 0, {}, pd.DataFrame(), tuple(gates_for(**kwargs).values()))

    assert validate_quality_gates(report()) == ()  # passes silently
    with pytest.raises(QualityGateError, match=r"max_missing_rate \(completeness\): fleet missing rate 10\.00% is above the limit 5\.00%"):
        validate_quality_gates(report(received=900))
    # A silent unit does not stop the run: the failed freshness gate is said, and alerted on by 05_publish.
    (said,) = validate_quality_gates(report(freshness=45.0))
    assert said == ("quality gate freshness_sla_minutes (freshness): stalest unit C1's newest reading is 45.0 min before "
                    "as_of, beyond the SLA of 15 min (1 unit(s) silent: C1); 0 unit(s) in logged downtime excused; "
                    "the run goes on and 05_publish alerts the silent unit(s) as stale")
    with pytest.raises(QualityGateError, match=r"1 data-quality gate\(s\) failed.*\n- quality gate gates.max_missing_rate"):
        validate_quality_gates(report(received=900, freshness=45.0))


# ------------------------------------------------------------------ the stage on Delta: late data lands in place


@pytest.fixture(scope="module")
def silver_lake(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("silver")
    landing = root / "landing"
    write_reference(landing)
    rows = [reading(cid, 10 * i) for cid in ("C1", "C2") for i in range(12) if i != 5]
    rows.append(reading("C1", 20, vibration_mms=None))  # a duplicate key in the same file
    rows.append(reading(None, 30))
    write_parquet(landing / "sensor_readings" / "day1.parquet", rows)
    # Two gaps in 24 slots are 8.3 % missing: above the default 5 % gate, within this lake's 10 %.
    settings = lake_settings(root, gates=dataclasses.replace(SETTINGS.pipeline.gates, max_missing_rate=0.1))
    ingest_landing(spark, landing, run_id="r1", settings=settings, ingested_at=EARLY)
    first = build_silver(spark, run_id="r1", as_of=T0 + timedelta(minutes=120), settings=settings)
    return root, landing, settings, first


def test_silver_stage_quarantines_measures_and_gates(spark, silver_lake):
    _, _, settings, first = silver_lake
    assert first.rows_read == 24 and first.rows_valid == 22
    assert first.quarantine_counts["missing_id"] == 1 and first.quarantine_counts["duplicate"] == 1
    assert first.fleet_metrics["completeness"] == pytest.approx(22 / 24)
    assert first.passed and first.silver_written
    quarantine = lake.read_table(spark, "sensors_quarantine", settings=settings)
    assert sorted(r["reason"] for r in quarantine.select("reason").collect()) == ["duplicate", "missing_id"]
    assert {r["source_file"] for r in quarantine.select("source_file").collect()} == {"sensor_readings/day1.parquet"}
    metrics = lake.read_table(spark, "data_quality_metrics", settings=settings)
    assert metrics.count() == 12  # 4 metrics x (2 compressors + fleet)


@reliability("input", "Late and out-of-order readings",
             "merged in place by compressor and time, one MERGE")
def test_late_out_of_order_data_lands_in_place_with_one_merge(spark, silver_lake):
    _, landing, settings, _ = silver_lake
    version = lake.latest_version(spark, "sensors_silver", settings=settings)
    current = lake.read_table(spark, "sensors_silver", settings=settings)
    before = spark.createDataFrame(current.collect(), current.schema)  # materialised: a Delta read is lazy
    late = [reading("C1", 50), reading("C2", 50), reading("C1", 0, vibration_mms=4.2)]  # fills gaps, corrects one
    write_parquet(landing / "sensor_readings" / "late.parquet", late)
    ingest_landing(spark, landing, run_id="r2", settings=settings, ingested_at=LATE)
    report = build_silver(spark, run_id="r2", as_of=T0 + timedelta(minutes=120), settings=settings)
    assert report.fleet_metrics["completeness"] == 1.0 and report.quarantine_counts["duplicate"] == 1
    assert report.quarantine_counts["restated"] == 1  # late.parquet corrects C1 at T0
    assert lake.latest_version(spark, "sensors_silver", settings=settings) == version + 1
    history = lake.read_history(spark, "sensors_silver", settings=settings).where(F.col("version") == version + 1)
    assert history.first()["operation"] == "MERGE"
    after = lake.read_table(spark, "sensors_silver", settings=settings)
    old = lake.read_table(spark, "sensors_silver", settings=settings, version=version)  # time travel
    assertDataFrameEqual(old, before, checkRowOrder=False)
    key_c1_0 = (F.col("compressor_id") == "C1") & (F.col("timestamp") == F.lit(T0))
    assert after.where(key_c1_0).first()["vibration_mms"] == 4.2 and after.where(key_c1_0).first()["run_id"] == "r2"
    assert after.count() == 24
    unchanged = after.where(~key_c1_0 & (F.col("run_id") == "r1"))
    assertDataFrameEqual(unchanged, before.where(~key_c1_0), checkRowOrder=False)


def test_the_report_carries_the_outlier_flags_and_metrics_that_silver_and_its_metrics_table_hold(spark, tmp_path):
    # 03_silver draws these from the report: they must be what the lake holds after the run.
    wobble = [0.0, 0.1, -0.1, 0.05, -0.05, 0.08, -0.08, 0.02, -0.02, 0.04, 0.03, -0.03]
    rows = [reading(cid, 10 * i, vibration_mms=3.0 + w, discharge_temp_f=200.0 + 10 * w)
            for cid in ("C1", "C2") for i, w in enumerate(wobble)]
    rows[3] = reading("C1", 30, vibration_mms=12.0, discharge_temp_f=200.0)
    rows[12 + 7] = reading("C2", 70, vibration_mms=11.0, discharge_temp_f=260.0)
    landing = tmp_path / "landing"
    write_reference(landing)
    write_parquet(landing / "sensor_readings" / "day1.parquet", rows)
    settings = lake_settings(tmp_path)
    ingest_landing(spark, landing, run_id="r1", settings=settings, ingested_at=EARLY)
    report = build_silver(spark, run_id="r1", as_of=T0 + timedelta(minutes=120), settings=settings)

    expected = pd.DataFrame({"compressor_id": ["C1", "C2", "C2"],
                             "sensor": ["vibration_mms", "discharge_temp_f", "vibration_mms"], "flags": [1, 1, 1]})
    pd.testing.assert_frame_equal(report.outlier_flags, expected)
    stored = (lake.read_table(spark, "sensors_silver", settings=settings).where("is_outlier")
              .select("compressor_id", F.explode("outlier_sensors").alias("sensor"))
              .groupBy("compressor_id", "sensor").agg(F.count(F.lit(1)).alias("flags"))
              .orderBy("compressor_id", "sensor").toPandas())
    pd.testing.assert_frame_equal(report.outlier_flags, stored, check_dtype=False)
    assert report.outliers_flagged == 2 and report.counts["sensors_silver"] == 24

    columns = ["compressor_id", "metric_type", "metric_value", "threshold_value", "pass_threshold", "details"]
    table = lake.read_table(spark, "data_quality_metrics", settings=settings).where(F.col("run_id") == "r1").toPandas()
    by_key = ["metric_type", "compressor_id"]
    pd.testing.assert_frame_equal(report.metrics[columns].sort_values(by_key).reset_index(drop=True),
                                  table[columns].sort_values(by_key).reset_index(drop=True))


def test_missing_inputs_fail_loudly(spark, tmp_path):
    with pytest.raises(RuntimeError, match="sensors_bronze does not exist"):
        build_silver(spark, run_id="x", as_of=AS_OF, settings=lake_settings(tmp_path))



@reliability("input", "One bad new delivery after a long good history",
             "its rejection rate is judged on its own and fails the gate; it is judged again until a run passes")
def test_a_bad_new_delivery_is_judged_on_its_own_not_diluted_by_the_history(spark, tmp_path):
    landing, settings = tmp_path / "landing", lake_settings(tmp_path)
    write_reference(landing)
    history = [reading(cid, 10 * i) for cid in ("C1", "C2") for i in range(300)]
    write_parquet(landing / "sensor_readings" / "history.parquet", history)
    ingest_landing(spark, landing, run_id="r1", settings=settings, ingested_at=EARLY)
    as_of = T0 + timedelta(minutes=3000)
    first = build_silver(spark, run_id="r1", as_of=as_of, settings=settings)
    assert first.passed, [g.message for g in first.gates if not g.passed]
    written = {table: lake.latest_version(spark, table, settings=settings)
               for table in ("sensors_silver", "sensors_quarantine")}

    # 20 new readings, 8 of them physically impossible: 40 % of the delivery, 1.3 % of all of bronze.
    new = [reading(cid, 3000 + 10 * i, vibration_mms=-5.0 if i < 4 else 2.0) for cid in ("C1", "C2") for i in range(10)]
    write_parquet(landing / "sensor_readings" / "new.parquet", new)
    ingest_landing(spark, landing, run_id="r2", settings=settings, ingested_at=LATE)
    as_of = T0 + timedelta(minutes=3100)
    second = build_silver(spark, run_id="r2", as_of=as_of, settings=settings)
    rejection = {g.gate: g for g in second.gates}["gates.max_rejection_rate"]
    assert (rejection.passed, rejection.value) == (False, pytest.approx(0.4))
    span = '"judged_after": "2026-02-01T00:00:00+00:00", "judged_through": "2026-02-02T00:00:00+00:00"'
    assert span in rejection.message
    with pytest.raises(QualityGateError, match=r"sensors_silver and sensors_quarantine were left as they were:\n"
                                               r"- .*fleet rejection rate 40\.00% is above the limit 5\.00%"):
        validate_quality_gates(second)
    # Gates before writes: the failed run recorded its metrics and wrote nothing to silver or quarantine.
    assert {table: lake.latest_version(spark, table, settings=settings) for table in written} == written

    # The failed run did not move the span: the next run judges the same delivery and fails again.
    third = build_silver(spark, run_id="r3", as_of=as_of, settings=settings)
    failed = [(g.gate, g.value) for g in third.gates if not g.passed]
    assert failed == [("gates.max_rejection_rate", pytest.approx(0.4))]
    metrics = lake.read_table(spark, "data_quality_metrics", settings=settings).where(F.col("compressor_id").isNull())
    passed = {r["run_id"]: r["pass_threshold"] for r in metrics.where(F.col("metric_type") == "accuracy").collect()}
    assert passed == {"r1": True, "r2": False, "r3": False}

    # An operator accepts the delivery by raising the gate for one run; the run after has nothing new to judge.
    lenient = lake_settings(tmp_path, gates=dataclasses.replace(settings.pipeline.gates, max_rejection_rate=0.5))
    assert build_silver(spark, run_id="r4", as_of=as_of, settings=lenient).passed
    assert lake.read_table(spark, "sensors_silver", settings=settings).count() == 600 + 12
    fifth = build_silver(spark, run_id="r5", as_of=as_of, settings=settings)
    assert fifth.passed and fifth.rows_read == 620 and fifth.counts["quarantine_physically_impossible"] == 8
    assert {g.gate: g.value for g in fifth.gates}["gates.max_rejection_rate"] is None
