"""The one place that builds a Spark session: Delta on, UTC, quiet logs, small-data defaults."""

from __future__ import annotations

import os
import sys
from importlib.metadata import version
from pathlib import Path

from pyspark.sql import SparkSession

from altaviz.config import CONFIG_DIR, Settings, get_settings
from altaviz.io.logs import stderr_to, tail

LOG4J_CONFIG = CONFIG_DIR / "log4j2.properties"


def _prepare_environment() -> None:
    # Spark binds to the machine's hostname unless told otherwise, which fails on hosts whose
    # name does not resolve; workers must run this interpreter, not whatever `python` is on PATH.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


def _jar_manifest(ivy_dir: Path) -> Path:
    return ivy_dir / f"delta-spark-{version('delta-spark')}_pyspark-{version('pyspark')}.jars"


def _cached_delta_jars(ivy_dir: Path) -> list[str] | None:
    """The Delta jars an earlier session resolved, if they are all still on disk."""
    manifest = _jar_manifest(ivy_dir)
    if not manifest.is_file():
        return None
    jars = manifest.read_text().split()
    return jars if jars and all(Path(jar.removeprefix("file:")).is_file() for jar in jars) else None


def driver_log_path(settings: Settings) -> Path:
    """The JVM's own stderr: its log4j errors and what native libraries print as they load."""
    return settings.pipeline.data_dir / "logs" / "spark-driver.log"


def _start(builder: SparkSession.Builder, log_path: Path) -> SparkSession:
    """Start (or join) the session; a JVM started here writes its stderr to ``log_path``.

    Inside a notebook the kernel forwards whatever its child processes print into the cell that happens
    to be running, so a JVM line written mid-fit would land in (and change) an unrelated cell's output.
    """
    try:
        with stderr_to(log_path):
            return builder.getOrCreate()
    except Exception as err:
        raise RuntimeError(f"Spark did not start: {err}\nlast lines of {log_path}:\n{tail(log_path)}") from err


def get_spark(settings: Settings | None = None) -> SparkSession:
    """Return the process's Spark session, creating it on first call.

    The first session resolves the Delta jars from Maven Central through Ivy and records where they
    landed; later sessions put those files straight on the classpath, with no resolver and no network.
    """
    from delta import configure_spark_with_delta_pip

    settings = settings or get_settings()
    conf = settings.spark
    _prepare_environment()
    conf.ivy_dir.mkdir(parents=True, exist_ok=True)
    java_options = f"-Duser.timezone=UTC -Dlog4j2.configurationFile={LOG4J_CONFIG.as_uri()}"
    builder = (
        SparkSession.builder.master(conf.master)
        .appName(conf.app_name)
        .config("spark.driver.memory", conf.driver_memory)
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", java_options)
        .config("spark.executor.extraJavaOptions", java_options)
        .config("spark.sql.shuffle.partitions", str(conf.shuffle_partitions))
        .config("spark.default.parallelism", str(max(2, conf.shuffle_partitions)))
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # The status store keeps every job, stage and SQL execution of the session for a UI nobody opens;
        # model training runs thousands of small jobs, so keep only the last few (memory stays flat).
        .config("spark.ui.retainedJobs", "50")
        .config("spark.ui.retainedStages", "50")
        .config("spark.ui.retainedTasks", "1000")
        .config("spark.sql.ui.retainedExecutions", "20")
        .config("spark.jars.ivy", str(conf.ivy_dir))
        # Few snapshot partitions: reading a small Delta log with the default 50 costs more than it saves.
        .config("spark.databricks.delta.snapshotPartitions", "2")
        # File statistics stay on: date and time filters skip files with them.
        .config("spark.databricks.delta.stats.collect", "true")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
    )
    log_path = driver_log_path(settings)
    cached_jars = _cached_delta_jars(conf.ivy_dir)
    if cached_jars:
        spark = _start(builder.config("spark.jars", ",".join(cached_jars)), log_path)
    else:
        print(f"Resolving the Delta Lake jars from Maven Central (first session only; log: {log_path})")
        spark = _start(configure_spark_with_delta_pip(builder), log_path)
        resolved = spark.sparkContext.getConf().get("spark.jars", "")
        if resolved:
            _jar_manifest(conf.ivy_dir).write_text("\n".join(resolved.split(",")) + "\n")
    spark.sparkContext.setLogLevel(conf.log_level)
    return spark
