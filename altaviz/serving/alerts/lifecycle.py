"""The alert state machine in plain Python: steps in, alert rows out, resuming from the newest stored
alert of each problem; messages a technician reads; the prediction-alert entry points and the episodes
an offline backtest compares."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Iterable, Mapping, Sequence

import pandas as pd

from altaviz.config import Alerting
from altaviz.registry import SEVERITY_RANK, Sensor
from altaviz.runs import as_utc
from altaviz.serving.alerts.signals import AUTO, PROBLEM_KEY, Signal, prediction_signal, stale_signal
from altaviz.serving.alerts.steps import build_prediction_steps, build_stale_steps


@dataclass(frozen=True)
class Alert:
    """One row of ``alert_history`` as the evaluator owns it (operator columns are not here)."""

    compressor_id: str
    sensor_name: str
    alert_type: str
    alert_timestamp: datetime
    last_seen_at: datetime
    severity: str
    sensor_value: float
    peak_value: float
    threshold_value: float
    message: str
    normal_streak: int = 0
    resolved: bool = False
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    escalated_at: datetime | None = None  # the reading at which a warning became critical (None: never did)

    @property
    def problem(self) -> tuple[str, str, str]:
        return (self.compressor_id, self.sensor_name, self.alert_type)


ALERT_COLUMNS = tuple(Alert.__dataclass_fields__)


@dataclass(frozen=True)
class Step:
    """One judged reading or score (a row of ``STEP_COLUMNS`` without the problem key)."""

    timestamp: datetime
    value: float | None
    breaches: bool
    opens: bool = False
    critical: bool = False
    resolves: bool = False
    since: datetime | None = None
    peak: float | None = None
    count: int | None = None
    note: str | None = field(default=None, compare=False)


def _number(value: float) -> str:
    return f"{value:,.1f}"


def alert_message(limit: Sensor, compressor_id: str, severity: str, peak: float, threshold: float,
                  since: datetime) -> str:
    """A sentence a technician reads: sensor, worst value with unit, limit, unit and since when.

    E.g. "Vibration reached 8.4 mm/s on COMP-0003, at or above the critical limit of 8.0 mm/s;
    abnormal since 2026-01-14 06:10 UTC."
    """
    verb, side = ("reached", "above") if limit.direction == "high" else ("fell to", "below")
    return (
        f"{limit.label} {verb} {_number(peak)} {limit.unit} on {compressor_id}, at or {side} the "
        f"{severity} limit of {_number(threshold)} {limit.unit}; abnormal since "
        f"{as_utc(since):%Y-%m-%d %H:%M} UTC."
    )


def anomaly_message(limit: Sensor, compressor_id: str, count: int, window_minutes: int, peak: float) -> str:
    """E.g. "Discharge pressure on COMP-0004 keeps spiking: 4 readings flagged as outliers in 6 h
    (peak 3,912.0 psi); check the transmitter." ``count``: spikes in the window ending at the latest."""
    hours = f"{window_minutes / 60:g} h"
    return (
        f"{limit.label} on {compressor_id} keeps spiking: {count} readings flagged as outliers in {hours} "
        f"(peak {_number(peak)} {limit.unit}); check the transmitter."
    )


def _message(signal: Signal, alert: Alert, step: Step) -> str:
    if step.note:  # the steps wrote the sentence: a model's drivers, a silent unit
        return step.note
    if signal.alert_type == "prediction":
        return (
            f"Failure probability {alert.sensor_value:.2f} on {alert.compressor_id} (peak {alert.peak_value:.2f}), "
            f"at or above the {alert.severity} level of {alert.threshold_value:.2f}."
        )
    if signal.alert_type == "anomaly":
        return anomaly_message(signal.limit, alert.compressor_id, int(step.count or 0), int(signal.window_minutes or 0),
                               alert.peak_value)
    return alert_message(signal.limit, alert.compressor_id, alert.severity, alert.peak_value, alert.threshold_value,
                         alert.alert_timestamp)


def advance(open_alert: Alert | None, steps: Iterable[Step], *, signal: Signal, compressor_id: str) -> list[Alert]:
    """Feed one problem's steps (time order) through the state machine.

    Returns every alert the steps touched in its final state, oldest first: the open alert
    (updated or resolved) and any alert opened on the way (possibly resolved again).
    """
    current = open_alert
    touched: dict[datetime, Alert] = {}
    for step in steps:
        moment = as_utc(step.timestamp)
        if current is None:
            if not step.opens:
                continue
            severity = "critical" if step.critical else "warning"
            current = Alert(
                compressor_id=compressor_id, sensor_name=signal.sensor_name, alert_type=signal.alert_type,
                alert_timestamp=as_utc(step.since), last_seen_at=moment, severity=severity,
                sensor_value=step.value, peak_value=step.peak, threshold_value=signal.threshold_value(severity),
                message="",
            )
        elif step.breaches:
            worst = "critical" if step.critical else current.severity
            worst = worst if SEVERITY_RANK[worst] > SEVERITY_RANK[current.severity] else current.severity
            escalated_at = moment if worst != current.severity else current.escalated_at
            current = replace(
                current, last_seen_at=moment, severity=worst, escalated_at=escalated_at, sensor_value=step.value,
                peak_value=signal.worse(current.peak_value, step.value),
                threshold_value=signal.threshold_value(worst), normal_streak=0,
            )
        elif step.resolves:
            current = replace(current, normal_streak=int(step.count or 0), resolved=True, resolved_at=moment,
                              resolved_by=AUTO)
            touched[current.alert_timestamp] = current
            current = None
            continue
        else:
            continue
        current = replace(current, message=_message(signal, current, step))
        touched[current.alert_timestamp] = current
    return [touched[key] for key in sorted(touched)]


@dataclass(frozen=True)
class AlertEvaluation:
    """What one evaluation changed: alerts to upsert and how many were opened, updated, resolved."""

    alerts: tuple[Alert, ...]
    opened: int
    updated: int
    resolved: int

    def to_frame(self, run_id: str) -> pd.DataFrame:
        """The changed alerts as rows for ``alert_history`` (natural key first), stamped with the run."""
        frame = pd.DataFrame([alert.__dict__ for alert in self.alerts], columns=list(ALERT_COLUMNS))
        frame["run_id"] = run_id
        return frame

    def __add__(self, other: AlertEvaluation) -> AlertEvaluation:
        return AlertEvaluation(self.alerts + other.alerts, self.opened + other.opened,
                               self.updated + other.updated, self.resolved + other.resolved)


def alert_from_row(row: Mapping) -> Alert:
    """An alert as stored (e.g. by ``db.latest_alerts``) back into the evaluator's type."""
    values = {name: row[name] for name in ALERT_COLUMNS}
    for name in ("alert_timestamp", "last_seen_at", "resolved_at", "escalated_at"):
        if values[name] is not None:
            values[name] = as_utc(values[name])
    return Alert(**values)


def _steps(group: pd.DataFrame) -> list[Step]:
    def cell(value):
        return None if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)) else value

    return [
        Step(timestamp=row.timestamp, value=cell(row.value), breaches=bool(row.breaches), opens=bool(row.opens),
             critical=bool(row.critical), resolves=bool(row.resolves), since=cell(row.since), peak=cell(row.peak),
             count=cell(row.count), note=cell(row.note))
        for row in group.itertuples(index=False)
    ]


def evaluate_alerts(steps: pd.DataFrame, latest: Iterable[Mapping], *, signals: Sequence[Signal]) -> AlertEvaluation:
    """Run the state machine over judged steps (``STEP_COLUMNS``), resuming from the newest stored alert
    of each problem (``latest``: rows with the ``Alert`` fields). Only alerts that differ from what is
    stored come back, so evaluating the same readings twice yields nothing to write."""
    by_signal = {(s.sensor_name, s.alert_type): s for s in signals}
    stored = {alert.problem: alert for alert in map(alert_from_row, latest)}
    ordered = steps.sort_values([*PROBLEM_KEY, "timestamp"], kind="mergesort")
    changed: list[Alert] = []
    opened = updated = resolved = 0
    for problem, group in ordered.groupby(list(PROBLEM_KEY), sort=True):
        compressor_id, sensor_name, alert_type = problem
        signal = by_signal.get((sensor_name, alert_type))
        if signal is None:
            raise ValueError(f"no limit configured for {sensor_name!r} ({alert_type})")
        signal = signal.for_unit(compressor_id)  # its threshold_value and message name the unit's own limit
        before = stored.get(problem)
        open_alert = before if before is not None and not before.resolved else None
        for alert in advance(open_alert, _steps(group), signal=signal, compressor_id=compressor_id):
            existed = open_alert is not None and alert.alert_timestamp == open_alert.alert_timestamp
            if existed and alert == open_alert:
                continue
            changed.append(alert)
            opened += not existed
            updated += existed and not alert.resolved
            resolved += alert.resolved
    return AlertEvaluation(tuple(changed), opened, updated, resolved)


def evaluate_prediction_alerts(
    scores: pd.DataFrame,
    latest: Iterable[Mapping] = (),
    *,
    alerting: Alerting,
    events: Iterable[tuple[str, datetime]] = (),
) -> AlertEvaluation:
    """Prediction alerts (``alert_type='prediction'``, ``sensor_name='failure_probability'``) from a score
    stream, through the same state machine as every other alert.

    ``scores``: pandas with compressor_id, prediction_timestamp, failure_probability, message (the model's
    drivers, which become the alert message); ``latest``: the stored newest alerts (as from
    ``db.latest_alerts``; other types are ignored); ``events``: (compressor_id, event_time) of logged
    maintenance or failures, each resolving the unit's open prediction alert. ``sensor_value`` and
    ``peak_value`` are probabilities, ``threshold_value`` the warning or critical probability.
    """
    latest = [row for row in latest if row["alert_type"] == "prediction"]
    steps = build_prediction_steps(scores, alerting=alerting, latest=latest, events=events)
    return evaluate_alerts(steps, latest, signals=[prediction_signal(alerting)])


def evaluate_stale_alerts(
    freshness: pd.DataFrame, latest: Iterable[Mapping] = (), *, freshness_sla_minutes: float
) -> AlertEvaluation:
    """Stale alerts (``alert_type='stale'``, ``sensor_name='freshness'``) from silver's per-unit freshness
    gate, one step per unit and quality run (``build_stale_steps``), through the same state machine: a unit
    that went silent outside logged downtime opens a warning; it resolves at the first run that finds it
    reporting (or in logged downtime) again. Values are minutes of silence."""
    signal = stale_signal(freshness_sla_minutes)
    latest = [row for row in latest if row["alert_type"] == signal.alert_type]
    return evaluate_alerts(build_stale_steps(freshness, signal=signal, latest=latest), latest, signals=[signal])


EPISODE_COLUMNS = ("compressor_id", "opened_at", "raised_at", "resolved_at", "severity")
# Logged maintenance events after which a failure prediction is settled: the unit was serviced or it failed.
RESOLVING_EVENT_TYPES = ("scheduled", "unscheduled", "failure")


def at_level(alerting: Alerting, level: float) -> Alerting:
    """``alerting`` with the prediction warning level at ``level`` (for a backtest's sweep or another score's
    yardstick): critical no lower, and the resolve margin at most half the level, so a score can still be clear."""
    return replace(alerting, prediction_warning_probability=level,
                   prediction_critical_probability=max(level, alerting.prediction_critical_probability),
                   prediction_resolve_margin=min(alerting.prediction_resolve_margin, level / 2))


def prediction_episodes(
    scores: pd.DataFrame, *, alerting: Alerting, events: Iterable[tuple[str, datetime]] = ()
) -> pd.DataFrame:
    """The prediction alerts a score stream would have produced, for an offline backtest: one row per
    episode, ``EPISODE_COLUMNS``, no database. ``opened_at`` is the alert's ``alert_timestamp`` (its first
    high score), ``raised_at`` the score at which it actually opened (what an operator would have seen
    first), ``resolved_at`` null while still open, ``severity`` the worst reached. Same steps, same
    state machine as ``evaluate_prediction_alerts``."""
    events = list(events)
    steps = build_prediction_steps(scores, alerting=alerting, events=events)
    evaluation = evaluate_alerts(steps, [], signals=[prediction_signal(alerting)])
    rows = []
    for alert in evaluation.alerts:
        unit = steps[(steps["compressor_id"] == alert.compressor_id) & steps["opens"]]
        raised = min(as_utc(t) for t in unit["timestamp"] if as_utc(t) >= alert.alert_timestamp)
        rows.append((alert.compressor_id, alert.alert_timestamp, raised, alert.resolved_at, alert.severity))
    episodes = pd.DataFrame(rows, columns=list(EPISODE_COLUMNS))
    return episodes.sort_values(["compressor_id", "opened_at"], kind="mergesort").reset_index(drop=True)


def watermark_rows(latest: Iterable[Mapping]) -> list[tuple[str, str, str, datetime, bool]]:
    """Per problem, the last reading its newest stored alert covered (evaluation resumes after it) and
    whether that alert is still open."""
    return [
        (row["compressor_id"], row["sensor_name"], row["alert_type"], as_utc(row["last_seen_at"]),
         not row["resolved"])
        for row in latest
    ]
