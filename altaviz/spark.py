"""The one place that builds a Spark session: Delta on, UTC, quiet logs, small-data defaults."""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

from altaviz.config import Settings, get_settings


def _prepare_environment() -> None:
    # Spark binds to the machine's hostname unless told otherwise, which fails on hosts whose
    # name does not resolve; workers must run this interpreter, not whatever `python` is on PATH.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


def get_spark(settings: Settings | None = None) -> SparkSession:
    """Return the process's Spark session, creating it on first call."""
    from delta import configure_spark_with_delta_pip

    settings = settings or get_settings()
    conf = settings.spark
    _prepare_environment()
    conf.ivy_dir.mkdir(parents=True, exist_ok=True)
    builder = (
        SparkSession.builder.master(conf.master)
        .appName(conf.app_name)
        .config("spark.driver.memory", conf.driver_memory)
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.sql.shuffle.partitions", str(conf.shuffle_partitions))
        .config("spark.default.parallelism", str(max(2, conf.shuffle_partitions)))
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.jars.ivy", str(conf.ivy_dir))
        # Delta housekeeping that only matters on big tables slows every small write.
        .config("spark.databricks.delta.snapshotPartitions", "2")
        .config("spark.databricks.delta.stats.collect", "true")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
    )
    spark = configure_spark_with_delta_pip(builder).getOrCreate()
    spark.sparkContext.setLogLevel(conf.log_level)
    return spark
