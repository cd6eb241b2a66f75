"""The maintenance log: periodic service, inspections, unscheduled repairs and the logged failures."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from altaviz.simulate.failure_modes import get_failure_modes
from altaviz.simulate.params import SimulationParams
from altaviz.simulate.windows import drop_overlapping, outside_windows, systematic_count
from altaviz.units import DAYS_PER_YEAR

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


def _periodic_events(rng: np.random.Generator, params: SimulationParams,
                     interval: float) -> tuple[np.ndarray, np.ndarray]:
    """(comp, step) of events every `interval` days per unit from a random phase, in the morning shift."""
    count, days, hour = params.compressor_count, params.days, params.steps_per_hour
    phase = rng.uniform(0.0, interval, count)
    per_unit = math.ceil(days / interval) + 1
    day = phase[:, None] + interval * np.arange(per_unit)[None, :]
    comp = np.repeat(np.arange(count), per_unit)
    day = day.ravel()
    # Crews start 07:00-10:00 Central, i.e. 13:00-16:00 UTC.
    step = np.floor(day).astype(np.int64) * params.steps_per_day + rng.integers(13 * hour, 16 * hour, day.size)
    return comp, step



def schedule_maintenance(params: SimulationParams, failures: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """One row per maintenance-log event: comp, event_type, step, downtime_steps, severity, description.

    Failures are logged at the trip; in-progress ones (trip at or after end_date) are not. Scheduled
    work and unscheduled repairs take the unit offline for their downtime; inspections do not. Nothing
    is planned inside a failure's development or repair, and nothing is dated at or after ``end_date``.
    """
    count, days, n_steps = params.compressor_count, params.days, params.steps
    half_hour = params.steps_per_half_hour
    parts = []
    comp, step = _periodic_events(rng, params, params.scheduled_interval_days)
    parts.append(pd.DataFrame({
        "comp": comp, "event_type": "scheduled", "step": step,
        "downtime_steps": half_hour * rng.integers(4 * 2, 10 * 2 + 1, comp.size), "severity": "low",
        "description": np.array(SCHEDULED_WORK)[rng.integers(len(SCHEDULED_WORK), size=comp.size)]}))
    comp, step = _periodic_events(rng, params, params.inspection_interval_days)
    parts.append(pd.DataFrame({
        "comp": comp, "event_type": "inspection", "step": step, "downtime_steps": 0, "severity": "low",
        "description": np.array(INSPECTION_WORK)[rng.integers(len(INSPECTION_WORK), size=comp.size)]}))
    n = systematic_count(params.unscheduled_per_compressor_year * count * days / DAYS_PER_YEAR, rng)
    parts.append(pd.DataFrame({
        "comp": rng.integers(count, size=n), "event_type": "unscheduled",
        "step": rng.integers(0, n_steps, n), "downtime_steps": half_hour * rng.integers(2 * 2, 8 * 2 + 1, n),
        "severity": "medium",
        "description": np.array(UNSCHEDULED_WORK)[rng.integers(len(UNSCHEDULED_WORK), size=n)]}))
    planned = pd.concat(parts, ignore_index=True)
    planned = planned[planned["step"] < n_steps]
    planned = planned.assign(end=planned["step"] + planned["downtime_steps"])
    keep = outside_windows(planned["comp"].to_numpy(), planned["step"].to_numpy(), planned["end"].to_numpy(),
                            failures, "precursor_start", "repaired_step")
    planned = drop_overlapping(planned[keep], "step", "end").drop(columns="end")
    failures, modes = failures[failures["failure_step"] < n_steps], get_failure_modes()
    logged_failures = pd.DataFrame({
        "comp": failures["comp"], "event_type": "failure", "step": failures["failure_step"],
        "downtime_steps": failures["repaired_step"] - failures["failure_step"],
        "severity": [modes[m].severity for m in failures["mode"]],
        "description": [modes[m].description for m in failures["mode"]]})
    events = pd.concat([planned, logged_failures], ignore_index=True)
    events = events.astype({"comp": "int64", "step": "int64", "downtime_steps": "int64"})
    return events.sort_values(["comp", "step", "event_type"], kind="stable", ignore_index=True)
