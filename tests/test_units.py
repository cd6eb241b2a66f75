"""Units (issue 12): a site's declared unit converted into the sensor's through pint, gauge and absolute
pressures, refusals that say why, the unit mix-up guess, and a vacuum that loads end to end."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from datetime import timedelta

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual
from spark_fixtures import NORMAL, T0, lake_settings, write_csv, write_reference

from altaviz.bronze.stage import ingest_landing
from altaviz.bronze.transforms import ColumnSource, unit_mix_up, validate_column_mapping
from altaviz.config import ConfigError, load_settings
from altaviz.io import lake
from altaviz.silver.stage import build_silver
from altaviz.units import likely_units, linear_conversion

REGISTRY = load_settings().registry


def converted(declared: str, sensor_unit: str, value: float) -> float:
    scale, offset = linear_conversion(declared, sensor_unit)
    return value * scale + offset


# ------------------------------------------------------------------ conversions (no Spark)


@pytest.mark.parametrize(
    "declared, sensor_unit, value, expected",
    [
        ("bar", "psi", 1.0, 14.5038),
        ("kPa", "psi", 100.0, 14.5038),
        ("MPa", "psi", 1.0, 145.0377),
        ("degC", "°F", 0.0, 32.0),
        ("°C", "°F", 100.0, 212.0),
        ("C", "°F", 100.0, 212.0),  # pint alone reads C as coulomb
        ("K", "°F", 273.15, 32.0),
        ("in/s", "mm/s", 1.0, 25.4),
        ("ips", "mm/s", 1.0, 25.4),
        ("psia", "psi", 14.7, 0.0),  # our psi are gauge: an absolute reading loses one atmosphere
        ("bara", "psi", 1.0, -0.1962),
        ("bar(a)", "psi", 1.0, -0.1962),
        ("kPa_abs", "psi", 100.0, -0.1962),
        ("psig", "psi", 60.0, 60.0),
        ("barg", "psi", 1.0, 14.5038),
        ("kW", "hp", 1.0, 1.34102),
        ("m³/h", "Mcf/day", 1.0, 0.8476),
        ("m3/h", "Mcf/day", 1.0, 0.8476),
        ("m³/day", "Mcf/day", 1000.0, 35.3147),
        ("MMscf/d", "Mcf/day", 1.0, 1000.0),
        ("MMscfd", "Mcf/day", 1.0, 1000.0),
        ("scf/h", "Mcf/day", 1000.0, 24.0),
    ],
)
def test_a_declared_unit_converts_to_known_values(declared, sensor_unit, value, expected):
    assert converted(declared, sensor_unit, value) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize(
    "declared, sensor_unit",
    [("degF", "°F"), ("°F", "°F"), ("F", "°F"), ("psi", "psi"), ("mm/s", "mm/s"), ("hp", "hp"),
     ("Mcf/day", "Mcf/day"), ("mcf", "Mcf/day"), ("Mscf/d", "Mcf/day")],
)
def test_the_sensors_own_unit_in_any_old_spelling_converts_to_itself(declared, sensor_unit):
    assert linear_conversion(declared, sensor_unit) == (1.0, 0.0)


def test_a_conversion_is_a_scale_and_an_offset_rounded_past_float_noise():
    assert [linear_conversion("degC", "°F"), linear_conversion("K", "°F"), linear_conversion("bara", "psi")] == [
        (1.8, 32.0), (1.8, -459.67), (14.503773773, -14.7)]


@pytest.mark.parametrize(
    "declared, sensor_unit, reason",
    [
        ("g", "mm/s", "'g' is an acceleration and this sensor needs a velocity (mm/s): declare the velocity "
                      "channel; an acceleration is not integrated into velocity here"),
        ("m/s²", "mm/s", "'m/s²' is an acceleration and this sensor needs a velocity (mm/s): declare the velocity "
                         "channel; an acceleration is not integrated into velocity here"),
        ("psu", "psi", "'psu' is not a unit pint reads: 'psu' is not defined in the unit registry"),
        ("2*psi", "psi", "'2*psi' is not a unit pint reads: Unit expression cannot have a scaling factor."),
        ("", "psi", "an empty unit"),
        ("kW", "psi", "'kW' measures a power, not a pressure like psi"),
        ("furlongs", "mm/s", "'furlongs' measures [length], not a velocity like mm/s"),
        ("degC(a)", "°F", "'degC(a)': absolute and gauge apply to pressures only"),
    ],
)
def test_a_unit_that_cannot_convert_is_refused_saying_why(declared, sensor_unit, reason):
    with pytest.raises(ValueError) as refused:
        linear_conversion(declared, sensor_unit)
    assert str(refused.value) == reason


def test_likely_units_follow_the_sensors_dimension_and_are_none_for_a_unit_pint_does_not_read():
    assert {unit: likely_units(unit) for unit in ("psi", "°F", "mm/s", "Mcf/day", "hp", "widgets")} == {
        "psi": ("psi", "bar", "kPa", "MPa", "psia", "bara"),
        "°F": ("degF", "degC"),
        "mm/s": ("mm/s", "in/s"),
        "Mcf/day": ("Mcf/day", "MMscf/day", "m³/h", "m³/day"),
        "hp": ("hp", "kW"),
        "widgets": (),
    }


def test_the_column_mapping_converts_any_unit_pint_reads_into_the_sensors_unit():
    mapping = {"Vib_g_rms": "vibration_mms", "Suction_bara": {"column": "suction_pressure_psi", "unit": "bar(a)"},
               "Flow_m3h": {"column": "gas_flow_mcf", "unit": "m³/h"}, "Power": {"column": "horsepower_consumption",
                                                                                 "unit": "kW"}}
    assert validate_column_mapping(mapping, registry=REGISTRY) == {
        "Vib_g_rms": ("vibration_mms", 1.0, 0.0),
        "Suction_bara": ("suction_pressure_psi", 14.503773773, -14.7),
        "Flow_m3h": ("gas_flow_mcf", 0.847552001316, 0.0),
        "Power": ("horsepower_consumption", 1.3410220896, 0.0),
    }


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"column": "vibration_mms", "unit": "g"},
         r"^pipeline.yaml: ingest.column_mapping.X: unit 'g' is not convertible to vibration_mms: 'g' is an "
         r"acceleration and this sensor needs a velocity \(mm/s\).*; it may be written e.g. mm/s, in/s$"),
        ({"column": "gas_flow_mcf", "unit": "Mcf/fortnightz"},
         r"^pipeline.yaml: ingest.column_mapping.X: unit 'Mcf/fortnightz' is not convertible to gas_flow_mcf: "
         r"'Mcf/fortnightz' is not a unit pint reads: .*; it may be written e.g. Mcf/day, MMscf/day, m³/h, m³/day$"),
        ({"column": "timestamp", "unit": "s"},
         r"^pipeline.yaml: ingest.column_mapping.X: timestamp takes no unit, got unit 's'$"),
    ],
)
def test_the_column_mapping_refuses_a_unit_naming_the_key_and_the_reason(entry, message):
    with pytest.raises(ConfigError, match=message):
        validate_column_mapping({"X": entry}, registry=REGISTRY)


def test_pint_is_loaded_by_a_conversion_never_by_the_dashboard():
    code = ("import sys, altaviz.dashboard.app, altaviz.units as units; before = 'pint' in sys.modules; "
            "units.linear_conversion('bar', 'psi'); print(before, 'pint' in sys.modules)")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert shown == ["False", "True"]


# ------------------------------------------------------------------ the unit mix-up guess (no Spark)


def medians(**values) -> dict[str, float]:
    return {f"{name}__median": value for name, value in {**NORMAL, **values}.items()}


def contract_sources(**declared: ColumnSource) -> dict[str, ColumnSource]:
    return {**{name: ColumnSource(name) for name in NORMAL}, **declared}


@pytest.mark.parametrize(
    "profile, sources, reason",
    [
        (medians(), contract_sources(), None),
        (medians(discharge_pressure_psi=7.0), contract_sources(),
         "units: discharge_pressure_psi reads 7 psi at the median, far outside the normal 900-1200 while the other "
         "sensors are in theirs; read as MPa it would be 1015.26 psi: declare its unit in ingest.column_mapping"),
        (medians(gas_flow_mcf=10.0), contract_sources(),
         "units: gas_flow_mcf reads 10 Mcf/day at the median, far outside the normal 8000-12000 while the other "
         "sensors are in theirs; read as MMscf/day it would be 10000 Mcf/day: declare its unit in "
         "ingest.column_mapping"),
        # Declared already: the converted median is in its band, nothing to guess.
        (medians(gas_flow_mcf=10000.0), contract_sources(gas_flow_mcf=ColumnSource("Flow", 1000.0)), None),
        # An idling unit reads low everywhere: not a mix-up.
        (medians(discharge_pressure_psi=7.0, gas_flow_mcf=0.0, horsepower_consumption=20.0, vibration_mms=0.2),
         contract_sources(), None),
    ],
)
def test_a_median_another_likely_unit_explains_is_named_as_a_mix_up(profile, sources, reason):
    assert unit_mix_up(profile, sources=sources, registry=REGISTRY) == reason


# ------------------------------------------------------------------ end to end: config -> bronze -> silver

HISTORIAN_UNITS = {
    "Vib_ips": {"column": "vibration_mms", "unit": "ips"},
    "DischTempK": {"column": "discharge_temp_f", "unit": "K"},
    "SuctionPsia": {"column": "suction_pressure_psi", "unit": "psia"},
    "DischBarA": {"column": "discharge_pressure_psi", "unit": "bar(a)"},
    "DriverKW": {"column": "horsepower_consumption", "unit": "kW"},
    "FlowMMscfd": {"column": "gas_flow_mcf", "unit": "MMscf/d"},
}


def test_a_historian_in_its_own_units_loads_converted_and_a_vacuum_stays_in_silver(spark, tmp_path):
    landing = tmp_path / "landing"
    write_reference(landing)
    # 9.7 psia is a 5 psi vacuum on the suction, real; -1 psia is below a perfect vacuum, impossible.
    suction_psia = [9.7, 9.7, 9.7, 9.7, 9.7, -1.0]
    rows = [{"compressor_id": "C1", "timestamp": T0 + timedelta(minutes=10 * i), "Vib_ips": 0.12,
             "DischTempK": 366.15, "SuctionPsia": psia, "DischBarA": 70.0, "DriverKW": 1044.0, "FlowMMscfd": 10.0}
            for i, psia in enumerate(suction_psia)]
    write_csv(landing / lake.SENSOR_READINGS_DIR / "historian.csv", rows)
    # Rate gates open: six readings in a day are about units, not about completeness.
    open_gates = dataclasses.replace(lake_settings(tmp_path).pipeline.gates, max_missing_rate=1.0,
                                     max_rejection_rate=1.0, max_duplicate_rate=1.0)
    settings = lake_settings(tmp_path, column_mapping=HISTORIAN_UNITS, gates=open_gates)

    bronze = ingest_landing(spark, landing, run_id="r1", settings=settings)
    assert (bronze.files_ingested, bronze.files_rejected) == (("sensor_readings/historian.csv",), ())
    sensors = ["vibration_mms", "discharge_temp_f", "suction_pressure_psi", "discharge_pressure_psi",
               "horsepower_consumption", "gas_flow_mcf"]
    converted_row = (3.048, 199.4, None, 70 * 14.5037738 - 14.7, 1044 * 1.34102209, 10000.0)
    expected = spark.createDataFrame(
        [(10 * i, *converted_row[:2], psia - 14.7, *converted_row[3:]) for i, psia in enumerate(suction_psia)],
        ", ".join(["minute int", *[f"{name} double" for name in sensors]]),
    )
    minute = ((F.unix_seconds("timestamp") - int(T0.timestamp())) / 60).cast("int").alias("minute")
    stored = lake.read_table(spark, "sensors_bronze", settings=settings).select(minute, *sensors)
    assertDataFrameEqual(stored, expected, checkRowOrder=False, rtol=1e-7)

    build_silver(spark, run_id="r1", as_of=T0 + timedelta(days=1), settings=settings)
    silver = lake.read_table(spark, "sensors_silver", settings=settings).select(minute, "suction_pressure_psi")
    vacuum = spark.createDataFrame([(10 * i, -5.0) for i in range(5)], "minute int, suction_pressure_psi double")
    assertDataFrameEqual(silver, vacuum, checkRowOrder=False, rtol=1e-9)
    quarantine = lake.read_table(spark, "sensors_quarantine", settings=settings)
    assert [tuple(row) for row in quarantine.select(minute, "suction_pressure_psi", "reason", "reason_detail")
            .collect()] == [(50, pytest.approx(-15.7), "physically_impossible", "suction_pressure_psi")]
