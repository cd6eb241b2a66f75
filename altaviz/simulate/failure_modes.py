"""The failure modes the simulator injects: how each develops and what it costs."""

from __future__ import annotations

from dataclasses import dataclass

FAILURE_MODES = ("bearing_wear", "valve_leak", "cooling_failure", "packing_leak")


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

