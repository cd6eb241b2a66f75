"""Ingest profiles (``ingest.sources``) kept in a site's own config folder: each option read from literal files.

Every test loads the settings the way a site would, through ``$ALTAVIZ_CONFIG_DIR`` laid over the project's
config, runs bronze on a literal landing folder and compares the whole bronze table."""

from __future__ import annotations

import dataclasses
import os
import textwrap
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from altaviz.bronze.stage import check_landing, find_landing_files, ingest_landing
from altaviz.cli import main
from altaviz.config import ConfigError, get_settings, load_settings
from altaviz.io import lake
from altaviz.registry import SENSOR_COLUMNS
from reliability import reliability

SENSORS = list(SENSOR_COLUMNS)
NAN = float("nan")  # what pandas puts in a text column for a row that has no value there
PSI_PER_BAR = 14.5037738


def site_settings(tmp_path: Path, pipeline_yaml: str, **changes):
    """The project's settings with ``pipeline_yaml`` laid over them from a site folder, the lake under tmp_path."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "pipeline.yaml").write_text(textwrap.dedent(pipeline_yaml))
    settings = load_settings(env={**os.environ, "ALTAVIZ_CONFIG_DIR": str(site)})
    pipeline = dataclasses.replace(settings.pipeline, lake_root=str(tmp_path / "lake"), settle_seconds=0, **changes)
    return dataclasses.replace(settings, pipeline=pipeline)


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def bronze_rows(spark, settings) -> pd.DataFrame:
    rows = lake.read_table(spark, "sensors_bronze", settings=settings).select(
        "source_file", "compressor_id", "timestamp", *SENSORS).toPandas()
    rows["timestamp"] = pd.to_datetime(rows["timestamp"], utc=True)
    return rows.sort_values(["source_file", "compressor_id", "timestamp"], ignore_index=True).round(3)


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def expected(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["source_file", "compressor_id", "timestamp", *SENSORS])
    return frame.astype({name: float for name in SENSORS}).round(3)


RIG_PROFILE = """
ingest:
  sources:
    pump_rig:
      files: "rig/**/*.csv"
      delimiter: ";"
      decimal: ","
      timestamp: {column: Zeit, format: "dd.MM.yyyy HH:mm:ss", time_zone: Europe/Berlin}
      compressor_id: {path: "rig/([^/]+)/"}
      columns:
        Vib:   vibration_mms
        T_out: {column: discharge_temp_f, unit: degC}
        P_in:  {column: suction_pressure_psi, unit: bar}
        P_out: {column: discharge_pressure_psi, unit: bar}
        Flow:  gas_flow_mcf
      missing: [horsepower_consumption]
"""


@reliability("input", "A site's semicolon export with decimal commas, local times across a DST change, the unit id in "
             "the folder name and no horsepower sensor, read through a profile in the site's own config folder",
             "loads converted to the contract: UTC times without a gap or a repeat, °C and bar converted, the id from "
             "the path, horsepower null (never invented)")
def test_a_semicolon_decimal_comma_export_in_local_time_loads_through_a_site_profile(spark, tmp_path):
    settings = site_settings(tmp_path, RIG_PROFILE)
    landing = tmp_path / "landing"
    # Berlin springs forward at 02:00 on 2026-03-29: 01:50 CET is followed, ten minutes later, by 03:00 CEST.
    write_text(landing / "rig" / "RIG-7" / "2026-03-29.csv", """
        Zeit;Vib;T_out;P_in;P_out;Flow
        29.03.2026 01:40:00;3,1;100,0;3,0;55,0;1200
        29.03.2026 01:50:00;3,2;101,5;3,5;56,0;1210
        29.03.2026 03:00:00;3,3;102,0;4,0;57,0;1220
        """)

    report = ingest_landing(spark, landing, run_id="r1", settings=settings)

    assert report.files_ingested == ("rig/RIG-7/2026-03-29.csv",) and report.files_rejected == ()
    name = "rig/RIG-7/2026-03-29.csv"
    want = expected([
        (name, "RIG-7", utc("2026-03-29 00:40"), 3.1, 212.0, 3.0 * PSI_PER_BAR, 55 * PSI_PER_BAR, None, 1200.0),
        (name, "RIG-7", utc("2026-03-29 00:50"), 3.2, 214.7, 3.5 * PSI_PER_BAR, 56 * PSI_PER_BAR, None, 1210.0),
        (name, "RIG-7", utc("2026-03-29 01:00"), 3.3, 215.6, 4.0 * PSI_PER_BAR, 57 * PSI_PER_BAR, None, 1220.0),
    ])
    pd.testing.assert_frame_equal(bronze_rows(spark, settings), want, check_dtype=False, atol=0.01)


@reliability("input", "The same export read without its profile (the default comma-separated contract)",
             "rejected whole, naming the ';' delimiter and the profile setting that reads it")
def test_without_the_profile_the_same_export_is_refused_naming_the_setting(spark, tmp_path):
    settings = site_settings(tmp_path, "ingest: {}\n")
    landing = tmp_path / "landing"
    write_text(landing / lake.SENSOR_READINGS_DIR / "rig.csv", """
        compressor_id;timestamp;vibration_mms
        RIG-7;2026-03-29T01:40:00;3,1
        """)

    report = ingest_landing(spark, landing, run_id="r1", settings=settings)

    assert report.files_rejected == ((f"{lake.SENSOR_READINGS_DIR}/rig.csv",
                                      "delimiter: the header splits on ';' into 3 columns, and line 2 writes decimals "
                                      "with a comma ('3,1'); this source reads ',': set delimiter (and decimal) in its "
                                      "ingest profile"),)


LONG_PROFILE = """
ingest:
  sources:
    historian:
      files: "historian/*.csv"
      layout: long
      tag: TagName
      value: Value
      timestamp: {column: DateTime}
      compressor_id: {column: Unit}
      columns:
        VIB:  vibration_mms
        TDIS: discharge_temp_f
        PSUC: suction_pressure_psi
        PDIS: discharge_pressure_psi
        HP:   {column: horsepower_consumption, unit: kW}
        FLOW: gas_flow_mcf
"""


@reliability("input", "A long historian export (unit, tag, time, value rows; an unmapped tag; a quality column)",
             "one bronze row per unit and time with a column per mapped tag; unmapped tags and columns left out")
def test_a_long_tag_time_value_export_becomes_one_row_per_unit_and_time(spark, tmp_path):
    settings = site_settings(tmp_path, LONG_PROFILE)
    landing = tmp_path / "landing"
    lines = ["Unit,TagName,DateTime,Value,Quality"]
    for unit, minute, vibration in (("C-1", "00", 3.0), ("C-1", "10", 3.4), ("C-2", "00", 2.5)):
        stamp = f"2026-01-05T00:{minute}:00Z"
        values = {"VIB": vibration, "TDIS": 200.0, "PSUC": 60.0, "PDIS": 1000.0, "HP": 1000.0, "FLOW": 9000.0,
                  "AMBIENT": 15.0}
        lines += [f"{unit},{tag},{stamp},{value},Good" for tag, value in values.items()]
    lines.remove("C-2,FLOW,2026-01-05T00:00:00Z,9000.0,Good")  # a tag the historian did not record at that time
    write_text(landing / "historian" / "export.csv", "\n".join(lines) + "\n")

    report = ingest_landing(spark, landing, run_id="r1", settings=settings)

    assert report.files_ingested == ("historian/export.csv",) and report.files_rejected == ()
    hp = 1000.0 / 0.745699872  # 1000 kW in mechanical horsepower
    name = "historian/export.csv"
    want = expected([
        (name, "C-1", utc("2026-01-05 00:00"), 3.0, 200.0, 60.0, 1000.0, hp, 9000.0),
        (name, "C-1", utc("2026-01-05 00:10"), 3.4, 200.0, 60.0, 1000.0, hp, 9000.0),
        (name, "C-2", utc("2026-01-05 00:00"), 2.5, 200.0, 60.0, 1000.0, hp, None),
    ])
    pd.testing.assert_frame_equal(bronze_rows(spark, settings), want, check_dtype=False, atol=0.01)


@reliability("input", "A long export without its tag or value column",
             "rejected whole naming the missing column; a wide file in the same folder is refused by no one else")
def test_a_long_export_without_its_value_column_is_rejected_by_name(spark, tmp_path):
    settings = site_settings(tmp_path, LONG_PROFILE)
    landing = tmp_path / "landing"
    write_text(landing / "historian" / "export.csv", """
        Unit,TagName,DateTime,Val
        C-1,VIB,2026-01-05T00:00:00Z,3.0
        """)

    report = ingest_landing(spark, landing, run_id="r1", settings=settings)

    assert report.files_rejected == (("historian/export.csv",
                                      "missing required column(s): Value (the long layout's tag and value)"),)


CONSTANT_PROFILE = """
ingest:
  sources:
    skid:
      files: "skid/*.parquet"
      timestamp: {column: time, time_zone: America/Chicago}
      compressor_id: {constant: SKID-1}
"""


def test_a_constant_id_and_a_parquet_time_without_zone_in_the_sites_zone(spark, tmp_path):
    settings = site_settings(tmp_path, CONSTANT_PROFILE)
    landing = tmp_path / "landing"
    path = landing / "skid" / "day.parquet"
    path.parent.mkdir(parents=True)
    local = [datetime(2026, 1, 5, 6, 0), datetime(2026, 1, 5, 6, 10)]  # CST, six hours behind UTC
    table = pa.table({"time": pa.array(local, pa.timestamp("us")), **{name: [1.0, 2.0] for name in SENSORS}})
    pq.write_table(table, path)

    report = ingest_landing(spark, landing, run_id="r1", settings=settings)

    assert report.files_ingested == ("skid/day.parquet",)
    name = "skid/day.parquet"
    want = expected([(name, "SKID-1", utc("2026-01-05 12:00"), *[1.0] * 6),
                     (name, "SKID-1", utc("2026-01-05 12:10"), *[2.0] * 6)])
    pd.testing.assert_frame_equal(bronze_rows(spark, settings), want, check_dtype=False)


def test_a_file_two_profiles_claim_or_whose_path_holds_no_id_is_rejected_by_name(spark, tmp_path):
    settings = site_settings(tmp_path, RIG_PROFILE + """
    rig_copy:
      files: "rig/RIG-7/*.csv"
      delimiter: ";"
""")
    landing = tmp_path / "landing"
    body = "Zeit;Vib;T_out;P_in;P_out;Flow\n29.03.2026 01:40:00;3,1;100,0;3,0;55,0;1200\n"
    write_text(landing / "rig" / "RIG-7" / "a.csv", body)
    write_text(landing / "rig" / "b.csv", body.replace("1200", "1300"))  # under rig/ but in no unit's folder

    report = ingest_landing(spark, landing, run_id="r1", settings=settings)

    assert report.files_rejected == (
        ("rig/RIG-7/a.csv", "ambiguous source: matches the profiles pump_rig, rig_copy"),
        ("rig/b.csv", "compressor id: the path does not match 'rig/([^/]+)/' (ingest.sources.pump_rig.compressor_id)"),
    )


@pytest.mark.parametrize("profile, message", [
    ("x: {files: a, layout: tall}", "ingest.sources.x.layout: 'tall' is not one of ('wide', 'long')"),
    ("x: {files: a, delimiter: ';;'}", "ingest.sources.x.delimiter: one character"),
    ("x: {files: a, decimal: ','}", "ingest.sources.x.decimal: '.' or ',' and not the delimiter"),
    ("x: {files: a, timestamp: {time_zone: Mars/Olympus}}", "'Mars/Olympus' is not an IANA time zone"),
    ("x: {files: a, compressor_id: {path: 'rig/[^/]+/'}}", "needs exactly one (group) around the id, has 0"),
    ("x: {files: a, compressor_id: {serial: 7}}", "ingest.sources.x.compressor_id: one of {column: NAME}"),
    ("x: {files: a, missing: [torque_nm]}", "ingest.sources.x.missing: unknown sensor(s) ['torque_nm']"),
    ("x: {files: a, layout: long, value: v}", "ingest.sources.x.tag: missing"),
    ("x: {files: a, seperator: ';'}", "ingest.sources.x.seperator: unknown key"),
    ("x: {layout: wide}", "ingest.sources.x.files: missing"),
])
def test_a_wrong_profile_fails_at_load_naming_the_site_file_and_the_key(tmp_path, profile, message):
    site = tmp_path / "site"
    site.mkdir()
    (site / "pipeline.yaml").write_text(f"ingest:\n  sources:\n    {profile}\n")

    with pytest.raises(ConfigError) as raised:
        load_settings(env={**os.environ, "ALTAVIZ_CONFIG_DIR": str(site)})

    assert f"pipeline.yaml (with {site / 'pipeline.yaml'}): " in str(raised.value)
    assert message in str(raised.value)


def test_a_site_folder_overrides_key_by_key_and_keeps_the_defaults(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "pipeline.yaml").write_text("quality:\n  gates:\n    max_missing_rate: 0.2\ncadence_minutes: 1\n")
    default = load_settings(env={k: v for k, v in os.environ.items() if k != "ALTAVIZ_CONFIG_DIR"})

    layered = load_settings(env={**os.environ, "ALTAVIZ_CONFIG_DIR": str(site)})

    assert layered.pipeline.gates == dataclasses.replace(default.pipeline.gates, max_missing_rate=0.2)
    assert layered.pipeline.cadence_minutes == 1
    assert dataclasses.replace(layered.pipeline, gates=default.pipeline.gates, cadence_minutes=10) == default.pipeline
    with pytest.raises(ConfigError, match="ALTAVIZ_CONFIG_DIR=.*/absent: not a folder"):
        load_settings(env={**os.environ, "ALTAVIZ_CONFIG_DIR": str(tmp_path / "absent")})


def test_profiles_claim_files_by_glob_and_the_contract_folder_stays_the_default(tmp_path):
    settings = site_settings(tmp_path, RIG_PROFILE)
    landing = tmp_path / "landing"
    for name in ("rig/RIG-7/a.csv", "rig/RIG-7/b.csv.part", "rig/notes.txt", "sensor_readings/x/day.parquet",
                 "elsewhere/c.csv"):
        write_text(landing / name, "x\n")

    found, ambiguous = find_landing_files(landing, settings.pipeline.sources)

    assert {path.relative_to(landing).as_posix(): source.name for path, source in found.items()} == {
        "rig/RIG-7/a.csv": "pump_rig", "rig/RIG-7/b.csv.part": "pump_rig",
        "sensor_readings/x/day.parquet": "sensor_readings"}
    assert ambiguous == {}


@reliability("input", "`altaviz ingest check` on a folder with a good export, a file whose path holds no id and a "
             "file no profile claims", "one row per file saying what bronze would make of it; nothing is written")
def test_ingest_check_says_what_each_file_would_become_and_writes_nothing(spark, tmp_path):
    settings = site_settings(tmp_path, RIG_PROFILE)
    landing = tmp_path / "landing"
    write_text(landing / "rig" / "RIG-7" / "a.csv", """
        Zeit;Vib;T_out;P_in;P_out;Flow
        29.03.2026 01:40:00;3,1;100,0;3,0;55,0;1200
        29.03.2026 03:00:00;3,2;;3,5;56,0;1210
        """)
    write_text(landing / "rig" / "b.csv", "Zeit;Vib\n29.03.2026 01:40:00;3,1\n")
    write_text(landing / "elsewhere" / "c.csv", "x\n1\n")

    report = check_landing(spark, landing, settings=settings)

    sensors = ", ".join(name for name in SENSORS if name != "horsepower_consumption")
    want = pd.DataFrame([
        ("rig/RIG-7/a.csv", "pump_rig", "load", 1, 2, pd.Timestamp("2026-03-29 00:40"), pd.Timestamp("2026-03-29 01:00"),
         sensors, ""),
        ("rig/b.csv", "pump_rig", "reject", None, None, None, None, NAN,
         "compressor id: the path does not match 'rig/([^/]+)/' (ingest.sources.pump_rig.compressor_id)"),
        ("elsewhere/c.csv", "", "ignored", None, None, None, None, NAN, "no ingest profile's files pattern matches it"),
    ], columns=report.columns).astype({"units": "Int64", "rows": "Int64"})
    pd.testing.assert_frame_equal(report.astype({"first": "datetime64[us]", "last": "datetime64[us]"}),
                                  want.astype({"first": "datetime64[us]", "last": "datetime64[us]"}))
    assert not (tmp_path / "lake").exists()


def test_the_readmes_worked_profile_loads_as_written(tmp_path):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("**A worked profile**", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]

    settings = site_settings(tmp_path, block)

    assert [(s.name, s.layout, s.delimiter, s.decimal, s.compressor_id) for s in settings.pipeline.sources] == [
        ("sensor_readings", "wide", ",", ".", ("column", "compressor_id")),
        ("pump_rig", "wide", ";", ",", ("path", "rig/([^/]+)/")),
        ("historian", "long", ",", ".", ("column", "Unit")),
    ]


def test_the_ingest_check_command_prints_each_file_and_exits_1_on_a_rejection(spark, tmp_path, monkeypatch, capsys):
    site = tmp_path / "site"
    site_settings(tmp_path, RIG_PROFILE)  # writes site/pipeline.yaml
    landing = tmp_path / "landing"
    write_text(landing / "rig" / "RIG-7" / "a.csv", "Zeit;Vib;T_out;P_in;P_out;Flow\n29.03.2026 01:40:00;3,1;100,0;3,0;55,0;1\n")
    monkeypatch.setenv("ALTAVIZ_CONFIG_DIR", "")  # restored after the test, whatever --config sets
    try:
        clean = main(["--config", str(site), "ingest", "check", "--landing", str(landing)])
        write_text(landing / "rig" / "b.csv", "Zeit;Vib\n29.03.2026 01:40:00;3,1\n")
        dirty = main(["--config", str(site), "ingest", "check", "--landing", str(landing)])
    finally:
        get_settings.cache_clear()
    lines = capsys.readouterr().out.splitlines()

    assert (clean, dirty) == (0, 1)
    assert lines[0] == f"profiles: sensor_readings, pump_rig; landing: {landing}; times in UTC"
    assert lines[-1] == "1 file(s): load; 1 file(s): reject"
    assert lines[-3].split()[:5] == ["rig/RIG-7/a.csv", "pump_rig", "load", "1", "1"]
    assert "compressor id: the path does not match" in lines[-2]


@reliability("input", "A site's export rejected before its profile existed (another delimiter), then the profile added",
             "inspected again on every run: rejected again while nothing changed, loaded once the profile reads it; "
             "the file itself is never touched")
def test_a_file_rejected_for_want_of_a_profile_loads_once_the_profile_is_added(spark, tmp_path):
    landing = tmp_path / "landing"
    write_text(landing / "rig" / "RIG-7" / "a.csv", """
        Zeit;Vib;T_out;P_in;P_out;Flow
        29.03.2026 01:40:00;3,1;100,0;3,0;55,0;1200
        """)
    without_layout = RIG_PROFILE.replace('      delimiter: ";"\n      decimal: ","\n', "")  # the defaults: ',' and '.'
    assert without_layout != RIG_PROFILE
    wrong = site_settings(tmp_path, without_layout)
    first = ingest_landing(spark, landing, run_id="r1", settings=wrong)
    again = ingest_landing(spark, landing, run_id="r2", settings=wrong)
    fixed = ingest_landing(spark, landing, run_id="r3", settings=site_settings(tmp_path, RIG_PROFILE))

    reason = ("delimiter: the header splits on ';' into 6 columns, and line 2 writes decimals with a comma ('3,1'); "
              "this source reads ',': set delimiter (and decimal) in its ingest profile")
    assert first.files_rejected == again.files_rejected == (("rig/RIG-7/a.csv", reason),)
    assert fixed.files_ingested == ("rig/RIG-7/a.csv",) and fixed.files_rejected == ()
    assert bronze_rows(spark, wrong)[["compressor_id", "vibration_mms"]].values.tolist() == [["RIG-7", 3.1]]
