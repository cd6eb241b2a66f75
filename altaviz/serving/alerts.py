"""Alert evaluation: which readings (or model scores) breach which limit, and the one state machine that
turns them into one alert per problem.

A *problem* is (compressor, sensor, alert type). Four kinds share the lifecycle:

- ``threshold`` (every registry sensor and the pressure differential) and ``rate_of_change`` (the
  discharge temperature's °F/h): a reading at or beyond the warning level breaches;
- ``anomaly``: a sensor keeps producing *spikes* (below), a sensor-health problem;
- ``prediction``: the model's failure probability per unit and scoring time (``build_prediction_steps``).

Each reading is first judged on its own and against the readings just before it (a *step*, the rows of
``build_alert_steps`` / ``build_prediction_steps``); ``advance`` then runs the state machine over one
problem's steps in time order:

- **opens** when the condition held long enough (``opens``): a threshold is exceeded by every reading of
  the last ``open_after_minutes`` (``config/pipeline.yaml``, ``alerts:``; at the cadence, e.g. 3 readings
  in a row), a sensor spiked ``anomaly_min_outliers`` times within ``anomaly_window_minutes``, the
  probability stayed at or above the warning level for ``prediction_open_after_scores`` scores.
  ``alert_timestamp`` is the first abnormal reading of that stretch (reading time, never run time);
  severity is critical when the critical level held as long (``critical``);
- **updates** on every further abnormal reading (``breaches``): ``last_seen_at``, ``sensor_value`` (latest
  abnormal value), ``peak_value`` (worst), and escalates warning -> critical when the critical level holds
  long enough (``threshold_value`` follows). An open alert never de-escalates;
- **resolves** when the condition has been gone long enough (``resolves``): every reading of the last
  ``resolve_after_minutes`` is *clear*, i.e. inside the warning level by ``resolve_margin`` of the distance
  from the normal-band edge to the warning level. Readings between that margin and the limit neither
  breach nor count as normal (hysteresis: a value hovering at the limit is one episode, one alert).
  ``resolved_at`` is the reading that completed the normal stretch; ``normal_streak`` the clear readings
  in it. A prediction alert also resolves at a maintenance or failure event logged for the unit.

Spikes. Silver flags robust outliers per compressor (``is_outlier``, ``outlier_sensors``), and it flags
the real readings of a degrading machine as well: in the default run every reading of the failing units
above the vibration warning level is flagged. So a flag alone must not silence an alert (DESIGN.md,
"careless implementation" 1). A reading is a *spike* on a sensor when silver flagged that sensor *and* it
jumped from the sensor's previous reading by more than the sensor's warning margin (warning level minus
normal-band edge, e.g. 1.5 mm/s): a transmitter glitch, not a trend. A spike is left out of threshold
evaluation like a missing value: it neither opens, extends nor counts as normal, and it breaks no stretch
(the stretches are judged on the readings that are left). Derived signals inherit their inputs' spikes
(a discharge-pressure spike is a pressure-differential spike too). Spikes are what anomaly alerts count.

Every rule is a function of the readings in a window that ends at the reading (``rangeBetween`` on epoch
seconds), so nothing but the stored alert carries over between runs: an incremental run reads gold from
``evaluation_lookback`` before its first new reading, resumes each problem from its newest stored alert
and evaluates only readings after that alert's ``last_seen_at`` (its watermark). A breach stretch still
pending at the end of one run is seen whole by the next, a rerun over the same readings changes
nothing, and incremental evaluation equals one evaluation of everything. Readings at or before the
watermark of a *resolved* alert never count toward opening the next one: after an operator resolves an
alert, a new one opens only when the condition persists in newer readings.

The functions here do no I/O and never read the clock: Spark in, a DataFrame out (``build_alert_steps``),
pandas in, steps out (``build_prediction_steps``), plain Python in, plain Python out (``advance``,
``evaluate_alerts``, ``evaluate_prediction_alerts``, ``prediction_episodes``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Iterable, Mapping, Sequence

import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from altaviz.config import Alerting
from altaviz.registry import SEVERITY_RANK, Sensor, SensorRegistry
from altaviz.runs import as_utc

PROBLEM_KEY = ("compressor_id", "sensor_name", "alert_type")
AUTO = "auto"
THRESHOLD_TYPES = ("threshold", "rate_of_change")
PREDICTION_SENSOR = "failure_probability"

# Derived signals and the measured sensors they are computed from (altaviz/gold/transforms.py).
DERIVED_INPUTS = {
    "pressure_differential": ("discharge_pressure_psi", "suction_pressure_psi"),
    "temp_rate_of_change": ("discharge_temp_f",),
}
# Derived signals whose alerts are of another type than 'threshold' (a rate is not a level).
_ALERT_TYPE = {"temp_rate_of_change": "rate_of_change"}


@dataclass(frozen=True)
class Signal:
    """One alerting signal: the column it reads and the limit it is judged against.

    ``sensor_name`` is the signal's name in the sensor registry (a sensor column, or
    ``pressure_differential`` / ``temp_rate_of_change``), so label and unit are one lookup away; for
    prediction alerts it is ``failure_probability``. ``inputs`` are the measured sensors whose spikes
    are this signal's spikes. Anomaly signals carry their count rule: ``min_count`` spikes within
    ``window_minutes`` (``threshold_value`` of an anomaly alert is ``min_count``).
    """

    sensor_name: str
    alert_type: str
    column: str
    limit: Sensor
    inputs: tuple[str, ...] = ()
    min_count: int | None = None
    window_minutes: int | None = None

    def threshold_value(self, severity: str) -> float:
        return float(self.min_count) if self.alert_type == "anomaly" else self.limit.level(severity)

    def worse(self, a: float, b: float) -> float:
        """The more abnormal of two values: past the limit for levels, farther from normal for spikes."""
        if self.alert_type != "anomaly":
            return self.limit.worse(a, b)
        center = _center(self.limit)
        return a if abs(a - center) >= abs(b - center) else b


def alert_signals(registry: SensorRegistry) -> tuple[Signal, ...]:
    """Threshold alerts for every registry sensor and the pressure differential; rate-of-change
    alerts for the discharge temperature (°F/h, from gold's ``temp_rate_of_change``)."""
    return tuple(
        Signal(name, _ALERT_TYPE.get(name, "threshold"), name, sensor, DERIVED_INPUTS.get(name, (name,)))
        for name, sensor in registry.signals.items()
    )


def anomaly_signals(registry: SensorRegistry, alerting: Alerting) -> tuple[Signal, ...]:
    """Anomaly alerts for every measured sensor (silver flags measured sensors only)."""
    return tuple(
        Signal(name, "anomaly", name, sensor, (name,), alerting.anomaly_min_outliers, alerting.anomaly_window_minutes)
        for name, sensor in registry.sensors.items()
    )


def prediction_signal(alerting: Alerting) -> Signal:
    """The failure probability as a signal: warning and critical probabilities, no normal band."""
    limit = Sensor(
        name=PREDICTION_SENSOR, label="Failure probability", unit="", short=PREDICTION_SENSOR, direction="high",
        warning=alerting.prediction_warning_probability, critical=alerting.prediction_critical_probability,
    )
    return Signal(PREDICTION_SENSOR, "prediction", PREDICTION_SENSOR, limit)


def _center(limit: Sensor) -> float:
    return (limit.normal[0] + limit.normal[1]) / 2 if limit.normal is not None else 0.0


def warning_margin(limit: Sensor) -> float:
    """Distance from the normal-band edge to the warning level (from zero when there is no band)."""
    edge = limit.normal_edge if limit.normal_edge is not None else 0.0
    return abs(limit.warning - edge)


def clear_level(limit: Sensor, resolve_margin: float) -> float:
    """The level a reading must be strictly inside to count as normal again (direction-aware):
    the warning level moved toward the normal band by ``resolve_margin`` of the warning margin."""
    inward = -1.0 if limit.direction == "high" else 1.0
    return limit.warning + inward * resolve_margin * warning_margin(limit)


def evaluation_lookback(alerting: Alerting) -> timedelta:
    """How far before its first evaluated reading a run must read: the longest window a rule looks at."""
    return timedelta(minutes=max(alerting.open_after_minutes, alerting.resolve_after_minutes,
                                 alerting.anomaly_window_minutes, alerting.anomaly_clear_minutes))


# --------------------------------------------------------------------------- steps (the judged readings)

# A step is one reading or score of one problem, judged against its window:
#   breaches  abnormal, counted: extends an open alert
#   opens     the opening rule holds here; since / peak / count describe the stretch that made it hold
#   critical  the critical level held as long as opening needs: open as, or escalate to, critical
#   resolves  the normal stretch is complete here
#   note      text from the source (the model's drivers for a prediction), else null
STEP_COLUMNS = (*PROBLEM_KEY, "timestamp", "value", "breaches", "opens", "critical", "resolves",
                "since", "peak", "count", "note")


def with_spikes(gold_readings: DataFrame, *, registry: SensorRegistry) -> DataFrame:
    """Add ``_spike_<sensor>`` per measured sensor: silver flagged that sensor and the reading jumped from
    the sensor's previous reading by more than its warning margin. Without silver's ``outlier_sensors``
    column nothing is a spike."""
    sensors = [sensor for sensor in registry.sensors.values() if sensor.name in gold_readings.columns]
    if "outlier_sensors" not in gold_readings.columns:
        return gold_readings.select("*", *[F.lit(False).alias(f"_spike_{sensor.name}") for sensor in sensors])
    before = Window.partitionBy("compressor_id").orderBy("timestamp").rowsBetween(Window.unboundedPreceding, -1)
    spikes = []
    for sensor in sensors:
        value = F.col(sensor.name).cast("double")
        previous = F.last(value, ignorenulls=True).over(before)
        is_flagged = F.coalesce(F.array_contains("outlier_sensors", sensor.name), F.lit(False))
        jumped = F.coalesce(F.abs(value - previous) > F.lit(warning_margin(sensor)), F.lit(False))
        spikes.append((is_flagged & jumped).alias(f"_spike_{sensor.name}"))
    return gold_readings.select("*", *spikes)


def _judged(signal: Signal, spike_columns: Sequence[str], resolve_margin: float) -> Column:
    """One reading of one signal, judged on its own (no window yet)."""
    value = F.col(signal.column).cast("double")
    is_spike = F.lit(False)
    for name in signal.inputs:
        if f"_spike_{name}" in spike_columns:
            is_spike = is_spike | F.col(f"_spike_{name}")
    present = value.isNotNull() & ~F.isnan(value)
    limit = signal.limit
    if signal.alert_type == "anomaly":
        counted, is_breach, is_critical = present, present & is_spike, F.lit(False)
        is_clear = present & ~is_spike
        badness = F.abs(value - F.lit(_center(limit)))
    else:
        counted = present & ~is_spike
        is_breach = counted & limit.breaches(value, F.lit(limit.warning))
        is_critical = (counted & limit.breaches(value, F.lit(limit.critical))) if limit.critical is not None \
            else F.lit(False)
        is_clear = counted & ~limit.breaches(value, F.lit(clear_level(limit, resolve_margin)))
        badness = value if limit.direction == "high" else -value
    return F.struct(
        F.lit(signal.sensor_name).alias("sensor_name"), F.lit(signal.alert_type).alias("alert_type"),
        value.alias("value"), counted.alias("counted"), is_breach.alias("is_breach"),
        is_critical.alias("is_critical"), is_clear.alias("is_clear"), badness.alias("badness"),
    )


def _steps_of_family(
    gold_readings: DataFrame, signals: Sequence[Signal], *, alerting: Alerting,
    watermarks: DataFrame | None, evaluate_from: datetime | None, open_minutes: int, resolve_minutes: int,
    min_count: int | None,
) -> DataFrame:
    cadence = alerting.cadence_minutes * 60
    spike_columns = [name for name in gold_readings.columns if name.startswith("_spike_")]
    readings = gold_readings.select(
        "compressor_id", "timestamp",
        F.explode(F.array(*[_judged(s, spike_columns, alerting.resolve_margin) for s in signals])).alias("r"),
    ).select("compressor_id", "timestamp", F.unix_seconds("timestamp").alias("epoch"), "r.*")
    if watermarks is not None:
        readings = readings.join(watermarks.select(*PROBLEM_KEY, "watermark", "watermark_open"),
                                 on=list(PROBLEM_KEY), how="left")
    else:
        readings = readings.withColumn("watermark", F.lit(None).cast("timestamp")) \
            .withColumn("watermark_open", F.lit(None).cast("boolean"))
    # A problem with no abnormal reading and no open alert can change nothing: leave it out before the
    # windows (on a healthy fleet, nearly every problem).
    is_open = F.coalesce(F.col("watermark_open"), F.lit(False))
    active = readings.groupBy(*PROBLEM_KEY).agg(F.max(F.col("is_breach") | is_open).alias("_active"))
    readings = readings.join(F.broadcast(active.where("_active").select(*PROBLEM_KEY)), on=list(PROBLEM_KEY),
                             how="left_semi")
    # Readings up to a resolved alert's watermark belong to that alert: they never open the next one.
    after_floor = F.col("watermark").isNull() | F.coalesce(F.col("watermark_open"), F.lit(False)) | (
        F.col("timestamp") > F.col("watermark"))
    counts_to_open = F.col("is_breach") & after_floor
    blocks_open = F.col("counted") & ~F.col("is_breach") & after_floor
    in_time = Window.partitionBy(*PROBLEM_KEY).orderBy("epoch")
    # (t - window, t]: rangeBetween is inclusive, so the lower bound is one second inside.
    open_window = in_time.rangeBetween(-(open_minutes * 60) + 1, 0)
    resolve_window = in_time.rangeBetween(-(resolve_minutes * 60) + 1, 0)
    held_since = F.col("epoch") - F.lit(open_minutes * 60 - cadence)  # the stretch began at least this early
    clear_since = F.col("epoch") - F.lit(resolve_minutes * 60 - cadence)

    def count(condition: Column, window) -> Column:
        return F.sum(F.when(condition, 1).otherwise(0)).over(window)

    judged = (
        readings
        .withColumn("_open_first", F.min(F.when(counts_to_open, F.col("epoch"))).over(open_window))
        .withColumn("_open_count", count(counts_to_open, open_window))
        .withColumn("_open_blocked", count(blocks_open, open_window))
        .withColumn("peak", F.max_by(F.when(counts_to_open, F.col("value")),
                                     F.when(counts_to_open, F.col("badness"))).over(open_window))
        .withColumn("_crit_first", F.min(F.when(F.col("is_critical") & after_floor, F.col("epoch"))).over(open_window))
        .withColumn("_crit_blocked", count(F.col("counted") & ~F.col("is_critical") & after_floor, open_window))
        .withColumn("_resolve_first", F.min(F.when(F.col("counted"), F.col("epoch"))).over(resolve_window))
        .withColumn("_resolve_blocked", count(F.col("counted") & ~F.col("is_clear"), resolve_window))
        .withColumn("_clear_count", count(F.col("is_clear"), resolve_window))
    )
    if min_count is None:  # a level: exceeded by every counted reading of the window, from its start
        opens = counts_to_open & (F.col("_open_blocked") == 0) & (F.col("_open_first") <= held_since)
        critical = F.col("is_critical") & after_floor & (F.col("_crit_blocked") == 0) & (
            F.col("_crit_first") <= held_since)
        count_column = F.col("_open_count")
    else:  # spikes: enough of them within the window
        opens = counts_to_open & (F.col("_open_count") >= min_count)
        critical = F.lit(False)
        count_column = F.col("_open_count")
    resolves = F.col("is_clear") & (F.col("_resolve_blocked") == 0) & (F.col("_resolve_first") <= clear_since)
    is_evaluated = (F.col("watermark").isNull() | (F.col("timestamp") > F.col("watermark"))) & (
        F.lit(evaluate_from is None) | F.coalesce(F.col("watermark_open"), F.lit(False))
        | (F.col("timestamp") >= F.lit(as_utc(evaluate_from) if evaluate_from else None).cast("timestamp"))
    )
    history = in_time.rowsBetween(Window.unboundedPreceding, -1)
    last_breach = F.max(F.when(F.col("is_breach"), F.col("epoch"))).over(history)
    previous_resolve = F.max(F.when(F.col("_resolves") & F.col("_evaluated"), F.col("epoch"))).over(history)
    # Only the first complete normal stretch after a breach can resolve anything: later ones are sent
    # no more (a healthy unit sends one row per problem, not every reading).
    first_resolve = F.col("_resolves") & (previous_resolve.isNull() | (previous_resolve < last_breach))
    return (
        judged.withColumn("opens", opens)
        .withColumn("critical", critical)
        .withColumn("_resolves", resolves)
        .withColumn("_evaluated", is_evaluated)
        .withColumn("count", F.when(F.col("is_breach"), count_column).otherwise(F.col("_clear_count")))
        .withColumn("_first_resolve", first_resolve)
        .where(F.col("_evaluated") & (F.col("is_breach") | F.col("_first_resolve")))
        .select(
            *PROBLEM_KEY, "timestamp", "value", F.col("is_breach").alias("breaches"), "opens", "critical",
            F.col("_resolves").alias("resolves"),
            F.when(F.col("opens"), F.timestamp_seconds("_open_first")).alias("since"),
            F.when(F.col("opens"), F.col("peak")).alias("peak"),
            F.col("count").cast("long").alias("count"), F.lit(None).cast("string").alias("note"),
        )
    )


def build_alert_steps(
    gold_readings: DataFrame,
    *,
    signals: Sequence[Signal],
    alerting: Alerting,
    registry: SensorRegistry,
    watermarks: DataFrame | None = None,
    evaluate_from: datetime | None = None,
) -> DataFrame:
    """The judged readings that can change a threshold, rate-of-change or anomaly alert: one row per
    (compressor, sensor, alert type, reading), columns ``STEP_COLUMNS``.

    Kept are every abnormal reading (a breach, or a spike for anomaly alerts) and the first reading
    that completes a normal stretch after one. ``gold_readings`` should start
    ``evaluation_lookback`` before ``evaluate_from`` so every window is whole. Evaluated are readings
    after a problem's watermark (``watermarks``: the three key columns, ``watermark`` and
    ``watermark_open``, from ``watermark_rows``) and from ``evaluate_from`` on (all when None);
    a problem whose stored alert is open is evaluated from its watermark.
    """
    judged_readings = with_spikes(gold_readings, registry=registry)
    families = []
    levels = [s for s in signals if s.alert_type in THRESHOLD_TYPES]
    anomalies = [s for s in signals if s.alert_type == "anomaly"]
    common = {"alerting": alerting, "watermarks": watermarks, "evaluate_from": evaluate_from}
    if levels:
        families.append(_steps_of_family(judged_readings, levels, open_minutes=alerting.open_after_minutes,
                                         resolve_minutes=alerting.resolve_after_minutes, min_count=None, **common))
    if anomalies:
        families.append(_steps_of_family(judged_readings, anomalies,
                                         open_minutes=alerting.anomaly_window_minutes,
                                         resolve_minutes=alerting.anomaly_clear_minutes,
                                         min_count=alerting.anomaly_min_outliers, **common))
    if not families:
        raise ValueError("no threshold, rate-of-change or anomaly signal to evaluate")
    steps = families[0]
    for family in families[1:]:
        steps = steps.unionByName(family)
    return steps


def _held(flags: pd.Series, segment: pd.Series, n: int) -> pd.Series:
    """Whether the last ``n`` scores of the same segment (no event between them) all hold the flag."""
    return flags.astype(int).groupby(segment).transform(lambda f: f.rolling(n, min_periods=n).sum()) == n


def build_prediction_steps(
    scores: pd.DataFrame,
    *,
    alerting: Alerting,
    latest: Iterable[Mapping] = (),
    events: Iterable[tuple[str, datetime]] = (),
) -> pd.DataFrame:
    """Failure-probability scores judged as steps (``STEP_COLUMNS``), one per score and one per event.

    ``scores``: compressor_id, prediction_timestamp, failure_probability, message (one model's scores).
    A score breaches at ``prediction_warning_probability``; the rule holds over the last
    ``prediction_open_after_scores`` scores (critical likewise); a score is clear below warning minus
    ``prediction_resolve_margin`` and ``prediction_resolve_after_scores`` clear scores in a row resolve.
    An event (compressor_id, event_time) resolves an open alert, and scores up to it never count
    toward the next one (the machine was repaired). Scores up to a problem's watermark are context
    only; pass at least ``prediction_resolve_after_scores`` scores before the new ones.
    """
    signal = prediction_signal(alerting)
    stored = {row["compressor_id"]: row for row in latest if row["alert_type"] == "prediction"}
    events_by_unit: dict[str, list[datetime]] = {}
    for compressor_id, moment in events:
        events_by_unit.setdefault(compressor_id, []).append(as_utc(moment))
    out = []
    warn, crit = alerting.prediction_warning_probability, alerting.prediction_critical_probability
    clear = warn - alerting.prediction_resolve_margin
    n_open, n_resolve = alerting.prediction_open_after_scores, alerting.prediction_resolve_after_scores
    frame = scores.assign(prediction_timestamp=pd.to_datetime(scores["prediction_timestamp"], utc=True))
    units = sorted(set(frame["compressor_id"]) | set(events_by_unit))
    for compressor_id in units:
        unit = frame[frame["compressor_id"] == compressor_id].sort_values("prediction_timestamp", kind="mergesort")
        unit = unit.reset_index(drop=True)
        stored_row = stored.get(compressor_id)
        watermark = as_utc(stored_row["last_seen_at"]) if stored_row is not None else None
        floor = watermark if stored_row is not None and stored_row["resolved"] else None
        moments = [as_utc(t) for t in unit["prediction_timestamp"]]
        unit_events = sorted(events_by_unit.get(compressor_id, []))
        segment = pd.Series([sum(e >= t for e in unit_events) for t in moments], dtype="int64")
        probability = unit["failure_probability"].astype(float)
        above_floor = pd.Series([floor is None or t > floor for t in moments], dtype=bool)
        is_breach = (probability >= warn) & above_floor
        is_critical = (probability >= crit) & above_floor
        is_clear = probability < clear

        opens, critical, resolves = (_held(is_breach, segment, n_open), _held(is_critical, segment, n_open),
                                     _held(is_clear, segment, n_resolve))
        first_of_stretch = unit["prediction_timestamp"].groupby(segment).shift(n_open - 1)
        peak = probability.groupby(segment).transform(lambda p: p.rolling(n_open, min_periods=n_open).max())
        rows = []
        for i, moment in enumerate(moments):
            if watermark is not None and moment <= watermark:
                continue
            if not (is_breach[i] or resolves[i]):
                continue
            rows.append((compressor_id, signal.sensor_name, "prediction", moment, float(probability[i]),
                         bool(is_breach[i]), bool(opens[i]), bool(critical[i]), bool(resolves[i]),
                         as_utc(first_of_stretch[i]) if opens[i] else None, float(peak[i]) if opens[i] else None,
                         None, unit["message"][i]))
        for moment in unit_events:
            if watermark is None or moment > watermark:
                rows.append((compressor_id, signal.sensor_name, "prediction", moment, None, False, False, False,
                             True, None, None, None, None))
        out.extend(rows)
    steps = pd.DataFrame(out, columns=list(STEP_COLUMNS))
    # An event at a scoring time applies after that score.
    steps["_event"] = steps["value"].isna()
    return steps.sort_values(["compressor_id", "timestamp", "_event"], kind="mergesort").drop(columns="_event")


# --------------------------------------------------------------------------- the state machine


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
    if signal.alert_type == "prediction":
        return step.note or (
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
            current = replace(
                current, last_seen_at=moment, severity=worst, sensor_value=step.value,
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
    for name in ("alert_timestamp", "last_seen_at", "resolved_at"):
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


EPISODE_COLUMNS = ("compressor_id", "opened_at", "raised_at", "resolved_at", "severity")


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
