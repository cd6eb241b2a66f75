"""Silver transformations (no I/O): the row rules with reason codes, duplicates and restatements,
per-compressor robust outlier flags, aggregation to the cadence, and the per-unit completeness and
freshness inputs. The rules are
described in ``altaviz.silver.stage``."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from altaviz import sliding
from altaviz.registry import SENSOR_COLUMNS, SensorRegistry
from altaviz.runs import as_utc
from altaviz.schemas import MALFORMED_ROW, QUARANTINE_SCHEMA, SILVER_SCHEMA
from altaviz.silver.slots import MAD_TO_SIGMA, SLOT_STATISTIC, flag_and_aggregate


def _sensor_list(condition_for) -> Column:
    """The names of the sensors for which ``condition_for(name)`` holds, as array<string>."""
    return F.array_compact(F.array(*[F.when(condition_for(name), F.lit(name)) for name in SENSOR_COLUMNS]))


def with_rule_reason(
    bronze: DataFrame, *, registry: SensorRegistry, as_of: datetime, compressors: DataFrame
) -> DataFrame:
    """Add ``reason`` (null = valid so far) and ``reason_detail`` for the row-level rules; ``compressors`` is
    compressor_metadata (compressor_id, install_date)."""
    known = compressors.groupBy(F.col("compressor_id").alias("_known_id")).agg(
        F.min("install_date").alias("_installed")
    )

    def is_non_finite(name: str) -> Column:
        return F.isnan(name) | F.col(name).isin(float("inf"), float("-inf"))

    def is_impossible(name: str) -> Column:
        low, high = registry.sensors[name].physical or (float("-inf"), float("inf"))
        return ~is_non_finite(name) & ((F.col(name) < low) | (F.col(name) > high))

    # A row with another field count than its CSV header has its values in the wrong columns: none is trusted.
    malformed_row = F.col("unparsed_values")[MALFORMED_ROW]
    unparsed_sensors = F.map_keys(F.map_filter("unparsed_values", lambda k, _v: k != F.lit("timestamp")))
    non_finite = _sensor_list(is_non_finite)
    impossible = _sensor_list(is_impossible)
    is_missing_id = F.col("compressor_id").isNull() | (F.trim("compressor_id") == "")
    is_missing_timestamp = F.col("timestamp").isNull()
    is_future = F.col("timestamp") > F.lit(as_utc(as_of))
    is_unknown = F.col("_known_id").isNull()
    # A unit reports nothing before it is installed: such a time is a wrong clock or a wrong unit id.
    is_before_installation = F.col("timestamp") < F.col("_installed").cast("timestamp")
    installed_on = F.concat(F.lit("before install_date "), F.col("_installed").cast("string"))
    def verdict(code: str, detail: Column) -> Column:
        return F.struct(F.lit(code).alias("code"), detail.cast("string").alias("detail"))

    unparsed_sensor_values = F.map_filter("unparsed_values", lambda k, _v: k != F.lit("timestamp"))
    reason = (
        F.when(malformed_row.isNotNull(), verdict("malformed_row", malformed_row))
        .when(is_missing_id, verdict("missing_id", F.lit(None)))
        .when(is_missing_timestamp, verdict("missing_timestamp", F.col("unparsed_values")["timestamp"]))
        .when(F.size(unparsed_sensors) > 0, verdict("non_numeric", F.to_json(unparsed_sensor_values)))
        .when(F.size(non_finite) > 0, verdict("non_finite", F.array_join(non_finite, ",")))
        .when(F.size(impossible) > 0, verdict("physically_impossible", F.array_join(impossible, ",")))
        .when(is_future, verdict("future_timestamp", F.lit(f"after as_of {as_utc(as_of).isoformat()}")))
        .when(is_unknown, verdict("unknown_compressor", F.lit("not in compressor_metadata")))
        .when(is_before_installation, verdict("before_installation", installed_on))
    )
    return (
        bronze.join(known, on=bronze["compressor_id"] == known["_known_id"], how="left")
        .withColumn("_reason", reason)
        .withColumn("reason", F.col("_reason").getField("code"))
        .withColumn("reason_detail", F.col("_reason").getField("detail"))
        .drop("_reason", "_known_id", "_installed")
    )


def with_duplicate_reason(rows: DataFrame) -> DataFrame:
    """Among valid rows, keep the latest ingested per (compressor_id, timestamp) and mark the rest.

    'duplicate': the same delivery holds the key again (a sensor or export fault; it counts against
    consistency). 'restated': a later delivery (another file, or the same file re-exported) holds the
    key (historians re-export overlapping windows and corrections; the newer value wins and nothing is
    wrong with the data).
    """
    is_valid = F.col("reason").isNull()
    latest_first = Window.partitionBy("compressor_id", "timestamp", is_valid).orderBy(
        F.col("ingested_at").desc(),
        F.col("source_file").desc(),
        *[F.col(name).desc_nulls_last() for name in SENSOR_COLUMNS],  # same file twice: any fixed order
    )
    is_superseded = is_valid & (F.row_number().over(latest_first) > 1)
    winner = latest_first.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    winner_file = F.first("source_file").over(winner)
    # A delivery is a file as ingested at one time: a re-exported file may keep its name.
    is_restated = is_superseded & (
        (winner_file != F.col("source_file")) | (F.first("ingested_at").over(winner) != F.col("ingested_at"))
    )
    return (
        rows.withColumn(
            "reason_detail",
            F.when(is_restated, F.concat(F.lit("restated by "), winner_file))
            .when(is_superseded, F.lit("the same file repeats this key"))
            .otherwise(F.col("reason_detail")),
        )
        .withColumn(
            "reason",
            F.when(is_restated, F.lit("restated"))
            .when(is_superseded, F.lit("duplicate"))
            .otherwise(F.col("reason")),
        )
    )


def with_outlier_flags(readings: DataFrame, *, mad_threshold: float, reference: bool = False) -> DataFrame:
    """Add ``is_outlier`` and ``outlier_sensors`` from per-compressor median/MAD robust z-scores.

    The medians and MADs come from ``unit_medians`` (numpy on whole compressors); ``reference=True`` takes
    them from Spark's exact ``median`` aggregate, which sorts an array per group (52 s vs 13 s on a
    fleet-month; a test holds the two equal)."""
    baseline = _spark_medians(readings) if reference else unit_medians(readings)
    with_baseline = readings.join(F.broadcast(baseline), on="compressor_id", how="left")

    def is_outlier(name: str) -> Column:
        mad = F.col(f"_mad_{name}")
        robust_z = F.lit(MAD_TO_SIGMA) * F.abs(F.col(name) - F.col(f"_med_{name}")) / mad
        return F.coalesce((mad > 0) & (robust_z > mad_threshold), F.lit(False))

    outlier_sensors = _sensor_list(is_outlier)
    return (
        with_baseline.withColumn("outlier_sensors", outlier_sensors)
        .withColumn("is_outlier", F.size("outlier_sensors") > 0)
        .drop(*_baseline_columns(SENSOR_COLUMNS))
    )


def _baseline_columns(sensors) -> list[str]:
    return [f"_{kind}_{name}" for kind in ("med", "mad") for name in sensors]


def unit_medians(readings: DataFrame) -> DataFrame:
    """One row per compressor: ``_med_<sensor>`` (median, nulls skipped) and ``_mad_<sensor>`` (median absolute
    deviation from it) of every sensor, computed by pandas on buckets of whole compressors."""
    sensors = list(SENSOR_COLUMNS)  # named here: a Python worker may have loaded another registry
    schema = T.StructType([T.StructField("compressor_id", T.StringType())]
                          + [T.StructField(name, T.DoubleType()) for name in _baseline_columns(sensors)])
    return sliding.compressor_buckets(readings.select("compressor_id", *sensors)).applyInArrow(
        lambda some: _medians_and_mads(some, sensors), schema=schema)


def _medians_and_mads(readings: pa.Table, sensors: list[str]) -> pa.Table:
    codes, units = sliding.unit_dictionary(readings)
    values = np.column_stack([sliding.floats(readings, name) for name in sensors])
    medians, mads = sliding.baselines(codes, values, len(units))
    columns = [pa.array(column, type=pa.float64(), from_pandas=True) for column in (*medians.T, *mads.T)]  # NaN: null
    return pa.Table.from_arrays([units, *columns], names=["compressor_id", *_baseline_columns(sensors)])


def _spark_medians(readings: DataFrame) -> DataFrame:
    medians = readings.groupBy("compressor_id").agg(*[F.median(name).alias(f"_med_{name}") for name in SENSOR_COLUMNS])
    mads = readings.join(medians, on="compressor_id", how="left").groupBy("compressor_id").agg(
        *[F.median(F.abs(F.col(name) - F.col(f"_med_{name}"))).alias(f"_mad_{name}") for name in SENSOR_COLUMNS]
    )
    return medians.join(mads, on="compressor_id")


def _slot_mean(name: str) -> Column:
    """The mean of a slot's non-null values (null when none), summed in sorted order: a sum in shuffle
    order can differ in the last bit between runs, and then a rerun would rewrite unchanged slots."""
    values = F.array_sort(F.collect_list(name))
    total = F.aggregate(F.slice(values, 2, F.size(values)), F.get(values, 0), lambda acc, value: acc + value)
    return F.when(F.size(values) > 0, total / F.size(values))


def aggregate_to_cadence(readings: DataFrame, *, cadence_minutes: int) -> DataFrame:
    """One row per compressor per cadence slot [s, s + cadence), stamped s, from valid, deduplicated and
    flagged readings: each sensor's ``SLOT_STATISTIC``, ``is_outlier``/``outlier_sensors`` for any reading
    flagged in the slot, and source_file, ingested_at, run_id of the slot's latest-ingested reading.

    Every timestamp is floored to its slot, so silver's timestamp means one thing (a slot start) and a
    restated delivery lands on the same key whatever second it is stamped. A reading on the grid is its
    own slot and comes out unchanged (the mean or max of one value is the value); slower or irregular
    readings fill the slots they fall in and leave the others empty (completeness counts them missing).
    """
    step = cadence_minutes * 60
    slot_start = F.timestamp_seconds(F.floor(F.unix_seconds("timestamp") / step) * step)
    statistic = {"mean": _slot_mean, "max": F.max}
    latest = F.max(F.struct("ingested_at", "source_file", "run_id"))  # a fixed order among ties
    # One boolean per sensor: a plain aggregate, where collecting the slot's lists would copy arrays around.
    flagged = [F.max(F.array_contains("outlier_sensors", name)).alias(f"_flagged_{name}") for name in SENSOR_COLUMNS]
    return (
        readings.withColumn("timestamp", slot_start)
        .groupBy("compressor_id", "timestamp")
        .agg(
            *[statistic[SLOT_STATISTIC.get(name, "mean")](name).alias(name) for name in SENSOR_COLUMNS],
            *flagged,
            latest.alias("_latest"),
        )
        .withColumn("outlier_sensors", _sensor_list(lambda name: F.col(f"_flagged_{name}")))
        .select(
            "compressor_id", "timestamp", *SENSOR_COLUMNS,
            (F.size("outlier_sensors") > 0).alias("is_outlier"), "outlier_sensors",
            "_latest.source_file", "_latest.ingested_at", "_latest.run_id",
        )
    )


def build_silver_rows(classified: DataFrame, *, mad_threshold: float, cadence_minutes: int,
                      reference: bool = False) -> DataFrame:
    """Valid rows in ``SILVER_SCHEMA``: one per compressor per cadence slot (``aggregate_to_cadence``).
    The rules, duplicates and outlier flags judge the raw readings first; only valid ones are aggregated.

    Flagged and aggregated in Python on whole compressors (``slots.flag_and_aggregate``); ``reference=True``
    runs ``with_outlier_flags`` and ``aggregate_to_cadence`` in Spark, the formulation a test holds it equal to."""
    valid = classified.where(F.col("reason").isNull()).select(
        "compressor_id", "timestamp", *SENSOR_COLUMNS, "source_file", "ingested_at", "run_id")
    if reference:
        slots = (valid.transform(with_outlier_flags, mad_threshold=mad_threshold)
                 .transform(aggregate_to_cadence, cadence_minutes=cadence_minutes))
    else:
        slots = flag_and_aggregate(valid, mad_threshold=mad_threshold, cadence_minutes=cadence_minutes)
    return slots.withColumn("date", F.to_date("timestamp")).select(*SILVER_SCHEMA.fieldNames())


def outlier_counts(silver_rows: DataFrame) -> pd.DataFrame:
    """Per compressor, in one pass: its silver rows, its flagged rows and, per sensor, the rows that flag
    it (compressor_id, rows, outliers, then one column per sensor)."""
    return silver_rows.groupBy("compressor_id").agg(
        F.count(F.lit(1)).alias("rows"),
        F.count(F.when(F.col("is_outlier"), 1)).alias("outliers"),
        *[F.count(F.when(F.array_contains("outlier_sensors", name), 1)).alias(name) for name in SENSOR_COLUMNS],
    ).toPandas()


def outlier_flags(counts: pd.DataFrame) -> pd.DataFrame:
    """``outlier_counts`` as compressor_id, sensor, flags: the flagged pairs only, by compressor and sensor."""
    flags = counts.melt(id_vars="compressor_id", value_vars=list(SENSOR_COLUMNS), var_name="sensor", value_name="flags")
    flags = flags[flags["flags"] > 0].astype({"flags": "int64"})
    return flags.sort_values(["compressor_id", "sensor"], kind="stable").reset_index(drop=True)


def build_quarantine_rows(classified: DataFrame) -> DataFrame:
    return classified.where(F.col("reason").isNotNull()).select(*QUARANTINE_SCHEMA.fieldNames())


def _downtime_windows(downtime: DataFrame) -> DataFrame:
    """Logged downtime as [start, end) in epoch seconds, per compressor (``_down_id``)."""
    return downtime.select(
        F.col("compressor_id").alias("_down_id"),
        F.unix_seconds("event_date").alias("_down_start"),
        (F.unix_seconds("event_date") + F.col("downtime_hours") * 3600).alias("_down_end"),
    ).where(F.col("_down_end") > F.col("_down_start"))


def completeness_by_compressor(
    silver_rows: DataFrame, downtime: DataFrame, *, cadence_minutes: int, judged: Column | None = None
) -> DataFrame:
    """One row per compressor: expected and received grid slots (see module docstring). With ``judged`` (a
    condition on silver rows), a unit's span runs from its first to its last judged reading, and any silver
    row inside it counts as received: a late delivery that fills gaps is measured with what it completes."""
    step = cadence_minutes * 60

    def slots_of(rows: DataFrame) -> DataFrame:
        return rows.select("compressor_id", (F.floor(F.unix_seconds("timestamp") / step) * step).alias("slot")).distinct()

    slots = slots_of(silver_rows)
    spans = slots if judged is None else slots_of(silver_rows.where(judged))
    grid = (
        spans.groupBy("compressor_id")
        .agg(F.min("slot").alias("first_slot"), F.max("slot").alias("last_slot"))
        .select("compressor_id", F.explode(F.sequence("first_slot", "last_slot", F.lit(step).cast("long"))).alias("slot"))
    )
    windows = _downtime_windows(downtime)
    is_in_downtime = (grid["compressor_id"] == windows["_down_id"]) & (grid["slot"] >= windows["_down_start"]) & (
        grid["slot"] < windows["_down_end"]
    )
    expected = grid.join(F.broadcast(windows), on=is_in_downtime, how="left_anti")
    received = slots.withColumn("_received", F.lit(1))
    return (
        expected.join(received, on=["compressor_id", "slot"], how="left")
        .groupBy("compressor_id")
        .agg(F.count(F.lit(1)).alias("expected"), F.count("_received").alias("received"))
    )


def freshness_by_compressor(silver_rows: DataFrame, downtime: DataFrame, *, as_of: datetime) -> DataFrame:
    """One row per compressor: minutes from its newest valid reading to ``as_of``, and whether logged
    downtime covers ``as_of`` (an offline unit is not expected to report; once its downtime ends it is)."""
    as_of_seconds = F.unix_seconds(F.lit(as_utc(as_of)).cast("timestamp"))
    down_now = (
        _downtime_windows(downtime)
        .where((F.col("_down_start") <= as_of_seconds) & (as_of_seconds < F.col("_down_end")))
        .select(F.col("_down_id").alias("compressor_id"))
        .distinct()
        .withColumn("in_logged_downtime", F.lit(True))
    )
    return (
        silver_rows.groupBy("compressor_id")
        .agg(((as_of_seconds - F.unix_seconds(F.max("timestamp"))) / 60.0).alias("freshness_minutes"))
        .join(F.broadcast(down_now), on="compressor_id", how="left")
        .fillna(False, subset=["in_logged_downtime"])
    )