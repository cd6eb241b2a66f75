"""04 gold stage: features from silver into Delta ``sensors_gold``, partitioned by ``date``.

Incremental: ``build_gold(start=, end=)`` reads silver for [start − 24 h, end) (pruned on silver's date
partitions), computes features (``altaviz.gold.transforms``), keeps [start, end) and writes it with one
Delta ``replaceWhere`` on those dates and timestamps, so the rows at the boundary equal a full
recompute. Without start/end the whole table is rewritten from all of silver. Time travel: see
``altaviz.io.lake``. Units with limits of their own (``limits:`` in ``config/sensors.yaml``) are graded
against them; per-model limits find each unit's model in ``compressor_metadata``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Mapping

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from altaviz.config import Settings, get_settings
from altaviz.gold.transforms import LOOKBACK, build_gold_features
from altaviz.io import lake
from altaviz.runs import as_utc


@dataclass(frozen=True)
class GoldReport:
    start: datetime | None
    end: datetime | None
    rows_written: int
    rows_by_date: Mapping[str, int] = field(default_factory=dict)  # 'YYYY-MM-DD' -> rows
    counts: Mapping[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: rows written, over which days, and the table's size."""
        days = sorted(self.rows_by_date)
        span = f"{len(days)} day(s), {days[0]} to {days[-1]}" if days else "no days"
        return f"sensors_gold: {self.rows_written:,} rows written over {span}; {self.counts.get('sensors_gold', 0):,} rows in the table"


def validate_gold_run(report: GoldReport) -> None:
    """Raise when this run wrote no gold row: silver holds nothing in the requested range."""
    if report.rows_written == 0:
        where = "silver" if report.start is None else f"[{report.start.isoformat()}, {report.end.isoformat()})"
        raise RuntimeError(f"gold wrote no rows: no silver readings in {where}")


def unit_models(spark: SparkSession, *, settings: Settings) -> dict[str, str | None]:
    """compressor_id -> equipment model from ``compressor_metadata``; read only when some limits are per model."""
    if not settings.registry.limits.models:
        return {}
    rows = lake.read_table(spark, "compressor_metadata", settings=settings).select("compressor_id", "model").collect()
    return {row["compressor_id"]: row["model"] for row in rows}


def _sql_timestamp(moment: datetime) -> str:
    return f"TIMESTAMP '{as_utc(moment):%Y-%m-%d %H:%M:%S.%f}'"


def build_gold(
    spark: SparkSession,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    settings: Settings | None = None,
) -> GoldReport:
    """Compute features for [start, end) from silver and write them to ``sensors_gold``. Without start or end
    the range runs from silver's first reading or to its last (a backfill); without both, everything."""
    settings = settings or get_settings()
    if not lake.table_exists(spark, "sensors_silver", settings=settings):
        raise RuntimeError("Delta table sensors_silver does not exist: run 03_silver first")
    if (start is None) != (end is None):
        first, last = lake.read_table(spark, "sensors_silver", settings=settings).agg(
            F.min("timestamp"), F.max("timestamp")).first()
        start = start if start is not None else first
        end = end if end is not None else last + timedelta(microseconds=1)
    replace_where = None
    if start is None:
        silver = lake.read_table(spark, "sensors_silver", settings=settings)
        in_range = F.lit(True)
    else:
        start, end = as_utc(start), as_utc(end)
        if end <= start:
            raise ValueError(f"end {end.isoformat()} is not after start {start.isoformat()}")
        read_from = start - LOOKBACK
        first_day, last_day = read_from.date(), (end - timedelta(microseconds=1)).date()
        in_dates = (F.col("date") >= F.lit(first_day)) & (F.col("date") <= F.lit(last_day))  # partition pruning
        silver = lake.read_table(spark, "sensors_silver", settings=settings, where=in_dates).where(
            (F.col("timestamp") >= F.lit(read_from)) & (F.col("timestamp") < F.lit(end))
        )
        in_range = (F.col("timestamp") >= F.lit(start)) & (F.col("timestamp") < F.lit(end))
        replace_where = (
            f"date >= DATE '{start.date()}' AND date <= DATE '{last_day}' "
            f"AND timestamp >= {_sql_timestamp(start)} AND timestamp < {_sql_timestamp(end)}"
        )

    unit_limits = settings.registry.unit_limits(unit_models(spark, settings=settings))
    gold_features = build_gold_features(silver, registry=settings.registry, unit_limits=unit_limits)
    gold_rows = gold_features.where(in_range).persist()
    try:
        rows_by_date = {
            str(row["date"]): int(row["rows"])
            for row in gold_rows.groupBy("date").agg(F.count(F.lit(1)).alias("rows")).collect()
        }
        lake.write_table(gold_rows, "sensors_gold", settings=settings, partition_by=["date"], replace_where=replace_where)
    finally:
        gold_rows.unpersist()
    rows_written = sum(rows_by_date.values())
    total = lake.read_table(spark, "sensors_gold", settings=settings).count()
    return GoldReport(
        start=start,
        end=end,
        rows_written=rows_written,
        rows_by_date=rows_by_date,
        counts={"sensors_gold": total, "sensors_gold_written": rows_written},
    )
