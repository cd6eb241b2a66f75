"""A seventh instrument for the tests that prove the sensor registry drives every layer."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import yaml

from altaviz.registry import REGISTRY_FILE

# A bearing wearing out starves the oil film: the pressure falls through its low limits before the trip.
LUBE_OIL = {
    "label": "Lube oil pressure", "unit": "psi", "short": "lube_oil_pressure", "direction": "low",
    "normal": [40.0, 60.0], "warning": 30.0, "critical": 20.0, "physical": [0.0, 200.0], "aggregates": ["mean", "min"],
    "simulation": {"decimals": 2, "noise_sd": 0.5, "base": 50.0, "load_gain": 5.0,
                   "failure_modes": {"bearing_wear": {"add": -30.0}}},
}


def registry_copy(folder: Path, edit: Callable[[dict], object]) -> Path:
    """The project's registry with ``edit(document)`` applied, written to ``folder/sensors.yaml``."""
    document = yaml.safe_load(REGISTRY_FILE.read_text())
    edit(document)
    path = folder / "sensors.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def registry_with_lube_oil(folder: Path) -> Path:
    """The project's registry plus ``lube_oil_pressure_psi``."""
    return registry_copy(folder, lambda document: document["sensors"].update(lube_oil_pressure_psi=LUBE_OIL))
