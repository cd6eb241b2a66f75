"""Bad input (issue 13): a bad file is rejected whole and a bad row quarantined, each with a reason that
names it; the good data of the same delivery flows; nothing stored earlier changes.

One lake takes three bronze runs and two silver runs: r1 stores a good delivery, r2 brings every kind of bad
file and row beside good ones (one delivery, one run of each stage), r3 comes after the files r2 found still
being written are complete."""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time
from datetime import datetime, timedelta, timezone

import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual
from spark_fixtures import NORMAL, T0, lake_settings, reading, write_parquet, write_reference

from altaviz.bronze.stage import BronzeReport, NoReadingsIngested, ingest_landing, validate_bronze_run
from altaviz.config import ConfigError
from altaviz.io import lake
from altaviz.silver.stage import build_silver
from reliability import reliability

EARLY, LATE = datetime(2026, 2, 1, tzinfo=timezone.utc), datetime(2026, 2, 2, tzinfo=timezone.utc)
AS_OF = datetime(2026, 12, 1, tzinfo=timezone.utc)  # after the daylight-saving days below
HEADER = ",".join(("compressor_id", "timestamp", *NORMAL))
# Pressures exported in psi, declared as bar: 1000 "bar" is 14,504 psi, beyond any real discharge pressure.
MAPPING = {"DischBar": {"column": "discharge_pressure_psi", "unit": "bar"}}
READINGS = "sensor_readings/"
IDLE = {"vibration_mms": 0.2, "discharge_temp_f": 90.0, "suction_pressure_psi": 55.0, "discharge_pressure_psi": 70.0,
        "horsepower_consumption": 20.0, "gas_flow_mcf": 0.0}
SHIFTED_RIGHT = "C2,2026-01-05 02:50:00,3,5,200.0,60.0,1000.0,1400.0,10000.0"
SHIFTED_LEFT = "C2,2026-01-05 03:00:00,3.0,200.0,60.0,1000.0,10000.0"


def line(cid: str, when: int | str, **values) -> str:
    """One CSV line: ``when`` is minutes after T0, or the timestamp text as an exporter wrote it."""
    stamp = (T0 + timedelta(minutes=when)).strftime("%Y-%m-%d %H:%M:%S") if isinstance(when, int) else when
    return ",".join([cid, stamp, *("" if v is None else str(v) for v in {**NORMAL, **values}.values())])


def csv_text(*lines: str, header: str = HEADER) -> str:
    return "\n".join([header, *lines]) + "\n"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


class Exporter(threading.Thread):
    """A historian export in progress: one CSV line every 0.1 s until told to finish, then a complete file."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path, self.done, self.rows = path, threading.Event(), 0

    def run(self):
        with self.path.open("w") as handle:
            handle.write(HEADER + "\n")
            while not self.done.is_set():
                handle.write(line("C1", 600 + 10 * self.rows) + "\n")
                handle.flush()
                self.rows += 1
                time.sleep(0.1)


def deliver_bad_and_good_files(readings) -> None:
    """r2's delivery: every kind of bad file and row, beside good files."""
    write_parquet(readings / "good.parquet", [reading("C1", 60), reading("C2", 60)])
    # ---- files bronze rejects whole
    whole = write_parquet(readings / "truncated.parquet", [reading("C1", m) for m in range(200, 260, 10)]).read_bytes()
    (readings / "truncated.parquet").write_bytes(whole[: len(whole) // 2])  # a copy cut off: no footer
    cut_short = "C1,2026-01-05 03:30:00,3.0,200.0,60.0,1000.0,14"  # 1400.0 cut after two digits
    (readings / "truncated.csv").write_text(csv_text(line("C1", 200)) + cut_short)
    (readings / "empty.parquet").write_bytes(b"")
    (readings / "header_only.csv").write_text(csv_text())
    pq.write_table(pq.read_table(write_parquet(readings / "no_rows.parquet", [reading("C1", 0)])).slice(0, 0),
                   readings / "no_rows.parquet")
    (readings / "semicolon.csv").write_text(csv_text("C1;2026-01-05 03:40:00;3,0;200,0;60,0;1000,0;1400,0;10000,0",
                                                     header=HEADER.replace(",", ";")))
    (readings / "decimal_comma.csv").write_text(csv_text('C1,2026-01-05 03:50:00,"3,0","200,0",60,1000,1400,10000'))
    unquoted = "C1,2026-01-05 04:00:00,3,0,200,0,60,1000,1400,10000"  # 3,0 and 200,0: ten fields
    (readings / "decimal_comma_unquoted.csv").write_text(csv_text(unquoted))
    no_values = {name: None for name in NORMAL}
    (readings / "no_sensor_values.csv").write_text(csv_text(line("C1", 250, **no_values), line("C2", 250, **no_values)))
    # ---- files that load
    dead = {"gas_flow_mcf": None}
    (readings / "dead_channel.csv").write_text(csv_text(line("C1", 70, **dead), line("C2", 70, **dead)))
    (readings / "offsets.csv").write_text(csv_text(
        line("C1", "2026-01-05T03:20:00+02:00"), line("C1", "2026-01-04T19:30:00-06:00"),
        line("C1", "2026-01-05T01:40:00Z")))
    # Central time: 01:50 CST -> 03:00 CDT on 8 March (10 min apart), 01:50 CDT -> 01:00 CST on 1 November.
    (readings / "dst_offsets.csv").write_text(csv_text(
        line("C2", "2026-03-08T01:50:00-06:00"), line("C2", "2026-03-08T03:00:00-05:00"),
        line("C2", "2026-11-01T01:50:00-05:00"), line("C2", "2026-11-01T01:00:00-06:00")))
    # The same November night as naive wall-clock times: 01:50 comes twice.
    (readings / "dst_naive.csv").write_text(csv_text(
        line("C1", "2026-11-01 01:50:00", vibration_mms=3.2), line("C1", "2026-11-01 01:00:00", vibration_mms=3.3),
        line("C1", "2026-11-01 01:50:00", vibration_mms=3.4)))
    (readings / "rows.csv").write_text(csv_text(
        line("C1", 130), line("C1", 130),                          # the same row twice
        line("C2", 150), line("C2", 140), line("C2", 130),         # out of order
        line("C1", "2099-01-01 00:00:00"), line("C1", "9999-12-31 23:50:00"),
        line("C2", "2019-06-01 00:00:00"),                         # before C2's install_date (2020-05-01)
        line("C9", 0)))
    # Mid-file, one row gained a field (an unquoted decimal comma) and one lost one: their values sit one column off.
    (readings / "shifted.csv").write_text(csv_text(line("C2", 160), SHIFTED_RIGHT, SHIFTED_LEFT))
    # Unit mix-ups: psi declared as bar (impossible values), °C in the °F column (possible, quietly wrong).
    (readings / "historian_bar.csv").write_text(csv_text(
        line("C1", 140, discharge_pressure_psi=1000.0), line("C1", 150, discharge_pressure_psi=1000.0),
        header=HEADER.replace("discharge_pressure_psi", "DischBar")))
    (readings / "celsius.csv").write_text(csv_text(line("C1", 190, discharge_temp_f=93.3), line("C2", 190,
                                                                                              discharge_temp_f=93.5)))
    # A unit idling reads low on every sensor: nothing is mixed up, and it loads.
    (readings / "idle.csv").write_text(csv_text(line("C2", 200, **IDLE), line("C2", 210, **IDLE)))
    # ---- files that wait: under a temporary name, and one an exporter is still writing
    write_parquet(readings / "late.parquet.part", [reading("C2", 600)])
    shutil.copy(readings / "day1.parquet", readings / "copy_of_day1.parquet")  # r1's file again, renamed
    shutil.copy(readings / "good.parquet", readings / "good_again.parquet")  # twice in this very delivery


@pytest.fixture(scope="module")
def runs(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_input")
    landing = root / "landing"
    readings = landing / lake.SENSOR_READINGS_DIR
    write_reference(landing)
    # Every rate gate open: this lake is about what happens to each bad file and row, not about stopping runs.
    open_gates = dataclasses.replace(lake_settings(root).pipeline.gates, max_missing_rate=1.0, max_rejection_rate=1.0,
                                     max_duplicate_rate=1.0)
    settings = lake_settings(root, column_mapping=MAPPING, gates=open_gates)
    write_parquet(readings / "day1.parquet", [reading(cid, 10 * i) for cid in ("C1", "C2") for i in range(6)])
    ingest_landing(spark, landing, run_id="r1", settings=settings, ingested_at=EARLY)
    build_silver(spark, run_id="r1", as_of=AS_OF, settings=settings)
    before = {table: lake.latest_version(spark, table, settings=settings)
              for table in ("sensors_bronze", "ingest_log", "sensors_silver", "compressor_metadata")}

    deliver_bad_and_good_files(readings)
    exporter = Exporter(readings / "writing.csv")
    exporter.start()
    while not exporter.rows:  # the export has begun before bronze looks
        time.sleep(0.01)
    # Bronze waits up to 2 s for files changed moments ago: the delivery above settles, the export does not.
    settling = dataclasses.replace(settings, pipeline=dataclasses.replace(settings.pipeline, settle_seconds=2))
    try:
        second = ingest_landing(spark, landing, run_id="r2", settings=settling, ingested_at=LATE)
    finally:
        exporter.done.set()
        exporter.join()
    silver = build_silver(spark, run_id="r2", as_of=AS_OF, settings=settings)
    after_r2 = {table: lake.latest_version(spark, table, settings=settings) for table in before}

    (readings / "late.parquet.part").rename(readings / "late.parquet")  # the copy tool's last step
    third = ingest_landing(spark, landing, run_id="r3", settings=settings, ingested_at=LATE + timedelta(days=1))
    return dict(landing=landing, settings=settings, before=before, after_r2=after_r2, second=second, silver=silver,
                third=third, exported_rows=exporter.rows)


def table(spark, runs, name, *, version=None):
    return lake.read_table(spark, name, settings=runs["settings"], version=version)


# ------------------------------------------------------------------ bronze: whole files


REJECTED = {
    "truncated.parquet": "unreadable: ArrowInvalid: Parquet magic bytes not found in footer. Either the file is "
                         "corrupted or this is not a parquet file.",
    "truncated.csv": "truncated: the last line ends without a line break, cut short: "
                     "'C1,2026-01-05 03:30:00,3.0,200.0,60.0,1000.0,14'",
    "empty.parquet": "empty: 0 bytes",
    "header_only.csv": "empty: no rows",
    "no_rows.parquet": "empty: no rows",
    "semicolon.csv": "delimiter: the header splits on ';' into 8 columns, and line 2 writes decimals with a comma "
                     "('3,0'); this source reads ',': set delimiter (and decimal) in its ingest profile",
    "decimal_comma.csv": "decimal comma: line 2 has vibration_mms = '3,0'; this source reads '.': set decimal: ',' in "
                         "its profile",
    "decimal_comma_unquoted.csv": "field count: line 2 has 10 fields and the header 8 (a decimal comma or an "
                                  "unquoted ',' inside a value splits one)",
    "no_sensor_values.csv": "no sensor values: every sensor column is empty in all 2 row(s)",
    "historian_bar.csv": "units: DischBar reads 14503.8 psi at the median, far outside the normal 900-1200 while the "
                         "other sensors are in theirs; read as psi it would be 1000 psi: declare its unit in "
                         "ingest.column_mapping",
    "celsius.csv": "units: discharge_temp_f reads 93.3 °F at the median, far outside the normal 180-220 while the "
                   "other sensors are in theirs; read as degC it would be 199.94 °F: declare its unit in "
                   "ingest.column_mapping",
}


@reliability("input", "Truncated Parquet (a copy cut off before its footer)",
             "rejected whole: `unreadable:` with Arrow's reason; the rest of the delivery loads")
@reliability("input", "Truncated CSV (the last row cut mid-value, 1400.0 as 14)",
             "rejected whole: `truncated:` quoting the cut line, never loaded with the cut-short value")
@reliability("input", "Empty files: 0 bytes, a CSV header without rows, a Parquet file without rows",
             "rejected whole: `empty: 0 bytes`, `empty: no rows`")
@reliability("input", "A CSV delimited by ';' with decimal commas",
             "rejected whole: `delimiter:` naming ';' and the decimal comma, not a misleading missing-columns reason")
@reliability("input", "A comma-separated CSV with decimal commas, quoted or not",
             "rejected whole: `decimal comma:` naming the column and value, or the line whose fields the commas split; "
             "never loaded with values shifted one column")
@reliability("input", "A unit mix-up: pressures in psi declared as bar in ingest.column_mapping",
             "rejected whole: `units:` the median is far outside the normal band and psi would put it inside")
@reliability("input", "A physically possible unit mix-up: °C values in the °F column",
             "rejected whole: `units:` naming the column, its median and the unit (degC) that explains it")
@reliability("input", "All-null columns: every sensor column empty",
             "rejected whole: `no sensor values` (rows of ids and times alone would make a unit look fresh)")
@pytest.mark.parametrize("name", REJECTED)
def test_a_bad_file_is_rejected_whole_with_a_reason_naming_it(spark, runs, name):
    source = READINGS + name
    assert dict(runs["second"].files_rejected)[source] == REJECTED[name]
    logged = table(spark, runs, "ingest_log", version=runs["after_r2"]["ingest_log"])
    logged = logged.where(F.col("source_file") == source).select("status", "reason", "run_id")
    assert [tuple(row) for row in logged.collect()] == [("rejected", REJECTED[name], "r2")]


@reliability("input", "All-null columns: one sensor column empty in every row (a dead channel)",
             "loaded, the log noting `empty column(s): gas_flow_mcf`; silver keeps the other sensors and the nulls")
def test_the_good_files_load_and_nothing_stored_earlier_changes(spark, runs):
    second = runs["second"]
    loaded = ["dead_channel.csv", "dst_naive.csv", "dst_offsets.csv", "good.parquet", "idle.csv", "offsets.csv",
              "rows.csv", "shifted.csv"]
    notes = {"dead_channel.csv": "empty column(s): gas_flow_mcf",
             "shifted.csv": "2 row(s) with another field count than the header, quarantined by silver"}
    assert second.files_ingested == tuple(READINGS + name for name in loaded)
    logged = table(spark, runs, "ingest_log", version=runs["after_r2"]["ingest_log"])
    logged = logged.where(F.col("run_id") == "r2").select("source_file", "status", "reason")
    expected = [(READINGS + name, "ingested", notes.get(name)) for name in loaded]
    expected += [(READINGS + name, "rejected", reason) for name, reason in REJECTED.items()]
    assertDataFrameEqual(logged, spark.createDataFrame(expected, logged.schema), checkRowOrder=False)
    assert second.to_frame().set_index("source_file").loc[READINGS + "dead_channel.csv", "reason"] == (
        "empty column(s): gas_flow_mcf")
    bronze = table(spark, runs, "sensors_bronze", version=runs["after_r2"]["sensors_bronze"])
    assert second.rows_appended == bronze.where(F.col("run_id") == "r2").count() == 28
    # What r1 stored is untouched: its bronze rows and log rows, its silver rows, the reference table.
    before = runs["before"]
    for name, run_column in (("sensors_bronze", "run_id"), ("ingest_log", "run_id"), ("sensors_silver", "run_id")):
        now = table(spark, runs, name, version=runs["after_r2"][name])
        assertDataFrameEqual(now.where(F.col(run_column) == "r1"), table(spark, runs, name, version=before[name]),
                             checkRowOrder=False)
    assert runs["after_r2"]["compressor_metadata"] == before["compressor_metadata"]


@reliability("input", "A file still being written: bytes changing while bronze looks, or a temporary name (.part)",
             "left for the next run, neither read nor logged; files that settled in the wait load now, and the "
             "next run loads the finished file whole")
def test_a_file_still_being_written_is_left_for_the_next_run(spark, runs):
    deferred = dict(runs["second"].files_deferred)
    assert deferred.keys() == {READINGS + "writing.csv", READINGS + "late.parquet.part"}
    assert deferred[READINGS + "late.parquet.part"] == "still being written: a temporary name (*.part)"
    assert deferred[READINGS + "writing.csv"].startswith("still being written: it changed during the ")
    log_after_r2 = table(spark, runs, "ingest_log", version=runs["after_r2"]["ingest_log"])
    assert log_after_r2.where(F.col("source_file").isin(*deferred)).count() == 0  # nothing remembered
    third = runs["third"]
    assert third.files_ingested == (READINGS + "late.parquet", READINGS + "writing.csv")
    # Only the files the settings could fix are inspected again (and still rejected: nothing changed).
    assert third.files_deferred == ()
    again = ("celsius.csv", "decimal_comma.csv", "historian_bar.csv", "semicolon.csv")
    assert third.files_rejected == tuple((READINGS + name, REJECTED[name]) for name in again)
    bronze = table(spark, runs, "sensors_bronze")
    assert bronze.where(F.col("source_file") == READINGS + "writing.csv").count() == runs["exported_rows"] > 0
    assertDataFrameEqual(bronze.where(F.col("run_id") != "r3"),
                         table(spark, runs, "sensors_bronze", version=runs["after_r2"]["sensors_bronze"]),
                         checkRowOrder=False)


@reliability("input", "The same delivery again under another name, later or in the same delivery",
             "skipped by content hash, the report naming the file it copies; nothing appended or logged")
def test_the_same_delivery_under_another_name_is_skipped_naming_the_original(spark, runs):
    second = runs["second"]
    assert second.files_skipped_already_ingested == tuple(
        READINGS + name for name in ("copy_of_day1.parquet", "day1.parquet", "good_again.parquet"))
    files = second.to_frame().set_index("source_file")
    assert files.loc[READINGS + "copy_of_day1.parquet"].tolist() == [
        "skipped: already ingested", "same content as sensor_readings/day1.parquet (ingested, run r1)"]
    assert files.loc[READINGS + "good_again.parquet"].tolist() == [
        "skipped: already ingested", "same content as sensor_readings/good.parquet (this run)"]
    assert files.loc[READINGS + "day1.parquet"].tolist() == ["skipped: already ingested", ""]
    copies = F.col("source_file").endswith("copy_of_day1.parquet") | F.col("source_file").endswith("good_again.parquet")
    assert table(spark, runs, "sensors_bronze").where(copies).count() == 0
    assert table(spark, runs, "ingest_log").where(copies).count() == 0


# ------------------------------------------------------------------ silver: rows


@reliability("input", "Timestamps with offsets (+02:00, -06:00, Z)", "loaded at the UTC instants they name")
@reliability("input", "Local times with offsets across both daylight-saving changes",
             "each reading at its instant: ten minutes apart across the spring gap, none doubled in the autumn")
@reliability("input", "A unit idling: every sensor low, far below its normal band",
             "loaded as measured: low everywhere is a stopped machine, not a unit mix-up")
def test_silver_keeps_the_good_rows_of_the_delivery_at_their_instants(spark, runs):
    silver = table(spark, runs, "sensors_silver").where(F.col("run_id") == "r2")
    actual = silver.select(F.regexp_extract("source_file", r"[^/]+$", 0).alias("file"), "compressor_id", "timestamp",
                           "vibration_mms", "gas_flow_mcf")
    at = [T0 + timedelta(minutes=m) for m in range(0, 160, 10)]
    expected = [
        ("good.parquet", "C1", at[6], 3.0, 10000.0), ("good.parquet", "C2", at[6], 3.0, 10000.0),
        ("dead_channel.csv", "C1", at[7], 3.0, None), ("dead_channel.csv", "C2", at[7], 3.0, None),
        ("offsets.csv", "C1", at[8], 3.0, 10000.0), ("offsets.csv", "C1", at[9], 3.0, 10000.0),
        ("offsets.csv", "C1", at[10], 3.0, 10000.0),
        ("dst_offsets.csv", "C2", utc("2026-03-08 07:50"), 3.0, 10000.0),
        ("dst_offsets.csv", "C2", utc("2026-03-08 08:00"), 3.0, 10000.0),
        ("dst_offsets.csv", "C2", utc("2026-11-01 06:50"), 3.0, 10000.0),
        ("dst_offsets.csv", "C2", utc("2026-11-01 07:00"), 3.0, 10000.0),
        ("dst_naive.csv", "C1", utc("2026-11-01 01:00"), 3.3, 10000.0),
        ("dst_naive.csv", "C1", utc("2026-11-01 01:50"), 3.4, 10000.0),
        ("rows.csv", "C1", at[13], 3.0, 10000.0),
        ("rows.csv", "C2", at[13], 3.0, 10000.0), ("rows.csv", "C2", at[14], 3.0, 10000.0),
        ("rows.csv", "C2", at[15], 3.0, 10000.0), ("shifted.csv", "C2", T0 + timedelta(minutes=160), 3.0, 10000.0),
        ("idle.csv", "C2", T0 + timedelta(minutes=200), 0.2, 0.0),
        ("idle.csv", "C2", T0 + timedelta(minutes=210), 0.2, 0.0),
    ]
    assertDataFrameEqual(actual, spark.createDataFrame(expected, actual.schema), checkRowOrder=False)


@reliability("input", "Naive local times across the autumn daylight-saving change",
             "taken as UTC (the contract): the wall-clock time the change repeats is a duplicate key, one reading "
             "quarantined `duplicate`; offsets keep both")
@reliability("input", "Timestamps far in the future (2099, 9999-12-31) and before the unit's installation",
             "quarantined: `future_timestamp` after as_of; `before_installation` naming the install date")
@reliability("input", "Unknown compressor ids, a row repeated within a delivery, rows out of order",
             "quarantined `unknown_compressor`; the repeat quarantined `duplicate`, one copy kept; the out-of-order "
             "rows land in place")
@reliability("input", "A CSV row mid-file with a field more or less than its header (an unquoted decimal comma, a "
                      "lost value)", "quarantined `malformed_row` quoting the row, never loaded one column off; the "
                      "file's other rows load and the ingest log counts the malformed rows")
def test_bad_rows_are_quarantined_with_a_reason_naming_them(spark, runs):
    quarantine = table(spark, runs, "sensors_quarantine")
    actual = quarantine.select(F.regexp_extract("source_file", r"[^/]+$", 0).alias("file"), "compressor_id",
                               "timestamp", "reason", "reason_detail")
    future = f"after as_of {AS_OF.isoformat()}"
    expected = [
        ("dst_naive.csv", "C1", utc("2026-11-01 01:50"), "duplicate", "the same file repeats this key"),
        ("rows.csv", "C1", T0 + timedelta(minutes=130), "duplicate", "the same file repeats this key"),
        ("rows.csv", "C1", utc("2099-01-01 00:00"), "future_timestamp", future),
        ("rows.csv", "C1", utc("9999-12-31 23:50"), "future_timestamp", future),
        ("rows.csv", "C2", utc("2019-06-01 00:00"), "before_installation", "before install_date 2020-05-01"),
        ("rows.csv", "C9", T0, "unknown_compressor", "not in compressor_metadata"),
        ("shifted.csv", "C2", T0 + timedelta(minutes=170), "malformed_row",
         "9 fields where the header has 8: " + SHIFTED_RIGHT),
        ("shifted.csv", "C2", T0 + timedelta(minutes=180), "malformed_row",
         "7 fields where the header has 8: " + SHIFTED_LEFT),
    ]
    assertDataFrameEqual(actual, spark.createDataFrame(expected, actual.schema), checkRowOrder=False)
    assert {code: n for code, n in runs["silver"].quarantine_counts.items() if n} == {
        "duplicate": 2, "future_timestamp": 2, "before_installation": 1, "unknown_compressor": 1,
        "malformed_row": 2}


# ------------------------------------------------------------------ before anything is read


@reliability("input", "An unknown unit in ingest.column_mapping",
             "refused before anything is read: ConfigError naming the key and the known units; nothing written")
def test_an_unknown_unit_in_the_mapping_is_refused_before_anything_is_read(spark, runs):
    settings = runs["settings"]
    wrong = dataclasses.replace(settings, pipeline=dataclasses.replace(
        settings.pipeline, column_mapping={"DischPsu": {"column": "discharge_pressure_psi", "unit": "psu"}}))
    versions = {name: lake.latest_version(spark, name, settings=settings) for name in ("sensors_bronze", "ingest_log")}
    with pytest.raises(ConfigError, match=r"ingest.column_mapping.DischPsu: unit 'psu' is not convertible to "
                                          r"discharge_pressure_psi: 'psu' is not a unit pint reads: .*; "
                                          r"it may be written e.g. psi, bar, kPa, MPa, psia, bara$"):
        ingest_landing(spark, runs["landing"], run_id="r4", settings=wrong)
    assert {name: lake.latest_version(spark, name, settings=settings) for name in versions} == versions


def test_bronze_fails_when_every_new_file_is_still_being_written_and_passes_when_one_loaded():
    def report(**files):
        return BronzeReport(run_id="r", landing_dir="/srv/landing", files_ingested=(),
                            files_skipped_already_ingested=(), files_rejected=(), rows_appended=0, reference_rows={},
                            **files)

    waiting = (("sensor_readings/a.csv", "still being written: a temporary name (*.part)"),)
    with pytest.raises(NoReadingsIngested) as failure:
        validate_bronze_run(report(files_deferred=waiting))
    assert str(failure.value) == (
        "every new sensor file in /srv/landing is still being written; run again once they are complete:\n"
        "- sensor_readings/a.csv: still being written: a temporary name (*.part)")
    validate_bronze_run(dataclasses.replace(report(files_deferred=waiting), files_ingested=("sensor_readings/b.csv",)))


@reliability("input", "A file rejected for what ingest.column_mapping can fix (a unit mix-up), then the mapping fixed",
             "inspected again on every run: rejected again while the mapping is unchanged, loaded converted once "
             "the column's unit is declared")
def test_a_unit_mix_up_loads_once_the_mapping_declares_the_unit(spark, tmp_path):
    landing = tmp_path / "landing"
    write_reference(landing)
    (landing / READINGS).mkdir(parents=True)
    (landing / READINGS / "celsius.csv").write_text(csv_text(line("C1", 0, discharge_temp_f=93.3)))
    settings = lake_settings(tmp_path)
    rejected = [ingest_landing(spark, landing, run_id=run, settings=settings).files_rejected for run in ("r1", "r2")]
    assert rejected == [((READINGS + "celsius.csv", REJECTED["celsius.csv"]),)] * 2
    in_celsius = {"discharge_temp_f": {"column": "discharge_temp_f", "unit": "degC"}}
    declared = lake_settings(tmp_path, column_mapping=in_celsius)
    fixed = ingest_landing(spark, landing, run_id="r3", settings=declared)
    assert (fixed.files_ingested, fixed.files_rejected) == ((READINGS + "celsius.csv",), ())
    assert [row["discharge_temp_f"] for row in table(spark, {"settings": settings}, "sensors_bronze").collect()] == [
        pytest.approx(199.94)]
    log = table(spark, {"settings": settings}, "ingest_log").where(F.col("source_file") == READINGS + "celsius.csv")
    assert [tuple(row) for row in log.select("status", "run_id").collect()] == [("ingested", "r3")]
