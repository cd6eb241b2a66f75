"""Time-window features in Python per compressor against their Spark formulation: gold's (what 04_gold
runs) or, with ``--features model``, the failure model's (what 05_publish builds before it scores); with
``--features scoring``, the model features of the last day's hours (what a daily run's publish scores with a
saved model) from only the readings they need (``scoring_readings``) against from the whole table.

    .venv/bin/python bench/bench_gold.py [--features gold|model|scoring] [--compressors 200] [--days 30] [--runs 3]

Writes a silver-shaped Delta table (every silver column; readings every 10 minutes with 2 % of them
missing, 1 % of values null) to a scratch lake, then, ``--runs`` times per method and interleaved,
reads it and computes every feature column (``build_gold_features``, or ``build_model_features`` with an
empty maintenance log), forcing each row through Spark's ``noop`` sink. The baseline, measured in the same
run, is ``reference=True``: for gold one Spark range window per statistic over compressor and time, the
straightforward formulation; for the model range windows for the slopes and exact medians for the
baselines. One Spark session, warmed up with a small run of each method first. The report goes to
``bench/results_<features>.md`` unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

START_EPOCH = 1_767_225_600  # 2026-01-01 00:00 UTC
CADENCE_SECONDS = 600

METHODS = {  # features -> {method: reference=...}
    "gold": {"Spark range window per statistic (baseline)": True,
             "Arrow per compressor, pandas windows on row bounds (04_gold)": False},
    "model": {"Spark range windows and exact medians (baseline)": True,
              "Arrow per compressor, pandas windows and medians (05_publish)": False},
    "scoring": {"from every reading of the table (baseline)": False,  # -> {method: only the readings needed}
                "from the readings they need (scoring_readings, 05_publish)": True},
}
TITLES = {"gold": "Gold features: Arrow per compressor vs Spark range windows",
          "model": "Model features: Arrow per compressor vs Spark range windows and medians",
          "scoring": "Model features of the last day's hours: from the readings they need vs from every reading"}


def write_silver(spark, path: str, compressors: int, days: int, registry) -> int:
    """A silver-shaped Delta table of ``compressors`` × ``days`` with gaps and null values."""
    from pyspark.sql import functions as F

    from altaviz.schemas import SILVER_SCHEMA

    per_unit = days * 24 * 3600 // CADENCE_SECONDS
    ids = F.col("id")
    values = {
        sensor.name: F.when(F.rand(seed) >= 0.01, F.lit(100.0) + F.randn(seed + 100) * 10)
        for seed, sensor in enumerate(registry.sensors.values())
    }
    frame = (
        spark.range(compressors * per_unit)
        .where(F.rand(99) >= 0.02)
        .select(
            F.format_string("COMP-%04d", (ids / per_unit).cast("int") + 1).alias("compressor_id"),
            F.timestamp_seconds(F.lit(START_EPOCH) + (ids % per_unit) * CADENCE_SECONDS).alias("timestamp"),
            *[column.alias(name) for name, column in values.items()],
            F.lit(False).alias("is_outlier"),
            F.array().cast("array<string>").alias("outlier_sensors"),
            F.lit("sensor_readings/part-00000.parquet").alias("source_file"),
            F.current_timestamp().alias("ingested_at"),
            F.lit("bench").alias("run_id"),
        )
        .withColumn("date", F.to_date("timestamp"))
        .select(*SILVER_SCHEMA.fieldNames())
    )
    frame.write.format("delta").mode("overwrite").partitionBy("date").save(path)
    return spark.read.format("delta").load(path).count()


def time_features(spark, path: str, registry, features: str, reference: bool, days: int) -> float:
    from pyspark.sql import functions as F

    from altaviz.gold.transforms import build_gold_features
    from altaviz.model.features import build_model_features, scoring_readings
    from altaviz.schemas import MAINTENANCE_LOGS_SCHEMA

    began = time.perf_counter()
    silver = spark.read.format("delta").load(path)
    no_events = spark.createDataFrame([], MAINTENANCE_LOGS_SCHEMA)
    if features == "gold":
        built = build_gold_features(silver, registry=registry, reference=reference)
    elif features == "model":
        built = build_model_features(silver, no_events, registry=registry, cadence_minutes=CADENCE_SECONDS // 60,
                                     reference=reference)
    else:  # "reference" here: only the readings the last day's hours need
        after = datetime.fromtimestamp(START_EPOCH + (days - 1) * 86400, timezone.utc)
        readings = scoring_readings(silver, no_events, after=after) if reference else silver
        built = build_model_features(readings, no_events, registry=registry,
                                     cadence_minutes=CADENCE_SECONDS // 60).where(F.col("prediction_timestamp") > after)
    built.write.format("noop").mode("overwrite").save()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compressors", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--features", choices=sorted(METHODS), default="gold")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    out = args.out or ROOT / "bench" / f"results_{args.features}.md"
    methods = METHODS[args.features]

    with tempfile.TemporaryDirectory(prefix="altaviz-bench-gold-") as scratch:
        os.environ.setdefault("ALTAVIZ_DATA_DIR", scratch)  # the Spark driver log and Ivy cache settle here
        from altaviz.config import get_settings
        from altaviz.io.spark import get_spark

        settings = get_settings()
        spark = get_spark(settings)
        registry = settings.registry
        warm_up = f"{scratch}/warm-up"
        write_silver(spark, warm_up, 5, 2, registry)
        for reference in methods.values():
            time_features(spark, warm_up, registry, args.features, reference, 2)
        path = f"{scratch}/sensors_silver"
        rows = write_silver(spark, path, args.compressors, args.days, registry)
        results: dict[str, list[float]] = {name: [] for name in methods}
        for run in range(args.runs):
            for name, reference in methods.items():  # interleaved: drift hits both alike
                results[name].append(time_features(spark, path, registry, args.features, reference, args.days))
            print(f"run {run + 1}/{args.runs}: " + ", ".join(f"{v[-1]:.1f} s" for v in results.values()),
                  file=sys.stderr, flush=True)
        spark_version = spark.version
        spark.stop()

    baseline = statistics.median(next(iter(results.values())))
    computed = (f"{len(registry.rolling_columns())} rolling columns plus the rate of change, statuses and calendar"
                if args.features == "gold" else
                "every model feature per compressor-hour (no maintenance events: one segment per unit)"
                + (", kept for the last day's hours" if args.features == "scoring" else ""))
    lines = [
        f"# {TITLES[args.features]}",
        "",
        f"{rows:,} silver readings ({args.compressors:,} compressors × {args.days} days, 10-minute cadence, "
        f"gaps and nulls), {computed}; {args.runs} runs per method (interleaved), median "
        f"shown; Spark {spark_version} local, {os.cpu_count()} cores. Generated by `bench/bench_gold.py"
        f" --features {args.features} --compressors {args.compressors} --days {args.days} --runs {args.runs}`; "
        "rerun it to refresh.",
        "",
        "| method | median s | rows/s | speed-up vs baseline |",
        "|---|---:|---:|---:|",
    ]
    for name, seconds in results.items():
        median = statistics.median(seconds)
        lines.append(f"| {name} | {median:.1f} | {rows / median:,.0f} | {baseline / median:.1f}× |")
    lines += ["", "All runs (seconds):", "",
              *[f"- {name}: {', '.join(f'{s:.1f}' for s in seconds)}" for name, seconds in results.items()], ""]
    report = "\n".join(lines)
    print(report)
    out.write_text(report)


if __name__ == "__main__":
    main()
