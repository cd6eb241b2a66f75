"""Simulate a compressor fleet into a landing folder: readings, metadata, maintenance log, ground truth.

What lands in ``landing_dir`` (every file is rewritten on each run; same parameters, same bytes):

- ``sensor_readings/part-NNNNN.parquet`` (or ``.csv``, see ``csv_every``): one file per chunk of
  compressors, one row per reading, columns ``READING_COLUMNS``. Parquet timestamps are
  ``timestamp[us, tz=UTC]``; CSV timestamps are UTC written as ``YYYY-MM-DD HH:MM:SS`` without a zone.
  Sensor faults are left in on purpose: gaps are missing rows, duplicates and out-of-order rows appear
  as such, nulls are empty cells / Parquet nulls.
- ``compressor_metadata.csv``, ``station_locations.csv``, ``maintenance_logs.csv``.
- ``ground_truth/events.csv``: the injected failures and sensor faults, for evaluation and tests only.
  ``start`` is inclusive and ``end`` exclusive; a failure runs from the first precursor reading to the
  moment the unit is back online, and ``failure_time`` is the trip, after which the unit is offline for
  the logged downtime. A failure still developing when the data ends (see below) has its
  ``failure_time`` (and ``end``) after ``end_date``.

Two kinds of failure: completed ones develop, trip and are repaired inside the range (each logged in
``maintenance_logs.csv`` at the trip), and in-progress ones (``degrading_at_end``) whose precursor starts
inside the range and is 93-98 % developed at ``end_date``, so the last readings, which a dashboard
treats as "now", show units heading for a trip. Their trip lies after the data ends: no downtime, no
maintenance-log row (the log never holds events after the data), only a ground-truth row. By default
one unit in ten degrades at the end (at least one for fleets of two or more; none if
``failures_per_compressor_year`` is 0); the first is always a bearing wear, the slow textbook case whose
vibration is then near or past the critical limit, the others draw their mode like random failures.

The physics, per unit and 10-minute step: station air temperature (season, afternoon peak, weather
fronts) and a daily demand cycle drive flow, suction and discharge pressure. Discharge temperature
follows the per-stage compression ratio on absolute pressures (three stages with inter-coolers whose
gas outlet is held near a set point until hot air overwhelms them); horsepower follows flow and
isentropic head. Failure modes bend these signals continuously over hours to weeks before the trip.

Randomness comes only from ``seed``: the fleet and every event list are drawn once for the whole fleet,
and each compressor's noise from its own stream ``SeedSequence(seed, spawn_key=(4, index))``, so the
readings do not depend on ``chunk_size``; in-progress failures draw from their own stream, so adding
them leaves the completed ones as they were. Nothing here reads the clock except ``SimulationSummary.seconds``.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from altaviz.config import SENSOR_COLUMNS
from altaviz.fleet import BASINS, Fleet, build_fleet

STEP_MINUTES = 10
STEPS_PER_HOUR = 60 // STEP_MINUTES
STEPS_PER_DAY = 24 * STEPS_PER_HOUR
HALF_HOUR = STEPS_PER_HOUR // 2
STEP_US = STEP_MINUTES * 60 * 1_000_000
DAYS_PER_YEAR = 365.25
MAX_COMPRESSORS = 10_000
MAX_DAYS = 731  # one chunk holds chunk_size x days x 144 readings in memory

SENSORS = SENSOR_COLUMNS
READING_COLUMNS = ("compressor_id", "timestamp", *SENSORS)
# A historian stores a few significant digits; rounding also makes a stuck sensor exactly constant.
DECIMALS = {"vibration_mms": 3, "discharge_temp_f": 2, "suction_pressure_psi": 2,
            "discharge_pressure_psi": 2, "horsepower_consumption": 1, "gas_flow_mcf": 1}
# White measurement noise, one standard deviation per sensor.
NOISE_SD = {"vibration_mms": 0.12, "discharge_temp_f": 0.8, "suction_pressure_psi": 0.6,
            "discharge_pressure_psi": 4.0, "horsepower_consumption": 6.0, "gas_flow_mcf": 40.0}

FAILURE_MODES = ("bearing_wear", "valve_leak", "cooling_failure", "packing_leak")
DEGRADING_SHARE = 0.1  # default share of the fleet degrading at end_date (see degrading_count)
DEGRADING_PROGRESS = (0.93, 0.98)  # share of an in-progress precursor already behind at end_date
FAULT_KINDS = ("stuck", "drift", "gap", "spike", "duplicate", "out_of_order", "null")
ROW_FAULTS = frozenset({"gap", "duplicate", "out_of_order"})  # whole rows, no single sensor
EVENT_TYPES = ("scheduled", "unscheduled", "inspection", "failure")
SEVERITIES = ("low", "medium", "high", "critical")
GROUND_TRUTH_COLUMNS = ("compressor_id", "category", "kind", "sensor", "start", "end", "failure_time")
MAINTENANCE_COLUMNS = ("compressor_id", "event_date", "event_type", "description", "downtime_hours",
                       "severity")

# Gas and package constants. k of a lean natural gas is ~1.27; three stages share the ratio.
HEAT_CAPACITY_RATIO = 1.27
STAGES = 3
ATMOSPHERE_PSI = 14.7
RANKINE_OFFSET = 459.67
COOLER_SET_POINT_F = 85.0  # louvers hold inter-stage gas here while the air is cool enough
COOLER_APPROACH_F = 10.0  # gas leaves a clean air cooler this much above the air temperature
COOLER_FAN_GAIN = 0.5  # share of the hot-air excess that reaches the gas with fans at full speed
LOCAL_UTC_OFFSET_H = -6.0  # Texas basins run on Central time; demand and weather follow local time


@dataclass(frozen=True)
class FailureSpec:
    """How one failure mode develops and what it costs."""

    precursor_days: tuple[float, float]
    shape: float  # severity = progress ** shape; > 1 accelerates toward the trip
    downtime_hours: tuple[float, float]
    severity: str
    weight: float  # share among random failures
    description: str


FAILURE_SPECS: dict[str, FailureSpec] = {
    "bearing_wear": FailureSpec((10.0, 24.0), 2.2, (36.0, 72.0), "critical", 0.35,
                                "Main bearing failure: high-vibration trip; bearing and crosshead replaced"),
    "valve_leak": FailureSpec((4.0, 12.0), 1.6, (10.0, 24.0), "high", 0.30,
                              "Discharge valve failure: broken valve plate; valves and seats replaced"),
    "cooling_failure": FailureSpec((0.5, 3.0), 1.5, (6.0, 16.0), "critical", 0.15,
                                   "Cooler failure: high discharge temperature shutdown; fan belt and bearing replaced"),
    "packing_leak": FailureSpec((6.0, 18.0), 1.3, (12.0, 30.0), "high", 0.20,
                                "Rod packing failure: vent gas and low suction; packing rings and rod replaced"),
}

# Fault length in readings (low, high inclusive).
FAULT_STEPS: dict[str, tuple[int, int]] = {
    "stuck": (12, 72), "drift": (144, 720), "gap": (3, 36), "spike": (1, 1),
    "duplicate": (1, 6), "out_of_order": (1, 6), "null": (1, 12),
}

SCHEDULED_WORK = (
    "Scheduled preventive maintenance: oil and filter change",
    "Scheduled preventive maintenance: valve inspection and spark plugs",
    "Scheduled preventive maintenance: packing and lubricator service",
)
INSPECTION_WORK = (
    "Routine inspection: walk-down, leak check, vibration survey",
    "Routine inspection: cooler fins and belts checked",
)
UNSCHEDULED_WORK = (
    "Unscheduled repair: fuel gas regulator replaced",
    "Unscheduled repair: lube oil leak fixed",
    "Unscheduled repair: ignition fault cleared",
)


@dataclass(frozen=True)
class FaultRates:
    """Sensor-fault events per compressor-day, by kind."""

    stuck: float = 0.01
    drift: float = 0.005
    gap: float = 0.01
    spike: float = 0.02
    duplicate: float = 0.01
    out_of_order: float = 0.01
    null: float = 0.02

    def as_dict(self) -> dict[str, float]:
        return {kind: float(getattr(self, kind)) for kind in FAULT_KINDS}


@dataclass(frozen=True)
class SimulationParams:
    """Everything one simulation depends on; the same params give the same bytes.

    Dates are UTC days 'YYYY-MM-DD'; ``start_date`` is inclusive, ``end_date`` exclusive.
    ``fault_rates`` may be given as a mapping (kind -> events per compressor-day).
    ``csv_every``: every n-th chunk (n-1, 2n-1, ...) is written as CSV instead of Parquet; 0 = never.
    ``forced_failures``: (compressor index, failure mode) pairs scheduled before the random ones.
    ``degrading_at_end``: how many units have a failure still developing when the data ends (trip after
    ``end_date``); None = the default rule of ``degrading_count``, 0 = none.
    """

    compressor_count: int = 10
    start_date: str = "2026-01-01"
    end_date: str = "2026-02-10"
    seed: int = 42
    failures_per_compressor_year: float = 2.0
    fault_rates: FaultRates = field(default_factory=FaultRates)
    chunk_size: int = 250
    csv_every: int = 2
    forced_failures: tuple[tuple[int, str], ...] = ()
    scheduled_interval_days: float = 60.0
    inspection_interval_days: float = 30.0
    unscheduled_per_compressor_year: float = 1.0
    degrading_at_end: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.fault_rates, Mapping):
            unknown = set(self.fault_rates) - set(FAULT_KINDS)
            if unknown:
                raise ValueError(f"fault_rates: unknown kinds {sorted(unknown)}; expected {FAULT_KINDS}")
            object.__setattr__(self, "fault_rates", FaultRates(**self.fault_rates))
        try:
            object.__setattr__(self, "forced_failures", tuple(tuple(f) for f in self.forced_failures))
        except TypeError:
            raise ValueError(f"forced_failures must be (compressor index, failure mode) pairs, "
                             f"got {self.forced_failures!r}") from None
        validate_params(self)

    @property
    def start(self) -> date:
        return date.fromisoformat(self.start_date)

    @property
    def end(self) -> date:
        return date.fromisoformat(self.end_date)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def steps(self) -> int:
        return self.days * STEPS_PER_DAY


@dataclass(frozen=True)
class SimulationSummary:
    """What a run wrote; everything but ``seconds`` is deterministic."""

    readings_written: int
    compressors: int
    stations: int
    failures: int  # completed failures (tripped and repaired inside the range)
    failures_by_mode: dict[str, int]  # completed failures per mode
    degrading_at_end: int  # failures still developing at end_date (trip after the data ends)
    faults_by_kind: dict[str, int]
    maintenance_events: int
    files: list[str]
    start_date: str
    end_date: str
    seed: int
    seconds: float


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_number(name: str, value: object, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{name} must be a number in [{low}, {high}], got {value!r}")


def validate_params(params: SimulationParams) -> None:
    """Raise ValueError naming the first field that is out of range."""
    if not _is_int(params.compressor_count) or not 1 <= params.compressor_count <= MAX_COMPRESSORS:
        raise ValueError(f"compressor_count must be an integer in [1, {MAX_COMPRESSORS}], "
                         f"got {params.compressor_count!r}")
    for name in ("start_date", "end_date"):
        value = getattr(params, name)
        try:
            if not isinstance(value, str) or not _DATE.match(value):
                raise ValueError
            date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{name} must be a date 'YYYY-MM-DD', got {value!r}") from None
    if not 1 <= params.days <= MAX_DAYS:
        raise ValueError(f"end_date must be 1 to {MAX_DAYS} days after start_date, "
                         f"got {params.start_date} .. {params.end_date}")
    if not _is_int(params.seed) or params.seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {params.seed!r}")
    _check_number("failures_per_compressor_year", params.failures_per_compressor_year, 0.0, 50.0)
    _check_number("unscheduled_per_compressor_year", params.unscheduled_per_compressor_year, 0.0, 50.0)
    _check_number("scheduled_interval_days", params.scheduled_interval_days, 1.0, 3650.0)
    _check_number("inspection_interval_days", params.inspection_interval_days, 1.0, 3650.0)
    if not isinstance(params.fault_rates, FaultRates):
        raise ValueError(f"fault_rates must be FaultRates or a mapping, got {params.fault_rates!r}")
    for kind, rate in params.fault_rates.as_dict().items():
        _check_number(f"fault_rates.{kind}", getattr(params.fault_rates, kind), 0.0, 1.0)
    if not _is_int(params.chunk_size) or not 1 <= params.chunk_size <= MAX_COMPRESSORS:
        raise ValueError(f"chunk_size must be an integer in [1, {MAX_COMPRESSORS}], got {params.chunk_size!r}")
    if not _is_int(params.csv_every) or params.csv_every < 0:
        raise ValueError(f"csv_every must be a non-negative integer, got {params.csv_every!r}")
    for item in params.forced_failures:
        if len(item) != 2 or not _is_int(item[0]) or not 0 <= item[0] < params.compressor_count \
                or item[1] not in FAILURE_MODES:
            raise ValueError(f"forced_failures entries must be (compressor index < compressor_count, one of "
                             f"{FAILURE_MODES}), got {item!r}")
    if params.degrading_at_end is not None and (
            not _is_int(params.degrading_at_end) or not 0 <= params.degrading_at_end <= params.compressor_count):
        raise ValueError(f"degrading_at_end must be None or an integer in [0, compressor_count="
                         f"{params.compressor_count}], got {params.degrading_at_end!r}")


# --------------------------------------------------------------------------------------------------
# Event schedules: drawn once for the whole fleet, one row per event, times in 10-minute steps.


def _systematic_count(expected: float, rng: np.random.Generator) -> int:
    """floor(expected) plus one with probability frac(expected): counts track the rate tightly."""
    whole = math.floor(expected)
    return whole + int(rng.random() < expected - whole)


def _overlaps_any(windows: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(start < w_end and w_start < end for w_start, w_end in windows)


def schedule_failures(params: SimulationParams, rng: np.random.Generator) -> pd.DataFrame:
    """One row per completed failure: comp, mode, precursor_start, failure_step, repaired_step.

    Each failure develops and completes inside the range (precursor, trip, downtime), and failure
    windows of one unit stay a day apart, so every failure is visible from onset to repair.
    """
    n_steps, count = params.steps, params.compressor_count
    years = count * params.days / DAYS_PER_YEAR
    wanted: list[tuple[int | None, str | None]] = [(c, m) for c, m in params.forced_failures]
    wanted += [(None, None)] * _systematic_count(params.failures_per_compressor_year * years, rng)
    weights = np.array([FAILURE_SPECS[m].weight for m in FAILURE_MODES])
    windows: dict[int, list[tuple[int, int]]] = {}
    rows = []
    for forced_comp, forced_mode in wanted:
        mode = forced_mode or FAILURE_MODES[rng.choice(len(FAILURE_MODES), p=weights / weights.sum())]
        spec = FAILURE_SPECS[mode]
        precursor = round(rng.uniform(*spec.precursor_days) * STEPS_PER_DAY)
        downtime = HALF_HOUR * round(rng.uniform(*spec.downtime_hours) * 2)  # logged to the half hour
        if precursor + downtime > n_steps:  # short ranges: compress the development to fit
            precursor = int((n_steps - downtime) * 0.7)
        if precursor < STEPS_PER_HOUR * 6:
            continue
        for _ in range(50):
            comp = forced_comp if forced_comp is not None else int(rng.integers(count))
            failure = int(rng.integers(precursor, n_steps - downtime + 1))
            start, end = failure - precursor, failure + downtime
            unit_windows = windows.setdefault(comp, [])
            if not _overlaps_any(unit_windows, start - STEPS_PER_DAY, end + STEPS_PER_DAY):
                unit_windows.append((start, end))
                rows.append((comp, mode, start, failure, end))
                break
    return _failure_frame(rows)


def _failure_frame(rows: list[tuple[int, str, int, int, int]]) -> pd.DataFrame:
    failures = pd.DataFrame(rows, columns=["comp", "mode", "precursor_start", "failure_step", "repaired_step"])
    return failures.astype({"comp": "int64", "precursor_start": "int64", "failure_step": "int64",
                            "repaired_step": "int64"}).sort_values(["comp", "failure_step"], ignore_index=True)


def degrading_count(params: SimulationParams) -> int:
    """How many units should be degrading at end_date: ``degrading_at_end`` if given, else
    max(1, round(0.1 x compressor_count)) for fleets of two or more units with a non-zero failure rate,
    else 0. (Units whose own completed failures leave no room at the end are skipped, so the realised
    count can be lower on tiny fleets or very short ranges.)"""
    if params.degrading_at_end is not None:
        return int(params.degrading_at_end)
    if params.compressor_count < 2 or params.failures_per_compressor_year == 0:
        return 0
    return max(1, round(DEGRADING_SHARE * params.compressor_count))


def schedule_degrading(params: SimulationParams, completed: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """In-progress failures, same columns as schedule_failures, with failure_step > steps.

    Units are tried in a random order; each gets one failure whose precursor starts inside the range,
    at least a day after the unit's last completed failure, and is DEGRADING_PROGRESS developed at the
    last step (compressed to fit short ranges), so the trip follows the data's end within hours to days.
    The first is a bearing wear, the others draw their mode like random failures.
    """
    n_steps, count, wanted = params.steps, params.compressor_count, degrading_count(params)
    rows: list[tuple[int, str, int, int, int]] = []
    if wanted == 0:
        return _failure_frame(rows)
    earliest = np.zeros(count, dtype=np.int64)
    if not completed.empty:
        last_repair = completed.groupby("comp")["repaired_step"].max()
        earliest[last_repair.index.to_numpy()] = last_repair.to_numpy() + STEPS_PER_DAY
    weights = np.array([FAILURE_SPECS[m].weight for m in FAILURE_MODES])
    for comp in rng.permutation(count):
        drawn = FAILURE_MODES[rng.choice(len(FAILURE_MODES), p=weights / weights.sum())]
        mode = "bearing_wear" if not rows else drawn
        spec = FAILURE_SPECS[mode]
        precursor = rng.uniform(*spec.precursor_days) * STEPS_PER_DAY
        progress = rng.uniform(*DEGRADING_PROGRESS)
        downtime = HALF_HOUR * round(rng.uniform(*spec.downtime_hours) * 2)
        elapsed = min(round(progress * precursor), n_steps - int(earliest[comp]))  # readings into the precursor
        if elapsed < STEPS_PER_HOUR * 6:
            continue
        start = n_steps - elapsed
        failure = max(start + round(elapsed / progress), n_steps + 1)
        rows.append((int(comp), mode, start, failure, failure + downtime))
        if len(rows) == wanted:
            break
    return _failure_frame(rows)


def _periodic_events(rng: np.random.Generator, count: int, days: int, interval: float) -> tuple[np.ndarray, np.ndarray]:
    """(comp, step) of events every `interval` days per unit from a random phase, in the morning shift."""
    phase = rng.uniform(0.0, interval, count)
    per_unit = math.ceil(days / interval) + 1
    day = phase[:, None] + interval * np.arange(per_unit)[None, :]
    comp = np.repeat(np.arange(count), per_unit)
    day = day.ravel()
    # Crews start 07:00-10:00 Central, i.e. 13:00-16:00 UTC.
    step = np.floor(day).astype(np.int64) * STEPS_PER_DAY + rng.integers(13 * 6, 16 * 6, day.size)
    return comp, step


def _drop_overlapping(events: pd.DataFrame, start: str, end: str) -> pd.DataFrame:
    """Keep events whose window [start, end) meets no earlier window of the same unit.

    Vectorised: sorted by (comp, start), a running maximum of the offset end times is the latest
    window end seen so far for that unit (offsets keep units apart).
    """
    if events.empty:
        return events
    events = events.sort_values(["comp", start], kind="stable", ignore_index=True)
    span = int(max(events[end].max(), events[start].max())) + 2
    offset = events["comp"].to_numpy() * span
    ends = np.maximum(events[end].to_numpy(), events[start].to_numpy() + 1) + offset
    seen = np.maximum.accumulate(ends)
    previous = np.concatenate([[-1], seen[:-1]])
    return events[events[start].to_numpy() + offset >= previous].reset_index(drop=True)


def _outside_windows(comp: np.ndarray, start: np.ndarray, end: np.ndarray, windows: pd.DataFrame,
                     w_start: str, w_end: str) -> np.ndarray:
    """True where [start, end) meets none of the unit's (mutually disjoint) windows."""
    if windows.empty:
        return np.ones(comp.size, dtype=bool)
    span = int(max(windows[w_end].max(), end.max() if end.size else 0)) + 2
    order = np.argsort(windows["comp"].to_numpy() * span + windows[w_start].to_numpy(), kind="stable")
    ws = (windows["comp"].to_numpy() * span + windows[w_start].to_numpy())[order]
    we = (windows["comp"].to_numpy() * span + windows[w_end].to_numpy())[order]
    lo, hi = comp * span + start, comp * span + np.maximum(end, start + 1)
    idx = np.searchsorted(ws, hi, side="left") - 1  # the last window starting before we end
    hit = (idx >= 0) & (we[np.maximum(idx, 0)] > lo)
    return ~hit


def schedule_maintenance(params: SimulationParams, failures: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """One row per maintenance-log event: comp, event_type, step, downtime_steps, severity, description.

    Failures are logged at the trip; in-progress ones (trip at or after end_date) are not. Scheduled work and unscheduled repairs take the unit offline for
    their downtime; inspections do not. Nothing is planned inside a failure's development or repair,
    and nothing is dated at or after ``end_date``.
    """
    count, days, n_steps = params.compressor_count, params.days, params.steps
    parts = []
    comp, step = _periodic_events(rng, count, days, params.scheduled_interval_days)
    parts.append(pd.DataFrame({
        "comp": comp, "event_type": "scheduled", "step": step,
        "downtime_steps": HALF_HOUR * rng.integers(4 * 2, 10 * 2 + 1, comp.size), "severity": "low",
        "description": np.array(SCHEDULED_WORK)[rng.integers(len(SCHEDULED_WORK), size=comp.size)]}))
    comp, step = _periodic_events(rng, count, days, params.inspection_interval_days)
    parts.append(pd.DataFrame({
        "comp": comp, "event_type": "inspection", "step": step, "downtime_steps": 0, "severity": "low",
        "description": np.array(INSPECTION_WORK)[rng.integers(len(INSPECTION_WORK), size=comp.size)]}))
    n = _systematic_count(params.unscheduled_per_compressor_year * count * days / DAYS_PER_YEAR, rng)
    parts.append(pd.DataFrame({
        "comp": rng.integers(count, size=n), "event_type": "unscheduled",
        "step": rng.integers(0, n_steps, n), "downtime_steps": HALF_HOUR * rng.integers(2 * 2, 8 * 2 + 1, n),
        "severity": "medium",
        "description": np.array(UNSCHEDULED_WORK)[rng.integers(len(UNSCHEDULED_WORK), size=n)]}))
    planned = pd.concat(parts, ignore_index=True)
    planned = planned[planned["step"] < n_steps]
    planned = planned.assign(end=planned["step"] + planned["downtime_steps"])
    keep = _outside_windows(planned["comp"].to_numpy(), planned["step"].to_numpy(), planned["end"].to_numpy(),
                            failures, "precursor_start", "repaired_step")
    planned = _drop_overlapping(planned[keep], "step", "end").drop(columns="end")
    failures = failures[failures["failure_step"] < n_steps]
    logged_failures = pd.DataFrame({
        "comp": failures["comp"], "event_type": "failure", "step": failures["failure_step"],
        "downtime_steps": failures["repaired_step"] - failures["failure_step"],
        "severity": [FAILURE_SPECS[m].severity for m in failures["mode"]],
        "description": [FAILURE_SPECS[m].description for m in failures["mode"]]})
    events = pd.concat([planned, logged_failures], ignore_index=True)
    events = events.astype({"comp": "int64", "step": "int64", "downtime_steps": "int64"})
    return events.sort_values(["comp", "step", "event_type"], kind="stable", ignore_index=True)


def schedule_fault_candidates(params: SimulationParams, rng: np.random.Generator) -> pd.DataFrame:
    """Candidate sensor faults: comp, kind, start, end, sensor, magnitude, shift.

    Counts per kind are rate x compressor-days (systematic rounding). Candidates that would land on an
    offline unit, inside a failure's development or on another fault are dropped per chunk later.
    """
    n_steps, count = params.steps, params.compressor_count
    parts = []
    for kind, rate in params.fault_rates.as_dict().items():
        n = _systematic_count(rate * count * params.days, rng)
        low, high = FAULT_STEPS[kind]
        length = np.minimum(rng.integers(low, high + 1, n), n_steps)
        start = (rng.random(n) * (n_steps - length + 1)).astype(np.int64)
        sensor = np.array(SENSORS, dtype=object)[rng.integers(len(SENSORS), size=n)]
        if kind in ROW_FAULTS:
            sensor[:] = None
        if kind == "drift":  # calibration walks away by 5-15 % of the reading, either way
            magnitude = rng.uniform(0.05, 0.15, n) * rng.choice([-1.0, 1.0], n)
        elif kind == "spike":  # a transient read 2.5-4x the true value
            magnitude = rng.uniform(2.5, 4.0, n)
        else:
            magnitude = np.zeros(n)
        shift = rng.integers(6, 37, n) if kind == "out_of_order" else np.zeros(n, dtype=np.int64)
        parts.append(pd.DataFrame({"comp": rng.integers(count, size=n), "kind": kind, "start": start,
                                   "end": start + length, "sensor": sensor, "magnitude": magnitude,
                                   "shift": shift}))
    faults = pd.concat(parts, ignore_index=True)
    faults = faults.astype({"comp": "int64", "start": "int64", "end": "int64", "shift": "int64"})
    return faults.sort_values(["comp", "start", "kind"], kind="stable", ignore_index=True)


# --------------------------------------------------------------------------------------------------
# Physics: one chunk of units at a time, arrays shaped (units, steps).


@dataclass(frozen=True)
class Plan:
    """The fleet and every event list, fixed before any reading is generated."""

    params: SimulationParams
    fleet: Fleet
    failures: pd.DataFrame
    maintenance: pd.DataFrame
    fault_candidates: pd.DataFrame

    @property
    def completed(self) -> pd.Series:
        """True for failures that trip inside the range, False for those still developing at the end."""
        return self.failures["failure_step"] < self.params.steps


def make_plan(params: SimulationParams) -> Plan:
    """Draw the fleet and all event schedules from the seed (streams 0-3 and 6)."""
    streams = [np.random.SeedSequence(params.seed, spawn_key=(k,)) for k in range(4)]
    fleet = build_fleet(streams[0], params.compressor_count, params.start)
    completed = schedule_failures(params, np.random.default_rng(streams[1]))
    degrading = schedule_degrading(params, completed, np.random.default_rng(
        np.random.SeedSequence(params.seed, spawn_key=(6,))))
    failures = _failure_frame(list(completed.itertuples(index=False, name=None))
                              + list(degrading.itertuples(index=False, name=None)))
    maintenance = schedule_maintenance(params, failures, np.random.default_rng(streams[2]))
    faults = schedule_fault_candidates(params, np.random.default_rng(streams[3]))
    return Plan(params, fleet, failures, maintenance, faults)


def _rows_for(events: pd.DataFrame, c0: int, c1: int) -> pd.DataFrame:
    comp = events["comp"].to_numpy()
    lo, hi = np.searchsorted(comp, [c0, c1])
    return events.iloc[lo:hi]


def _interpolate(coarse: np.ndarray, every: int, n_steps: int) -> np.ndarray:
    """Piecewise-linear curve through one value per `every` steps (rows are independent series)."""
    t = np.arange(n_steps)
    idx, frac = t // every, (t % every) / every
    return coarse[..., idx] * (1.0 - frac) + coarse[..., idx + 1] * frac


def _clock(params: SimulationParams) -> tuple[np.ndarray, np.ndarray]:
    """Local hour of day and fractional day of year for every step."""
    t = np.arange(params.steps)
    local_hour = ((t % STEPS_PER_DAY) / STEPS_PER_HOUR + LOCAL_UTC_OFFSET_H) % 24.0
    first_doy = params.start.timetuple().tm_yday - 1
    day_of_year = first_doy + t / STEPS_PER_DAY + LOCAL_UTC_OFFSET_H / 24.0
    return local_hour, day_of_year


def station_air_temperature(params: SimulationParams, fleet: Fleet, stations: np.ndarray) -> np.ndarray:
    """Air temperature (°F) per station and step: season + afternoon peak + weather fronts."""
    local_hour, day_of_year = _clock(params)
    out = np.empty((stations.size, params.steps))
    for row, station in enumerate(stations):
        basin = BASINS[fleet.basin_of_station[station]]
        rng = np.random.default_rng(np.random.SeedSequence(params.seed, spawn_key=(5, int(station))))
        # Fronts: a daily anomaly, smoothed by interpolation so the air never jumps.
        fronts = _interpolate(rng.normal(0.0, 5.0, params.days + 2), STEPS_PER_DAY, params.steps)
        out[row] = (basin.mean_temp_f
                    - basin.seasonal_amp_f * np.cos(2 * np.pi * (day_of_year - 20.0) / DAYS_PER_YEAR)
                    + basin.diurnal_amp_f * np.cos(2 * np.pi * (local_hour - 15.0) / 24.0)
                    + fronts)
    return out


def _severity(failures: pd.DataFrame, c0: int, n_units: int, n_steps: int) -> dict[str, np.ndarray]:
    """Per failure mode, 0..1 severity per unit and step: ((t - onset) / development) ** shape.

    Continuous from the first precursor reading to the trip (or to the end of the range for a failure
    still developing), zero after repair.
    """
    severity: dict[str, np.ndarray] = {}
    for row in failures.itertuples(index=False):
        s = severity.setdefault(row.mode, np.zeros((n_units, n_steps)))
        span = row.failure_step - row.precursor_start
        stop = min(row.failure_step, n_steps)
        progress = (np.arange(stop - row.precursor_start) + 1.0) / span
        s[row.comp - c0, row.precursor_start:stop] = progress ** FAILURE_SPECS[row.mode].shape
    return severity


def _stage_temperature_ratio(suction_psig: np.ndarray, discharge_psig: np.ndarray) -> np.ndarray:
    """Isentropic temperature rise per stage, T_out / T_in = r ** ((k - 1) / k), r = per-stage ratio."""
    ratio = (discharge_psig + ATMOSPHERE_PSI) / (suction_psig + ATMOSPHERE_PSI)
    return ratio ** ((HEAT_CAPACITY_RATIO - 1.0) / (HEAT_CAPACITY_RATIO * STAGES))


def _cooler_outlet(air_f: np.ndarray) -> np.ndarray:
    """Inter-stage gas temperature: held at the set point while the air is cool; once air + approach
    passes it, the fan drives speed up and win back half of the excess (a smooth max, no kink)."""
    width = 3.0
    excess = width * np.logaddexp(0.0, (air_f + COOLER_APPROACH_F - COOLER_SET_POINT_F) / width)
    return COOLER_SET_POINT_F + COOLER_FAN_GAIN * excess


def simulate_signals(plan: Plan, c0: int, c1: int, failures: pd.DataFrame) -> dict[str, np.ndarray]:
    """True sensor values (before faults) for units c0..c1-1, one (units, steps) array per sensor."""
    params, fleet = plan.params, plan.fleet
    n_units, n_steps = c1 - c0, params.steps
    units = np.arange(c0, c1)
    local_hour, _ = _clock(params)

    # Per-unit noise streams, so a unit's readings are the same in any chunk.
    noise = np.empty((len(SENSORS), n_units, n_steps), dtype=np.float32)
    coarse_every = 3 * STEPS_PER_HOUR
    wiggle_coarse = np.empty((n_units, n_steps // coarse_every + 2))
    for row, unit in enumerate(units):
        rng = np.random.default_rng(np.random.SeedSequence(params.seed, spawn_key=(4, int(unit))))
        noise[:, row, :] = rng.standard_normal((len(SENSORS), n_steps), dtype=np.float32)
        wiggle_coarse[row] = rng.normal(0.0, 0.008, wiggle_coarse.shape[1])

    def per_unit(values: np.ndarray) -> np.ndarray:
        return values[c0:c1, None]

    # Demand: an evening peak plus slow nominations drift; suction draws down and discharge
    # (pipeline) pressure builds as the station pulls harder.
    load = (1.0 + per_unit(fleet.load_amp) * np.cos(2 * np.pi * (local_hour - per_unit(fleet.load_peak_hour)) / 24.0)
            + _interpolate(wiggle_coarse, coarse_every, n_steps))
    d_load = load - 1.0
    severity = _severity(failures, c0, n_units, n_steps)
    zero = np.zeros((1, 1))
    bearing = severity.get("bearing_wear", zero)
    valve = severity.get("valve_leak", zero)
    cooling = severity.get("cooling_failure", zero)
    packing = severity.get("packing_leak", zero)

    # A leaking rod packing vents gas on the suction side: suction pressure and throughput sag.
    suction = per_unit(fleet.suction_nom) - 60.0 * d_load - 32.0 * packing
    discharge = per_unit(fleet.discharge_nom) + 300.0 * d_load
    stage_rise = _stage_temperature_ratio(suction, discharge)

    stations, station_row = np.unique(fleet.station_of[c0:c1], return_inverse=True)
    air = station_air_temperature(params, fleet, stations)[station_row]
    # A failing cooler (fan belt, fouled fins) lets inter-stage gas run hot while the ratio holds.
    stage_inlet = _cooler_outlet(air) + 75.0 * cooling
    # A leaking discharge valve re-compresses hot gas; a dry bearing adds friction heat.
    discharge_temp = (stage_inlet + RANKINE_OFFSET) * stage_rise - RANKINE_OFFSET + 45.0 * valve + 8.0 * bearing

    # Horsepower ~ mass flow x isentropic head; head ~ T_inlet x (r^((k-1)/k) - 1), per stage.
    design_rise = _stage_temperature_ratio(per_unit(fleet.suction_nom), per_unit(fleet.discharge_nom))
    head = (stage_inlet + RANKINE_OFFSET) * (stage_rise - 1.0)
    design_head = (COOLER_SET_POINT_F + RANKINE_OFFSET) * (design_rise - 1.0)
    horsepower = per_unit(fleet.hp_nom) * load * head / design_head * (1.0 + 0.02 * bearing - 0.03 * valve)
    # Leaks cost delivered gas, not work: efficiency (flow per hp) drops.
    flow = per_unit(fleet.flow_nom) * load * (1.0 - 0.30 * valve - 0.25 * packing)
    # Vibration rises with load; a worn bearing adds an accelerating, noisier component.
    vibration = per_unit(fleet.vibration_nom) * (1.0 + d_load) + 6.5 * bearing + 0.5 * valve

    true_values = {
        "vibration_mms": vibration,
        "discharge_temp_f": discharge_temp,
        "suction_pressure_psi": suction,
        "discharge_pressure_psi": discharge,
        "horsepower_consumption": horsepower,
        "gas_flow_mcf": flow,
    }
    signals = {}
    for k, sensor in enumerate(SENSORS):
        sd = NOISE_SD[sensor] * (1.0 + 2.0 * bearing) if sensor == "vibration_mms" else NOISE_SD[sensor]
        signals[sensor] = np.maximum(true_values[sensor] + sd * noise[k], 0.0)
    return signals


# --------------------------------------------------------------------------------------------------
# Faults and rows.


def _offline_and_busy(failures: pd.DataFrame, maintenance: pd.DataFrame, c0: int, n_units: int,
                      n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """offline: no readings (downtime). busy: offline or a failure developing (no faults injected)."""
    offline = np.zeros((n_units, n_steps), dtype=bool)
    busy = np.zeros((n_units, n_steps), dtype=bool)
    for row in maintenance.itertuples(index=False):
        if row.downtime_steps > 0:
            offline[row.comp - c0, row.step:row.step + row.downtime_steps] = True
    for row in failures.itertuples(index=False):
        busy[row.comp - c0, row.precursor_start:row.repaired_step] = True
    busy |= offline
    return offline, busy


def _free_of(busy: np.ndarray, comp: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """True where busy[comp, start:end] is all False (prefix sums: no loop over readings)."""
    busy_before = np.zeros((busy.shape[0], busy.shape[1] + 1), dtype=np.int32)
    np.cumsum(busy, axis=1, out=busy_before[:, 1:])
    return busy_before[comp, end] == busy_before[comp, start]


def select_faults(candidates: pd.DataFrame, busy: np.ndarray, c0: int, attempts: int = 8) -> pd.DataFrame:
    """Place the candidate faults on readings of a healthy, online unit, each on no other fault.

    A candidate that collides is moved by a fixed stride and tried again, so the realised count
    follows the configured rate; the moves depend only on the unit's own schedule, not on the chunk.
    """
    if candidates.empty:
        return candidates
    busy = busy.copy()
    n_steps = busy.shape[1]
    placed, pending = [], candidates
    for _ in range(attempts):
        comp = pending["comp"].to_numpy() - c0
        free = _free_of(busy, comp, pending["start"].to_numpy(), pending["end"].to_numpy())
        taken = _drop_overlapping(pending[free], "start", "end")
        for row in taken.itertuples(index=False):
            busy[row.comp - c0, row.start:row.end] = True
        placed.append(taken)
        taken_keys = set(zip(taken["comp"], taken["kind"], taken["start"]))
        left = np.array([key not in taken_keys for key in zip(pending["comp"], pending["kind"], pending["start"])],
                        dtype=bool)
        pending = pending[left]
        if pending.empty:
            break
        length = (pending["end"] - pending["start"]).to_numpy()
        stride = int(n_steps * 0.381966) + 37  # golden-ratio stride: successive tries spread over the range
        start = (pending["start"].to_numpy() + stride) % (n_steps - length + 1)
        pending = pending.assign(start=start, end=start + length)
    faults = pd.concat(placed, ignore_index=True)
    return faults.sort_values(["comp", "start", "kind"], kind="stable", ignore_index=True)


def apply_value_faults(signals: dict[str, np.ndarray], faults: pd.DataFrame, c0: int) -> None:
    """Stuck, drift, spike and null faults, in place on the sensor arrays."""
    for row in faults.itertuples(index=False):
        if row.kind in ROW_FAULTS:
            continue
        values = signals[row.sensor][row.comp - c0]
        a, b = row.start, row.end
        if row.kind == "stuck":
            values[a:b] = values[a]
        elif row.kind == "drift":
            values[a:b] += values[a] * row.magnitude * np.arange(1, b - a + 1) / (b - a)
        elif row.kind == "spike":
            values[a:b] *= row.magnitude
        elif row.kind == "null":
            values[a:b] = np.nan


def row_order(offline: np.ndarray, faults: pd.DataFrame, c0: int) -> np.ndarray:
    """Flat (unit * steps + step) positions of the rows as they appear in the file.

    Rows are unit by unit in time order, minus offline steps and gaps, plus a duplicate right after
    each duplicated reading, with out-of-order blocks moved `shift` readings later.
    """
    n_units, n_steps = offline.shape
    missing = offline.copy()
    duplicated, displaced, targets = [], [], []
    for row in faults.itertuples(index=False):
        c = row.comp - c0
        steps = np.arange(row.start, row.end)
        if row.kind == "gap":
            missing[c, row.start:row.end] = True
        elif row.kind == "duplicate":
            duplicated.append(c * n_steps + steps)
        elif row.kind == "out_of_order":
            displaced.append(c * n_steps + steps)
            targets.append(c * n_steps + np.minimum(row.end - 1 + row.shift, n_steps - 1))
    present = np.flatnonzero(~missing.ravel())
    keys = present * 4
    if displaced:
        moved = np.concatenate(displaced)
        where = np.searchsorted(present, moved)
        keys[where] = np.concatenate([np.full(len(d), t) for d, t in zip(displaced, targets)]) * 4 + 2
    if duplicated:
        copies = np.concatenate(duplicated)
        present = np.concatenate([present, copies])
        keys = np.concatenate([keys, copies * 4 + 1])
    return present[np.argsort(keys, kind="stable")]


def readings_table(plan: Plan, c0: int, signals: dict[str, np.ndarray], positions: np.ndarray) -> pa.Table:
    """The chunk's rows as an Arrow table with READING_COLUMNS."""
    n_steps = plan.params.steps
    unit, step = np.divmod(positions, n_steps)
    ids = pa.array(plan.fleet.compressor_ids[c0:c0 + len(signals[SENSORS[0]])], pa.string())
    compressor = pa.DictionaryArray.from_arrays(pa.array(unit.astype(np.int32)), ids).cast(pa.string())
    start_us = (plan.params.start - date(1970, 1, 1)).days * 86_400 * 1_000_000
    timestamp = pa.array(start_us + step * STEP_US, pa.timestamp("us", tz="UTC"))
    columns = [compressor, timestamp]
    for sensor in SENSORS:
        values = np.round(signals[sensor].ravel()[positions], DECIMALS[sensor])
        columns.append(pa.array(values, pa.float64(), mask=np.isnan(values)))
    return pa.Table.from_arrays(columns, names=list(READING_COLUMNS))


def write_readings(table: pa.Table, path: Path) -> None:
    """Parquet (microsecond UTC timestamps Spark reads) or CSV (UTC 'YYYY-MM-DD HH:MM:SS')."""
    if path.suffix == ".parquet":
        pq.write_table(table, path, compression="snappy", coerce_timestamps="us",
                       allow_truncated_timestamps=False)
        return
    # Format each distinct grid time once, then expand; whole seconds, since Arrow's %S would print
    # the microseconds of a 'us' timestamp.
    encoded = pc.dictionary_encode(table.column("timestamp")).combine_chunks()
    grid_text = pc.strftime(encoded.dictionary.cast(pa.timestamp("s")), format="%Y-%m-%d %H:%M:%S")
    as_text = pa.DictionaryArray.from_arrays(encoded.indices, grid_text).cast(pa.string())
    # No quoting: ids, timestamps and numbers never hold a comma, and plain CSV is what historians export.
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    with pa.OSFile(str(path), "wb") as sink:
        sink.write((",".join(table.column_names) + "\n").encode())
        pacsv.write_csv(table.set_column(1, "timestamp", as_text), sink, write_options=options)


# --------------------------------------------------------------------------------------------------
# Driver.


def _timestamps(params: SimulationParams, steps: pd.Series | np.ndarray) -> list[str]:
    base = pd.Timestamp(params.start_date)
    return (base + pd.to_timedelta(np.asarray(steps, dtype=np.int64) * STEP_MINUTES, unit="min")
            ).strftime("%Y-%m-%d %H:%M:%S").tolist()


def ground_truth_frame(plan: Plan, faults: pd.DataFrame) -> pd.DataFrame:
    """One row per injected failure and sensor fault, GROUND_TRUTH_COLUMNS."""
    params, ids = plan.params, np.array(plan.fleet.compressor_ids)
    failures = plan.failures
    failure_rows = pd.DataFrame({
        "compressor_id": ids[failures["comp"].to_numpy()], "category": "failure", "kind": failures["mode"],
        "sensor": None, "start": _timestamps(params, failures["precursor_start"]),
        "end": _timestamps(params, failures["repaired_step"]),
        "failure_time": _timestamps(params, failures["failure_step"])})
    fault_rows = pd.DataFrame({
        "compressor_id": ids[faults["comp"].to_numpy()], "category": "sensor_fault", "kind": faults["kind"],
        "sensor": faults["sensor"], "start": _timestamps(params, faults["start"]),
        "end": _timestamps(params, faults["end"]), "failure_time": None})
    truth = pd.concat([failure_rows, fault_rows], ignore_index=True)
    return truth.sort_values(["compressor_id", "start", "category", "kind"], kind="stable", ignore_index=True)[
        list(GROUND_TRUTH_COLUMNS)]


def maintenance_frame(plan: Plan) -> pd.DataFrame:
    """maintenance_logs rows, MAINTENANCE_COLUMNS."""
    events, ids = plan.maintenance, np.array(plan.fleet.compressor_ids)
    return pd.DataFrame({
        "compressor_id": ids[events["comp"].to_numpy()],
        "event_date": _timestamps(plan.params, events["step"]),
        "event_type": events["event_type"].to_numpy(),
        "description": events["description"].to_numpy(),
        "downtime_hours": np.round(events["downtime_steps"].to_numpy() / STEPS_PER_HOUR, 2),
        "severity": events["severity"].to_numpy(),
    })[list(MAINTENANCE_COLUMNS)]


def chunk_file_name(index: int, csv_every: int) -> str:
    is_csv = csv_every > 0 and index % csv_every == csv_every - 1
    return f"part-{index:05d}.{'csv' if is_csv else 'parquet'}"


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n")


def _clear_own_files(landing_dir: Path) -> None:
    """Remove chunk files of earlier runs, so a smaller rerun leaves no stale readings behind."""
    for pattern in ("part-*.parquet", "part-*.csv"):
        for stale in (landing_dir / "sensor_readings").glob(pattern):
            stale.unlink()


def simulate_fleet(params: SimulationParams, landing_dir: Path, *,
                   progress: Callable[[str], None] | None = None) -> SimulationSummary:
    """Write the simulated landing folder (see module docstring) and summarise it."""
    began = time.perf_counter()
    landing_dir = Path(landing_dir)
    (landing_dir / "sensor_readings").mkdir(parents=True, exist_ok=True)
    (landing_dir / "ground_truth").mkdir(parents=True, exist_ok=True)
    _clear_own_files(landing_dir)

    plan = make_plan(params)
    n_chunks = math.ceil(params.compressor_count / params.chunk_size)
    files, kept_faults, readings = [], [], 0
    for i in range(n_chunks):
        c0, c1 = i * params.chunk_size, min((i + 1) * params.chunk_size, params.compressor_count)
        failures = _rows_for(plan.failures, c0, c1)
        offline, busy = _offline_and_busy(failures, _rows_for(plan.maintenance, c0, c1), c0, c1 - c0, params.steps)
        faults = select_faults(_rows_for(plan.fault_candidates, c0, c1), busy, c0)
        signals = simulate_signals(plan, c0, c1, failures)
        apply_value_faults(signals, faults, c0)
        table = readings_table(plan, c0, signals, row_order(offline, faults, c0))
        name = f"sensor_readings/{chunk_file_name(i, params.csv_every)}"
        write_readings(table, landing_dir / name)
        files.append(name)
        kept_faults.append(faults)
        readings += table.num_rows
        if progress is not None:
            ids = plan.fleet.compressor_ids
            progress(f"chunk {i + 1}/{n_chunks}: {ids[c0]}..{ids[c1 - 1]}, {table.num_rows:,} readings -> {name}")
        del signals, table, offline, busy  # release this chunk before the next allocates: bounded memory

    faults = pd.concat(kept_faults, ignore_index=True)
    metadata = {
        "compressor_metadata.csv": plan.fleet.compressors,
        "station_locations.csv": plan.fleet.stations,
        "maintenance_logs.csv": maintenance_frame(plan),
        "ground_truth/events.csv": ground_truth_frame(plan, faults),
    }
    for name, frame in metadata.items():
        _write_csv(frame, landing_dir / name)
        files.append(name)

    return SimulationSummary(
        readings_written=readings,
        compressors=params.compressor_count,
        stations=len(plan.fleet.stations),
        failures=int(plan.completed.sum()),
        failures_by_mode={m: int((plan.failures.loc[plan.completed, "mode"] == m).sum()) for m in FAILURE_MODES},
        degrading_at_end=int((~plan.completed).sum()),
        faults_by_kind={k: int((faults["kind"] == k).sum()) for k in FAULT_KINDS},
        maintenance_events=len(plan.maintenance),
        files=sorted(files),
        start_date=params.start_date,
        end_date=params.end_date,
        seed=params.seed,
        seconds=time.perf_counter() - began,
    )


def read_readings(landing_dir: Path) -> pd.DataFrame:
    """Every reading in file order, one row per row written (for previews and tests; the pipeline
    ingests with Spark). Timestamps come back as UTC whatever the file format."""
    frames = []
    for path in sorted((Path(landing_dir) / "sensor_readings").glob("part-*")):
        if path.suffix == ".parquet":
            frame = pq.read_table(path).to_pandas()
        elif path.suffix == ".csv":
            frame = pd.read_csv(path, dtype={"compressor_id": str})
            stamps = pd.to_datetime(frame["timestamp"], format="%Y-%m-%d %H:%M:%S")
            frame["timestamp"] = stamps.dt.tz_localize("UTC").astype("datetime64[us, UTC]")
        else:
            continue
        frames.append(frame[list(READING_COLUMNS)])
    return pd.concat(frames, ignore_index=True)


def params_fields() -> tuple[str, ...]:
    """Names of the SimulationParams fields (for notebooks' parameter cells and the CLI)."""
    return tuple(f.name for f in fields(SimulationParams))
