"""The judged readings (steps): gold readings in Spark, or model scores in pandas, turned into one row per
problem and reading with whether it breaches, opens, escalates or resolves (persistence and hysteresis
applied over time windows). No I/O."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Mapping, Sequence

import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from altaviz.config import Alerting
from altaviz.gold.transforms import UnitLimits, unit_level
from altaviz.registry import SensorRegistry
from altaviz.runs import as_utc
from altaviz.serving.alerts.sliding_steps import Rule, alert_steps
from altaviz.serving.alerts.signals import (
    PROBLEM_KEY,
    THRESHOLD_TYPES,
    Signal,
    _center,
    clear_level,
    prediction_signal,
    warning_margin,
)

# A step is one reading or score of one problem, judged against its window:
#   breaches  abnormal, counted: extends an open alert
#   opens     the opening rule holds here; since / peak / count describe the stretch that made it hold
#   critical  the critical level held as long as opening needs: open as, or escalate to, critical
#   resolves  the normal stretch is complete here
#   note      text from the source (the model's drivers for a prediction), else null
STEP_COLUMNS = (*PROBLEM_KEY, "timestamp", "value", "breaches", "opens", "critical", "resolves",
                "since", "peak", "count", "note")


def with_spikes(gold_readings: DataFrame, *, registry: SensorRegistry, unit_limits: UnitLimits | None = None
                ) -> DataFrame:
    """Add ``_spike_<sensor>`` per measured sensor: silver flagged that sensor and the reading jumped from
    the sensor's previous reading by more than its warning margin (the unit's own, for units in
    ``unit_limits``). Without silver's ``outlier_sensors`` column nothing is a spike."""
    sensors = [sensor for sensor in registry.sensors.values() if sensor.name in gold_readings.columns]
    if "outlier_sensors" not in gold_readings.columns:
        return gold_readings.select("*", *[F.lit(False).alias(f"_spike_{sensor.name}") for sensor in sensors])
    before = Window.partitionBy("compressor_id").orderBy("timestamp").rowsBetween(Window.unboundedPreceding, -1)
    spikes = []
    for sensor in sensors:
        value = F.col(sensor.name).cast("double")
        previous = F.last(value, ignorenulls=True).over(before)
        is_flagged = F.coalesce(F.array_contains("outlier_sensors", sensor.name), F.lit(False))
        margin = unit_level(sensor, (unit_limits or {}).get(sensor.name), warning_margin)
        jumped = F.coalesce(F.abs(value - previous) > margin, F.lit(False))
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
    limit, per_unit = signal.limit, dict(signal.per_unit)  # each unit judged against its own limits
    if signal.alert_type == "anomaly":
        counted, is_breach, is_critical = present, present & is_spike, F.lit(False)
        is_clear = present & ~is_spike
        badness = F.abs(value - unit_level(limit, per_unit, _center))
    else:
        counted = present & ~is_spike
        is_breach = counted & limit.breaches(value, unit_level(limit, per_unit, lambda s: s.warning))
        has_critical = limit.critical is not None or any(s.critical is not None for s in per_unit.values())
        critical = unit_level(limit, per_unit, lambda s: s.critical)  # null on a unit without a critical level
        is_critical = (counted & F.coalesce(limit.breaches(value, critical), F.lit(False))) if has_critical \
            else F.lit(False)
        clear = unit_level(limit, per_unit, lambda s: clear_level(s, resolve_margin))
        is_clear = counted & ~limit.breaches(value, clear)
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


def _watermark_frame(spark, watermarks: Iterable[tuple]) -> DataFrame | None:
    rows = list(watermarks)
    if not rows:
        return None
    schema = T.StructType(
        [T.StructField(name, T.StringType(), False) for name in PROBLEM_KEY]
        + [T.StructField("watermark", T.TimestampType(), False),
           T.StructField("watermark_open", T.BooleanType(), False)]
    )
    return spark.createDataFrame(rows, schema)


def build_alert_steps(
    gold_readings: DataFrame,
    *,
    signals: Sequence[Signal],
    alerting: Alerting,
    registry: SensorRegistry,
    watermarks: Iterable[tuple] = (),
    evaluate_from: datetime | None = None,
    reference: bool = False,
) -> DataFrame:
    """The judged readings that can change a threshold, rate-of-change or anomaly alert: one row per
    (compressor, sensor, alert type, reading), columns ``STEP_COLUMNS``.

    Kept are every abnormal reading (a breach, or a spike for anomaly alerts) and the first reading
    that completes a normal stretch after one. ``gold_readings`` should start
    ``evaluation_lookback`` before ``evaluate_from`` so every window is whole. Evaluated are readings
    after a problem's watermark (``watermarks``: rows of the three key columns, the watermark and whether
    that alert is still open, from ``watermark_rows``) and from ``evaluate_from`` on (all when None);
    a problem whose stored alert is open is evaluated from its watermark. Each unit is judged against its
    own limits where a signal carries them (``Signal.per_unit``).

    Computed in Python on buckets of whole compressors (``sliding_steps``); ``reference=True`` runs the
    same rules as Spark windows, the formulation a test holds it equal to.
    """
    unit_limits = {s.sensor_name: dict(s.per_unit) for s in signals if s.per_unit and s.sensor_name in registry.sensors}
    levels = [s for s in signals if s.alert_type in THRESHOLD_TYPES]
    anomalies = [s for s in signals if s.alert_type == "anomaly"]
    if not levels and not anomalies:
        raise ValueError("no threshold, rate-of-change or anomaly signal to evaluate")
    if not reference:
        level_rule = Rule(alerting.open_after_minutes * 60, alerting.resolve_after_minutes * 60, None)
        anomaly_rule = Rule(alerting.anomaly_window_minutes * 60, alerting.anomaly_clear_minutes * 60,
                            alerting.anomaly_min_outliers)
        return alert_steps(
            gold_readings, [(s, level_rule) for s in levels] + [(s, anomaly_rule) for s in anomalies],
            spike_sensors=[s for s in registry.sensors.values() if s.name in gold_readings.columns],
            unit_spike_limits=unit_limits, cadence_minutes=alerting.cadence_minutes,
            resolve_margin=alerting.resolve_margin, watermarks=watermarks, evaluate_from=evaluate_from,
        )
    judged_readings = with_spikes(gold_readings, registry=registry, unit_limits=unit_limits)
    families = []
    common = {"alerting": alerting, "watermarks": _watermark_frame(gold_readings.sparkSession, watermarks),
              "evaluate_from": evaluate_from}
    if levels:
        families.append(_steps_of_family(judged_readings, levels, open_minutes=alerting.open_after_minutes,
                                         resolve_minutes=alerting.resolve_after_minutes, min_count=None, **common))
    if anomalies:
        families.append(_steps_of_family(judged_readings, anomalies,
                                         open_minutes=alerting.anomaly_window_minutes,
                                         resolve_minutes=alerting.anomaly_clear_minutes,
                                         min_count=alerting.anomaly_min_outliers, **common))
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

    ``scores``: compressor_id, prediction_timestamp, failure_probability, message (one model's scores) and
    optionally warning_probability (the early-warning classifier's longer horizon). A score's risk is the
    higher of the two (a trip within 7 days is at least as likely as one within 48 h); it breaches at
    ``prediction_warning_probability``; critical is ``failure_probability`` at ``prediction_critical_probability``
    (the trip is near); each rule holds over the last ``prediction_open_after_scores`` scores; a score is
    clear when its risk is below warning minus ``prediction_resolve_margin``, and
    ``prediction_resolve_after_scores`` clear scores in a row resolve. The alert's value is the risk.
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
        near = unit["failure_probability"].astype(float)
        early = unit["warning_probability"].astype(float) if "warning_probability" in unit else near
        probability = pd.concat([near, early.fillna(near)], axis=1).max(axis=1)  # the risk
        above_floor = pd.Series([floor is None or t > floor for t in moments], dtype=bool)
        is_breach = (probability >= warn) & above_floor
        is_critical = (near >= crit) & above_floor
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


def build_stale_steps(freshness: pd.DataFrame, *, signal: Signal, latest: Iterable[Mapping] = ()) -> pd.DataFrame:
    """Silver's per-unit freshness gate judged as steps (``STEP_COLUMNS``), one per unit and quality run.

    ``freshness``: compressor_id, metric_timestamp (the run's as-of), metric_value (minutes since the
    unit's newest valid reading, null when it has none), threshold_value (the run's limit) and
    pass_threshold (fresh, or excused by logged downtime). The gate's limit is the persistence already, so a
    failed gate breaches and opens at once and a passed one resolves. ``since`` is the newest reading (the
    unit is silent from then on); after a resolved alert (``latest``) only runs past its watermark count,
    and silence it already covered opens the next alert at the run's as-of, never under the resolved key.
    """
    stored = {row["compressor_id"]: row for row in latest if row["alert_type"] == signal.alert_type}
    frame = freshness.assign(metric_timestamp=pd.to_datetime(freshness["metric_timestamp"], utc=True))
    # A rerun of silver at the same as-of measures again: its newest run speaks for that moment.
    frame = frame.sort_values(["compressor_id", "metric_timestamp", "run_id"], kind="mergesort")
    frame = frame.drop_duplicates(["compressor_id", "metric_timestamp"], keep="last")
    rows = []
    for row in frame.itertuples(index=False):
        moment = as_utc(row.metric_timestamp)
        before = stored.get(row.compressor_id)
        if before is not None and moment <= as_utc(before["last_seen_at"]):
            continue
        minutes = None if pd.isna(row.metric_value) else float(row.metric_value)
        silent = not bool(row.pass_threshold)
        newest = None if minutes is None else moment - pd.Timedelta(minutes=minutes)
        floor = as_utc(before["last_seen_at"]) if before is not None and before["resolved"] else None
        since = newest if newest is not None and (floor is None or newest > floor) else moment
        rows.append((row.compressor_id, signal.sensor_name, signal.alert_type, moment, minutes, silent, silent, False,
                     not silent, since if silent else None, minutes if silent else None, None,
                     stale_message(row.compressor_id, newest, minutes, float(row.threshold_value)) if silent else None))
    return pd.DataFrame(rows, columns=list(STEP_COLUMNS))


def stale_message(compressor_id: str, newest: datetime | None, minutes: float | None, limit_minutes: float) -> str:
    """E.g. "COMP-0003 has sent no valid reading since 2026-01-14 06:10 UTC (95 min before the run's as-of;
    the limit is 15 min) and no downtime is logged: check its link and the historian export." """
    check = "no downtime is logged: check its link and the historian export."
    if newest is None:
        return f"{compressor_id} has no valid reading at all and {check}"
    return (f"{compressor_id} has sent no valid reading since {as_utc(newest):%Y-%m-%d %H:%M} UTC ({minutes:,.0f} min "
            f"before the run's as-of; the limit is {limit_minutes:g} min) and {check}")
