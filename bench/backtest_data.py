"""Backtest data: simulate one seed into a scratch root and run bronze -> silver -> gold in one Spark session.

Not a benchmark script (no ``bench_`` prefix, so ``python -m bench`` does not run it); ``bench.backtest``
calls ``prepare_seed`` once per seed. A seed's lake is reused when its ``done.json`` marker exists and the
parameters match, so a rerun of the backtest only redoes the modelling.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from altaviz.bronze.stage import ingest_landing
from altaviz.config import Settings, load_settings
from altaviz.gold.stage import build_gold
from altaviz.io import lake
from altaviz.schemas import MAINTENANCE_LOGS_SCHEMA
from altaviz.silver.stage import build_silver
from altaviz.simulate import SimulationParams, simulate_fleet

START_DATE = "2026-01-01"


def seed_settings(root: Path) -> Settings:
    """The project settings with data and lake under ``root``."""
    settings = load_settings()
    pipeline = dataclasses.replace(settings.pipeline, data_dir=root, lake_root=str(root / "lake"))
    return dataclasses.replace(settings, pipeline=pipeline)


def prepare_seed(spark: SparkSession, *, seed: int, compressors: int, days: int, scratch: Path) -> dict:
    """Simulate and build gold for one seed under ``scratch/seed-<seed>``; returns timings and paths."""
    root = scratch / f"seed-{seed}"
    wanted = {"seed": seed, "compressors": compressors, "days": days}
    marker = root / "done.json"
    if marker.is_file() and {k: json.loads(marker.read_text()).get(k) for k in wanted} == wanted:
        return json.loads(marker.read_text())
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    settings = seed_settings(root)
    end = (date.fromisoformat(START_DATE) + timedelta(days=days)).isoformat()
    params = SimulationParams(compressor_count=compressors, start_date=START_DATE, end_date=end, seed=seed)
    seconds = {}
    began = time.perf_counter()
    summary = simulate_fleet(params, root / "landing")
    seconds["simulate"] = time.perf_counter() - began
    # Fixed run times: the backtest never reads the clock for anything that shapes the data.
    as_of = datetime.fromisoformat(end).replace(tzinfo=timezone.utc)
    began = time.perf_counter()
    ingest_landing(spark, root / "landing", run_id=f"backtest-{seed}", settings=settings, ingested_at=as_of)
    seconds["bronze"] = time.perf_counter() - began
    began = time.perf_counter()
    build_silver(spark, run_id=f"backtest-{seed}", as_of=as_of, settings=settings)
    seconds["silver"] = time.perf_counter() - began
    began = time.perf_counter()
    build_gold(spark, settings=settings)
    seconds["gold"] = time.perf_counter() - began
    done = {**wanted, "end_date": end, "failures": summary.failures, "readings": summary.readings_written,
            "degrading_at_end": summary.degrading_at_end, "seconds": seconds}
    marker.write_text(json.dumps(done, indent=2))
    return done


def read_gold(spark: SparkSession, root: Path) -> DataFrame:
    return lake.read_table(spark, "sensors_gold", settings=seed_settings(root))


def read_maintenance(spark: SparkSession, root: Path) -> DataFrame:
    return lake.read_table_or_empty(spark, "maintenance_logs", MAINTENANCE_LOGS_SCHEMA, settings=seed_settings(root))
