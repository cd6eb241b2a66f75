"""Alert evaluation: which readings breach which limit, and the state machine that turns a stream of
readings into one alert per problem.

A *problem* is (compressor, sensor, alert type). Readings of one problem are evaluated in time order:

- a reading at or beyond the warning limit (high or low side, as ``config/sensors.yaml`` says) opens an
  alert, or updates the open one: ``last_seen_at``, ``sensor_value`` (latest abnormal value),
  ``peak_value`` (worst value), and escalation warning -> critical with ``threshold_value`` following.
  An open alert never de-escalates: it keeps the worst severity it reached;
- a reading inside the limits is *normal*; ``auto_resolve_after_normal_readings`` consecutive normal
  readings resolve the alert (``resolved_by='auto'``, ``resolved_at`` = the time of the last of them);
- a missing value (null) neither breaches nor counts as normal.

Evaluation resumes where the previous run stopped: from the newest alert of each problem, after its
``last_seen_at`` (every reading evaluated after that was normal, or it would be later). So a rerun over
the same readings changes nothing, and an alert an operator resolved stays resolved: a breach in newer
readings opens a new alert.

The functions here do no I/O and never read the clock: Spark in, a DataFrame out
(``build_alert_candidates``), plain Python in, plain Python out (``evaluate_alerts``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Iterable, Mapping, Sequence

import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from altaviz.registry import SEVERITY_RANK, Sensor, SensorRegistry
from altaviz.runs import as_utc

PROBLEM_KEY = ("compressor_id", "sensor_name", "alert_type")
AUTO = "auto"


@dataclass(frozen=True)
class Signal:
    """One alerting signal: the gold column it reads and the limit it is judged against.

    ``sensor_name`` is the signal's name in the sensor registry (a sensor column, or
    ``pressure_differential`` / ``temp_rate_of_change``), so label and unit are one lookup away.
    """

    sensor_name: str
    alert_type: str
    column: str
    limit: Sensor

# Derived signals whose alerts are of another type than 'threshold' (a rate is not a level).
_ALERT_TYPE = {"temp_rate_of_change": "rate_of_change"}


def alert_signals(registry: SensorRegistry) -> tuple[Signal, ...]:
    """Threshold alerts for every registry sensor and the pressure differential; rate-of-change
    alerts for the discharge temperature (°F/h, from gold's ``temp_rate_of_change``)."""
    return tuple(
        Signal(name, _ALERT_TYPE.get(name, "threshold"), name, sensor) for name, sensor in registry.signals.items()
    )


def _breaches_warning(signal: Signal) -> Column:
    # The warning limit is the lower bar: config validation guarantees critical is at least as severe.
    return signal.limit.breaches(F.col(signal.column).cast("double"), F.lit(signal.limit.warning))


def build_alert_candidates(
    gold_readings: DataFrame,
    *,
    signals: Sequence[Signal],
    resolve_after: int,
    watermarks: DataFrame | None = None,
) -> DataFrame:
    """The readings that can change an alert, one row per (compressor, sensor, alert type, reading).

    Columns: compressor_id, sensor_name, alert_type, timestamp, value, is_breach. Kept are every
    breach, the first ``resolve_after`` readings after each breach (they may resolve it) and the
    first ``resolve_after`` readings of each problem (they may resolve an alert that was open before
    this batch). Readings at or before a problem's watermark (``watermarks``: the three key columns
    and ``watermark``) were evaluated by an earlier run and are dropped. A healthy fleet thus sends
    a few rows per problem to the driver, not every reading.
    """
    readings = gold_readings.select(
        "compressor_id",
        "timestamp",
        F.explode(
            F.array(
                *[
                    F.struct(
                        F.lit(signal.sensor_name).alias("sensor_name"),
                        F.lit(signal.alert_type).alias("alert_type"),
                        F.col(signal.column).cast("double").alias("value"),
                        _breaches_warning(signal).alias("is_breach"),
                    )
                    for signal in signals
                ]
            )
        ).alias("reading"),
    ).select("compressor_id", "timestamp", "reading.*")
    readings = readings.where(F.col("value").isNotNull() & ~F.isnan("value"))
    if watermarks is not None:
        readings = readings.join(
            watermarks.select(*PROBLEM_KEY, "watermark"), on=list(PROBLEM_KEY), how="left"
        ).where(F.col("watermark").isNull() | (F.col("timestamp") > F.col("watermark")))
    in_order = Window.partitionBy(*PROBLEM_KEY).orderBy("timestamp")
    so_far = in_order.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    position = F.row_number().over(in_order)
    last_breach_position = F.max(F.when(F.col("is_breach"), F.col("position"))).over(so_far)
    may_resolve = (F.col("position") - F.col("last_breach_position") <= resolve_after) | (
        F.col("last_breach_position").isNull() & (F.col("position") <= resolve_after)
    )
    return (
        readings.withColumn("position", position)
        .withColumn("last_breach_position", last_breach_position)
        .where(F.col("is_breach") | may_resolve)
        .select(*PROBLEM_KEY, "timestamp", "value", "is_breach")
    )


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

    @property
    def problem(self) -> tuple[str, str, str]:
        return (self.compressor_id, self.sensor_name, self.alert_type)


ALERT_COLUMNS = tuple(Alert.__dataclass_fields__)




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


def advance(
    open_alert: Alert | None,
    readings: Iterable[tuple[datetime, float]],
    *,
    signal: Signal,
    compressor_id: str,
    resolve_after: int,
) -> list[Alert]:
    """Feed one problem's readings (time order) through the state machine.

    Returns every alert the readings touched in its final state, oldest first: the open alert
    (updated or resolved) and any alert opened on the way (possibly resolved again).
    """
    limit = signal.limit
    current = open_alert
    touched: dict[datetime, Alert] = {}
    for moment, value in readings:
        if value is None or value != value:  # missing: says nothing about the machine
            continue
        moment = as_utc(moment)
        severity = limit.severity(value)
        if severity is not None:
            if current is None:
                current = Alert(
                    compressor_id=compressor_id, sensor_name=signal.sensor_name, alert_type=signal.alert_type,
                    alert_timestamp=moment, last_seen_at=moment, severity=severity, sensor_value=value,
                    peak_value=value, threshold_value=limit.level(severity), message="",
                )
            else:
                worst = severity if SEVERITY_RANK[severity] > SEVERITY_RANK[current.severity] else current.severity
                current = replace(
                    current, last_seen_at=moment, severity=worst, sensor_value=value,
                    peak_value=limit.worse(current.peak_value, value),
                    threshold_value=limit.level(worst), normal_streak=0,
                )
            current = replace(
                current,
                message=alert_message(limit, compressor_id, current.severity, current.peak_value,
                                      current.threshold_value, current.alert_timestamp),
            )
            touched[current.alert_timestamp] = current
        elif current is not None:
            streak = current.normal_streak + 1
            if streak >= resolve_after:
                current = replace(current, normal_streak=streak, resolved=True, resolved_at=moment, resolved_by=AUTO)
                touched[current.alert_timestamp] = current
                current = None
            else:
                current = replace(current, normal_streak=streak)
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


def alert_from_row(row: Mapping) -> Alert:
    """An alert as stored (e.g. by ``db.latest_alerts``) back into the evaluator's type."""
    values = {name: row[name] for name in ALERT_COLUMNS}
    for name in ("alert_timestamp", "last_seen_at", "resolved_at"):
        if values[name] is not None:
            values[name] = as_utc(values[name])
    return Alert(**values)


def evaluate_alerts(
    candidates: pd.DataFrame,
    latest: Iterable[Mapping],
    *,
    signals: Sequence[Signal],
    resolve_after: int,
) -> AlertEvaluation:
    """Run the state machine over candidate readings, resuming from the newest stored alert of each
    problem (``latest``: rows with the ``Alert`` fields). Only alerts that differ from what is
    stored come back, so evaluating the same readings twice yields nothing to write."""
    by_signal = {(s.sensor_name, s.alert_type): s for s in signals}
    stored = {alert.problem: alert for alert in map(alert_from_row, latest)}
    ordered = candidates.sort_values([*PROBLEM_KEY, "timestamp"], kind="mergesort")
    changed: list[Alert] = []
    opened = updated = resolved = 0
    for problem, group in ordered.groupby(list(PROBLEM_KEY), sort=True):
        compressor_id, sensor_name, alert_type = problem
        signal = by_signal.get((sensor_name, alert_type))
        if signal is None:
            raise ValueError(f"no limit configured for {sensor_name!r} ({alert_type})")
        before = stored.get(problem)
        open_alert = before if before is not None and not before.resolved else None
        # Candidates start right after the open alert's last breach, so its normal readings are
        # counted again from zero: the stored streak is recomputed, never added to.
        resume = replace(open_alert, normal_streak=0) if open_alert is not None else None
        readings = zip(group["timestamp"].tolist(), group["value"].tolist())
        for alert in advance(resume, readings, signal=signal, compressor_id=compressor_id,
                             resolve_after=resolve_after):
            existed = open_alert is not None and alert.alert_timestamp == open_alert.alert_timestamp
            if existed and alert == open_alert:
                continue
            changed.append(alert)
            opened += not existed
            updated += existed and not alert.resolved
            resolved += alert.resolved
    return AlertEvaluation(tuple(changed), opened, updated, resolved)


def watermark_rows(latest: Iterable[Mapping]) -> list[tuple[str, str, str, datetime]]:
    """Per problem, the last reading an earlier run evaluated as abnormal: evaluation resumes after it."""
    return [
        (row["compressor_id"], row["sensor_name"], row["alert_type"], as_utc(row["last_seen_at"]))
        for row in latest
    ]

