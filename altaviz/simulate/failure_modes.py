"""The failure modes the simulator injects, read as data from the ``failure_modes:`` section of the
sensor registry file, and how a failure bends a signal (``Effect``, ``respond``).

A mode's effect on a sensor is listed under that sensor's ``simulation.failure_modes``; effects on
process variables that are not sensors (the inter-stage gas temperature) under the mode's ``process``.
Either way an effect is ``{add, scale, noise_gain}`` per unit of severity (0 healthy .. 1 at the trip):

    value = (value + sum(add * s)) * (1 + sum(scale * s));  noise_sd * (1 + sum(noise_gain * s))

with the terms summed in the order they are listed (the order fixes the floating-point result).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from altaviz.registry import registry_path
from altaviz.yaml_config import ConfigError, Reader, pair

MAINTENANCE_SEVERITIES = ("low", "medium", "high", "critical")
EFFECT_KEYS = ("add", "scale", "noise_gain")
PROCESS_VARIABLES = ("inter_stage_gas_temp_f",)  # what physics.py lets a failure bend besides sensors
FIRST_DEGRADING_MODE = "bearing_wear"  # the slow textbook case the first unit degrading at end_date shows


@dataclass(frozen=True)
class Effect:
    """How one failure mode moves one signal, per unit of severity."""

    mode: str
    add: float = 0.0
    scale: float = 0.0
    noise_gain: float = 0.0


@dataclass(frozen=True)
class FailureMode:
    """How one failure mode develops and what it costs."""

    name: str
    precursor_days: tuple[float, float]
    shape: float  # severity = progress ** shape; > 1 accelerates toward the trip
    downtime_hours: tuple[float, float]
    severity: str  # of its maintenance-log row
    weight: float  # share among random failures
    description: str
    process: Mapping[str, Effect]  # process variable -> effect


def parse_effects(node: Any, where: str, modes: Sequence[str]) -> tuple[Effect, ...]:
    """``{mode: {add, scale, noise_gain}}`` as Effects in the listed order; errors name ``where``."""
    if not isinstance(node, Mapping):
        raise ConfigError(f"{where}: expected a mapping of failure mode -> effect, got {node!r}")
    effects = []
    for mode, terms in node.items():
        if mode not in modes:
            raise ConfigError(f"{where}.{mode}: unknown failure mode; expected one of {tuple(modes)}")
        if not isinstance(terms, Mapping) or not terms or set(terms) - set(EFFECT_KEYS):
            raise ConfigError(f"{where}.{mode}: expected some of {EFFECT_KEYS}, got {terms!r}")
        try:
            effects.append(Effect(mode, **{key: float(value) for key, value in terms.items()}))
        except (TypeError, ValueError):
            raise ConfigError(f"{where}.{mode}: effects must be numbers, got {terms!r}") from None
    return tuple(effects)


def _mode(reader: Reader, name: str, modes: Sequence[str]) -> FailureMode:
    key = f"failure_modes.{name}"
    severity = reader.get(f"{key}.severity", str)
    if severity not in MAINTENANCE_SEVERITIES:
        raise reader.fail(f"{key}.severity", f"must be one of {MAINTENANCE_SEVERITIES}, got {severity!r}")
    process = reader.get(f"{key}.process", dict, optional=True, default={})
    unknown = sorted(set(process) - set(PROCESS_VARIABLES))
    if unknown:
        raise reader.fail(f"{key}.process", f"unknown process variable(s) {unknown}; expected {PROCESS_VARIABLES}")
    return FailureMode(
        name=name,
        precursor_days=_range(reader, f"{key}.precursor_days"),
        shape=reader.number(f"{key}.shape", low=0.1, high=10.0),
        downtime_hours=_range(reader, f"{key}.downtime_hours"),
        severity=severity,
        weight=reader.number(f"{key}.weight", low=0.0),
        description=reader.get(f"{key}.description", str),
        process={variable: parse_effects({name: terms}, f"{key}.process.{variable}", modes)[0]
                 for variable, terms in process.items()},
    )


def _range(reader: Reader, key: str) -> tuple[float, float]:
    value = pair(reader, key)
    if value is None:
        raise reader.fail(key, "missing: expected [low, high]")
    return value


def read_failure_modes(path: Path) -> dict[str, FailureMode]:
    """The ``failure_modes:`` section of a registry file, in its order (the order random draws use)."""
    reader = Reader(path, os.environ)
    names = list(reader.get("failure_modes", dict))
    modes = {name: _mode(reader, name, names) for name in names}
    if FIRST_DEGRADING_MODE not in modes:
        raise reader.fail("failure_modes", f"{FIRST_DEGRADING_MODE} is missing: the first unit degrading at the "
                                           "end of the data always shows it")
    if sum(mode.weight for mode in modes.values()) <= 0:
        raise reader.fail("failure_modes", "the weights must not all be zero")
    return modes


@functools.cache
def get_failure_modes() -> dict[str, FailureMode]:
    """The failure modes of this process, loaded once from the registry file in force."""
    return read_failure_modes(registry_path())


def process_effects(variable: str) -> tuple[Effect, ...]:
    """The effects on a process variable that is not a sensor, in failure-mode order."""
    return tuple(mode.process[variable] for mode in get_failure_modes().values() if variable in mode.process)


def respond(value: np.ndarray, effects: Sequence[Effect], severity: Mapping[str, np.ndarray]) -> np.ndarray:
    """``value`` bent by the modes developing in ``severity`` (mode -> 0..1 per unit and step)."""
    factor: Any = 1.0
    for effect in effects:
        if effect.mode not in severity:  # no such failure in this chunk
            continue
        if effect.add:
            value = value + effect.add * severity[effect.mode]
        if effect.scale:
            factor = factor + effect.scale * severity[effect.mode]
    return value * factor


def noise_sd(sd: float, effects: Sequence[Effect], severity: Mapping[str, np.ndarray]) -> Any:
    """The noise standard deviation, widened by modes with a ``noise_gain``.

    Without any gain it stays a Python float, so its product with the float32 noise stays float32;
    with one it is float64 whether or not the mode develops in this chunk (same precision either way).
    """
    gains = [effect for effect in effects if effect.noise_gain]
    if not gains:
        return sd
    factor = np.float64(1.0)
    for effect in gains:
        if effect.mode in severity:
            factor = factor + effect.noise_gain * severity[effect.mode]
    return sd * factor
