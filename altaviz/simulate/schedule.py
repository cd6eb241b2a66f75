"""The plan of a run: the fleet and every event list, drawn once from the seed before any reading.

Completed failures develop, trip and are repaired inside the range; in-progress ones (``degrading_at_end``)
are still developing when the data ends. Times are steps on the reading grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from altaviz.registry import SensorRegistry, get_registry
from altaviz.simulate.failure_modes import FIRST_DEGRADING_MODE, get_failure_modes
from altaviz.simulate.faults import schedule_added_sensor_faults, schedule_fault_candidates
from altaviz.simulate.fleet import Fleet, build_fleet
from altaviz.simulate.maintenance import schedule_maintenance
from altaviz.simulate.params import SimulationParams
from altaviz.simulate.sensors import SensorModel, sensor_models
from altaviz.simulate.windows import overlaps_any, systematic_count
from altaviz.units import DAYS_PER_YEAR

DEGRADING_SHARE = 0.1  # default share of the fleet degrading at end_date (see degrading_count)
DEGRADING_PROGRESS = (0.93, 0.98)  # share of an in-progress precursor already behind at end_date


def schedule_failures(params: SimulationParams, rng: np.random.Generator) -> pd.DataFrame:
    """One row per completed failure: comp, mode, precursor_start, failure_step, repaired_step.

    Each failure develops and completes inside the range (precursor, trip, downtime), and failure
    windows of one unit stay a day apart, so every failure is visible from onset to repair.
    """
    n_steps, count = params.steps, params.compressor_count
    years = count * params.days / DAYS_PER_YEAR
    wanted: list[tuple[int | None, str | None]] = [(c, m) for c, m in params.forced_failures]
    wanted += [(None, None)] * systematic_count(params.failures_per_compressor_year * years, rng)
    modes = get_failure_modes()
    names, weights = list(modes), np.array([mode.weight for mode in modes.values()])
    windows: dict[int, list[tuple[int, int]]] = {}
    rows = []
    for forced_comp, forced_mode in wanted:
        mode = forced_mode or names[rng.choice(len(names), p=weights / weights.sum())]
        spec = modes[mode]
        precursor = round(rng.uniform(*spec.precursor_days) * params.steps_per_day)
        downtime = params.steps_per_half_hour * round(rng.uniform(*spec.downtime_hours) * 2)  # logged to the half hour
        if precursor + downtime > n_steps:  # short ranges: compress the development to fit
            precursor = int((n_steps - downtime) * 0.7)
        if precursor < params.steps_per_hour * 6:
            continue
        for _ in range(50):
            comp = forced_comp if forced_comp is not None else int(rng.integers(count))
            failure = int(rng.integers(precursor, n_steps - downtime + 1))
            start, end = failure - precursor, failure + downtime
            unit_windows = windows.setdefault(comp, [])
            if not overlaps_any(unit_windows, start - params.steps_per_day, end + params.steps_per_day):
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
        earliest[last_repair.index.to_numpy()] = last_repair.to_numpy() + params.steps_per_day
    modes = get_failure_modes()
    names, weights = list(modes), np.array([mode.weight for mode in modes.values()])
    for comp in rng.permutation(count):
        drawn = names[rng.choice(len(names), p=weights / weights.sum())]
        mode = FIRST_DEGRADING_MODE if not rows else drawn
        spec = modes[mode]
        precursor = rng.uniform(*spec.precursor_days) * params.steps_per_day
        progress = rng.uniform(*DEGRADING_PROGRESS)
        downtime = params.steps_per_half_hour * round(rng.uniform(*spec.downtime_hours) * 2)
        elapsed = min(round(progress * precursor), n_steps - int(earliest[comp]))  # readings into the precursor
        if elapsed < params.steps_per_hour * 6:
            continue
        start = n_steps - elapsed
        failure = max(start + round(elapsed / progress), n_steps + 1)
        rows.append((int(comp), mode, start, failure, failure + downtime))
        if len(rows) == wanted:
            break
    return _failure_frame(rows)



@dataclass(frozen=True)
class Plan:
    """The fleet and every event list, fixed before any reading is generated."""

    params: SimulationParams
    sensors: tuple[SensorModel, ...]  # the registry's sensors, in column order
    fleet: Fleet
    failures: pd.DataFrame
    maintenance: pd.DataFrame
    fault_candidates: tuple[pd.DataFrame, ...]  # placed in this order: physics sensors and rows, then added sensors

    @property
    def completed(self) -> pd.Series:
        """True for failures that trip inside the range, False for those still developing at the end."""
        return self.failures["failure_step"] < self.params.steps


def make_plan(params: SimulationParams, registry: SensorRegistry | None = None) -> Plan:
    """Draw the fleet and all event schedules from the seed (streams 0-3, 6 and 8) for the registry's
    sensors (default: the registry of this process)."""
    sensors = sensor_models(registry or get_registry(), tuple(get_failure_modes()))
    streams = [np.random.SeedSequence(params.seed, spawn_key=(k,)) for k in range(4)]
    fleet = build_fleet(streams[0], params.compressor_count, params.start)
    completed = schedule_failures(params, np.random.default_rng(streams[1]))
    degrading = schedule_degrading(params, completed, np.random.default_rng(
        np.random.SeedSequence(params.seed, spawn_key=(6,))))
    failures = _failure_frame(list(completed.itertuples(index=False, name=None))
                              + list(degrading.itertuples(index=False, name=None)))
    maintenance = schedule_maintenance(params, failures, np.random.default_rng(streams[2]))
    faults = (schedule_fault_candidates(params, np.random.default_rng(streams[3])),
              *(schedule_added_sensor_faults(params, sensor.name) for sensor in sensors if not sensor.physics))
    return Plan(params, sensors, fleet, failures, maintenance, faults)

