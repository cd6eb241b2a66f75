"""How the simulator makes each registry sensor, from its ``simulation`` block in the registry file."""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from altaviz.registry import SensorRegistry
from altaviz.simulate.failure_modes import Effect, noise_sd, parse_effects, respond
from altaviz.yaml_config import ConfigError

# The six coupled sensors physics.py computes, in the order their noise is drawn from a unit's stream.
PHYSICS_SENSORS = ("vibration_mms", "discharge_temp_f", "suction_pressure_psi", "discharge_pressure_psi",
                   "horsepower_consumption", "gas_flow_mcf")
SIMULATION_KEYS = ("physics", "decimals", "noise_sd", "base", "load_gain", "failure_modes")


@dataclass(frozen=True)
class SensorModel:
    """One simulated sensor: physics-coupled, or generic (base + load_gain * (load - 1))."""

    name: str
    physics: bool
    decimals: int  # a historian stores a few significant digits; rounding also makes a stuck sensor constant
    noise_sd: float  # white measurement noise, one standard deviation
    effects: tuple[Effect, ...]  # how the failure modes move it, in the listed order
    base: float = 0.0
    load_gain: float = 0.0


def _number(block: Mapping, key: str, where: str, *, low: float = float("-inf")) -> float:
    value = block.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= low:
        raise ConfigError(f"{where}.{key}: expected a number >= {low}, got {value!r}")
    return float(value)


def sensor_model(name: str, block: Mapping, modes: Sequence[str]) -> SensorModel:
    """Parse one ``simulation`` block; errors name the sensor and the key."""
    where = f"sensors.{name}.simulation"
    if not block:
        raise ConfigError(f"{where}: missing; the simulator needs decimals, noise_sd and base (or physics: true)")
    unknown = sorted(set(block) - set(SIMULATION_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; expected some of {SIMULATION_KEYS}")
    physics = block.get("physics", False)
    if not isinstance(physics, bool):
        raise ConfigError(f"{where}.physics: expected true or false, got {physics!r}")
    if physics and name not in PHYSICS_SENSORS:
        raise ConfigError(f"{where}.physics: the coupled physics makes only {PHYSICS_SENSORS}")
    decimals = block.get("decimals")
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 9:
        raise ConfigError(f"{where}.decimals: expected an integer in [0, 9], got {decimals!r}")
    return SensorModel(
        name=name,
        physics=physics,
        decimals=decimals,
        noise_sd=_number(block, "noise_sd", where, low=0.0),
        effects=parse_effects(block.get("failure_modes", {}), f"{where}.failure_modes", modes),
        base=0.0 if physics else _number(block, "base", where),
        load_gain=_number({"load_gain": 0.0, **block}, "load_gain", where),
    )


def sensor_models(registry: SensorRegistry, modes: Sequence[str]) -> tuple[SensorModel, ...]:
    """Every registry sensor's model, in column order; the six physics sensors must all be there."""
    models = tuple(sensor_model(name, sensor.simulation, modes) for name, sensor in registry.sensors.items())
    coupled = {model.name for model in models if model.physics}
    if coupled != set(PHYSICS_SENSORS):
        raise ConfigError(f"sensors: the simulator's coupled physics needs {PHYSICS_SENSORS} with physics: true; "
                          f"missing {sorted(set(PHYSICS_SENSORS) - coupled)}")
    return models


def stream_key(sensor: str) -> int:
    """A sensor's own random-stream key: from its name, so neither its place in the registry nor another
    sensor's arrival changes its draws."""
    return zlib.crc32(sensor.encode())


def generic_signal(model: SensorModel, seed: int, units: np.ndarray, load: np.ndarray,
                   severity: Mapping[str, np.ndarray]) -> np.ndarray:
    """A sensor outside the coupled physics, (units, steps): base + load_gain * (load - 1), bent by the
    failure modes, plus noise from its own per-unit stream (7, stream_key, unit)."""
    noise = np.empty(load.shape, dtype=np.float32)
    for row, unit in enumerate(units):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7, stream_key(model.name), int(unit))))
        noise[row] = rng.standard_normal(load.shape[1], dtype=np.float32)
    healthy = model.base + model.load_gain * (load - 1.0)
    return respond(healthy, model.effects, severity) + noise_sd(model.noise_sd, model.effects, severity) * noise
