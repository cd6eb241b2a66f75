"""The simulator: contract, determinism, physics, failure signatures, maintenance log and sensor faults.

Small fleets and short ranges only; no Spark. Fault checks compare a faulty run with its clean twin
(same seed, fault rates zero): faults draw from their own stream, so the true readings are identical
and every difference must be explained by the ground truth.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from altaviz.config import get_settings
from altaviz.registry import get_registry, read_registry
from altaviz.registry import SENSOR_COLUMNS as SENSORS
from altaviz.simulate import SimulationParams, SimulationSummary, read_readings, simulate_fleet
from altaviz.simulate.failure_modes import get_failure_modes, read_failure_modes
from altaviz.simulate.fleet import BASINS, MODELS, build_fleet, station_count
from altaviz.simulate.landing import KEY_COLUMNS
from altaviz.simulate.maintenance import schedule_maintenance
from altaviz.simulate.params import FAULT_KINDS, FaultRates
from altaviz.simulate.schedule import degrading_count
from altaviz.units import ATMOSPHERE_PSI
from altaviz.yaml_config import ConfigError
from registry_fixtures import LUBE_OIL, registry_copy, registry_with_lube_oil

FAILURE_MODES = tuple(get_failure_modes())
READING_COLUMNS = (*KEY_COLUMNS, *SENSORS)
NORMAL_BANDS = {name: sensor.normal for name, sensor in get_registry().sensors.items()}
NO_FAULTS = {kind: 0.0 for kind in FAULT_KINDS}
STEP = pd.Timedelta(minutes=SimulationParams().cadence_minutes)


def quiet(**overrides) -> SimulationParams:
    """No random failures (so by default no unit degrading at the end), no sensor faults: only physics,
    maintenance and what a test forces."""
    base = dict(failures_per_compressor_year=0.0, fault_rates=NO_FAULTS, unscheduled_per_compressor_year=0.0)
    return SimulationParams(**{**base, **overrides})


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def read_truth(landing: Path) -> pd.DataFrame:
    # keep_default_na=False: the fault kind 'null' is a word, not a missing value
    truth = pd.read_csv(landing / "ground_truth" / "events.csv", keep_default_na=False, na_values=[""])
    for column in ("start", "end", "failure_time"):
        truth[column] = pd.to_datetime(truth[column]).dt.tz_localize("UTC")
    return truth


def read_maintenance(landing: Path) -> pd.DataFrame:
    log = pd.read_csv(landing / "maintenance_logs.csv")
    log["event_date"] = pd.to_datetime(log["event_date"], format="%Y-%m-%d %H:%M:%S").dt.tz_localize("UTC")
    return log


def all_files(landing: Path) -> dict[str, bytes]:
    return {p.relative_to(landing).as_posix(): p.read_bytes() for p in sorted(landing.rglob("*")) if p.is_file()}


def windows_to_set(frame: pd.DataFrame, start: str, end: str) -> set[tuple[str, pd.Timestamp]]:
    """(compressor_id, timestamp) of every grid step in [start, end) of each row."""
    out = set()
    for row in frame.itertuples(index=False):
        for ts in pd.date_range(getattr(row, start), getattr(row, end), freq=STEP, inclusive="left"):
            out.add((row.compressor_id, ts))
    return out


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> tuple[Path, SimulationSummary]:
    landing = tmp_path_factory.mktemp("default") / "landing"
    return landing, simulate_fleet(SimulationParams(), landing)


# --------------------------------------------------------------------------------------------------
# Parameters


@pytest.mark.parametrize("overrides, field_name", [
    ({"compressor_count": 0}, "compressor_count"),
    ({"compressor_count": 10_001}, "compressor_count"),
    ({"compressor_count": 2.5}, "compressor_count"),
    ({"compressor_count": True}, "compressor_count"),
    ({"start_date": "2026/01/01"}, "start_date"),
    ({"start_date": "2026-13-01"}, "start_date"),
    ({"end_date": "2026-01-01"}, "end_date"),
    ({"end_date": "2025-12-01"}, "end_date"),
    ({"end_date": "2029-01-01"}, "end_date"),
    ({"seed": -1}, "seed"),
    ({"failures_per_compressor_year": -1.0}, "failures_per_compressor_year"),
    ({"failures_per_compressor_year": math.nan}, "failures_per_compressor_year"),
    ({"fault_rates": {"bogus": 0.1}}, "fault_rates"),
    ({"fault_rates": {"gap": -0.1}}, "fault_rates.gap"),
    ({"chunk_size": 0}, "chunk_size"),
    ({"csv_every": -1}, "csv_every"),
    ({"forced_failures": ((10, "bearing_wear"),)}, "forced_failures"),
    ({"forced_failures": ((0, "explosion"),)}, "forced_failures"),
    ({"forced_failures": (3,)}, "forced_failures"),
    ({"scheduled_interval_days": 0.0}, "scheduled_interval_days"),
    ({"degrading_at_end": -1}, "degrading_at_end"),
    ({"degrading_at_end": 11}, "degrading_at_end"),
    ({"compressor_count": 3, "degrading_at_end": 4}, "degrading_at_end"),
    ({"degrading_at_end": 1.0}, "degrading_at_end"),
    ({"degrading_at_end": True}, "degrading_at_end"),
    ({"degrading_at_end": "1"}, "degrading_at_end"),
    ({"cadence_minutes": 7}, "cadence_minutes"),
    ({"cadence_minutes": 0}, "cadence_minutes"),
    ({"cadence_minutes": 60}, "cadence_minutes"),
])
def test_invalid_params_name_the_field(overrides, field_name):
    with pytest.raises(ValueError, match=re.escape(field_name)):
        SimulationParams(**overrides)


@pytest.mark.parametrize("overrides", [
    {},
    {"compressor_count": 1},
    {"compressor_count": 10_000, "chunk_size": 10_000},
    {"end_date": "2026-01-02"},
    {"fault_rates": {"gap": 0.5}},
    {"forced_failures": ((9, "valve_leak"), (0, "packing_leak"))},
    {"degrading_at_end": None},
    {"degrading_at_end": 0},
    {"degrading_at_end": 10},
    {"compressor_count": 1, "degrading_at_end": 1},
    {"degrading_at_end": np.int64(2)},
    {"cadence_minutes": 15},
])
def test_valid_params_are_accepted(overrides):
    params = SimulationParams(**overrides)
    assert isinstance(params.fault_rates, FaultRates)


def test_default_range_gives_57600_grid_steps():
    params = SimulationParams()
    assert params.cadence_minutes == get_settings().pipeline.cadence_minutes == 10
    assert params.steps * params.compressor_count == 57_600


def test_cadence_sets_the_time_grid(tmp_path):
    summary = simulate_fleet(SimulationParams(compressor_count=3, end_date="2026-01-08", cadence_minutes=15), tmp_path)
    stamps = read_readings(tmp_path)["timestamp"]
    assert (stamps.dt.floor("15min") == stamps).all() and (stamps.dt.minute % 15 == 0).all()
    assert summary.readings_written <= 3 * 7 * 96 and stamps.nunique() > 0.9 * 7 * 96
    downtime = read_maintenance(tmp_path)["downtime_hours"]
    assert ((downtime * 2) % 1 == 0).all()  # still logged to the half hour


# --------------------------------------------------------------------------------------------------
# Files and their contract


def test_default_run_writes_the_contracted_files(default_run):
    landing, summary = default_run
    assert summary.files == sorted(all_files(landing))
    assert summary.files == [
        "compressor_metadata.csv", "ground_truth/events.csv", "maintenance_logs.csv",
        "sensor_readings/part-00000.parquet", "sensor_readings/part-00001.csv", "station_locations.csv"]
    schema = pq.read_schema(landing / "sensor_readings" / "part-00000.parquet")
    assert schema.names == list(READING_COLUMNS)
    assert [schema.field(c).type for c in READING_COLUMNS] == [
        pa.string(), pa.timestamp("us", tz="UTC")] + [pa.float64()] * len(SENSORS)
    csv_header = (landing / "sensor_readings" / "part-00001.csv").read_text().splitlines()[0]
    assert csv_header.split(",") == list(READING_COLUMNS)  # two files, so the default run reads both formats
    assert summary.readings_written == len(read_readings(landing))
    assert (summary.compressors, summary.start_date, summary.end_date, summary.seed) == (
        10, "2026-01-01", "2026-02-10", 42)


def test_default_run_has_completed_failures_and_every_fault_kind(default_run):
    landing, summary = default_run
    truth = read_truth(landing)
    failures = truth[(truth["category"] == "failure") & (truth["failure_time"] < utc("2026-02-10"))]
    assert summary.failures == len(failures) >= 2
    assert sum(summary.failures_by_mode.values()) == summary.failures
    assert (failures["start"] >= utc("2026-01-01")).all() and (failures["end"] <= utc("2026-02-10")).all()
    assert (failures["failure_time"] - failures["start"] >= pd.Timedelta(hours=12)).all()
    faults = truth[truth["category"] == "sensor_fault"]
    assert faults["kind"].value_counts().to_dict() == {k: v for k, v in summary.faults_by_kind.items() if v}
    assert all(summary.faults_by_kind[kind] >= 1 for kind in FAULT_KINDS)


def test_metadata_tables(default_run):
    landing, _ = default_run
    stations = pd.read_csv(landing / "station_locations.csv")
    units = pd.read_csv(landing / "compressor_metadata.csv")
    assert list(stations.columns) == ["station_id", "station_name", "latitude", "longitude", "region", "city",
                                      "state"]
    assert list(units.columns) == ["compressor_id", "model", "horsepower", "install_date", "station_id",
                                   "latitude", "longitude"]
    assert set(stations["region"]) == {b.region for b in BASINS}
    towns = {b.region: (b.latitude, b.longitude) for b in BASINS}
    for row in stations.itertuples():
        lat, lon = towns[row.region]
        assert abs(row.latitude - lat) < 0.1 and abs(row.longitude - lon) < 0.1  # first station: near town
    assert units["compressor_id"].tolist() == [f"COMP-{i:04d}" for i in range(1, 11)]
    rated = {m.name: m.rated_hp for m in MODELS}
    assert (units["horsepower"] == units["model"].map(rated)).all()
    assert (pd.to_datetime(units["install_date"], format="%Y-%m-%d") < pd.Timestamp("2026-01-01")).all()
    placed = units.merge(stations, on="station_id", how="left", suffixes=("", "_station"))
    km = np.hypot(placed["latitude"] - placed["latitude_station"],
                  (placed["longitude"] - placed["longitude_station"]) * np.cos(np.radians(placed["latitude"]))) * 111
    assert km.between(0.2, 3.5).all()


def test_large_fleet_has_10_to_25_units_per_station():
    fleet = build_fleet(np.random.SeedSequence(7, spawn_key=(0,)), 10_000, pd.Timestamp("2026-01-01").date())
    per_station = fleet.compressors["station_id"].value_counts()
    assert len(fleet.stations) == station_count(10_000) == len(per_station)
    assert per_station.between(10, 25).all()
    assert fleet.compressors["compressor_id"].is_unique and fleet.stations["station_id"].is_unique
    assert fleet.stations["latitude"].between(25.8, 36.5).all()  # Texas
    assert fleet.stations["longitude"].between(-106.7, -93.5).all()


# --------------------------------------------------------------------------------------------------
# Determinism and idempotence


def test_same_seed_gives_byte_identical_files(default_run, tmp_path):
    landing, _ = default_run
    simulate_fleet(SimulationParams(), tmp_path / "again")
    assert all_files(tmp_path / "again") == all_files(landing)


def test_different_seed_gives_a_different_fleet(default_run, tmp_path):
    landing, _ = default_run
    simulate_fleet(SimulationParams(seed=43), tmp_path / "other")
    other = all_files(tmp_path / "other")
    same = all_files(landing)
    assert set(other) == set(same)
    assert all(other[name] != same[name] for name in other)


def test_rerun_in_place_replaces_stale_chunks(default_run, tmp_path):
    landing = tmp_path / "landing"
    simulate_fleet(SimulationParams(chunk_size=3), landing)
    assert len(list((landing / "sensor_readings").iterdir())) == 4
    (landing / "notes.txt").write_text("operator file")
    simulate_fleet(SimulationParams(), landing)
    assert all_files(landing) == {**all_files(default_run[0]), "notes.txt": b"operator file"}


def test_readings_do_not_depend_on_chunk_size_or_format(default_run, tmp_path):
    landing, _ = default_run
    summary = simulate_fleet(SimulationParams(chunk_size=3, csv_every=2), tmp_path / "chunks")
    assert [f for f in summary.files if f.startswith("sensor_readings/")] == [
        "sensor_readings/part-00000.parquet", "sensor_readings/part-00001.csv",
                                    "sensor_readings/part-00002.parquet", "sensor_readings/part-00003.csv"]
    pd.testing.assert_frame_equal(read_readings(tmp_path / "chunks"), read_readings(landing))
    for name in ("compressor_metadata.csv", "maintenance_logs.csv", "ground_truth/events.csv"):
        assert (tmp_path / "chunks" / name).read_bytes() == (landing / name).read_bytes()
    header, first = (tmp_path / "chunks" / "sensor_readings" / "part-00001.csv").read_text().splitlines()[:2]
    assert header == ",".join(READING_COLUMNS)
    assert first.startswith("COMP-0004,2026-01-01 00:00:00,")


def test_progress_reports_each_chunk(tmp_path):
    messages: list[str] = []
    simulate_fleet(quiet(compressor_count=5, chunk_size=2, end_date="2026-01-03"), tmp_path, progress=messages.append)
    assert [m.split(":")[0] for m in messages] == ["chunk 1/3", "chunk 2/3", "chunk 3/3"]


# --------------------------------------------------------------------------------------------------
# Time grid, offline windows and the maintenance log


def test_timestamps_sit_on_the_10_minute_utc_grid(default_run):
    readings = read_readings(default_run[0])
    stamps = readings["timestamp"]
    assert str(stamps.dtype) == "datetime64[us, UTC]"
    assert (stamps.dt.floor("10min") == stamps).all()
    assert stamps.min() >= utc("2026-01-01") and stamps.max() < utc("2026-02-10")


def test_rows_are_the_grid_minus_downtime_and_gaps(default_run):
    landing, _ = default_run
    readings, truth, log = read_readings(landing), read_truth(landing), read_maintenance(landing)
    grid = pd.date_range(utc("2026-01-01"), utc("2026-02-10"), freq=STEP, inclusive="left")
    expected = {(c, ts) for c in readings["compressor_id"].unique() for ts in grid}
    log = log[log["downtime_hours"] > 0]
    log = log.assign(back=log["event_date"] + pd.to_timedelta(log["downtime_hours"], unit="h"))
    offline = windows_to_set(log, "event_date", "back")
    gaps = windows_to_set(truth[truth["kind"] == "gap"], "start", "end")
    assert offline and gaps and not offline & gaps
    observed = set(zip(readings["compressor_id"], readings["timestamp"]))
    assert observed == expected - offline - gaps


def test_maintenance_log_matches_ground_truth_failures(default_run):
    landing, _ = default_run
    truth, log = read_truth(landing), read_maintenance(landing)
    failures = truth[(truth["category"] == "failure") & (truth["failure_time"] < utc("2026-02-10"))]
    expected = pd.DataFrame({
        "compressor_id": failures["compressor_id"], "event_date": failures["failure_time"],
        "event_type": "failure",
        "downtime_hours": (failures["end"] - failures["failure_time"]).dt.total_seconds() / 3600,
        "severity": failures["kind"].map({m: s.severity for m, s in get_failure_modes().items()})})
    logged = log[log["event_type"] == "failure"][list(expected.columns)]
    pd.testing.assert_frame_equal(logged.reset_index(drop=True), expected.reset_index(drop=True))


def test_maintenance_log_is_inside_the_range_and_well_typed(default_run):
    log = read_maintenance(default_run[0])
    assert list(log.columns) == ["compressor_id", "event_date", "event_type", "description", "downtime_hours",
                                 "severity"]
    assert log["event_date"].between(utc("2026-01-01"), utc("2026-02-10"), inclusive="left").all()
    assert set(log["event_type"]) == {"scheduled", "unscheduled", "inspection", "failure"}
    assert set(log["severity"]) <= {"low", "medium", "high", "critical"}
    assert (log.loc[log["event_type"] == "inspection", "downtime_hours"] == 0).all()
    assert (log.loc[log["event_type"] != "inspection", "downtime_hours"] > 0).all()
    assert log["description"].notna().all()


def test_maintenance_scheduler_logs_nothing_at_or_after_the_end():
    """Periodic work is drawn past end_date and one failure trips after it: the scheduler logs neither,
    while the failure tripping inside the range is logged at its trip."""
    params = quiet(compressor_count=20, end_date="2026-01-03", inspection_interval_days=1.0)
    end = params.steps
    failures = pd.DataFrame({"comp": [0, 1], "mode": ["valve_leak", "valve_leak"],
                             "precursor_start": [10, end - 50], "failure_step": [100, end + 10],
                             "repaired_step": [160, end + 100]})
    events = schedule_maintenance(params, failures, np.random.default_rng(0))
    assert len(events) > 20 and events["step"].lt(end).all()
    logged = events[events["event_type"] == "failure"]
    assert logged[["comp", "step", "downtime_steps"]].values.tolist() == [[0, 100, 60]]


# --------------------------------------------------------------------------------------------------
# Physics


def in_band_share(readings: pd.DataFrame) -> pd.DataFrame:
    """Per compressor, the share of readings inside each sensor's normal band."""
    inside = pd.DataFrame({s: readings[s].between(*NORMAL_BANDS[s]) for s in SENSORS})
    return inside.groupby(readings["compressor_id"]).mean()


@pytest.mark.parametrize("start, end", [("2026-01-01", "2026-01-21"), ("2026-07-01", "2026-07-21")])
def test_healthy_units_stay_in_normal_bands(tmp_path, start, end):
    simulate_fleet(quiet(compressor_count=12, start_date=start, end_date=end), tmp_path)
    share = in_band_share(read_readings(tmp_path))
    assert (share >= 0.95).all().all(), share.min()


def test_a_failing_unit_leaves_the_normal_bands(tmp_path):
    simulate_fleet(quiet(compressor_count=2, forced_failures=((0, "bearing_wear"),)), tmp_path)
    share = in_band_share(read_readings(tmp_path))
    assert share.loc["COMP-0001", "vibration_mms"] < 0.95 <= share.loc["COMP-0002", "vibration_mms"]


def test_discharge_temperature_follows_compression_ratio(tmp_path):
    simulate_fleet(quiet(compressor_count=4, end_date="2026-01-15"), tmp_path)
    readings = read_readings(tmp_path)
    ratio = (readings["discharge_pressure_psi"] + ATMOSPHERE_PSI) / (readings["suction_pressure_psi"] + ATMOSPHERE_PSI)
    hourly = readings.assign(ratio=ratio).groupby(["compressor_id", readings["timestamp"].dt.floor("h")]).mean()
    for _, unit in hourly.groupby(level=0):
        assert unit["ratio"].corr(unit["discharge_temp_f"]) > 0.3
        assert unit["gas_flow_mcf"].corr(unit["horsepower_consumption"]) > 0.5


def test_load_follows_a_daily_cycle(tmp_path):
    simulate_fleet(quiet(compressor_count=3, end_date="2026-01-22"), tmp_path)
    readings = read_readings(tmp_path)
    by_hour = readings.groupby(readings["timestamp"].dt.hour)["gas_flow_mcf"].mean()
    local_evening, local_dawn = by_hour.loc[[0, 1, 2]].mean(), by_hour.loc[[11, 12, 13]].mean()
    assert local_evening > local_dawn * 1.03


# --------------------------------------------------------------------------------------------------
# Failure modes


def window_mean(unit: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    rows = unit[(unit["timestamp"] >= start) & (unit["timestamp"] < end)]
    means = rows.drop(columns=list(KEY_COLUMNS)).mean()
    absolute = rows[["discharge_pressure_psi", "suction_pressure_psi"]] + ATMOSPHERE_PSI
    means["ratio"] = (absolute["discharge_pressure_psi"] / absolute["suction_pressure_psi"]).mean()
    means["flow_per_hp"] = (rows["gas_flow_mcf"] / rows["horsepower_consumption"]).mean()
    return means


def shows_signature(unit: pd.DataFrame, mode: str, onset: pd.Timestamp, failure: pd.Timestamp) -> bool:
    """Does the unit show `mode`'s signature between onset and failure (first vs last tenth)?"""
    tenth = (failure - onset) / 10
    early = window_mean(unit, onset, onset + tenth)
    late = window_mean(unit, failure - tenth, failure)
    middle = window_mean(unit, onset + 4.5 * tenth, onset + 5.5 * tenth)
    change = late - early
    if mode == "bearing_wear":  # accelerating: most of the rise comes in the second half
        accelerating = (late - middle)["vibration_mms"] > 2 * (middle - early)["vibration_mms"]
        return change["vibration_mms"] > 4.0 and accelerating
    if mode == "valve_leak":
        return (change["discharge_temp_f"] > 20 and late["gas_flow_mcf"] < 0.85 * early["gas_flow_mcf"]
                and late["flow_per_hp"] < 0.9 * early["flow_per_hp"])
    if mode == "cooling_failure":  # hot while the compression ratio holds
        # the daily load cycle moves the ratio a few percent; 10 % would explain only ~5 °F
        return change["discharge_temp_f"] > 40 and abs(change["ratio"]) < 0.10 * early["ratio"]
    if mode == "packing_leak":
        return change["suction_pressure_psi"] < -15 and late["gas_flow_mcf"] < 0.9 * early["gas_flow_mcf"]
    raise ValueError(mode)


@pytest.fixture(scope="module")
def forced_run(tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Units 0-3 each develop one failure mode; units 4-7 stay healthy as controls."""
    landing = tmp_path_factory.mktemp("forced")
    forced = tuple((i, mode) for i, mode in enumerate(FAILURE_MODES))
    simulate_fleet(quiet(compressor_count=8, forced_failures=forced), landing)
    return read_readings(landing), read_truth(landing)


@pytest.mark.parametrize("mode", FAILURE_MODES)
def test_failure_mode_shows_its_signature_before_the_failure(forced_run, mode):
    readings, truth = forced_run
    event = truth[(truth["category"] == "failure") & (truth["kind"] == mode)].iloc[0]
    failing = readings[readings["compressor_id"] == event["compressor_id"]]
    healthy = readings[readings["compressor_id"] == "COMP-0005"]
    assert shows_signature(failing, mode, event["start"], event["failure_time"])
    assert not shows_signature(healthy, mode, event["start"], event["failure_time"])


@pytest.mark.parametrize("mode, sensor", [("bearing_wear", "vibration_mms"), ("valve_leak", "discharge_temp_f"),
                                          ("cooling_failure", "discharge_temp_f"),
                                          ("packing_leak", "suction_pressure_psi")])
def test_failure_develops_without_steps(forced_run, mode, sensor):
    readings, truth = forced_run
    event = truth[(truth["category"] == "failure") & (truth["kind"] == mode)].iloc[0]
    unit = readings[(readings["compressor_id"] == event["compressor_id"])
                    & readings["timestamp"].between(event["start"], event["failure_time"], inclusive="left")]
    hourly = unit.set_index("timestamp")[sensor].resample("h").mean().dropna()
    total = abs(hourly.iloc[-3:].mean() - hourly.iloc[:3].mean())
    assert hourly.diff().abs().max() < 0.25 * total


@pytest.mark.parametrize("mode", FAILURE_MODES)
def test_unit_is_offline_during_downtime_then_back_to_baseline(forced_run, mode):
    readings, truth = forced_run
    event = truth[(truth["category"] == "failure") & (truth["kind"] == mode)].iloc[0]
    unit = readings[readings["compressor_id"] == event["compressor_id"]]
    assert not unit["timestamp"].between(event["failure_time"], event["end"], inclusive="left").any()
    assert unit["timestamp"].lt(event["failure_time"]).any()
    after = unit[unit["timestamp"] >= event["end"]]
    day_after = after[after["timestamp"] < after["timestamp"].min() + pd.Timedelta(days=1)]
    assert len(day_after) > 100
    inside = pd.DataFrame({s: day_after[s].between(*NORMAL_BANDS[s]) for s in SENSORS})
    assert inside.all().all()
    tenth = (event["failure_time"] - event["start"]) / 10
    early = window_mean(unit, event["start"], event["start"] + tenth)
    back = window_mean(unit, day_after["timestamp"].min(), day_after["timestamp"].max())
    assert abs(back["vibration_mms"] - early["vibration_mms"]) < 0.5
    assert abs(back["discharge_temp_f"] - early["discharge_temp_f"]) < 8


# --------------------------------------------------------------------------------------------------
# Failures still developing when the data ends


def in_progress(truth: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    return truth[(truth["category"] == "failure") & (truth["failure_time"] >= end)]


@pytest.mark.parametrize("overrides, expected", [
    ({}, 1), ({"compressor_count": 1}, 0), ({"compressor_count": 2}, 1), ({"compressor_count": 30}, 3),
    ({"compressor_count": 1000}, 100), ({"failures_per_compressor_year": 0.0}, 0),
    ({"degrading_at_end": 0}, 0), ({"degrading_at_end": 4}, 4), ({"compressor_count": 1, "degrading_at_end": 1}, 1),
])
def test_degrading_count_default_rule(overrides, expected):
    assert degrading_count(SimulationParams(**overrides)) == expected


def test_default_run_ends_with_a_unit_heading_for_a_trip(default_run):
    landing, summary = default_run
    truth, readings, log = read_truth(landing), read_readings(landing), read_maintenance(landing)
    end = utc("2026-02-10")
    degrading = in_progress(truth, end)
    assert summary.degrading_at_end == len(degrading) == 1
    event = degrading.iloc[0]
    assert event["kind"] == "bearing_wear"
    assert utc("2026-01-01") <= event["start"] < end - pd.Timedelta(days=2)
    assert end < event["failure_time"] <= event["end"]
    unit = readings[readings["compressor_id"] == event["compressor_id"]]
    # online to the last grid step, the signature rising all the way, critical vibration at "now"
    assert unit["timestamp"].max() == end - STEP
    assert shows_signature(unit, "bearing_wear", event["start"], end)
    six_hourly = unit.set_index("timestamp")["vibration_mms"].resample("6h").mean()
    assert (six_hourly.iloc[-12:].diff().iloc[1:] > 0).sum() >= 9  # rising (the daily load cycle wobbles)
    last_hours = unit[unit["timestamp"] >= end - pd.Timedelta(hours=3)]["vibration_mms"]
    assert last_hours.mean() >= 7.5 and last_hours.min() >= 6.0 and last_hours.max() >= 8.0
    # no downtime, no maintenance for it: not at the (future) trip, nor while it degrades
    own_log = log[log["compressor_id"] == event["compressor_id"]]
    assert not (own_log["event_date"] >= event["start"]).any()
    assert not ((log["event_type"] == "failure") & (log["event_date"] >= end)).any()


def test_zero_disables_degrading_and_leaves_completed_failures_alone(default_run, tmp_path):
    summary = simulate_fleet(SimulationParams(degrading_at_end=0), tmp_path)
    truth, default_truth = read_truth(tmp_path), read_truth(default_run[0])
    end = utc("2026-02-10")
    assert summary.degrading_at_end == 0 and in_progress(truth, end).empty
    assert summary.failures == default_run[1].failures
    completed = truth[truth["category"] == "failure"].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        completed, default_truth[(default_truth["category"] == "failure")
                                 & (default_truth["failure_time"] < end)].reset_index(drop=True))


@pytest.fixture(scope="module")
def all_degrading(tmp_path_factory):
    """12 units, every one with a failure still developing on 2026-01-21 (fault-free)."""
    landing = tmp_path_factory.mktemp("degrading")
    summary = simulate_fleet(quiet(compressor_count=12, end_date="2026-01-21", degrading_at_end=12), landing)
    return read_readings(landing), read_truth(landing), read_maintenance(landing), summary


def test_every_mode_can_be_in_progress_and_shows_its_signature_at_the_end(all_degrading):
    readings, truth, log, summary = all_degrading
    end = utc("2026-01-21")
    degrading = in_progress(truth, end)
    assert summary.degrading_at_end == len(degrading) == 12 and summary.failures == 0
    assert degrading["compressor_id"].is_unique
    assert set(degrading["kind"]) == set(FAILURE_MODES)
    assert (degrading["start"] >= utc("2026-01-01")).all() and (degrading["end"] >= degrading["failure_time"]).all()
    for event in degrading.itertuples(index=False):
        unit = readings[readings["compressor_id"] == event.compressor_id]
        assert unit["timestamp"].max() == end - STEP
        assert shows_signature(unit, event.kind, event.start, end), event
        # 93-98 % developed: the trip is closer than the development so far
        assert event.failure_time - end < 0.1 * (end - event.start)
    assert not (log["event_type"] == "failure").any()


def test_short_range_compresses_the_in_progress_development(tmp_path):
    summary = simulate_fleet(SimulationParams(compressor_count=2, end_date="2026-01-02"), tmp_path)
    degrading = in_progress(read_truth(tmp_path), utc("2026-01-02"))
    assert summary.degrading_at_end == len(degrading) == 1
    assert (degrading["start"] >= utc("2026-01-01")).all()
    assert (degrading["failure_time"] > utc("2026-01-02")).all()


# --------------------------------------------------------------------------------------------------
# Sensor faults


@pytest.fixture(scope="module")
def fault_twins(tmp_path_factory):
    """(faulty readings, clean twin readings, fault ground truth, params) at 0.02 faults/kind/unit-day."""
    params = quiet(compressor_count=30, end_date="2026-01-31", fault_rates={k: 0.02 for k in FAULT_KINDS})
    faulty_dir, clean_dir = tmp_path_factory.mktemp("faulty"), tmp_path_factory.mktemp("clean")
    simulate_fleet(params, faulty_dir)
    simulate_fleet(quiet(compressor_count=30, end_date="2026-01-31"), clean_dir)
    truth = read_truth(faulty_dir)
    return read_readings(faulty_dir), read_readings(clean_dir), truth[truth["category"] == "sensor_fault"], params


def test_every_fault_kind_appears_at_roughly_its_rate(fault_twins):
    _, _, faults, params = fault_twins
    unit_days = params.compressor_count * params.days
    counts = faults["kind"].value_counts()
    for kind, rate in params.fault_rates.as_dict().items():
        expected = rate * unit_days
        assert 0.95 * expected <= counts.get(kind, 0) <= expected, (kind, counts.get(kind, 0), expected)


def test_zero_fault_rates_inject_no_faults(default_run, tmp_path):
    simulate_fleet(quiet(), tmp_path)
    truth = read_truth(tmp_path)
    assert not (truth["category"] == "sensor_fault").any()
    assert (read_truth(default_run[0])["category"] == "sensor_fault").any()


def test_faults_do_not_overlap_each_other(fault_twins):
    _, _, faults, _ = fault_twins
    for _, unit in faults.sort_values("start").groupby("compressor_id"):
        assert (unit["start"].iloc[1:].to_numpy() >= unit["end"].iloc[:-1].to_numpy()).all()


def test_gaps_duplicates_and_out_of_order_rows_are_exactly_the_ground_truth(fault_twins):
    faulty, clean, faults, _ = fault_twins
    faulty_keys = set(zip(faulty["compressor_id"], faulty["timestamp"]))
    clean_keys = set(zip(clean["compressor_id"], clean["timestamp"]))
    assert clean_keys - faulty_keys == windows_to_set(faults[faults["kind"] == "gap"], "start", "end")
    assert faulty_keys <= clean_keys

    duplicated = faulty[faulty.duplicated(["compressor_id", "timestamp"], keep="first")]
    assert set(zip(duplicated["compressor_id"], duplicated["timestamp"])) == windows_to_set(
        faults[faults["kind"] == "duplicate"], "start", "end")
    assert len(duplicated) == len(faulty.drop_duplicates()) - len(faulty.drop_duplicates(READING_COLUMNS[:2])) \
        + len(duplicated)  # duplicates are whole-row copies

    went_back = faulty["timestamp"].lt(faulty["timestamp"].shift()) & faulty["compressor_id"].eq(
        faulty["compressor_id"].shift())
    ooo = faults[faults["kind"] == "out_of_order"]
    assert set(zip(faulty.loc[went_back, "compressor_id"], faulty.loc[went_back, "timestamp"])) == set(
        zip(ooo["compressor_id"], ooo["start"]))


def test_value_faults_explain_every_difference_from_the_clean_twin(fault_twins):
    faulty, clean, faults, _ = fault_twins
    keys = ["compressor_id", "timestamp"]
    both = faulty.drop_duplicates(keys).merge(clean, on=keys, how="inner", suffixes=("", "_clean"))
    value_faults = faults[faults["sensor"].notna()]
    for sensor in SENSORS:
        changed = both[~np.isclose(both[sensor], both[f"{sensor}_clean"], rtol=0, atol=1e-9)]
        touched = value_faults[value_faults["sensor"] == sensor]
        allowed = windows_to_set(touched, "start", "end")
        assert set(zip(changed["compressor_id"], changed["timestamp"])) <= allowed, sensor
        nulls = both[both[sensor].isna()]
        assert set(zip(nulls["compressor_id"], nulls["timestamp"])) == windows_to_set(
            touched[touched["kind"] == "null"], "start", "end"), sensor

    indexed = both.set_index(keys)
    for fault in value_faults.itertuples(index=False):
        rows = indexed.loc[fault.compressor_id].loc[fault.start:fault.end - STEP]
        seen, true = rows[fault.sensor], rows[f"{fault.sensor}_clean"]
        if fault.kind == "stuck":
            assert seen.nunique() == 1 and seen.iloc[0] == true.iloc[0] and len(seen) >= 12
        elif fault.kind == "spike":
            assert 2.4 <= seen.iloc[0] / true.iloc[0] <= 4.1
        elif fault.kind == "drift":
            offset = ((seen - true) / true.iloc[0]).to_numpy()
            assert 0.049 <= abs(offset[-1]) <= 0.151 and np.all(np.diff(np.abs(offset)) >= -1e-3)
        elif fault.kind == "null":
            assert seen.isna().all()


def test_smallest_fleet_and_range(tmp_path):
    summary = simulate_fleet(SimulationParams(compressor_count=1, end_date="2026-01-02"), tmp_path)
    readings = read_readings(tmp_path)
    assert summary.readings_written == len(readings) > 100
    assert readings["compressor_id"].unique().tolist() == ["COMP-0001"]


# --------------------------------------------------------------------------------------------------
# Sensors come from the registry


@pytest.fixture(scope="module")
def lube_oil_twins(tmp_path_factory):
    """(readings, truth) of one run with a 7th registry sensor and of its six-sensor twin; unit 0 wears a
    bearing, and faults are frequent enough to land on the new sensor too."""
    folder = tmp_path_factory.mktemp("registry")
    registry = read_registry(registry_with_lube_oil(folder))
    params = SimulationParams(compressor_count=4, end_date="2026-01-31", forced_failures=((0, "bearing_wear"),),
                              fault_rates={kind: 0.05 for kind in FAULT_KINDS})
    simulate_fleet(params, folder / "seven", registry=registry)
    simulate_fleet(params, folder / "six")
    return [(read_readings(folder / run), read_truth(folder / run)) for run in ("seven", "six")]


def test_an_added_sensor_is_a_landing_column_and_leaves_the_others_alone(lube_oil_twins):
    (seven, seven_truth), (six, six_truth) = lube_oil_twins
    assert list(seven.columns) == [*READING_COLUMNS, "lube_oil_pressure_psi"]
    pd.testing.assert_frame_equal(seven[list(READING_COLUMNS)], six)
    on_added = seven_truth["sensor"] == "lube_oil_pressure_psi"
    assert on_added.any()  # it has faults of its own, and they moved none of the others
    pd.testing.assert_frame_equal(seven_truth[~on_added].reset_index(drop=True), six_truth)


def test_an_added_sensor_follows_its_failure_modes(lube_oil_twins):
    (readings, truth), _ = lube_oil_twins
    event = truth[(truth["category"] == "failure") & (truth["compressor_id"] == "COMP-0001")].iloc[0]
    unit = readings[readings["compressor_id"] == "COMP-0001"]
    tenth = (event["failure_time"] - event["start"]) / 10
    early = window_mean(unit, event["start"], event["start"] + tenth)["lube_oil_pressure_psi"]
    late = window_mean(unit, event["failure_time"] - tenth, event["failure_time"])["lube_oil_pressure_psi"]
    assert 45.0 < early < 55.0 and late < early - 15.0 and late < 30.0  # a warning before the trip


@pytest.mark.parametrize("edit, key", [
    (lambda d: d["failure_modes"]["valve_leak"].update(severity="catastrophic"), "failure_modes.valve_leak.severity"),
    (lambda d: d["failure_modes"]["valve_leak"].pop("precursor_days"), "failure_modes.valve_leak.precursor_days"),
    (lambda d: d["failure_modes"].pop("bearing_wear"), "failure_modes"),
    (lambda d: d["failure_modes"]["cooling_failure"]["process"].update(oil_temp_f={"add": 1.0}),
     "failure_modes.cooling_failure.process"),
])
def test_bad_failure_modes_name_the_key(tmp_path, edit, key):
    with pytest.raises(ConfigError, match=re.escape(key)):
        read_failure_modes(registry_copy(tmp_path, edit))


def test_the_registry_failure_modes_are_read(tmp_path):
    assert read_failure_modes(registry_copy(tmp_path, lambda d: None)) == get_failure_modes()


@pytest.mark.parametrize("edit, key", [
    (lambda d: d["sensors"]["vibration_mms"]["simulation"]["failure_modes"].update(explosion={"add": 1.0}),
     "sensors.vibration_mms.simulation.failure_modes.explosion"),
    (lambda d: d["sensors"]["vibration_mms"]["simulation"]["failure_modes"].update(valve_leak={"tilt": 1.0}),
     "sensors.vibration_mms.simulation.failure_modes.valve_leak"),
    (lambda d: d["sensors"]["gas_flow_mcf"]["simulation"].pop("noise_sd"), "sensors.gas_flow_mcf.simulation.noise_sd"),
    (lambda d: d["sensors"]["gas_flow_mcf"]["simulation"].pop("physics"), "sensors.gas_flow_mcf.simulation.base"),
    (lambda d: d["sensors"]["gas_flow_mcf"].pop("simulation"), "sensors.gas_flow_mcf.simulation"),
    (lambda d: d["sensors"].pop("gas_flow_mcf"), "gas_flow_mcf"),
    (lambda d: d["sensors"].update(lube_oil_pressure_psi={**LUBE_OIL, "simulation": {"physics": True}}),
     "sensors.lube_oil_pressure_psi.simulation.physics"),
])
def test_bad_simulation_blocks_name_the_key(tmp_path, edit, key):
    registry = read_registry(registry_copy(tmp_path, edit))
    with pytest.raises(ConfigError, match=re.escape(key)):
        simulate_fleet(quiet(compressor_count=1, end_date="2026-01-02"), tmp_path / "landing", registry=registry)
