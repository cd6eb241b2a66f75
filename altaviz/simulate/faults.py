"""Sensor faults: candidates drawn for the fleet, placed per chunk on healthy online readings, then
applied to the values (stuck, drift, spike, null) or to the rows (gap, duplicate, out of order)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from altaviz.simulate.params import SimulationParams
from altaviz.simulate.sensors import PHYSICS_SENSORS, stream_key
from altaviz.simulate.windows import drop_overlapping, systematic_count

ROW_FAULTS = frozenset({"gap", "duplicate", "out_of_order"})  # whole rows, no single sensor
# Fault length in readings (low, high inclusive).
FAULT_STEPS: dict[str, tuple[int, int]] = {
    "stuck": (12, 72), "drift": (144, 720), "gap": (3, 36), "spike": (1, 1),
    "duplicate": (1, 6), "out_of_order": (1, 6), "null": (1, 12),
}


def schedule_fault_candidates(params: SimulationParams, rng: np.random.Generator) -> pd.DataFrame:
    """Candidate sensor faults on the six physics sensors and whole rows: comp, kind, start, end,
    sensor, magnitude, shift.

    Counts per kind are rate x compressor-days (systematic rounding). Candidates that would land on an
    offline unit, inside a failure's development or on another fault are dropped per chunk later.
    """
    def any_physics_sensor(n: int) -> np.ndarray:
        return np.array(PHYSICS_SENSORS, dtype=object)[rng.integers(len(PHYSICS_SENSORS), size=n)]

    return _candidates([
        _draw(params, rng, kind, systematic_count(rate * params.compressor_count * params.days, rng),
              any_physics_sensor)
        for kind, rate in params.fault_rates.as_dict().items()])


def schedule_added_sensor_faults(params: SimulationParams, sensor: str) -> pd.DataFrame:
    """Candidate value faults of a sensor beyond the physics six, at the per-sensor rate of those six
    (rate / 6 per kind) and from the sensor's own stream (8, crc32(name)), so adding it changes no
    other sensor's faults."""
    rng = np.random.default_rng(np.random.SeedSequence(params.seed, spawn_key=(8, stream_key(sensor))))
    per_sensor = params.compressor_count * params.days / len(PHYSICS_SENSORS)
    return _candidates([
        _draw(params, rng, kind, systematic_count(rate * per_sensor, rng), lambda n: np.full(n, sensor, dtype=object))
        for kind, rate in params.fault_rates.as_dict().items() if kind not in ROW_FAULTS])


def _draw(params: SimulationParams, rng: np.random.Generator, kind: str, n: int,
          pick_sensor: Callable[[int], np.ndarray]) -> pd.DataFrame:
    """n faults of one kind; the draws come in a fixed order, so a stream always gives the same faults."""
    n_steps, count = params.steps, params.compressor_count
    low, high = FAULT_STEPS[kind]
    length = np.minimum(rng.integers(low, high + 1, n), n_steps)
    start = (rng.random(n) * (n_steps - length + 1)).astype(np.int64)
    sensor = pick_sensor(n)
    if kind in ROW_FAULTS:
        sensor[:] = None
    if kind == "drift":  # calibration walks away by 5-15 % of the reading, either way
        magnitude = rng.uniform(0.05, 0.15, n) * rng.choice([-1.0, 1.0], n)
    elif kind == "spike":  # a transient read 2.5-4x the true value
        magnitude = rng.uniform(2.5, 4.0, n)
    else:
        magnitude = np.zeros(n)
    shift = rng.integers(6, 37, n) if kind == "out_of_order" else np.zeros(n, dtype=np.int64)
    return pd.DataFrame({"comp": rng.integers(count, size=n), "kind": kind, "start": start, "end": start + length,
                         "sensor": sensor, "magnitude": magnitude, "shift": shift})


def _candidates(parts: list[pd.DataFrame]) -> pd.DataFrame:
    faults = pd.concat(parts, ignore_index=True)
    faults = faults.astype({"comp": "int64", "start": "int64", "end": "int64", "shift": "int64"})
    return faults.sort_values(["comp", "start", "kind"], kind="stable", ignore_index=True)


def offline_and_busy(failures: pd.DataFrame, maintenance: pd.DataFrame, c0: int, n_units: int,
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


def select_faults(groups: Sequence[pd.DataFrame], busy: np.ndarray, c0: int, attempts: int = 8) -> pd.DataFrame:
    """Place the candidate faults on readings of a healthy, online unit, each on no other fault.

    Groups are placed in order, so a later group (a sensor added to the registry) never displaces a
    fault of an earlier one. A candidate that collides is moved by a fixed stride and tried again, so
    the realised count follows the configured rate; the moves depend only on the unit's own schedule,
    not on the chunk.
    """
    busy = busy.copy()
    placed = [_place(candidates, busy, c0, attempts) for candidates in groups if not candidates.empty]
    if not placed:
        return groups[0]
    faults = pd.concat(placed, ignore_index=True)
    return faults.sort_values(["comp", "start", "kind"], kind="stable", ignore_index=True)


def _place(candidates: pd.DataFrame, busy: np.ndarray, c0: int, attempts: int) -> pd.DataFrame:
    """The candidates that find room, marked in ``busy`` (in place)."""
    n_steps = busy.shape[1]
    placed, pending = [], candidates
    for _ in range(attempts):
        comp = pending["comp"].to_numpy() - c0
        free = _free_of(busy, comp, pending["start"].to_numpy(), pending["end"].to_numpy())
        taken = drop_overlapping(pending[free], "start", "end")
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
    return pd.concat(placed, ignore_index=True)


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
