"""The sensor registry (``config/sensors.yaml``) and the rules every layer shares.

What a sensor *is* lives here once: its name, unit, direction, normal band, warning and critical
levels, physical range, which statistics are aggregated, whether gold keeps rolling windows, and how
the simulator makes it. The Delta schemas, gold features, serving aggregate columns, alert rules,
model features and dashboard series all derive from the registry, so a new instrument is one YAML edit.

Shared rules, one definition each: the direction comparison (``Sensor.breaches``), the severity order
(``SEVERITY_RANK``; SQL's ``severity_rank()`` in ``sql/001_tables.sql`` is held to it by a test), and the window labels
(``WINDOWS``, used by gold's rolling features and serving's tumbling aggregates alike).

Limits per equipment model and per unit (``limits:``) override the fleet defaults key by key: a unit's
override over its model's over the sensor's own (``SensorRegistry.limits_for``). Physical ranges stay
per sensor: what a transmitter can report does not depend on the machine it is bolted to.

``ALTAVIZ_SENSOR_REGISTRY`` names another registry file (for a site's own instruments, or a test's).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from altaviz.yaml_config import ConfigError, Reader, pair

REGISTRY_FILE = Path(__file__).resolve().parent.parent / "config" / "sensors.yaml"
REGISTRY_ENV = "ALTAVIZ_SENSOR_REGISTRY"

# Severity is ordinal, never alphabetical ('warning' > 'critical' as strings).
SEVERITIES = ("normal", "warning", "critical")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
HEALTH_BY_RANK = {0: "healthy", 1: "warning", 2: "critical"}

# Window label -> seconds: gold's rolling frames and serving's tumbling windows (each divides a day).
WINDOWS = {"1hr": 3600, "4hr": 4 * 3600, "24hr": 24 * 3600}

STATISTICS = ("mean", "std", "min", "max")  # what a sensor may aggregate per window
ROLLING_STATISTICS = ("mean", "std", "max")  # what gold keeps per rolling window


@dataclass(frozen=True)
class Sensor:
    """One measured sensor or derived signal, with its limits and how it is summarised."""

    name: str
    label: str
    unit: str
    short: str  # prefix of its serving aggregate columns and gold rolling features
    direction: str  # 'high': bad at or above a limit; 'low': bad at or below
    warning: float
    critical: float | None
    normal: tuple[float, float] | None = None
    physical: tuple[float, float] | None = None
    aggregates: tuple[str, ...] = ()
    rolling: bool = False
    simulation: Mapping[str, Any] = field(default_factory=dict)

    def breaches(self, value, level):
        """Whether ``value`` is at or beyond ``level`` on the bad side; works on floats and Spark Columns."""
        return value >= level if self.direction == "high" else value <= level

    def severity(self, value: float | None) -> str | None:
        """'critical', 'warning' or None (normal) for one value; None for a missing value too."""
        if value is None or value != value:  # NaN
            return None
        if self.critical is not None and self.breaches(value, self.critical):
            return "critical"
        if self.breaches(value, self.warning):
            return "warning"
        return None

    def level(self, severity: str) -> float:
        """The limit of a severity ('warning' or 'critical')."""
        return self.critical if severity == "critical" else self.warning  # type: ignore[return-value]

    def worse(self, a: float, b: float) -> float:
        """The more abnormal of two values."""
        return max(a, b) if self.direction == "high" else min(a, b)

    @property
    def normal_edge(self) -> float | None:
        """The edge of the normal band on the bad side."""
        if self.normal is None:
            return None
        return self.normal[1] if self.direction == "high" else self.normal[0]


LIMIT_KEYS = ("normal", "warning", "critical")  # what a model or unit may override; physical stays per sensor


@dataclass(frozen=True)
class LimitOverrides:
    """The ``limits:`` section: per equipment model and per unit (compressor_id), {signal: {key: value}}
    holding only the keys the site set (``LIMIT_KEYS``); every key left out is inherited."""

    models: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    units: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    source: str = "sensors.yaml"  # the file they came from, named in errors

    def __bool__(self) -> bool:
        return bool(self.models or self.units)


@dataclass(frozen=True)
class SensorRegistry:
    sensors: Mapping[str, Sensor]  # measured, in column order
    derived: Mapping[str, Sensor]  # computed in gold: pressure_differential, temp_rate_of_change
    limits: LimitOverrides = field(default_factory=LimitOverrides)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.sensors)

    @property
    def signals(self) -> dict[str, Sensor]:
        """Every signal with limits: the sensors, then the derived signals."""
        return {**self.sensors, **self.derived}

    def limits_for(self, name: str, compressor_id: str | None = None, model: str | None = None) -> Sensor:
        """Signal ``name`` with the limits in force on one unit: the unit's override over its model's over
        the fleet default, key by key. Raises ``ConfigError`` (file and key) when the layers combine into
        inconsistent limits (a unit's warning below its model's critical, say)."""
        sensor = self.signals[name]
        layers = (("models", model, self.limits.models), ("units", compressor_id, self.limits.units))
        for section, key, overrides in layers:
            override = overrides.get(key, {}).get(name) if key is not None else None
            if override:
                sensor = replace(sensor, **override)
                _check_limits(sensor, lambda problem, at=f"limits.{section}.{key}.{name}": ConfigError(
                    f"{self.limits.source}: {at}: {problem}"))
        return sensor

    def unit_limits(self, unit_models: Mapping[str, str | None] | None = None) -> dict[str, dict[str, Sensor]]:
        """{signal: {compressor_id: limits}} for every unit whose limits differ from the fleet default, given
        each unit's equipment model (``unit_models``: compressor_id -> model, e.g. from ``compressor_metadata``);
        units named under ``limits.units`` count even when absent from ``unit_models``. Empty without overrides."""
        if not self.limits:
            return {}
        models = {unit: model if isinstance(model, str) else None for unit, model in (unit_models or {}).items()}
        units = sorted(set(models) | set(self.limits.units))
        differing: dict[str, dict[str, Sensor]] = {}
        for name, default in self.signals.items():
            for compressor_id in units:
                limits = self.limits_for(name, compressor_id, models.get(compressor_id))
                if limits != default:
                    differing.setdefault(name, {})[compressor_id] = limits
        return differing

    def rolling_sensors(self) -> tuple[Sensor, ...]:
        return tuple(sensor for sensor in self.sensors.values() if sensor.rolling)

    def rolling_columns(self) -> tuple[str, ...]:
        """Gold's rolling feature columns: ``<short>_<statistic>_<window>``."""
        return tuple(
            f"{sensor.short}_{stat}_{window}"
            for sensor in self.rolling_sensors() for window in WINDOWS for stat in ROLLING_STATISTICS
        )

    def aggregate_columns(self) -> tuple[tuple[str, str, str], ...]:
        """Serving aggregate columns as (column, statistic, sensor), in table order."""
        return tuple(
            (f"{sensor.short}_{stat}", stat, sensor.name)
            for sensor in self.sensors.values() for stat in sensor.aggregates
        )


def _check_limits(sensor: Sensor, fail) -> None:
    """Raise ``fail(problem)`` unless critical is at least as severe as warning and the normal band stays on
    the good side of the warning level (an alert level inside normal would alert on a healthy unit)."""
    high, warning, critical = sensor.direction == "high", sensor.warning, sensor.critical
    if critical is not None and not (critical >= warning if high else critical <= warning):
        raise fail(f"critical {sensor.critical} is less severe than warning {sensor.warning}")
    edge = sensor.normal_edge
    if edge is not None and not (edge < sensor.warning if high else edge > sensor.warning):
        low, top = sensor.normal  # type: ignore[misc]
        raise fail(f"normal band [{low}, {top}] reaches the warning level {sensor.warning}")


def _sensor(reader: Reader, section: str, name: str, *, measured: bool) -> Sensor:
    key = f"{section}.{name}"
    direction = reader.get(f"{key}.direction", str)
    if direction not in ("high", "low"):
        raise reader.fail(f"{key}.direction", f"must be 'high' or 'low', got {direction!r}")
    warning = reader.number(f"{key}.warning")
    critical = reader.number(f"{key}.critical", optional=True)
    if critical is not None and not (critical >= warning if direction == "high" else critical <= warning):
        raise reader.fail(f"{key}.critical", f"{critical} is less severe than warning {warning}")
    short = reader.get(f"{key}.short", str, optional=True, default=name)
    if not short.isidentifier() or short.lower() != short:
        raise reader.fail(f"{key}.short", f"{short!r} is not a lower-case column name")
    aggregates: tuple[str, ...] = ()
    if measured:
        aggregates = tuple(reader.get(f"{key}.aggregates", list, optional=True, default=["mean"]))
        unknown = sorted(set(aggregates) - set(STATISTICS))
        if unknown:
            raise reader.fail(f"{key}.aggregates", f"unknown statistic(s) {unknown}; expected some of {STATISTICS}")
    sensor = Sensor(
        name=name,
        label=reader.get(f"{key}.label", str, optional=True, default=name),
        unit=reader.get(f"{key}.unit", str),
        short=short,
        direction=direction,
        warning=warning,
        critical=critical,
        normal=pair(reader, f"{key}.normal"),
        physical=pair(reader, f"{key}.physical"),
        aggregates=aggregates,
        rolling=reader.get(f"{key}.rolling", bool, optional=True, default=False) if measured else False,
        simulation=reader.get(f"{key}.simulation", dict, optional=True, default={}) if measured else {},
    )
    _check_limits(sensor, lambda problem: reader.fail(f"{key}.normal", problem))
    return sensor


def _override(reader: Reader, key: str, node: Any) -> dict[str, Any]:
    """One signal's override: some of ``LIMIT_KEYS``, each a number (normal a [low, high] pair)."""
    if not isinstance(node, Mapping) or not node:
        raise reader.fail(key, f"expected some of {LIMIT_KEYS}, got {node!r}")
    unknown = sorted(set(node) - set(LIMIT_KEYS))
    if unknown:
        why = "; physical ranges are per sensor" if "physical" in unknown else ""
        raise reader.fail(key, f"unknown key(s) {unknown}; a limit override sets some of {LIMIT_KEYS}{why}")
    override: dict[str, Any] = {}
    for name, value in node.items():
        if value is None or isinstance(value, bool):
            raise reader.fail(f"{key}.{name}", f"expected a number, got {value!r} (leave the key out to inherit)")
        if name == "normal":
            if not isinstance(value, list) or len(value) != 2:
                raise reader.fail(f"{key}.normal", f"expected [low, high], got {value!r}")
            value = [_number(reader, f"{key}.normal", item, value) for item in value]
            if value[0] > value[1]:
                raise reader.fail(f"{key}.normal", f"low {value[0]} is above high {value[1]}")
            override["normal"] = (value[0], value[1])
        else:
            override[name] = _number(reader, f"{key}.{name}", value, value)
    return override


def _number(reader: Reader, key: str, item: Any, shown: Any) -> float:
    try:
        return float(item)
    except (TypeError, ValueError):
        raise reader.fail(key, f"expected a number, got {shown!r}") from None


def _limits(reader: Reader, signals: Mapping[str, Sensor]) -> LimitOverrides:
    """The optional ``limits:`` section: known sections, signals and keys, each value a number."""
    source = reader.where  # the file(s) errors name, a site's sensors.yaml laid over the project's included
    section = reader.data.get("limits")
    if section is None:
        return LimitOverrides(source=source)
    if not isinstance(section, Mapping):
        raise reader.fail("limits", f"expected a mapping with models and/or units, got {section!r}")
    unknown = sorted(set(section) - {"models", "units"})
    if unknown:
        raise reader.fail("limits", f"unknown key(s) {unknown}; expected models and/or units")
    parsed: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    for kind in ("models", "units"):
        entries = section.get(kind) or {}
        if not isinstance(entries, Mapping):
            raise reader.fail(f"limits.{kind}", f"expected a mapping of {kind[:-1]} to overrides, got {entries!r}")
        parsed[kind] = {}
        for owner, overrides in entries.items():
            key = f"limits.{kind}.{owner}"
            if not isinstance(overrides, Mapping) or not overrides:
                raise reader.fail(key, f"expected a mapping of signal to limits, got {overrides!r}")
            strange = sorted(set(overrides) - set(signals), key=str)
            if strange:
                raise reader.fail(key, f"unknown signal(s) {strange}; expected some of {sorted(signals)}")
            parsed[kind][str(owner)] = {
                name: _override(reader, f"{key}.{name}", node) for name, node in overrides.items()
            }
    return LimitOverrides(parsed["models"], parsed["units"], source=source)


def _check_overrides(registry: SensorRegistry) -> None:
    """Each override over the fleet default must give consistent limits (``limits_for`` raises). A unit over
    its model is checked again where the unit's model becomes known (``unit_limits``)."""
    for model, overrides in registry.limits.models.items():
        for name in overrides:
            registry.limits_for(name, model=model)
    for compressor_id, overrides in registry.limits.units.items():
        for name in overrides:
            registry.limits_for(name, compressor_id=compressor_id)


DERIVED_SIGNALS = ("pressure_differential", "temp_rate_of_change")  # computed by gold, named in code


def read_registry(path: Path, env: Mapping[str, str] | None = None) -> SensorRegistry:
    """Read and validate a registry file; errors name the file and the key."""
    reader = Reader(path, os.environ if env is None else env)
    names = list(reader.get("sensors", dict))
    for name in names:
        if not name.isidentifier() or name.lower() != name:
            raise reader.fail(f"sensors.{name}", "a sensor name must be a lower-case column name")
    sensors = {name: _sensor(reader, "sensors", name, measured=True) for name in names}
    unknown = set(reader.get("derived", dict)) - set(DERIVED_SIGNALS)
    if unknown:
        raise reader.fail("derived", f"unknown derived signal(s) {sorted(unknown)}; gold computes {DERIVED_SIGNALS}")
    derived = {name: _sensor(reader, "derived", name, measured=False) for name in DERIVED_SIGNALS}
    shorts = [s.short for s in (*sensors.values(), *derived.values())]
    repeated = sorted({s for s in shorts if shorts.count(s) > 1})
    if repeated:
        raise reader.fail("sensors", f"two signals share the short name(s) {repeated}")
    registry = SensorRegistry(sensors, derived, _limits(reader, {**sensors, **derived}))
    _check_overrides(registry)
    return registry


def registry_path(env: Mapping[str, str] | None = None, config_dir: Path | None = None) -> Path:
    """The registry file in force: ``$ALTAVIZ_SENSOR_REGISTRY``, else ``sensors.yaml`` in ``config_dir``
    (the project's ``config/`` by default)."""
    chosen = (os.environ if env is None else env).get(REGISTRY_ENV) or ""
    if chosen:
        return Path(chosen).expanduser()
    return config_dir / "sensors.yaml" if config_dir is not None else REGISTRY_FILE


@functools.cache
def get_registry() -> SensorRegistry:
    """The registry of this process, loaded once."""
    return read_registry(registry_path())


SENSOR_COLUMNS: tuple[str, ...] = get_registry().columns
