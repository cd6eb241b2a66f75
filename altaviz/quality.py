"""03 silver: validate, deduplicate, quarantine, flag outliers, measure data quality, gate the run.

Grain of silver: one row per (compressor_id, timestamp) that passed every rule; the values are the
bronze values unchanged. Columns: ``schemas.SILVER_SCHEMA``.

Rules (``schemas.REASON_CODES``, judged in this order; a row gets the first one it breaks):
``missing_id``, ``missing_timestamp`` (absent or unparsable), ``non_numeric`` (a sensor cell that is
text), ``non_finite`` (NaN or ±inf), ``physically_impossible`` (outside ``physical`` in
``thresholds.yaml``), ``future_timestamp`` (after the run's ``as_of``), ``unknown_compressor`` (not in
``compressor_metadata``), ``duplicate`` (the same file repeats a compressor and timestamp),
``restated`` (a later-delivered file holds the same key: the newer value wins, the data is not at fault).
A sensor that is simply null (a stuck or dead channel) is not a reason: the row is kept with its null.
Rejected rows go to ``sensors_quarantine`` with the reason, a detail and the source file.

Outliers: per compressor and sensor, robust z = 0.6745·|x − median| / MAD; above
``quality.outlier_mad_threshold`` the reading is **flagged** (``is_outlier``, ``outlier_sensors``) and
never changed or dropped — a degrading unit's real readings, including every reading at or above a
critical threshold, reach silver and gold as measured. A sensor whose MAD is 0 flags nothing.

Silver is recomputed from all of bronze (bronze is the system of record) and written with one MERGE
on (compressor_id, timestamp): late and out-of-order rows land in place, a rerun changes nothing, and
rows bronze no longer supports (e.g. a timestamp now valid under a later as_of) move in or out.
The quarantine table is rewritten with the run's result; metrics are merged on
(run_id, metric_type, compressor_id). Time travel: see ``altaviz.lake``.

Data-quality metrics (fleet rows have compressor_id null; details is JSON):

- completeness = received / expected readings. Expected: the ``cadence_minutes`` grid slots between
  a unit's first and last valid reading, minus slots inside downtime logged in ``maintenance_logs``
  (an offline unit is not expected to report); gaps inside count as missing. Gate: missing rate.
- freshness = minutes from the newest valid reading to ``as_of``. Gate: ``freshness_sla_minutes``.
- consistency = 1 − duplicate rate (duplicate rows / bronze rows). Gate: ``max_duplicate_rate``.
- accuracy = 1 − rejection rate (rows quarantined by a validity rule, i.e. not counting duplicates
  or restatements, / bronze rows). Gate: ``max_rejection_rate``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from altaviz import lake
from altaviz.config import SENSOR_COLUMNS, Settings, Thresholds, get_settings
from altaviz.runs import as_utc
from altaviz.schemas import DQ_METRICS_SCHEMA, MAINTENANCE_LOGS_SCHEMA, QUARANTINE_SCHEMA, REASON_CODES, SILVER_SCHEMA

# 0.6745 is the 75th percentile of the standard normal: it makes the MAD comparable to a std.
_MAD_TO_SIGMA = 0.6745


class QualityGateError(RuntimeError):
    """A fleet-level data-quality metric broke its configured gate."""


@dataclass(frozen=True)
class GateResult:
    gate: str  # the config key under quality (e.g. 'gates.max_missing_rate')
    metric_type: str
    value: float | None
    limit: float
    passed: bool
    message: str


@dataclass(frozen=True)
class SilverReport:
    run_id: str
    as_of: datetime
    rows_read: int
    rows_valid: int
    quarantine_counts: Mapping[str, int]  # every reason code, 0 when none
    outliers_flagged: int
    fleet_metrics: Mapping[str, float | None]  # metric_type -> metric_value
    compressor_metrics: pd.DataFrame = field(compare=False)  # one row per compressor
    gates: tuple[GateResult, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(gate.passed for gate in self.gates)

    def to_frame(self) -> pd.DataFrame:
        """Counts, then one row per gate: item, value, limit, passed."""
        rows = [(f"rows: {name}", float(value), None, None) for name, value in self.counts.items()]
        rows += [(f"gate: {g.gate} ({g.metric_type})", g.value, g.limit, g.passed) for g in self.gates]
        return pd.DataFrame(rows, columns=["item", "value", "limit", "passed"])




# --------------------------------------------------------------------------- rules


def _sensor_list(condition_for) -> Column:
    """The names of the sensors for which ``condition_for(name)`` holds, as array<string>."""
    return F.array_compact(F.array(*[F.when(condition_for(name), F.lit(name)) for name in SENSOR_COLUMNS]))


def with_rule_reason(bronze: DataFrame, *, thresholds: Thresholds, as_of: datetime, known_ids: DataFrame) -> DataFrame:
    """Add ``reason`` (null = valid so far) and ``reason_detail`` for the row-level rules."""
    known = known_ids.select(F.col("compressor_id").alias("_known_id")).distinct()

    def is_non_finite(name: str) -> Column:
        return F.isnan(name) | F.col(name).isin(float("inf"), float("-inf"))

    def is_impossible(name: str) -> Column:
        low, high = thresholds.sensors[name].physical or (float("-inf"), float("inf"))
        return ~is_non_finite(name) & ((F.col(name) < low) | (F.col(name) > high))

    unparsed_sensors = F.map_keys(F.map_filter("unparsed_values", lambda k, _v: k != F.lit("timestamp")))
    non_finite = _sensor_list(is_non_finite)
    impossible = _sensor_list(is_impossible)
    is_missing_id = F.col("compressor_id").isNull() | (F.trim("compressor_id") == "")
    is_missing_timestamp = F.col("timestamp").isNull()
    is_future = F.col("timestamp") > F.lit(as_utc(as_of))
    is_unknown = F.col("_known_id").isNull()
    def verdict(code: str, detail: Column) -> Column:
        return F.struct(F.lit(code).alias("code"), detail.cast("string").alias("detail"))

    unparsed_sensor_values = F.map_filter("unparsed_values", lambda k, _v: k != F.lit("timestamp"))
    reason = (
        F.when(is_missing_id, verdict("missing_id", F.lit(None)))
        .when(is_missing_timestamp, verdict("missing_timestamp", F.col("unparsed_values")["timestamp"]))
        .when(F.size(unparsed_sensors) > 0, verdict("non_numeric", F.to_json(unparsed_sensor_values)))
        .when(F.size(non_finite) > 0, verdict("non_finite", F.array_join(non_finite, ",")))
        .when(F.size(impossible) > 0, verdict("physically_impossible", F.array_join(impossible, ",")))
        .when(is_future, verdict("future_timestamp", F.lit(f"after as_of {as_utc(as_of).isoformat()}")))
        .when(is_unknown, verdict("unknown_compressor", F.lit("not in compressor_metadata")))
    )
    return (
        bronze.join(known, on=bronze["compressor_id"] == known["_known_id"], how="left")
        .withColumn("_reason", reason)
        .withColumn("reason", F.col("_reason").getField("code"))
        .withColumn("reason_detail", F.col("_reason").getField("detail"))
        .drop("_reason", "_known_id")
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


# --------------------------------------------------------------------------- outliers


def with_outlier_flags(readings: DataFrame, *, mad_threshold: float) -> DataFrame:
    """Add ``is_outlier`` and ``outlier_sensors`` from per-compressor median/MAD robust z-scores."""
    medians = readings.groupBy("compressor_id").agg(*[F.median(name).alias(f"_med_{name}") for name in SENSOR_COLUMNS])
    with_medians = readings.join(medians, on="compressor_id", how="left")
    mads = with_medians.groupBy("compressor_id").agg(
        *[F.median(F.abs(F.col(name) - F.col(f"_med_{name}"))).alias(f"_mad_{name}") for name in SENSOR_COLUMNS]
    )

    def is_outlier(name: str) -> Column:
        mad = F.col(f"_mad_{name}")
        robust_z = F.lit(_MAD_TO_SIGMA) * F.abs(F.col(name) - F.col(f"_med_{name}")) / mad
        return F.coalesce((mad > 0) & (robust_z > mad_threshold), F.lit(False))

    outlier_sensors = _sensor_list(is_outlier)
    helper_columns = [f"_{kind}_{name}" for kind in ("med", "mad") for name in SENSOR_COLUMNS]
    return (
        with_medians.join(mads, on="compressor_id", how="left")
        .withColumn("outlier_sensors", outlier_sensors)
        .withColumn("is_outlier", F.size("outlier_sensors") > 0)
        .drop(*helper_columns)
    )


def build_silver_rows(classified: DataFrame, *, mad_threshold: float) -> DataFrame:
    """Valid rows in ``SILVER_SCHEMA``: one per (compressor_id, timestamp), outliers flagged."""
    return (
        classified.where(F.col("reason").isNull())
        .select("compressor_id", "timestamp", *SENSOR_COLUMNS, "source_file", "ingested_at", "run_id")
        .transform(with_outlier_flags, mad_threshold=mad_threshold)
        .withColumn("date", F.to_date("timestamp"))
        .select(*SILVER_SCHEMA.fieldNames())
    )


def build_quarantine_rows(classified: DataFrame) -> DataFrame:
    return classified.where(F.col("reason").isNotNull()).select(*QUARANTINE_SCHEMA.fieldNames())


# --------------------------------------------------------------------------- metrics


def completeness_by_compressor(silver_rows: DataFrame, downtime: DataFrame, *, cadence_minutes: int) -> DataFrame:
    """One row per compressor: expected and received grid slots (see module docstring)."""
    step = cadence_minutes * 60
    slots = silver_rows.select("compressor_id", (F.floor(F.unix_seconds("timestamp") / step) * step).alias("slot")).distinct()
    grid = (
        slots.groupBy("compressor_id")
        .agg(F.min("slot").alias("first_slot"), F.max("slot").alias("last_slot"))
        .select("compressor_id", F.explode(F.sequence("first_slot", "last_slot", F.lit(step).cast("long"))).alias("slot"))
    )
    windows = downtime.select(
        F.col("compressor_id").alias("_down_id"),
        F.unix_seconds("event_date").alias("_down_start"),
        (F.unix_seconds("event_date") + F.col("downtime_hours") * 3600).alias("_down_end"),
    ).where(F.col("_down_end") > F.col("_down_start"))
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


def freshness_by_compressor(silver_rows: DataFrame, *, as_of: datetime) -> DataFrame:
    """One row per compressor: minutes from its newest valid reading to ``as_of``."""
    return silver_rows.groupBy("compressor_id").agg(
        ((F.unix_seconds(F.lit(as_utc(as_of)).cast("timestamp")) - F.unix_seconds(F.max("timestamp"))) / 60.0).alias(
            "freshness_minutes"
        ),
    )


def _rate(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else 0.0


def metric_rows(
    per_compressor: pd.DataFrame, *, run_id: str, as_of: datetime, settings: Settings
) -> pd.DataFrame:
    """Rows of ``data_quality_metrics`` for each compressor and the fleet (compressor_id None).

    ``per_compressor`` has compressor_id, rows_read, duplicates, rejected, expected, received,
    freshness_minutes (one row per compressor id seen in bronze, None for rows without an id).
    """
    gates = settings.pipeline.gates
    sla = float(settings.pipeline.freshness_sla_minutes)
    named = per_compressor[per_compressor["compressor_id"].notna()]
    fleet = {
        "compressor_id": None,
        **{k: float(per_compressor[k].fillna(0).sum()) for k in ("rows_read", "duplicates", "rejected", "expected", "received")},
        "freshness_minutes": per_compressor["freshness_minutes"].min() if per_compressor["freshness_minutes"].notna().any() else None,
    }
    rows = []
    for unit in [*named.to_dict("records"), fleet]:
        missing_rate = _rate(unit["expected"] - unit["received"], unit["expected"])
        duplicate_rate = _rate(unit["duplicates"], unit["rows_read"])
        rejection_rate = _rate(unit["rejected"], unit["rows_read"])
        freshness = unit["freshness_minutes"]
        freshness = None if freshness is None or pd.isna(freshness) else float(freshness)
        counts = {k: int(unit[k] or 0) for k in ("rows_read", "duplicates", "rejected", "expected", "received")}
        metrics = [
            ("completeness", 1 - missing_rate, 1 - gates.max_missing_rate, missing_rate <= gates.max_missing_rate,
             {"missing_rate": missing_rate, "expected": counts["expected"], "received": counts["received"],
              "cadence_minutes": settings.pipeline.cadence_minutes}),
            ("freshness", freshness, sla, freshness is not None and freshness <= sla,
             {"unit": "minutes", "sla_minutes": sla, "as_of": as_utc(as_of).isoformat()}),
            ("consistency", 1 - duplicate_rate, 1 - gates.max_duplicate_rate, duplicate_rate <= gates.max_duplicate_rate,
             {"duplicate_rate": duplicate_rate, "duplicates": counts["duplicates"], "rows_read": counts["rows_read"]}),
            ("accuracy", 1 - rejection_rate, 1 - gates.max_rejection_rate, rejection_rate <= gates.max_rejection_rate,
             {"rejection_rate": rejection_rate, "rejected": counts["rejected"], "rows_read": counts["rows_read"]}),
        ]
        for metric_type, value, threshold, passed, details in metrics:
            rows.append(
                {
                    "run_id": run_id,
                    "metric_timestamp": as_utc(as_of),
                    "compressor_id": unit["compressor_id"],
                    "metric_type": metric_type,
                    "metric_value": value,
                    "threshold_value": float(threshold),
                    "pass_threshold": bool(passed),
                    "details": json.dumps(details, sort_keys=True),
                }
            )
    return pd.DataFrame(rows, columns=DQ_METRICS_SCHEMA.fieldNames())


def check_quality_gates(fleet_metrics: pd.DataFrame, settings: Settings) -> tuple[GateResult, ...]:
    """The configured gates judged on the fleet rows of ``metric_rows`` (never raises)."""
    gates = settings.pipeline.gates
    by_type = {row["metric_type"]: row for row in fleet_metrics[fleet_metrics["compressor_id"].isna()].to_dict("records")}
    results = []
    specs = [
        ("gates.max_missing_rate", "completeness", "missing_rate", gates.max_missing_rate, "missing rate"),
        ("gates.max_duplicate_rate", "consistency", "duplicate_rate", gates.max_duplicate_rate, "duplicate rate"),
        ("gates.max_rejection_rate", "accuracy", "rejection_rate", gates.max_rejection_rate, "rejection rate"),
    ]
    for gate, metric_type, key, limit, label in specs:
        details = json.loads(by_type[metric_type]["details"])
        value = details[key]
        passed = value <= limit
        verdict = "within" if passed else "is above"
        results.append(
            GateResult(
                gate, metric_type, value, limit, passed,
                f"quality gate {gate} ({metric_type}): fleet {label} {value:.2%} {verdict} the limit {limit:.2%} "
                f"[{json.dumps({k: v for k, v in details.items() if k != key}, sort_keys=True)}]",
            )
        )
    freshness = by_type["freshness"]["metric_value"]
    sla = float(settings.pipeline.freshness_sla_minutes)
    fresh = freshness is not None and not pd.isna(freshness) and freshness <= sla
    shown = "no valid reading" if freshness is None or pd.isna(freshness) else f"{freshness:.1f} min"
    results.append(
        GateResult(
            "freshness_sla_minutes", "freshness", None if freshness is None or pd.isna(freshness) else float(freshness),
            sla, fresh,
            f"quality gate freshness_sla_minutes (freshness): newest reading is {shown} before as_of, "
            f"{'within' if fresh else 'beyond'} the SLA of {sla:.0f} min",
        )
    )
    return tuple(results)


def validate_quality_gates(report: SilverReport) -> None:
    """Raise QualityGateError naming every failed gate with its value and limit."""
    failed = [gate.message for gate in report.gates if not gate.passed]
    if failed:
        raise QualityGateError(f"{len(failed)} data-quality gate(s) failed for run {report.run_id}:\n- " + "\n- ".join(failed))


# --------------------------------------------------------------------------- the stage


def build_silver(
    spark: SparkSession, *, run_id: str, as_of: datetime, settings: Settings | None = None
) -> SilverReport:
    """Bronze -> silver (MERGE), quarantine (rewrite) and data-quality metrics (MERGE) for ``as_of``."""
    settings = settings or get_settings()
    as_of = as_utc(as_of)
    for table, hint in (("sensors_bronze", "run 02_bronze first"), ("compressor_metadata", "the landing folder needs compressor_metadata.csv")):
        if not lake.table_exists(spark, table, settings=settings):
            raise RuntimeError(f"Delta table {table} does not exist: {hint}")
    bronze = lake.read_table(spark, "sensors_bronze", settings=settings)
    known_ids = lake.read_table(spark, "compressor_metadata", settings=settings).select("compressor_id")
    downtime = lake.read_table_or_empty(spark, "maintenance_logs", MAINTENANCE_LOGS_SCHEMA, settings=settings).select(
        "compressor_id", "event_date", "downtime_hours"
    )

    classified = (
        bronze.transform(with_rule_reason, thresholds=settings.thresholds, as_of=as_of, known_ids=known_ids)
        .transform(with_duplicate_reason)
        .persist()
    )
    silver_rows = build_silver_rows(classified, mad_threshold=settings.pipeline.outlier_mad_threshold).persist()
    try:
        by_reason = classified.groupBy("compressor_id", "reason").agg(F.count(F.lit(1)).alias("rows")).toPandas()
        outliers_flagged = silver_rows.where("is_outlier").count()
        completeness = completeness_by_compressor(silver_rows, downtime, cadence_minutes=settings.pipeline.cadence_minutes)
        per_unit_silver = completeness.join(freshness_by_compressor(silver_rows, as_of=as_of), on="compressor_id", how="full").toPandas()
        per_compressor = _per_compressor_frame(by_reason, per_unit_silver)
        metrics = metric_rows(per_compressor, run_id=run_id, as_of=as_of, settings=settings)

        lake.merge_table(silver_rows, "sensors_silver", keys=["compressor_id", "timestamp"], partition_by=["date"], delete_missing=True, settings=settings)
        lake.write_table(build_quarantine_rows(classified), "sensors_quarantine", settings=settings)
        lake.merge_table(
            _metrics_frame(spark, metrics, as_of),
            "data_quality_metrics", keys=["run_id", "metric_type", "compressor_id"], settings=settings,
        )
    finally:
        silver_rows.unpersist()
        classified.unpersist()

    quarantine_counts = {code: int(by_reason.loc[by_reason["reason"] == code, "rows"].sum()) for code in REASON_CODES}
    rows_read = int(by_reason["rows"].sum())
    rows_valid = int(by_reason.loc[by_reason["reason"].isna(), "rows"].sum())
    fleet = metrics[metrics["compressor_id"].isna()]
    return SilverReport(
        run_id=run_id,
        as_of=as_of,
        rows_read=rows_read,
        rows_valid=rows_valid,
        quarantine_counts=quarantine_counts,
        outliers_flagged=int(outliers_flagged),
        fleet_metrics={row["metric_type"]: row["metric_value"] for row in fleet.to_dict("records")},
        compressor_metrics=per_compressor.merge(
            metrics[metrics["compressor_id"].notna()].pivot(index="compressor_id", columns="metric_type", values="metric_value").reset_index(),
            on="compressor_id", how="left",
        ),
        gates=check_quality_gates(metrics, settings),
        counts={
            "sensors_bronze_read": rows_read,
            "sensors_silver": rows_valid,
            "sensors_quarantine": rows_read - rows_valid,
            **{f"quarantine_{code}": n for code, n in quarantine_counts.items()},
            "outliers_flagged": int(outliers_flagged),
        },
    )


def _metrics_frame(spark: SparkSession, metrics: pd.DataFrame, as_of: datetime) -> DataFrame:
    records = metrics.astype(object).where(metrics.notna(), None).to_dict("records")
    rows = [tuple(as_of if name == "metric_timestamp" else record[name] for name in DQ_METRICS_SCHEMA.fieldNames()) for record in records]
    return spark.createDataFrame(rows, DQ_METRICS_SCHEMA)


def _per_compressor_frame(by_reason: pd.DataFrame, per_unit_silver: pd.DataFrame) -> pd.DataFrame:
    """One row per compressor id seen in bronze (None for rows without an id), counts and silver stats."""
    reason, rows = by_reason["reason"], by_reason["rows"].astype("int64")
    is_duplicate = reason.eq("duplicate")
    is_rejected = reason.notna() & ~is_duplicate & ~reason.eq("restated")
    grouped = (
        pd.DataFrame(
            {
                "compressor_id": by_reason["compressor_id"],
                "rows_read": rows,
                "duplicates": rows.where(is_duplicate, 0),
                "rejected": rows.where(is_rejected, 0),
            }
        )
        .groupby("compressor_id", as_index=False, sort=True, dropna=False)
        .sum()
    )
    grouped["compressor_id"] = grouped["compressor_id"].astype(object).where(grouped["compressor_id"].notna(), None)
    merged = grouped.merge(per_unit_silver, on="compressor_id", how="left")
    merged[["expected", "received"]] = merged[["expected", "received"]].fillna(0).astype("int64")
    return merged[["compressor_id", "rows_read", "duplicates", "rejected", "expected", "received", "freshness_minutes"]]
