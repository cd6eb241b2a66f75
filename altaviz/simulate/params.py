"""What one simulation depends on (SimulationParams), how it is checked, and what a run reports."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from altaviz.config import MAX_COMPRESSORS, get_settings
from altaviz.simulate.failure_modes import get_failure_modes

MAX_DAYS = 731  # one chunk holds chunk_size x days x steps_per_day readings in memory
FAULT_KINDS = ("stuck", "drift", "gap", "spike", "duplicate", "out_of_order", "null")


def configured_cadence() -> int:
    """The reading cadence of config/pipeline.yaml, which silver's completeness and serving also use."""
    return get_settings().pipeline.cadence_minutes


@dataclass(frozen=True)
class FaultRates:
    """Sensor-fault events per compressor-day, by kind.

    Value faults (stuck, drift, spike, null) fall on the six physics sensors; a sensor added to the
    registry gets the same per-sensor rate (rate / 6) on top, from its own stream.
    """

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
    ``chunk_size``: units per file at most; a fleet of two or more units is split into at least two
    files, so that with ``csv_every`` = 2 every such run, the default one included, writes both formats.
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
    cadence_minutes: int = field(default_factory=configured_cadence)

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
    def units_per_file(self) -> int:
        return min(self.chunk_size, max(1, math.ceil(self.compressor_count / 2)))

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
    def steps_per_hour(self) -> int:
        return 60 // self.cadence_minutes

    @property
    def steps_per_half_hour(self) -> int:
        """Downtime is logged to the half hour."""
        return self.steps_per_hour // 2

    @property
    def steps_per_day(self) -> int:
        return 24 * self.steps_per_hour

    @property
    def steps(self) -> int:
        """Grid steps (reading slots) per unit over the range."""
        return self.days * self.steps_per_day


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
    if not _is_int(params.cadence_minutes) or params.cadence_minutes <= 0 or 30 % params.cadence_minutes:
        raise ValueError(f"cadence_minutes must be a whole divisor of 30 (the half hour downtime is logged to), "
                         f"got {params.cadence_minutes!r}")
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
    modes = tuple(get_failure_modes())
    for item in params.forced_failures:
        if len(item) != 2 or not _is_int(item[0]) or not 0 <= item[0] < params.compressor_count \
                or item[1] not in modes:
            raise ValueError(f"forced_failures entries must be (compressor index < compressor_count, one of "
                             f"{modes}), got {item!r}")
    if params.degrading_at_end is not None and (
            not _is_int(params.degrading_at_end) or not 0 <= params.degrading_at_end <= params.compressor_count):
        raise ValueError(f"degrading_at_end must be None or an integer in [0, compressor_count="
                         f"{params.compressor_count}], got {params.degrading_at_end!r}")

