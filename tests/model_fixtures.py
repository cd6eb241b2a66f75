"""Small synthetic fleets for the model tests: gold-like readings every 10 minutes and a maintenance log.

Healthy units read the NORMAL values plus seeded noise; a failing unit's vibration ramps up over
``precursor_hours`` before its trip, goes silent for ``downtime_hours``, and reads normal after the repair.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from altaviz.registry import SENSOR_COLUMNS

T0 = datetime(2026, 1, 1)
NORMAL = {"vibration_mms": 3.0, "discharge_temp_f": 200.0, "suction_pressure_psi": 60.0,
          "discharge_pressure_psi": 1050.0, "horsepower_consumption": 1400.0, "gas_flow_mcf": 10000.0}
NOISE = {"vibration_mms": 0.12, "discharge_temp_f": 0.8, "suction_pressure_psi": 0.6,
         "discharge_pressure_psi": 4.0, "horsepower_consumption": 6.0, "gas_flow_mcf": 40.0}
MAINTENANCE_COLUMNS = ["compressor_id", "event_date", "event_type", "description", "downtime_hours", "severity"]


def synthetic_fleet(units: int, days: int, *, failing: dict[int, list[float]], seed: int,
                    precursor_hours: float = 96.0, downtime_hours: float = 12.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(readings, maintenance): ``failing`` maps a unit index to its trip times in hours after T0."""
    rng = np.random.default_rng(seed)
    steps = np.arange(days * 144)
    hours = steps / 6.0
    frames, events = [], []
    for unit in range(units):
        cid = f"C{unit + 1:02d}"
        values = {s: NORMAL.get(s, 1.0) + NOISE.get(s, 0.1) * rng.standard_normal(steps.size) for s in SENSOR_COLUMNS}
        keep = np.ones(steps.size, dtype=bool)
        for trip in failing.get(unit, []):
            progress = np.clip((hours - (trip - precursor_hours)) / precursor_hours, 0.0, 1.0)
            progress[hours >= trip] = 0.0
            values["vibration_mms"] = values["vibration_mms"] + 6.0 * progress ** 2
            values["discharge_temp_f"] = values["discharge_temp_f"] + 10.0 * progress ** 2
            keep &= ~((hours >= trip) & (hours < trip + downtime_hours))
            events.append((cid, T0 + timedelta(hours=trip), "failure", "bearing", downtime_hours, "critical"))
        frame = pd.DataFrame({"compressor_id": cid, "timestamp": [T0 + timedelta(minutes=10 * int(s)) for s in steps],
                              **{s: np.round(v, 3) for s, v in values.items()}})
        frames.append(frame[keep])
    readings = pd.concat(frames, ignore_index=True)
    maintenance = pd.DataFrame(events, columns=MAINTENANCE_COLUMNS)
    return readings, maintenance


def to_spark(spark, readings: pd.DataFrame, maintenance: pd.DataFrame):
    """Spark frames with the gold and maintenance-log column types."""
    sensors = ", ".join(f"{s} double" for s in SENSOR_COLUMNS)
    gold = spark.createDataFrame(readings, f"compressor_id string, timestamp timestamp, {sensors}")
    log = spark.createDataFrame(
        maintenance if len(maintenance) else pd.DataFrame(columns=MAINTENANCE_COLUMNS),
        "compressor_id string, event_date timestamp, event_type string, description string, "
        "downtime_hours double, severity string")
    return gold, log
