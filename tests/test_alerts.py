"""The alert lifecycle on literal readings and scores: Spark judges the readings (``build_alert_steps``),
the state machine turns them into alerts (``evaluate_alerts``); no database.

Defaults (config/pipeline.yaml, 10-minute cadence): open after 30 min (3 readings), resolve after 120 min
(12 readings) inside a 0.2 margin (vibration: below 5.7 mm/s), anomaly: 3 spikes in 6 h, clear after 12 h.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from pyspark.sql import types as T

from altaviz.config import load_settings
from altaviz.serving import alerts
from altaviz.serving import stage

T0 = datetime(2026, 1, 14, 6, 10, tzinfo=timezone.utc)
STEP = timedelta(minutes=10)
HOUR = timedelta(hours=1)
SETTINGS = load_settings()
REGISTRY = SETTINGS.registry
# The lifecycle's tests pin the prediction levels they reason about (the configured ones are measured, and move).
ALERTING = replace(SETTINGS.alerts, prediction_warning_probability=0.5, prediction_critical_probability=0.8,
                   prediction_resolve_margin=0.1)
NORMAL = {"vibration_mms": 3.0, "discharge_pressure_psi": 1050.0, "suction_pressure_psi": 60.0}
SCHEMA = T.StructType(
    [T.StructField("compressor_id", T.StringType()), T.StructField("timestamp", T.TimestampType())]
    + [T.StructField(name, T.DoubleType()) for name in (*NORMAL, "pressure_differential")]
    + [T.StructField("outlier_sensors", T.ArrayType(T.StringType()))]
)
SIGNALS = {
    (s.sensor_name, s.alert_type): s
    for s in stage.fleet_alert_signals(SETTINGS) if s.column in (*NORMAL, "pressure_differential")
}


def rows(compressor_id: str, *, start=T0, count=None, spikes=(), **series) -> list[tuple]:
    """Readings at the cadence; ``series`` maps a sensor (``vibration`` for short) to its values, a list
    or {index: value} (others stay normal);
    ``spikes`` lists (index, sensor) pairs silver flagged."""
    series = {"vibration_mms" if name == "vibration" else name: dict(enumerate(v)) if isinstance(v, list) else v
              for name, v in series.items()}
    count = count if count is not None else max(max(v) + 1 for v in series.values())
    flagged: dict[int, list[str]] = {}
    for index, sensor in spikes:
        flagged.setdefault(index, []).append(sensor)
    out = []
    for i in range(count):
        values = {name: series.get(name, {}).get(i, normal) for name, normal in NORMAL.items()}
        differential = values["discharge_pressure_psi"] - values["suction_pressure_psi"]
        out.append((compressor_id, (start + i * STEP).replace(tzinfo=None), *values.values(), differential,
                    flagged.get(i, [])))
    return out


def evaluate(spark, readings: list[tuple], *, latest=(), since=None, alerting=ALERTING) -> alerts.AlertEvaluation:
    """What publish does: judge in Spark from ``alert_start``, then the state machine from ``latest``."""
    latest = list(latest)
    gold = spark.createDataFrame(readings, SCHEMA)
    start = stage.alert_start(latest, since, settings=replace(SETTINGS, alerts=alerting))
    if start is not None:
        gold = gold.where(gold.timestamp >= start.replace(tzinfo=None))
    steps = alerts.build_alert_steps(
        gold, signals=list(SIGNALS.values()), alerting=alerting, registry=REGISTRY,
        watermarks=alerts.watermark_rows(latest), evaluate_from=since,
    )
    return alerts.evaluate_alerts(stage.to_frame(steps, alerts.STEP_COLUMNS), latest, signals=list(SIGNALS.values()))


def vibration_alert(**fields) -> alerts.Alert:
    values = dict(compressor_id="COMP-0003", sensor_name="vibration_mms", alert_type="threshold",
                  severity="warning", threshold_value=6.0)
    values.update(fields)
    return alerts.Alert(**values)


def vibration_message(peak: float, since: datetime, severity="warning", limit=6.0) -> str:
    return (f"Vibration reached {peak:,.1f} mm/s on COMP-0003, at or above the {severity} limit of {limit:,.1f} mm/s; "
            f"abnormal since {since:%Y-%m-%d %H:%M} UTC.")


def at(index: int) -> datetime:
    return T0 + index * STEP


# --------------------------------------------------------------------------- rules and levels


def test_signals_cover_every_sensor_the_derived_limits_and_an_anomaly_per_sensor():
    names = {(s.sensor_name, s.alert_type) for s in stage.fleet_alert_signals(SETTINGS)}
    expected = {(name, "threshold") for name in REGISTRY.sensors} | {
        ("pressure_differential", "threshold"), ("temp_rate_of_change", "rate_of_change"),
    } | {(name, "anomaly") for name in REGISTRY.sensors}
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
def test_severity_follows_direction_and_limits(sensor, value, expected):
    assert REGISTRY.sensors[sensor].severity(value) == expected


def test_clear_level_is_a_margin_inside_the_warning_level_on_the_right_side():
    levels = {name: alerts.clear_level(sensor, 0.2) for name, sensor in REGISTRY.signals.items()}
    assert levels == pytest.approx({
        "vibration_mms": 5.7, "discharge_temp_f": 236.0, "suction_pressure_psi": 32.0,
        "discharge_pressure_psi": 1280.0, "horsepower_consumption": 1760.0, "gas_flow_mcf": 6400.0,
        "pressure_differential": 1232.0, "temp_rate_of_change": 17.0,
    })
    assert alerts.clear_level(REGISTRY.sensors["vibration_mms"], 0.0) == 6.0  # no margin: the limit itself


# --------------------------------------------------------------------------- threshold lifecycle


def test_persistence_two_breaching_readings_open_nothing_three_open_one_at_the_first(spark):
    two = evaluate(spark, rows("COMP-0003", vibration=[3.0, 6.5, 6.6, 3.0, 3.0]))
    assert two.alerts == ()
    three = evaluate(spark, rows("COMP-0003", vibration=[3.0, 6.5, 6.6, 6.7, 3.0]))
    assert three.alerts == (vibration_alert(
        alert_timestamp=at(1), last_seen_at=at(3), sensor_value=6.7, peak_value=6.7,
        message=vibration_message(6.7, at(1))),)
    # A reading inside the limit in between restarts the count (the limit must hold throughout).
    interrupted = evaluate(spark, rows("COMP-0003", vibration=[6.5, 6.6, 5.8, 6.7, 6.8, 3.0]))
    assert interrupted.alerts == ()


def test_a_reading_hovering_at_the_limit_gives_one_alert(spark):
    hovering = [6.1, 6.2, 6.05] + [5.9, 6.1, 5.95, 6.05, 5.8, 6.1, 5.9, 6.0, 5.75, 6.02] * 3 + [3.0] * 12
    touched = evaluate(spark, rows("COMP-0003", vibration=hovering))
    last_breach = len(hovering) - 12 - 1  # 6.02
    assert touched.alerts == (vibration_alert(
        alert_timestamp=at(0), last_seen_at=at(last_breach), sensor_value=6.02, peak_value=6.2,
        message=vibration_message(6.2, at(0)), normal_streak=12, resolved=True,
        resolved_at=at(len(hovering) - 1), resolved_by="auto"),)
    # Failing case: no margin and no duration (the old rule, near enough) flaps open and closed.
    flapping = replace(ALERTING, resolve_margin=0.0, resolve_after_minutes=10, open_after_minutes=10)
    assert len(evaluate(spark, rows("COMP-0003", vibration=hovering), alerting=flapping).alerts) > 5


def test_resolution_needs_the_margin_and_the_duration(spark):
    opened = [6.5, 6.6, 6.7]
    eleven = evaluate(spark, rows("COMP-0003", vibration=opened + [3.0] * 11))
    assert [a.resolved for a in eleven.alerts] == [False]
    in_band = evaluate(spark, rows("COMP-0003", vibration=opened + [5.8] * 20))  # inside the limit, not the margin
    assert [a.resolved for a in in_band.alerts] == [False]
    resolved = evaluate(spark, rows("COMP-0003", vibration=opened + [5.8] * 20 + [5.6] * 12))
    assert resolved.alerts == (vibration_alert(
        alert_timestamp=at(0), last_seen_at=at(2), sensor_value=6.7, peak_value=6.7,
        message=vibration_message(6.7, at(0)), normal_streak=12, resolved=True, resolved_at=at(34),
        resolved_by="auto"),)
    # A missing reading is not normal: without the first normal reading the stretch ends one later.
    gappy = rows("COMP-0003", vibration=opened + [3.0] * 13)
    del gappy[3]
    (alert,) = evaluate(spark, gappy).alerts
    assert (alert.resolved, alert.resolved_at) == (True, at(15))


def test_escalation_needs_the_critical_level_to_hold_and_never_de_escalates(spark):
    values = [6.5, 6.6, 8.2, 8.3, 6.9, 8.4, 8.5, 8.6, 6.3]
    (alert,) = evaluate(spark, rows("COMP-0003", vibration=values)).alerts
    assert alert == vibration_alert(
        alert_timestamp=at(0), last_seen_at=at(8), severity="critical", sensor_value=6.3, peak_value=8.6,
        threshold_value=8.0, message=vibration_message(8.6, at(0), "critical", 8.0),
        escalated_at=at(7))  # the third critical reading in a row (8.4, 8.5, 8.6): 30 minutes held
    (warning_only,) = evaluate(spark, rows("COMP-0003", vibration=values[:7])).alerts
    assert (warning_only.severity, warning_only.threshold_value, warning_only.peak_value,
            warning_only.escalated_at) == ("warning", 6.0, 8.5, None)


def test_low_side_sensor_message_and_peak(spark):
    (alert,) = evaluate(spark, rows("COMP-0003", suction_pressure_psi=[28.0, 18.2, 25.0, 29.0])).alerts
    assert alert == alerts.Alert(
        compressor_id="COMP-0003", sensor_name="suction_pressure_psi", alert_type="threshold",
        alert_timestamp=at(0), last_seen_at=at(3), severity="warning", sensor_value=29.0, peak_value=18.2,
        threshold_value=30.0,
        message="Suction pressure fell to 18.2 psi on COMP-0003, at or below the warning limit of 30.0 psi; "
                "abnormal since 2026-01-14 06:10 UTC.",
    )


# --------------------------------------------------------------------------- spikes and anomaly alerts


def test_a_single_spike_flagged_as_outlier_opens_nothing(spark):
    # A discharge-pressure spike (3.5x) breaches pressure and differential critical levels for one reading.
    spike = rows("COMP-0004", count=20, discharge_pressure_psi={5: 3650.0}, spikes=[(5, "discharge_pressure_psi")])
    assert evaluate(spark, spike).alerts == ()
    # Nor does it extend an open alert or hold back its resolution (it is left out, like a missing reading).
    opened = [6.5, 6.6, 6.7] + [3.0] * 12
    with_spike = evaluate(spark, rows("COMP-0003", vibration=opened[:6] + [9.9] + opened[6:], spikes=[(6, "vibration_mms")]))
    assert with_spike.alerts == (vibration_alert(
        alert_timestamp=at(0), last_seen_at=at(2), sensor_value=6.7, peak_value=6.7,
        message=vibration_message(6.7, at(0)), normal_streak=11, resolved=True, resolved_at=at(14), resolved_by="auto"),)
    # Failing case: the same reading unflagged is a real breach: it extends the alert and holds it open.
    (unflagged,) = evaluate(spark, rows("COMP-0003", vibration=opened[:6] + [9.9] + opened[6:])).alerts
    assert (unflagged.last_seen_at, unflagged.peak_value, unflagged.resolved) == (at(6), 9.9, False)
    # Failing case: a degrading unit's readings are flagged too, but they do not jump: they alert.
    shifted = rows("COMP-0003", vibration=[5.6, 6.1, 6.4, 6.6], spikes=[(i, "vibration_mms") for i in range(4)])
    (alert,) = evaluate(spark, shifted).alerts
    assert (alert.alert_timestamp, alert.peak_value) == (at(1), 6.6)


def test_a_sensor_that_keeps_spiking_opens_one_anomaly_alert(spark):
    pressure = {i: 3650.0 + 50 * n for n, i in enumerate((5, 15, 25, 35))}
    spikes = [(i, "discharge_pressure_psi") for i in pressure]
    readings = rows("COMP-0004", count=120, discharge_pressure_psi=[pressure.get(i, 1050.0) for i in range(120)],
                    spikes=spikes)
    evaluation = evaluate(spark, readings)
    assert evaluation.alerts == (alerts.Alert(
        compressor_id="COMP-0004", sensor_name="discharge_pressure_psi", alert_type="anomaly",
        alert_timestamp=at(5), last_seen_at=at(35), severity="warning", sensor_value=3800.0, peak_value=3800.0,
        threshold_value=3.0, normal_streak=72, resolved=True, resolved_at=at(35 + 72), resolved_by="auto",
        message="Discharge pressure on COMP-0004 keeps spiking: 4 readings flagged as outliers in 6 h "
                "(peak 3,800.0 psi); check the transmitter.",
    ),)
    # Failing case: two spikes in six hours are noise.
    assert evaluate(spark, [r for r in readings if r[1] < at(25).replace(tzinfo=None)]).alerts == ()


# --------------------------------------------------------------------------- resuming across runs


def stored(evaluation: alerts.AlertEvaluation, before=()) -> list[dict]:
    """The newest alert per problem after writing ``evaluation`` over ``before`` (what latest_alerts reads)."""
    by_key = {(r["compressor_id"], r["sensor_name"], r["alert_type"], r["alert_timestamp"]): r for r in before}
    for alert in evaluation.alerts:
        by_key[(*alert.problem, alert.alert_timestamp)] = dict(alert.__dict__)
    newest: dict[tuple, dict] = {}
    for row in sorted(by_key.values(), key=lambda r: r["alert_timestamp"]):
        newest[(row["compressor_id"], row["sensor_name"], row["alert_type"])] = row
    return list(newest.values())


def all_rows(evaluations) -> dict:
    final = {}
    for evaluation in evaluations:
        for alert in evaluation.alerts:
            final[(*alert.problem, alert.alert_timestamp)] = alert
    return final


def test_incremental_evaluation_in_two_batches_equals_one_batch(spark):
    split = 40  # COMP-0003: two of three breaching readings before it; COMP-0004: two spikes before, two after
    vibration = [3.0] * 38 + [6.5, 6.6, 6.7, 6.8] + [3.0] * 30 + [6.1, 6.2, 6.3] + [3.0] * 5
    pressure = {20: 3650.0, 30: 3700.0, 45: 3750.0, 55: 3800.0}
    readings = rows("COMP-0003", vibration=vibration) + rows(
        "COMP-0004", count=len(vibration), discharge_pressure_psi=[pressure.get(i, 1050.0) for i in range(len(vibration))],
        spikes=[(i, "discharge_pressure_psi") for i in pressure])
    cut = at(split).replace(tzinfo=None)
    whole = evaluate(spark, readings)
    assert len(whole.alerts) == 3  # vibration (resolved), vibration (open), anomaly (open)

    first = evaluate(spark, [r for r in readings if r[1] < cut])
    assert first.alerts == ()  # both stretches still pending
    second = evaluate(spark, readings, latest=stored(first), since=at(split))
    assert all_rows([first, second]) == all_rows([whole])
    # A rerun over the same readings changes nothing.
    assert evaluate(spark, readings, latest=stored(second, stored(first)), since=at(split)).alerts == ()
    # Failing case: without the lookback the pending stretches are lost.
    blind = evaluate(spark, [r for r in readings if r[1] >= cut], since=at(split))
    assert all_rows([first, blind]) != all_rows([whole])


def test_an_open_alert_resumes_and_an_operator_resolution_sticks(spark):
    first = evaluate(spark, rows("COMP-0003", vibration=[6.5, 6.6, 6.7]))
    (open_alert,) = first.alerts
    later = rows("COMP-0003", start=at(3), vibration=[3.0] * 12)
    (resumed,) = evaluate(spark, rows("COMP-0003", vibration=[6.5, 6.6, 6.7]) + later,
                          latest=stored(first), since=at(3)).alerts
    assert resumed == replace(open_alert, resolved=True, resolved_at=at(14), resolved_by="auto", normal_streak=12)

    by_operator = [dict(open_alert.__dict__, resolved=True, resolved_by="a.chen", resolved_at=datetime(2026, 3, 1, tzinfo=timezone.utc))]
    still_high = rows("COMP-0003", vibration=[6.5, 6.6, 6.7, 7.0, 7.1])
    assert evaluate(spark, still_high, latest=by_operator, since=at(3)).alerts == ()  # two fresh readings
    (reopened,) = evaluate(spark, still_high + rows("COMP-0003", start=at(5), vibration=[7.2]),
                           latest=by_operator, since=at(3)).alerts
    assert (reopened.alert_timestamp, reopened.resolved, reopened.peak_value) == (at(3), False, 7.2)


def test_evaluate_alerts_rejects_an_unknown_signal():
    steps = pd.DataFrame([("C", "oil_level", "threshold", T0, 1.0, True, True, False, False, T0, 1.0, 1, None)],
                         columns=list(alerts.STEP_COLUMNS))
    with pytest.raises(ValueError, match="oil_level"):
        alerts.evaluate_alerts(steps, [], signals=list(SIGNALS.values()))


# --------------------------------------------------------------------------- prediction alerts


def scores(compressor_id: str, probabilities: list[float], *, start=T0) -> pd.DataFrame:
    return pd.DataFrame({
        "compressor_id": compressor_id,
        "prediction_timestamp": [start + i * HOUR for i in range(len(probabilities))],
        "failure_probability": probabilities,
        "message": [f"risk {p:.2f}: vibration trend" for p in probabilities],
    })


def prediction(**fields) -> alerts.Alert:
    values = dict(compressor_id="COMP-0001", sensor_name="failure_probability", alert_type="prediction",
                  severity="warning", threshold_value=0.5)
    values.update(fields)
    return alerts.Alert(**values)


def test_prediction_alert_opens_after_n_scores_escalates_and_resolves_on_low_risk():
    probabilities = [0.3, 0.55, 0.6, 0.7, 0.85, 0.9, 0.45] + [0.3] * 6
    evaluation = alerts.evaluate_prediction_alerts(scores("COMP-0001", probabilities), alerting=ALERTING)
    assert evaluation.alerts == (prediction(
        alert_timestamp=T0 + HOUR, last_seen_at=T0 + 5 * HOUR, severity="critical", sensor_value=0.9,
        peak_value=0.9, threshold_value=0.8, message="risk 0.90: vibration trend", normal_streak=0,
        resolved=True, resolved_at=T0 + 12 * HOUR, resolved_by="auto", escalated_at=T0 + 5 * HOUR),)
    # Failing cases: one high score opens nothing; five low scores (and one in the band) do not resolve.
    assert alerts.evaluate_prediction_alerts(scores("COMP-0001", [0.3, 0.7, 0.3]), alerting=ALERTING).alerts == ()
    (still_open,) = alerts.evaluate_prediction_alerts(scores("COMP-0001", probabilities[:-1]), alerting=ALERTING).alerts
    assert not still_open.resolved


def test_prediction_alert_resolves_on_a_logged_maintenance_event_and_resumes():
    high = scores("COMP-0001", [0.6, 0.65, 0.7, 0.7, 0.72])
    event = [("COMP-0001", T0 + 3 * HOUR + timedelta(minutes=30))]
    (alert,) = alerts.evaluate_prediction_alerts(high, alerting=ALERTING, events=event).alerts
    assert alert == prediction(
        alert_timestamp=T0, last_seen_at=T0 + 3 * HOUR, sensor_value=0.7, peak_value=0.7,
        message="risk 0.70: vibration trend", resolved=True, resolved_at=event[0][1], resolved_by="auto")
    # Incremental: the stored alert is resolved; scores before the event never count toward the next one.
    latest = [dict(alert.__dict__)]
    more = pd.concat([high, scores("COMP-0001", [0.8], start=T0 + 5 * HOUR)])
    (reopened,) = alerts.evaluate_prediction_alerts(more, latest, alerting=ALERTING, events=event).alerts
    assert (reopened.alert_timestamp, reopened.resolved, reopened.severity) == (T0 + 4 * HOUR, False, "warning")
    # Without the event the first alert simply stays open.
    (open_alert,) = alerts.evaluate_prediction_alerts(high, alerting=ALERTING).alerts
    assert not open_alert.resolved and open_alert.last_seen_at == T0 + 4 * HOUR


def test_the_early_warning_score_opens_a_warning_and_only_the_48h_score_escalates():
    near = [0.1, 0.1, 0.2, 0.3, 0.85, 0.9] + [0.1] * 6
    early = [0.4, 0.6, 0.7, 0.9, 0.95, 0.95] + [0.3] * 6
    stream = scores("COMP-0001", near).assign(warning_probability=early)
    (alert,) = alerts.evaluate_prediction_alerts(stream, alerting=ALERTING).alerts
    assert alert == prediction(
        alert_timestamp=T0 + HOUR, last_seen_at=T0 + 5 * HOUR, severity="critical", sensor_value=0.95,
        peak_value=0.95, threshold_value=0.8, message="risk 0.90: vibration trend", normal_streak=0,
        resolved=True, resolved_at=T0 + 11 * HOUR, resolved_by="auto", escalated_at=T0 + 5 * HOUR)
    # Failing cases: the 48 h score alone never reaches the warning level, so without the early score no alert
    # opens; a high early score alone never escalates to critical; and while the early score stays in the
    # hysteresis band (0.45 > 0.5 - 0.1) the alert does not resolve although the 48 h score is low.
    assert alerts.evaluate_prediction_alerts(scores("COMP-0001", near[:4]), alerting=ALERTING).alerts == ()
    (warning,) = alerts.evaluate_prediction_alerts(
        scores("COMP-0001", [0.1] * 4).assign(warning_probability=[0.6, 0.9, 0.95, 0.95]), alerting=ALERTING).alerts
    assert (warning.severity, warning.resolved) == ("warning", False)
    hovering = scores("COMP-0001", [0.1] * 10).assign(warning_probability=[0.6, 0.6] + [0.45] * 8)
    (still_open,) = alerts.evaluate_prediction_alerts(hovering, alerting=ALERTING).alerts
    assert not still_open.resolved


def test_backtest_episodes_are_the_alerts_the_lifecycle_produces():
    stream = pd.concat([
        scores("COMP-0001", [0.3, 0.55, 0.6, 0.85, 0.9, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.6, 0.6]),
        scores("COMP-0002", [0.7, 0.7, 0.2]),
        scores("COMP-0003", [0.1, 0.2]),
    ])
    events = [("COMP-0002", T0 + 2 * HOUR + timedelta(minutes=5))]
    episodes = alerts.prediction_episodes(stream, alerting=ALERTING, events=events)
    expected = pd.DataFrame([
        ("COMP-0001", T0 + HOUR, T0 + 2 * HOUR, T0 + 10 * HOUR, "critical"),
        ("COMP-0001", T0 + 11 * HOUR, T0 + 12 * HOUR, None, "warning"),
        ("COMP-0002", T0, T0 + HOUR, events[0][1], "warning"),
    ], columns=list(alerts.EPISODE_COLUMNS))
    pd.testing.assert_frame_equal(episodes, expected, check_dtype=False)
    lifecycle = alerts.evaluate_prediction_alerts(stream, alerting=ALERTING, events=events)
    assert [(a.compressor_id, a.alert_timestamp, a.resolved_at, a.severity) for a in lifecycle.alerts] == [
        tuple(row) for row in episodes.drop(columns="raised_at").astype(object).where(episodes.notna(), None)
        .itertuples(index=False)]


def test_a_low_alert_level_keeps_a_clear_band_so_its_alerts_can_resolve():
    low = alerts.at_level(ALERTING, 0.05)
    assert (low.prediction_warning_probability, low.prediction_critical_probability, low.prediction_resolve_margin) == (
        0.05, 0.8, 0.025)
    # 0.3 twice opens, six scores at 0 resolve, 0.3 twice opens again: two episodes. With the configured margin
    # (0.1 > 0.05) nothing could ever be clear and the first alert would swallow the second.
    stream = scores("COMP-0001", [0.3, 0.3] + [0.0] * 6 + [0.3, 0.3])
    assert len(alerts.prediction_episodes(stream, alerting=low)) == 2
    stuck = replace(low, prediction_resolve_margin=0.1)
    assert len(alerts.prediction_episodes(stream, alerting=stuck)) == 1


# --------------------------------------------------------------------------- stale alerts (silent units)

SLA = 15.0


def freshness(*runs: tuple[datetime, str, float | None, bool]) -> pd.DataFrame:
    """Silver's per-unit freshness rows: (as-of, compressor, minutes since its newest reading, gate passed)."""
    return pd.DataFrame([{"run_id": f"run-{as_of:%d%H%M}", "metric_timestamp": as_of, "compressor_id": unit,
                          "metric_type": "freshness", "metric_value": minutes, "threshold_value": SLA,
                          "pass_threshold": passed} for as_of, unit, minutes, passed in runs])


def stale(**fields) -> alerts.Alert:
    values = dict(compressor_id="COMP-0002", sensor_name="freshness", alert_type="stale", severity="warning",
                  threshold_value=SLA, resolved=False)
    values.update(fields)
    return alerts.Alert(**values)


def silent_message(since: datetime, minutes: float) -> str:
    return (f"COMP-0002 has sent no valid reading since {since:%Y-%m-%d %H:%M} UTC ({minutes:,.0f} min before the "
            f"run's as-of; the limit is 15 min) and no downtime is logged: check its link and the historian export.")


def test_a_silent_unit_opens_a_stale_alert_that_updates_and_resolves_when_it_reports_again():
    runs = freshness((T0, "COMP-0001", 5.0, True), (T0, "COMP-0002", 40.0, False),
                     (T0 + HOUR, "COMP-0002", 100.0, False), (T0 + 2 * HOUR, "COMP-0002", 3.0, True))
    evaluation = alerts.evaluate_stale_alerts(runs, freshness_sla_minutes=SLA)
    silent_since = T0 - timedelta(minutes=40)
    assert evaluation.alerts == (stale(
        alert_timestamp=silent_since, last_seen_at=T0 + HOUR, sensor_value=100.0, peak_value=100.0,
        message=silent_message(silent_since, 100.0), resolved=True, resolved_at=T0 + 2 * HOUR, resolved_by="auto"),)
    assert (evaluation.opened, evaluation.updated, evaluation.resolved) == (1, 0, 1)
    # Failing case: a fresh unit, or one excused by logged downtime (the gate passed), opens nothing.
    assert alerts.evaluate_stale_alerts(freshness((T0, "COMP-0002", 3.0, True), (T0 + HOUR, "COMP-0002", 70.0, True)),
                                        freshness_sla_minutes=SLA).alerts == ()


def test_a_stale_alert_resumes_from_the_stored_one_and_a_rerun_changes_nothing():
    first_run = freshness((T0, "COMP-0002", 40.0, False))
    (opened,) = alerts.evaluate_stale_alerts(first_run, freshness_sla_minutes=SLA).alerts
    stored = [opened.__dict__]
    assert alerts.evaluate_stale_alerts(first_run, stored, freshness_sla_minutes=SLA).alerts == ()  # same run again
    both = pd.concat([first_run, freshness((T0 + HOUR, "COMP-0002", 100.0, False))])
    (updated,) = alerts.evaluate_stale_alerts(both, stored, freshness_sla_minutes=SLA).alerts
    assert updated == replace(opened, last_seen_at=T0 + HOUR, sensor_value=100.0, peak_value=100.0,
                              message=silent_message(opened.alert_timestamp, 100.0))


def test_an_operator_resolution_of_a_stale_alert_sticks_and_later_silence_opens_a_new_one_at_its_run():
    silent = freshness((T0, "COMP-0002", 40.0, False))
    (opened,) = alerts.evaluate_stale_alerts(silent, freshness_sla_minutes=SLA).alerts
    by_operator = [dict(opened.__dict__, resolved=True, resolved_by="a.chen", resolved_at=T0 + timedelta(minutes=5))]
    (reopened,) = alerts.evaluate_stale_alerts(freshness((T0 + HOUR, "COMP-0002", 100.0, False)), by_operator,
                                               freshness_sla_minutes=SLA).alerts
    assert (reopened.alert_timestamp, reopened.resolved, reopened.sensor_value) == (T0 + HOUR, False, 100.0)


def test_a_unit_with_no_valid_reading_at_all_is_stale_with_no_value():
    (alert,) = alerts.evaluate_stale_alerts(freshness((T0, "COMP-0002", None, False)), freshness_sla_minutes=SLA).alerts
    assert alert == stale(alert_timestamp=T0, last_seen_at=T0, sensor_value=None, peak_value=None,
                          message="COMP-0002 has no valid reading at all and no downtime is logged: check its link "
                                  "and the historian export.")
