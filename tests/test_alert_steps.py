"""The judged readings (``build_alert_steps``) computed in Python over whole compressors equal Spark's window
formulation (``reference=True``) on a fleet that breaches, escalates, spikes, goes quiet and recovers, with
units on limits of their own, stored alerts (open and resolved) and an incremental start.

The lifecycle itself is tested on literal readings in test_alerts.py and test_limits.py (Python path)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import types as T
from registry_fixtures import registry_copy

from altaviz.config import load_settings
from altaviz.registry import read_registry
from altaviz.serving import alerts
from altaviz.serving import stage

SETTINGS = load_settings()
T0 = datetime(2026, 3, 2, tzinfo=timezone.utc)
STEP = timedelta(minutes=10)
READINGS = 700  # about five days per unit
UNIT_MODELS = {"C-001": "Ariel JGK/4", "C-002": "Ariel JGK/4", "C-003": "Ariel JGE/2", "C-004": None,
               "C-005": None, "C-006": None}
LIMITS = {
    "models": {"Ariel JGK/4": {"suction_pressure_psi": {"normal": [20.0, 40.0], "warning": 15.0, "critical": 10.0}},
               "Ariel JGE/2": {"vibration_mms": {"normal": [1.0, 3.0], "warning": 4.0, "critical": 5.0}}},
    "units": {"C-004": {"vibration_mms": {"warning": 5.0}}},
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = Path(tmp_path_factory.mktemp("registry"))
    registry = read_registry(registry_copy(folder, lambda document: document.update(limits=LIMITS)), env={})
    return replace(SETTINGS, registry=registry)


def fleet_readings(settings, seed: int = 7) -> pd.DataFrame:
    """Every unit around the middle of its normal band, with stretches past its warning and critical levels
    (1-20 readings long), silver-flagged spikes (most of them jumps), missing values and missing readings."""
    rng = np.random.default_rng(seed)
    registry = settings.registry
    frames = []
    for unit, model in UNIT_MODELS.items():
        values = {}
        for name in (*registry.sensors, "pressure_differential", "temp_rate_of_change"):
            limits = registry.limits_for(name, unit, model)
            center = (limits.normal[0] + limits.normal[1]) / 2
            toward = limits.warning - center
            level = 0.3 * rng.standard_normal(READINGS)
            for start in rng.choice(READINGS, size=10, replace=False):
                level[start:start + rng.integers(1, 21)] = rng.choice([1.02, 1.2, 1.6, 0.95])
            series = center + toward * level
            series[rng.random(READINGS) < 0.02] = np.nan
            values[name] = series
        flagged = [[] for _ in range(READINGS)]
        for name, sensor in registry.sensors.items():
            for i in np.flatnonzero(rng.random(READINGS) < 0.03):
                flagged[i].append(name)
                if rng.random() < 0.8:
                    values[name][i] += rng.choice([-3, 3]) * abs(sensor.warning - sensor.normal_edge)
        frame = pd.DataFrame(values).assign(
            compressor_id=unit, timestamp=[(T0 + i * STEP).replace(tzinfo=None) for i in range(READINGS)],
            outlier_sensors=flagged)
        frames.append(frame[rng.random(READINGS) > 0.03])
    return pd.concat(frames, ignore_index=True)


def gold(spark, readings: pd.DataFrame, settings):
    names = (*settings.registry.sensors, "pressure_differential", "temp_rate_of_change")
    schema = T.StructType(
        [T.StructField("compressor_id", T.StringType()), T.StructField("timestamp", T.TimestampType())]
        + [T.StructField(name, T.DoubleType()) for name in names]
        + [T.StructField("outlier_sensors", T.ArrayType(T.StringType()))]
    )
    rows = [(r["compressor_id"], r["timestamp"].to_pydatetime(),
             *[None if np.isnan(r[n]) else float(r[n]) for n in names], list(r["outlier_sensors"]))
            for _, r in readings.iterrows()]
    return spark.createDataFrame(rows, schema)


def steps(readings, settings, *, reference: bool, **kwargs) -> pd.DataFrame:
    frame = stage.to_frame(alerts.build_alert_steps(
        readings, signals=stage.fleet_alert_signals(settings, UNIT_MODELS), alerting=settings.alerts,
        registry=settings.registry, reference=reference, **kwargs), alerts.STEP_COLUMNS)
    return frame.sort_values([*alerts.PROBLEM_KEY, "timestamp"]).reset_index(drop=True)


def both_ways(readings, settings, **kwargs) -> tuple[pd.DataFrame, pd.DataFrame]:
    return steps(readings, settings, reference=False, **kwargs), steps(readings, settings, reference=True, **kwargs)


def test_python_steps_equal_spark_windows_over_a_whole_fleet(spark, site):
    python, reference = both_ways(gold(spark, fleet_readings(site), site), site)
    pd.testing.assert_frame_equal(python, reference)
    # The fleet exercises every rule: openings, escalations, resolutions, anomalies, units on their own limits.
    opened = python[python["opens"]]
    assert python["critical"].any() and python["resolves"].any()
    assert set(opened["alert_type"]) == {"threshold", "rate_of_change", "anomaly"}
    assert {"C-001", "C-003", "C-004"} <= set(opened["compressor_id"])


def test_python_steps_equal_spark_windows_resuming_from_stored_alerts(spark, site):
    readings = fleet_readings(site, seed=11)
    full, _ = both_ways(gold(spark, readings, site), site)
    middle = T0 + READINGS // 2 * STEP
    # Stored alerts on problems that breached: some still open, some resolved, watermarks either side of
    # the incremental start; plus an open alert on a problem whose new readings are all normal.
    problems = full[full["opens"]].drop_duplicates(list(alerts.PROBLEM_KEY))
    watermarks = [(row.compressor_id, row.sensor_name, row.alert_type, middle + (i % 5 - 2) * 6 * STEP, i % 2 == 0)
                  for i, row in enumerate(problems.itertuples())]
    opened = set(problems[list(alerts.PROBLEM_KEY)].itertuples(index=False, name=None))
    quiet = next((unit, s.sensor_name, s.alert_type) for unit in UNIT_MODELS
                 for s in stage.fleet_alert_signals(site, UNIT_MODELS)
                 if (unit, s.sensor_name, s.alert_type) not in opened)
    watermarks.append((*quiet, middle, True))  # one row per problem, as the stored alerts give them
    assert len(watermarks) > 10
    since = middle + STEP * 3
    start = since - alerts.evaluation_lookback(site.alerts) - STEP * 40  # an open alert reaches back
    recent = gold(spark, readings[readings["timestamp"] >= start.replace(tzinfo=None)], site)
    python, reference = both_ways(recent, site, watermarks=watermarks, evaluate_from=since)
    pd.testing.assert_frame_equal(python, reference)
    assert python["opens"].any() and python["resolves"].any()
    quiet_steps = python[python[list(alerts.PROBLEM_KEY)].apply(tuple, axis=1) == quiet]
    assert quiet_steps["resolves"].any()  # an open alert keeps its problem judged though nothing breaches
    assert len(python) < len(full)  # incremental: only what follows the watermarks and the start


def test_the_comparison_sees_a_rule_that_differs(spark, site):
    """The equality above is no accident of empty frames: a stricter rule on one side shows."""
    readings = gold(spark, fleet_readings(site), site)
    python = steps(readings, site, reference=False)
    stricter = steps(readings, replace(site, alerts=replace(site.alerts, open_after_minutes=40)), reference=True)
    with pytest.raises(AssertionError):
        pd.testing.assert_frame_equal(python, stricter)
