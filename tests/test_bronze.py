"""Bronze: each landing file exactly once, column mapping and units, whole-file rejection with reasons."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual
from spark_fixtures import NORMAL, lake_settings, reading, write_csv, write_parquet, write_reference

from altaviz.io import lake
from altaviz.bronze.stage import PlannedFile, RetryNextRun, _profile_one_by_one, ingest_landing
from altaviz.bronze.transforms import ColumnSource, resolve_columns, validate_column_mapping
from altaviz.config import ConfigError, get_settings
from altaviz.runs import as_utc
from altaviz.silver.stage import build_silver
from reliability import reliability

INGESTED_AT = datetime(2026, 2, 1, tzinfo=timezone.utc)
MAPPING = {
    "Vib_in_s": {"column": "vibration_mms", "unit": "in/s"},
    "DischTempC": {"column": "discharge_temp_f", "unit": "degC"},
    "SuctionKPa": {"column": "suction_pressure_psi", "unit": "kPa"},
    "DischBar": {"column": "discharge_pressure_psi", "unit": "bar"},
    "unit_tag": "compressor_id",
}
CONTRACT = {"compressor_id": "string", "timestamp": "timestamp", **{name: "numeric" for name in NORMAL}}


# ------------------------------------------------------------------ pure checks (no Spark)


def test_column_mapping_resolves_units():
    resolved = validate_column_mapping(MAPPING)
    assert resolved["Vib_in_s"] == ("vibration_mms", 25.4, 0.0)
    assert resolved["DischTempC"] == ("discharge_temp_f", 1.8, 32.0)
    assert resolved["unit_tag"] == ("compressor_id", 1.0, 0.0)


@pytest.mark.parametrize(
    "mapping, message",
    [
        ({"x": {"column": "nope"}}, "ingest.column_mapping.x: column must be one of"),
        ({"x": {"column": "vibration_mms", "unit": "furlongs"}}, "unit 'furlongs' is not convertible to vibration_mms"),
    ],
)
def test_column_mapping_rejects_unknown_columns_and_units(mapping, message):
    with pytest.raises(ConfigError, match=message):
        validate_column_mapping(mapping)


def test_resolve_columns_accepts_the_contract_and_keeps_extras_out_of_sources():
    sources, reason = resolve_columns({**CONTRACT, "site_note": "string"}, {})
    assert reason is None
    assert sources["gas_flow_mcf"] == ColumnSource("gas_flow_mcf")
    assert "site_note" not in {s.source for s in sources.values()}


@pytest.mark.parametrize(
    "columns, reason",
    [
        ({k: v for k, v in CONTRACT.items() if k != "gas_flow_mcf"}, "missing required column(s): gas_flow_mcf"),
        ({**CONTRACT, "vibration_mms": "string"}, "wrong type(s): vibration_mms is string, expected null/numeric"),
        ({**CONTRACT, "timestamp": "timestamp_ns"}, "wrong type(s): timestamp is a nanosecond timestamp"),
        ({**CONTRACT, "Vib_in_s": "numeric"}, "ambiguous column(s): vibration_mms"),
    ],
)
def test_resolve_columns_rejects_missing_wrong_and_ambiguous(columns, reason):
    _, found = resolve_columns(columns, validate_column_mapping(MAPPING))
    assert found.startswith(reason)


# ------------------------------------------------------------------ one landing folder, ingested twice


@pytest.fixture(scope="module")
def landing(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("bronze")
    landing = root / "landing"
    readings = landing / "sensor_readings"
    write_reference(landing)
    write_parquet(readings / "a_utc.parquet", [reading("C1", 0), reading("C1", 10, vibration_mms=None)])
    write_parquet(readings / "b_naive.parquet", [reading("C2", 0)], tz=None)  # arrives as TIMESTAMP_NTZ
    write_csv(
        readings / "c_text.csv",
        [{**reading("C1", 20), "gas_flow_mcf": "n/a", "site_note": "valve swapped"}, reading("C2", 10)],
    )
    historian = {"unit_tag": "C2", "timestamp": reading("C2", 20)["timestamp"], "Vib_in_s": 0.1, "DischTempC": 100.0,
                 "SuctionKPa": 400.0, "DischBar": 70.0, "horsepower_consumption": 1400.0, "gas_flow_mcf": 9000.0}
    write_csv(readings / "d_historian.csv", [historian])
    (readings / "e_corrupt.parquet").write_bytes(b"PAR1 this is not parquet")
    write_parquet(readings / "f_missing.parquet", [{k: v for k, v in reading("C1", 30).items() if k != "gas_flow_mcf"}])
    write_parquet(readings / "g_text_sensor.parquet", [{**reading("C1", 40), "vibration_mms": "high"}])
    write_csv(readings / "h_bad_times.csv", [{**reading("C1", 50), "timestamp": "05/01/2026 10:00"}])
    write_parquet(readings / "i_nanos.parquet", [reading("C1", 60)], unit="ns")

    settings = lake_settings(root, column_mapping=MAPPING)
    first = ingest_landing(spark, landing, run_id="r1", settings=settings, ingested_at=INGESTED_AT)
    bronze_v1 = lake.latest_version(spark, "sensors_bronze", settings=settings)
    log_v1 = lake.latest_version(spark, "ingest_log", settings=settings)
    metadata_v1 = lake.latest_version(spark, "compressor_metadata", settings=settings)
    second = ingest_landing(spark, landing, run_id="r2", settings=settings)
    return dict(root=root, landing=landing, settings=settings, first=first, second=second,
                bronze_v1=bronze_v1, log_v1=log_v1, metadata_v1=metadata_v1)


@reliability("input", "A file named .parquet that is not Parquet",
             "rejected whole: `unreadable:` with Spark's reason; the good files of the delivery load")
@reliability("input", "A required sensor column missing",
             "rejected whole: `missing required column(s): gas_flow_mcf`")
@reliability("input", "Text in a numeric sensor column (wrong type)",
             "rejected whole: `wrong type(s): vibration_mms is string`")
@reliability("input", "Timestamps in no format Spark parses",
             "rejected whole: `wrong type(s): no value of timestamp parses`")
@reliability("input", "Nanosecond Parquet timestamps",
             "rejected whole, naming the nanosecond timestamp")
@reliability("input", "Naive timestamps, text values in a CSV, extra columns, a historian's own column names and units",
             "loaded: naive taken as UTC, unparsable values kept as text beside a null, extras kept, "
             "units converted by the mapping")
def test_good_files_load_and_bad_files_are_rejected_whole_with_reasons(landing):
    first = landing["first"]
    assert first.files_ingested == (
        "sensor_readings/a_utc.parquet", "sensor_readings/b_naive.parquet",
        "sensor_readings/c_text.csv", "sensor_readings/d_historian.csv",
    )
    reasons = dict(first.files_rejected)
    assert reasons["sensor_readings/e_corrupt.parquet"].startswith("unreadable:")
    assert reasons["sensor_readings/f_missing.parquet"] == "missing required column(s): gas_flow_mcf"
    assert reasons["sensor_readings/g_text_sensor.parquet"].startswith("wrong type(s): vibration_mms is string")
    assert reasons["sensor_readings/h_bad_times.csv"] == "wrong type(s): no value of timestamp parses"
    assert "nanosecond" in reasons["sensor_readings/i_nanos.parquet"]
    assert first.rows_appended == 6
    assert first.counts["sensors_bronze"] == 6 and first.counts["compressor_metadata"] == 2
    assert len(first.to_frame()) == 9


def test_bronze_rows_are_typed_converted_and_keep_extras(spark, landing):
    bronze = lake.read_table(spark, "sensors_bronze", settings=landing["settings"])
    expected = spark.createDataFrame(
        [
            ("C1", datetime(2026, 1, 5, 0, 0), 3.0, 10000.0, {}, {}, "sensor_readings/a_utc.parquet"),
            ("C1", datetime(2026, 1, 5, 0, 10), None, 10000.0, {}, {}, "sensor_readings/a_utc.parquet"),
            ("C2", datetime(2026, 1, 5, 0, 0), 3.0, 10000.0, {}, {}, "sensor_readings/b_naive.parquet"),
            ("C1", datetime(2026, 1, 5, 0, 20), 3.0, None, {"gas_flow_mcf": "n/a"}, {"site_note": "valve swapped"},
             "sensor_readings/c_text.csv"),
            ("C2", datetime(2026, 1, 5, 0, 10), 3.0, 10000.0, {}, {}, "sensor_readings/c_text.csv"),
            ("C2", datetime(2026, 1, 5, 0, 20), 2.54, 9000.0, {}, {}, "sensor_readings/d_historian.csv"),
        ],
        "compressor_id string, timestamp timestamp, vibration_mms double, gas_flow_mcf double, "
        "unparsed_values map<string,string>, extra_columns map<string,string>, source_file string",
    )
    actual = bronze.select(*expected.columns)
    assertDataFrameEqual(actual, expected, checkRowOrder=False)
    historian = bronze.where(F.col("source_file").endswith("d_historian.csv")).first()
    assert historian["discharge_temp_f"] == pytest.approx(212.0)
    assert historian["suction_pressure_psi"] == pytest.approx(400 * 0.145037738)  # 400 kPa
    assert historian["discharge_pressure_psi"] == pytest.approx(70 * 14.5037738)  # 70 bar
    assert {row["run_id"] for row in bronze.select("run_id").collect()} == {"r1"}


@reliability("input", "The same deliveries again",
             "skipped by content hash: no row appended, no table version written")
def test_rerun_adds_nothing_and_writes_no_version(spark, landing):
    second, settings = landing["second"], landing["settings"]
    assert second.rows_appended == 0 and second.files_ingested == ()
    assert len(second.files_skipped_already_ingested) == 7
    # A rejection the settings could fix (the mapping, a time pattern) is looked at again, reported, not logged twice.
    assert second.files_rejected == (("sensor_readings/f_missing.parquet", "missing required column(s): gas_flow_mcf"),
                                     ("sensor_readings/h_bad_times.csv", "wrong type(s): no value of timestamp parses"))
    assert lake.latest_version(spark, "sensors_bronze", settings=settings) == landing["bronze_v1"]
    assert lake.latest_version(spark, "ingest_log", settings=settings) == landing["log_v1"]
    assert lake.latest_version(spark, "compressor_metadata", settings=settings) == landing["metadata_v1"] == 0
    assert second.counts["compressor_metadata"] == 2 and second.counts["sensors_bronze"] == 6
    log = lake.read_table(spark, "ingest_log", settings=settings)
    assert log.where("status IN ('ingested', 'rejected')").count() == 9


def test_a_new_file_appends_only_itself_in_one_version(spark, landing):
    settings = landing["settings"]
    write_parquet(landing["landing"] / "sensor_readings" / "z_new.parquet", [reading("C1", 70), reading("C2", 70)])
    report = ingest_landing(spark, landing["landing"], run_id="r3", settings=settings)
    assert report.files_ingested == ("sensor_readings/z_new.parquet",) and report.rows_appended == 2
    assert lake.latest_version(spark, "sensors_bronze", settings=settings) == landing["bronze_v1"] + 1
    history = lake.read_history(spark, "sensors_bronze", settings=settings).orderBy("version")
    assert [row["operation"] for row in history.collect()] == ["WRITE", "WRITE"]
    before = lake.read_table(spark, "sensors_bronze", settings=settings, version=landing["bronze_v1"])
    after = lake.read_table(spark, "sensors_bronze", settings=settings)
    assertDataFrameEqual(after.where(F.col("run_id") != "r3"), before, checkRowOrder=False)


@reliability("input", "A reference CSV with a bad number, date or an empty id",
             "bronze stops before appending anything, naming file, line and column")
@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("1340", "lots"), "compressor_metadata.csv: line 3: column horsepower: 'lots' is not a double"),
        (("2020-05-01", "May 2020"), "compressor_metadata.csv: line 2: column install_date: 'May 2020' is not a date"),
        (("C2,", ","), "compressor_metadata.csv: line 3: column compressor_id is empty"),
    ],
)
def test_a_bad_reference_file_stops_bronze_naming_file_line_and_column(spark, tmp_path, edit, message):
    landing = tmp_path / "landing"
    write_reference(landing)
    metadata = landing / "compressor_metadata.csv"
    lines = metadata.read_text().splitlines()
    row = 1 if "install_date" in message else 2  # line 2 of the file is the first data row
    lines[row] = lines[row].replace(*edit, 1)
    metadata.write_text("\n".join(lines) + "\n")
    write_parquet(landing / "sensor_readings" / "a.parquet", [reading("C1", 0)])
    settings = lake_settings(tmp_path)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        ingest_landing(spark, landing, run_id="r1", settings=settings)
    # Nothing was appended: the readings wait for a corrected reference file.
    assert not lake.table_exists(spark, "sensors_bronze", settings=settings)


def test_good_reference_files_pass_validation(spark, tmp_path):
    landing = tmp_path / "landing"
    write_reference(landing)
    write_parquet(landing / "sensor_readings" / "a.parquet", [reading("C1", 0)])
    report = ingest_landing(spark, landing, run_id="r1", settings=lake_settings(tmp_path))
    assert (report.counts["compressor_metadata"], report.counts["station_locations"], report.rows_appended) == (2, 1, 1)


# ------------------------------------------------------------------ whose fault a read failure is


def _corrupt_data_pages(path):
    """Overwrite a Parquet file's data pages but keep its footer: the schema reads, the rows do not."""
    data = bytearray(path.read_bytes())
    footer_start = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
    data[4:footer_start] = b"\xff" * (footer_start - 4)
    path.write_bytes(bytes(data))


@reliability("input", "Parquet whose footer reads but whose data pages are corrupt",
             "rejected as unreadable with Spark's reason; the other file loads")
def test_a_file_whose_rows_spark_cannot_read_is_rejected_and_the_others_load(spark, tmp_path):
    landing = tmp_path / "landing"
    readings = landing / lake.SENSOR_READINGS_DIR
    write_parquet(readings / "a_good.parquet", [reading("C1", 0)])
    write_parquet(readings / "b_pages.parquet", [reading("C1", minute) for minute in range(10, 60, 10)])
    _corrupt_data_pages(readings / "b_pages.parquet")
    settings = lake_settings(tmp_path)

    report = ingest_landing(spark, landing, run_id="r1", settings=settings, ingested_at=INGESTED_AT)

    assert report.files_ingested == ("sensor_readings/a_good.parquet",)
    path = (readings / "b_pages.parquet").as_uri()
    assert report.files_rejected == ((
        "sensor_readings/b_pages.parquet",
        f"unreadable: [FAILED_READ_FILE.NO_HINT] Encountered error while reading file {path}. (cause: java.io.IOException: "
        "can not read class org.apache.parquet.format.PageHeader: don't know what type: 15)",
    ),)
    assert report.rows_appended == 1


def test_spark_read_failures_are_the_files_fault_only_when_its_content_is(spark, tmp_path):
    def failure(read):
        with pytest.raises(Exception) as caught:
            read()
        return caught.value

    corrupt = tmp_path / "corrupt.parquet"
    write_parquet(corrupt, [reading("C1", minute) for minute in range(0, 50, 10)])
    _corrupt_data_pages(corrupt)
    moved = tmp_path / "moved.csv"
    write_csv(moved, [reading("C1", 0)])
    planned = spark.read.option("header", "true").schema("compressor_id string").csv(str(moved))
    moved.unlink()  # gone between planning and reading, like a file an exporter renames

    assert lake.is_bad_file_error(failure(lambda: spark.read.parquet(str(corrupt)).collect()))
    assert not lake.is_bad_file_error(failure(planned.collect))
    assert not lake.is_bad_file_error(failure(lambda: spark.read.parquet(str(tmp_path / "absent.parquet")).collect()))
    assert not lake.is_bad_file_error(RuntimeError("java.lang.OutOfMemoryError: Java heap space"))


@reliability("fault", "A delivery moved away between planning and reading (a failure outside the file)",
             "the stage stops naming the file; nothing is recorded, the next run reads it again")
def test_a_read_failure_that_is_not_the_files_fault_is_raised_not_remembered(spark, tmp_path):
    moved = tmp_path / "landing" / lake.SENSOR_READINGS_DIR / "moved.csv"
    write_csv(moved, [reading("C1", 0)])
    landing_file = lake.inspect_landing_file(moved, tmp_path / "landing")
    per_file = {landing_file.source_file: lake.read_landing_file(spark, landing_file)}
    moved.unlink()
    rejected = []

    with pytest.raises(RetryNextRun, match=r"sensor_readings/moved.csv could not be read, and not because of its content"):
        _profile_one_by_one(spark, per_file, [PlannedFile(landing_file, get_settings().pipeline.sources[0], {}, {}, 0)],
                            rejected)
    assert rejected == []


# ------------------------------------------------------------------ a run killed between its two commits

KILLED_RUN = """
import os, sys
from altaviz.bronze.stage import ingest_landing
from altaviz.config import get_settings
from altaviz.io.spark import get_spark
ingest_landing(get_spark(), sys.argv[1], run_id="killed", settings=get_settings())
"""


@reliability("fault", "SIGKILL after bronze committed the readings, before the ingest log",
             "the next run deletes the unlogged append and reads the files again: every reading stored once")
def test_a_run_killed_between_the_bronze_append_and_the_ingest_log_is_undone_and_read_again_once(spark, tmp_path):
    """SIGKILL right after the readings' commit, before the log's: the next run deletes the unlogged rows
    (their commit is tagged with the run id) and ingests the files again; every reading is stored once."""
    landing = tmp_path / "landing"
    write_parquet(landing / "sensor_readings" / "a.parquet", [reading("C1", 0), reading("C1", 10)])
    write_parquet(landing / "sensor_readings" / "b.parquet", [reading("C2", 0)])
    settings = lake_settings(tmp_path)
    env = {**os.environ, "ALTAVIZ_LAKE_ROOT": settings.pipeline.lake_root, "ALTAVIZ_CRASH_AT": "bronze-appended"}
    killed = subprocess.run([sys.executable, "-c", KILLED_RUN, str(landing)], env=env, capture_output=True,
                            text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert lake.read_table(spark, "sensors_bronze", settings=settings).count() == 3  # committed...
    assert not lake.table_exists(spark, "ingest_log", settings=settings)  # ...but never logged

    report = ingest_landing(spark, landing, run_id="next", settings=settings, ingested_at=INGESTED_AT)
    assert report.files_ingested == ("sensor_readings/a.parquet", "sensor_readings/b.parquet")
    bronze = lake.read_table(spark, "sensors_bronze", settings=settings)
    assert sorted((row["compressor_id"], row["run_id"]) for row in bronze.collect()) == [
        ("C1", "next"), ("C1", "next"), ("C2", "next")]
    operations = [row["operation"] for row in lake.read_history(spark, "sensors_bronze", settings=settings)
                  .orderBy("version").collect()]
    assert operations == ["WRITE", "DELETE", "WRITE"]
    # Logged now: a third run changes nothing, and undoes nothing.
    again = ingest_landing(spark, landing, run_id="third", settings=settings, ingested_at=INGESTED_AT)
    assert again.rows_appended == 0 and lake.read_table(spark, "sensors_bronze", settings=settings).count() == 3


@reliability("fault", "The wall clock set back between two runs",
             "the later run's deliveries are still ingested later (a second after the last run), so silver lets "
             "its restatement win")
def test_a_clock_set_back_between_runs_never_makes_a_later_delivery_older(spark, tmp_path):
    landing = tmp_path / "landing"
    settings = lake_settings(tmp_path)
    write_parquet(landing / "sensor_readings" / "a.parquet", [reading("C1", 0)])
    ingest_landing(spark, landing, run_id="r1", settings=settings, ingested_at=INGESTED_AT)
    write_parquet(landing / "sensor_readings" / "b.parquet", [reading("C1", 0, vibration_mms=3.3)])  # a restatement
    ingest_landing(spark, landing, run_id="r2", settings=settings, ingested_at=INGESTED_AT - timedelta(days=1))
    write_parquet(landing / "sensor_readings" / "c.parquet", [reading("C1", 10)])
    ingest_landing(spark, landing, run_id="r3", settings=settings, ingested_at=INGESTED_AT + timedelta(days=2))
    stamps = {row["run_id"]: as_utc(row["ingested_at"])
              for row in lake.read_table(spark, "sensors_bronze", settings=settings).collect()}
    assert stamps == {"r1": INGESTED_AT, "r2": INGESTED_AT + timedelta(seconds=1),  # set back: after r1 all the same
                      "r3": INGESTED_AT + timedelta(days=2)}  # a clock that moves on is taken as it is


@reliability("security", "SQL-injection text as a value of a Delta delete",
             "quoted as a literal: only the matching row goes")
def test_delete_rows_quotes_its_values(spark, tmp_path):
    settings = lake_settings(tmp_path)
    rows = spark.createDataFrame([("a'b",), ("x' OR '1'='1",), ("c",)], "run_id string")
    lake.append_table(rows, "quoted", settings=settings)
    lake.delete_rows(spark, "quoted", "run_id = {run_id}", {"run_id": "a'b"}, settings=settings)
    lake.delete_rows(spark, "quoted", "run_id = {run_id}", {"run_id": "z' OR '1'='1"}, settings=settings)
    assert sorted(row["run_id"] for row in lake.read_table(spark, "quoted", settings=settings).collect()) == [
        "c", "x' OR '1'='1"]


@reliability("input", "Two deliveries in one run holding the same reading, named export_9 and export_10",
             "the one written later wins in silver (then the higher number when written at once), never the "
             "one whose name sorts last")
@pytest.mark.parametrize("written, winner", [((1, 2), "export_10"), ((2, 1), "export_9"), ((1, 1), "export_10")])
def test_the_later_delivery_wins_by_when_it_was_written_not_by_its_name(spark, tmp_path, written, winner):
    landing = tmp_path / "landing"
    write_reference(landing)
    settings = lake_settings(tmp_path)
    for name, vibration, second in (("export_9", 3.1, written[0]), ("export_10", 3.2, written[1])):
        path = write_parquet(landing / "sensor_readings" / f"{name}.parquet",
                             [reading("C1", 0, vibration_mms=vibration)])
        os.utime(path, ns=(second * 10**9, second * 10**9))
    ingest_landing(spark, landing, run_id="r1", settings=settings, ingested_at=INGESTED_AT)
    build_silver(spark, run_id="r1", as_of=INGESTED_AT, settings=settings)
    (row,) = lake.read_table(spark, "sensors_silver", settings=settings).collect()
    value = {"export_9": 3.1, "export_10": 3.2}[winner]
    assert (row["source_file"], row["vibration_mms"]) == (f"sensor_readings/{winner}.parquet", value)
    log = lake.read_table(spark, "ingest_log", settings=settings).where(F.col("status") == "ingested").collect()
    latest = max(log, key=lambda r: as_utc(r["ingested_at"]))
    assert latest["source_file"] == f"sensor_readings/{winner}.parquet"
