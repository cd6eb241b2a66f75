"""The alert state machine as pure functions: literal readings in, alerts out (no database)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from altaviz.serving import alerts
from altaviz.config import load_settings

T0 = datetime(2026, 1, 14, 6, 10, tzinfo=timezone.utc)
STEP = timedelta(minutes=10)


@pytest.fixture(scope="module")
def thresholds():
    return load_settings().registry


@pytest.fixture(scope="module")
def signals(thresholds):
    return {(s.sensor_name, s.alert_type): s for s in alerts.alert_signals(thresholds)}


def _run(signal, values, *, open_alert=None, resolve_after=3, start=T0):
    readings = [(start + i * STEP, value) for i, value in enumerate(values)]
    return alerts.advance(open_alert, readings, signal=signal, compressor_id="COMP-0003", resolve_after=resolve_after)


def test_signals_cover_every_sensor_and_the_derived_limits(thresholds):
    names = {(s.sensor_name, s.alert_type) for s in alerts.alert_signals(thresholds)}
    expected = {(name, "threshold") for name in thresholds.sensors} | {
        ("pressure_differential", "threshold"),
        ("temp_rate_of_change", "rate_of_change"),
    }
    assert names == expected


@pytest.mark.parametrize(
    "sensor, value, expected",
    [
        ("vibration_mms", 4.0, None),
        ("vibration_mms", 6.0, "warning"),  # at the limit is a breach
        ("vibration_mms", 8.4, "critical"),
        ("suction_pressure_psi", 35.0, None),  # low side: high values are fine
        ("suction_pressure_psi", 30.0, "warning"),
        ("suction_pressure_psi", 12.0, "critical"),
        ("gas_flow_mcf", 5000.0, "warning"),  # no critical limit configured
        ("horsepower_consumption", 1700.0, None),
        ("vibration_mms", None, None),
        ("vibration_mms", float("nan"), None),
    ],
)
def test_severity_follows_direction_and_limits(thresholds, sensor, value, expected):
    assert thresholds.sensors[sensor].severity(value) == expected


def test_a_persisting_condition_keeps_one_alert_and_escalates(signals):
    vibration = signals[("vibration_mms", "threshold")]
    touched = _run(vibration, [6.2, 6.5, 8.4, 7.0, 6.1])
    assert len(touched) == 1
    alert = touched[0]
    assert alert == alerts.Alert(
        compressor_id="COMP-0003", sensor_name="vibration_mms", alert_type="threshold",
        alert_timestamp=T0, last_seen_at=T0 + 4 * STEP, severity="critical", sensor_value=6.1,
        peak_value=8.4, threshold_value=8.0,
        message="Vibration reached 8.4 mm/s on COMP-0003, at or above the critical limit of 8.0 mm/s; "
        "abnormal since 2026-01-14 06:10 UTC.",
    )


def test_three_normal_readings_resolve_and_two_do_not(signals):
    vibration = signals[("vibration_mms", "threshold")]
    (still_open,) = _run(vibration, [6.5, 3.0, 3.1])
    assert not still_open.resolved and still_open.normal_streak == 2
    (resolved,) = _run(vibration, [6.5, 3.0, 3.1, 3.2])
    assert resolved.resolved and resolved.resolved_by == "auto"
    assert resolved.resolved_at == T0 + 3 * STEP  # the third normal reading
    # A breach between normal readings restarts the count.
    (interrupted,) = _run(vibration, [6.5, 3.0, 3.1, 6.3, 3.0, 3.0])
    assert not interrupted.resolved and interrupted.normal_streak == 2


def test_missing_values_neither_breach_nor_count_as_normal(signals):
    vibration = signals[("vibration_mms", "threshold")]
    (alert,) = _run(vibration, [6.5, None, 3.0, float("nan"), 3.0])
    assert not alert.resolved and alert.normal_streak == 2


def test_a_new_breach_after_resolution_opens_a_new_alert(signals):
    vibration = signals[("vibration_mms", "threshold")]
    first, second = _run(vibration, [6.5, 3.0, 3.0, 3.0, 7.0])
    assert first.resolved and not second.resolved
    assert second.alert_timestamp == T0 + 4 * STEP and second.severity == "warning"


def test_low_side_sensor_message_and_peak(signals):
    suction = signals[("suction_pressure_psi", "threshold")]
    (alert,) = _run(suction, [28.0, 18.2, 25.0])
    assert (alert.severity, alert.peak_value, alert.sensor_value, alert.threshold_value) == ("critical", 18.2, 25.0, 20.0)
    assert alert.message == (
        "Suction pressure fell to 18.2 psi on COMP-0003, at or below the critical limit of 20.0 psi; "
        "abnormal since 2026-01-14 06:10 UTC."
    )


def test_never_de_escalates_and_an_open_alert_resumes(signals):
    rate = signals[("temp_rate_of_change", "rate_of_change")]
    (alert,) = _run(rate, [45.0, 21.0])
    assert alert.severity == "critical" and alert.threshold_value == 40.0 and alert.sensor_value == 21.0
    # Resuming from the stored open alert with normal readings only: it resolves, no new alert.
    (resumed,) = _run(rate, [5.0, 4.0, 3.0], open_alert=alert, start=alert.last_seen_at + STEP)
    assert resumed.alert_timestamp == alert.alert_timestamp and resumed.resolved


def test_evaluate_alerts_returns_only_what_changed(signals):
    candidates = pd.DataFrame(
        {
            "compressor_id": ["COMP-0003"] * 3,
            "sensor_name": ["vibration_mms"] * 3,
            "alert_type": ["threshold"] * 3,
            "timestamp": [T0 + i * STEP for i in range(3)],
            "value": [6.5, 7.0, 3.0],
        }
    )
    first = alerts.evaluate_alerts(candidates, [], signals=list(signals.values()), resolve_after=3)
    assert (first.opened, first.updated, first.resolved, len(first.alerts)) == (1, 0, 0, 1)
    stored = [first.alerts[0].__dict__]
    # The same readings again, after the watermark filter removed what was evaluated: nothing changes.
    after_watermark = candidates[candidates["timestamp"] > first.alerts[0].last_seen_at]
    again = alerts.evaluate_alerts(after_watermark, stored, signals=list(signals.values()), resolve_after=3)
    assert again.alerts == () and (again.opened, again.updated, again.resolved) == (0, 0, 0)
    # Two more normal readings resolve the stored open alert: an update that resolves.
    later = pd.concat([after_watermark, after_watermark.assign(timestamp=[T0 + 3 * STEP]),
                       after_watermark.assign(timestamp=[T0 + 4 * STEP])])
    resolved = alerts.evaluate_alerts(later, stored, signals=list(signals.values()), resolve_after=3)
    assert (resolved.opened, resolved.updated, resolved.resolved) == (0, 0, 1)
    assert resolved.alerts[0].resolved_at == T0 + 4 * STEP


def test_evaluate_alerts_rejects_an_unknown_signal(signals):
    candidates = pd.DataFrame(
        {"compressor_id": ["C"], "sensor_name": ["oil_level"], "alert_type": ["threshold"],
         "timestamp": [T0], "value": [1.0]}
    )
    with pytest.raises(ValueError, match="oil_level"):
        alerts.evaluate_alerts(candidates, [], signals=list(signals.values()), resolve_after=3)


def test_candidates_keep_breaches_and_the_readings_that_may_resolve(spark, thresholds, signals):
    from pyspark.sql import types as T

    vibration = [3.0, 3.0, 3.0, 3.0, 6.5, 3.0, 3.0, 3.0, 3.0, 3.0]
    schema = T.StructType([
        T.StructField("compressor_id", T.StringType()), T.StructField("timestamp", T.TimestampType()),
        T.StructField("vibration_mms", T.DoubleType()),
    ])
    readings = spark.createDataFrame(
        [("COMP-0003", (T0 + i * STEP).replace(tzinfo=None), value) for i, value in enumerate(vibration)]
        + [("COMP-0004", T0.replace(tzinfo=None), None)],
        schema,
    )
    vib = [signals[("vibration_mms", "threshold")]]
    kept = alerts.build_alert_candidates(readings, signals=vib, resolve_after=3)
    positions = sorted(int((row.timestamp - T0.replace(tzinfo=None)) / STEP) for row in kept.collect())
    # First three (may resolve an alert opened earlier), the breach, and the three after it; nulls dropped.
    assert positions == [0, 1, 2, 4, 5, 6, 7]
    watermarks = spark.createDataFrame(
        [("COMP-0003", "vibration_mms", "threshold", (T0 + 4 * STEP).replace(tzinfo=None))],
        "compressor_id string, sensor_name string, alert_type string, watermark timestamp",
    )
    resumed = alerts.build_alert_candidates(readings, signals=vib, resolve_after=3, watermarks=watermarks)
    positions = sorted(int((row.timestamp - T0.replace(tzinfo=None)) / STEP) for row in resumed.collect())
    assert positions == [5, 6, 7]
