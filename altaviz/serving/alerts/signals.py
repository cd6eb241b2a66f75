"""What is alerted on: one ``Signal`` per (sensor or derived signal, alert type) from the registry, the
anomaly and prediction signals, and the levels a reading must clear to count as normal again."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Mapping

from altaviz.config import Alerting
from altaviz.registry import Sensor, SensorRegistry

PROBLEM_KEY = ("compressor_id", "sensor_name", "alert_type")
AUTO = "auto"
THRESHOLD_TYPES = ("threshold", "rate_of_change")
PREDICTION_SENSOR = "failure_probability"
STALE_SENSOR = "freshness"  # minutes from a unit's newest valid reading to a run's as-of


# Derived signals and the measured sensors they are computed from (altaviz/gold/transforms.py).
DERIVED_INPUTS = {
    "pressure_differential": ("discharge_pressure_psi", "suction_pressure_psi"),
    "temp_rate_of_change": ("discharge_temp_f",),
}


# Derived signals whose alerts are of another type than 'threshold' (a rate is not a level).
_ALERT_TYPE = {"temp_rate_of_change": "rate_of_change"}


@dataclass(frozen=True)
class Signal:
    """One alerting signal: the column it reads and the limit it is judged against.

    ``sensor_name`` is the signal's name in the sensor registry (a sensor column, or
    ``pressure_differential`` / ``temp_rate_of_change``), so label and unit are one lookup away; for
    prediction alerts it is ``failure_probability``. ``inputs`` are the measured sensors whose spikes
    are this signal's spikes. Anomaly signals carry their count rule: ``min_count`` spikes within
    ``window_minutes`` (``threshold_value`` of an anomaly alert is ``min_count``). ``per_unit`` holds the
    (compressor_id, limits) of units whose limits differ from the fleet's ``limit`` (``config/sensors.yaml``,
    ``limits:``); ``for_unit`` is the signal as one unit is judged.
    """

    sensor_name: str
    alert_type: str
    column: str
    limit: Sensor
    inputs: tuple[str, ...] = ()
    min_count: int | None = None
    window_minutes: int | None = None
    per_unit: tuple[tuple[str, Sensor], ...] = ()

    def for_unit(self, compressor_id: str) -> Signal:
        """This signal with ``compressor_id``'s own limits, if it has any."""
        for unit, limit in self.per_unit:
            if unit == compressor_id:
                return replace(self, limit=limit, per_unit=())
        return self

    def threshold_value(self, severity: str) -> float:
        return float(self.min_count) if self.alert_type == "anomaly" else self.limit.level(severity)

    def worse(self, a: float, b: float) -> float:
        """The more abnormal of two values: past the limit for levels, farther from normal for spikes."""
        if a is None or b is None:  # a silent unit with no valid reading at all has no value
            return b if a is None else a
        if self.alert_type != "anomaly":
            return self.limit.worse(a, b)
        center = _center(self.limit)
        return a if abs(a - center) >= abs(b - center) else b


UnitModels = Mapping[str, str | None]  # compressor_id -> equipment model (compressor_metadata.model)


def _per_unit(registry: SensorRegistry, unit_models: UnitModels | None) -> dict[str, tuple[tuple[str, Sensor], ...]]:
    return {name: tuple(sorted(units.items())) for name, units in registry.unit_limits(unit_models).items()}


def alert_signals(registry: SensorRegistry, unit_models: UnitModels | None = None) -> tuple[Signal, ...]:
    """Threshold alerts for every registry sensor and the pressure differential; rate-of-change
    alerts for the discharge temperature (°F/h, from gold's ``temp_rate_of_change``). Units with limits of
    their own (by compressor_id, or by model through ``unit_models``) are judged against them."""
    per_unit = _per_unit(registry, unit_models)
    return tuple(
        Signal(name, _ALERT_TYPE.get(name, "threshold"), name, sensor, DERIVED_INPUTS.get(name, (name,)),
               per_unit=per_unit.get(name, ()))
        for name, sensor in registry.signals.items()
    )


def anomaly_signals(registry: SensorRegistry, alerting: Alerting, unit_models: UnitModels | None = None
                    ) -> tuple[Signal, ...]:
    """Anomaly alerts for every measured sensor (silver flags measured sensors only); a unit's own normal
    band is the centre its spikes' peaks are measured from."""
    per_unit = _per_unit(registry, unit_models)
    return tuple(
        Signal(name, "anomaly", name, sensor, (name,), alerting.anomaly_min_outliers, alerting.anomaly_window_minutes,
               per_unit=per_unit.get(name, ()))
        for name, sensor in registry.sensors.items()
    )


def prediction_signal(alerting: Alerting) -> Signal:
    """The failure probability as a signal: warning and critical probabilities, no normal band."""
    limit = Sensor(
        name=PREDICTION_SENSOR, label="Failure probability", unit="", short=PREDICTION_SENSOR, direction="high",
        warning=alerting.prediction_warning_probability, critical=alerting.prediction_critical_probability,
    )
    return Signal(PREDICTION_SENSOR, "prediction", PREDICTION_SENSOR, limit)


def stale_signal(freshness_sla_minutes: float) -> Signal:
    """A silent unit as a signal: silver's per-unit freshness gate (``quality.freshness_sla_minutes``).
    Warning only: silence says the data stopped, not how the machine is."""
    limit = Sensor(
        name=STALE_SENSOR, label="Time since the newest reading", unit="min", short=STALE_SENSOR, direction="high",
        warning=float(freshness_sla_minutes), critical=None,
    )
    return Signal(STALE_SENSOR, "stale", "freshness_minutes", limit)


def _center(limit: Sensor) -> float:
    return (limit.normal[0] + limit.normal[1]) / 2 if limit.normal is not None else 0.0


def warning_margin(limit: Sensor) -> float:
    """Distance from the normal-band edge to the warning level (from zero when there is no band)."""
    edge = limit.normal_edge if limit.normal_edge is not None else 0.0
    return abs(limit.warning - edge)


def clear_level(limit: Sensor, resolve_margin: float) -> float:
    """The level a reading must be strictly inside to count as normal again (direction-aware):
    the warning level moved toward the normal band by ``resolve_margin`` of the warning margin."""
    inward = -1.0 if limit.direction == "high" else 1.0
    return limit.warning + inward * resolve_margin * warning_margin(limit)


def evaluation_lookback(alerting: Alerting) -> timedelta:
    """How far before its first evaluated reading a run must read: the longest window a rule looks at."""
    return timedelta(minutes=max(alerting.open_after_minutes, alerting.resolve_after_minutes,
                                 alerting.anomaly_window_minutes, alerting.anomaly_clear_minutes))
