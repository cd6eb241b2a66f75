"""03 silver: validate, deduplicate, quarantine, flag outliers, measure data quality, gate the run.

Grain of silver: one row per compressor per ``cadence_minutes`` slot, stamped with the slot's start,
from the readings that passed every rule. A reading on the grid is its own slot: its values are the
bronze values unchanged. Faster readings (a 1 s historian export) are judged, deduplicated and flagged
one by one, then the valid ones are aggregated to their slot (``transforms.aggregate_to_cadence``: the
mean, the max for vibration), so gold and everything after see one row per unit per slot; slower or
irregular readings fill only the slots they fall in. Columns: ``schemas.SILVER_SCHEMA``.

Rules (``schemas.REASON_CODES``, judged in this order; a row gets the first one it breaks):
``malformed_row`` (a CSV row with more or fewer fields than its header: its values sit in the wrong
columns; the detail quotes the row), ``missing_id``, ``missing_timestamp`` (absent or unparsable),
``non_numeric`` (a sensor cell that is text), ``non_finite`` (NaN or ±inf), ``physically_impossible`` (outside ``physical`` in
``config/sensors.yaml``), ``future_timestamp`` (after the run's ``as_of``), ``unknown_compressor`` (not in
``compressor_metadata``), ``before_installation`` (before the unit's ``install_date``), ``duplicate`` (the
same file repeats a compressor and timestamp), ``restated`` (a later-delivered file holds the same key: the
newer value wins, the data is not at fault).
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
(run_id, metric_type, compressor_id). Gates come before writes: a run that fails a gate other than
freshness writes its metrics only, so nothing un-gated reaches silver, quarantine or what reads them. Time travel: see ``altaviz.io.lake``.

Data-quality metrics (fleet rows have compressor_id null; details is JSON). The three rates judge the
deliveries ingested since the last run whose rate gates all passed (``quality.JudgedSpan``, in details
as judged_after/judged_through): a bad new delivery is not diluted by a long good history, a failed run's
deliveries are judged again by the next run, and a run with nothing new has nothing to judge (passes).

- completeness = received / expected slots, a measure of time, not rows (600 readings in one slot are one
  slot received; 30-minute data fills one slot in three). Expected: the ``cadence_minutes`` grid slots between
  a unit's first and last judged valid reading, minus slots inside downtime logged in ``maintenance_logs``
  (an offline unit is not expected to report); gaps inside count as missing, and a slot filled by any
  delivery counts as received. Gate: missing rate.
- freshness = minutes from the newest valid raw reading (not its slot's start) to ``as_of``. A unit in
  logged downtime at ``as_of`` is excused; every other unit must be within ``freshness_sla_minutes``, and
  the fleet row holds the stalest of them, so one silent unit fails the gate however many others report.
  The run goes on (the others' data is good): the failed gate names the unit and 05_publish raises a
  stale alert for it.
- consistency = 1 − duplicate rate (duplicate rows / judged bronze rows: raw rows, before aggregation).
  Gate: ``max_duplicate_rate``.
- accuracy = 1 − rejection rate (rows quarantined by a validity rule, i.e. not counting duplicates
  or restatements, / judged bronze rows). Gate: ``max_rejection_rate``.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from altaviz.config import Settings, get_settings
from altaviz.io import lake
from altaviz.runs import as_utc
from altaviz.schemas import DQ_METRICS_SCHEMA, MAINTENANCE_LOGS_SCHEMA, REASON_CODES
from altaviz.silver.quality import (
    JudgedSpan,
    SilverReport,
    _per_compressor_frame,
    blocking_failures,
    check_quality_gates,
    judged_through,
    metric_rows,
)
from altaviz.silver.transforms import (
    build_quarantine_rows,
    build_silver_rows,
    completeness_by_compressor,
    freshness_by_compressor,
    outlier_counts,
    outlier_flags,
    with_duplicate_reason,
    with_rule_reason,
)


def build_silver(
    spark: SparkSession, *, run_id: str, as_of: datetime | None = None, settings: Settings | None = None
) -> SilverReport:
    """Bronze -> silver (MERGE), quarantine (rewrite) and data-quality metrics (MERGE) for ``as_of``; None: as of
    the newest reading (``backfill_as_of``)."""
    settings = settings or get_settings()
    for table, hint in (("sensors_bronze", "run 02_bronze first"), ("compressor_metadata", "the landing folder needs compressor_metadata.csv")):
        if not lake.table_exists(spark, table, settings=settings):
            raise RuntimeError(f"Delta table {table} does not exist: {hint}")
    bronze = lake.read_table(spark, "sensors_bronze", settings=settings)
    as_of = as_utc(as_of) if as_of is not None else backfill_as_of(bronze, now=datetime.now(timezone.utc))
    compressors = lake.read_table(spark, "compressor_metadata", settings=settings).select(
        "compressor_id", "install_date"
    )
    downtime = lake.read_table_or_empty(spark, "maintenance_logs", MAINTENANCE_LOGS_SCHEMA, settings=settings).select(
        "compressor_id", "event_date", "downtime_hours"
    )

    classified = (
        bronze.transform(with_rule_reason, registry=settings.registry, as_of=as_of, compressors=compressors)
        .transform(with_duplicate_reason)
        .persist()
    )
    silver_rows = build_silver_rows(
        classified, mad_threshold=settings.pipeline.outlier_mad_threshold,
        cadence_minutes=settings.pipeline.cadence_minutes,
    ).persist()
    judged_after = judged_through(
        lake.read_table_or_empty(spark, "data_quality_metrics", DQ_METRICS_SCHEMA, settings=settings)
        .where(F.col("compressor_id").isNull()).toPandas(),
        run_id=run_id,
    )
    is_judged = F.lit(True) if judged_after is None else F.col("ingested_at") > F.lit(judged_after)
    try:
        by_reason = (
            classified.groupBy("compressor_id", "reason", is_judged.alias("judged"))
            .agg(F.count(F.lit(1)).alias("rows"), F.max("ingested_at").alias("ingested_through"))
            .toPandas()
        )
        newest_judged = by_reason.loc[by_reason["judged"], "ingested_through"].max()
        judged = JudgedSpan(judged_after, judged_after if pd.isna(newest_judged) else newest_judged.to_pydatetime())
        unit_counts = outlier_counts(silver_rows)
        outliers_flagged = unit_counts["outliers"].sum()
        silver_count = unit_counts["rows"].sum()  # slots: fewer than the valid readings when these come faster
        completeness = completeness_by_compressor(
            silver_rows, downtime, cadence_minutes=settings.pipeline.cadence_minutes,
            judged=None if judged_after is None else is_judged,
        )
        valid_readings = classified.where(F.col("reason").isNull())  # freshness: the newest reading, not its slot
        per_unit_silver = completeness.join(freshness_by_compressor(valid_readings, downtime, as_of=as_of),
                                            on="compressor_id", how="full").toPandas()
        per_compressor = _per_compressor_frame(by_reason, per_unit_silver)
        metrics = metric_rows(per_compressor, run_id=run_id, as_of=as_of, settings=settings, judged=judged)
        gates = check_quality_gates(metrics, settings)

        # Gates before writes: a run that fails a blocking gate records its metrics (the dashboard shows the
        # failure, and the next run judges the same deliveries) but leaves silver and quarantine as they were.
        silver_written = not blocking_failures(gates)
        if silver_written:
            lake.merge_table(silver_rows, "sensors_silver", keys=["compressor_id", "timestamp"], partition_by=["date"],
                             delete_missing=True, settings=settings)
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
        outlier_flags=outlier_flags(unit_counts),
        metrics=metrics,
        fleet_metrics={row["metric_type"]: row["metric_value"] for row in fleet.to_dict("records")},
        compressor_metrics=per_compressor.merge(
            metrics[metrics["compressor_id"].notna()].pivot(index="compressor_id", columns="metric_type", values="metric_value").reset_index(),
            on="compressor_id", how="left",
        ),
        gates=gates,
        silver_written=silver_written,
        counts={
            "sensors_bronze_read": rows_read,
            "sensors_silver": int(silver_count),
            "sensors_quarantine": rows_read - rows_valid,
            **{f"quarantine_{code}": n for code, n in quarantine_counts.items()},
            "outliers_flagged": int(outliers_flagged),
        },
    )


def backfill_as_of(bronze: DataFrame, *, now: datetime) -> datetime:
    """The newest reading not after ``now`` (the wall clock): the "now" of a run over history, so freshness is
    measured from the end of the data, not from today or from a configured day. A reading after ``now`` is still
    quarantined as from the future."""
    newest = bronze.where(F.col("timestamp") <= F.lit(now)).agg(F.max("timestamp")).first()[0]
    return as_utc(newest) if newest is not None else now


def _metrics_frame(spark: SparkSession, metrics: pd.DataFrame, as_of: datetime) -> DataFrame:
    records = metrics.astype(object).where(metrics.notna(), None).to_dict("records")
    rows = [tuple(as_of if name == "metric_timestamp" else record[name] for name in DQ_METRICS_SCHEMA.fieldNames()) for record in records]
    return spark.createDataFrame(rows, DQ_METRICS_SCHEMA)
