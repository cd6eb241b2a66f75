"""The one place that builds a Spark session: Delta on, UTC, quiet logs, small-data defaults.

``get_spark`` attaches to a Spark Connect endpoint when there is one: ``spark.remote`` (a cluster's
``sc://host:port``, by configuration alone) or the local server a run shares (``altaviz spark start``,
``altaviz.io.spark_server``). Otherwise it starts Spark inside this process, as a notebook opened on its
own in JupyterLab does.
"""

from __future__ import annotations

import os
import socket
import sys
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlsplit

from pyspark.sql import SparkSession

from altaviz.config import CONFIG_DIR, Settings, get_settings
from altaviz.io.logs import stderr_to, tail

LOG4J_CONFIG = CONFIG_DIR / "log4j2.properties"


def prepare_environment() -> None:
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


def session_conf(settings: Settings) -> dict[str, str]:
    """Every Spark setting of an Altaviz session, in-process or on the shared server."""
    conf = settings.spark
    java_options = f"-Duser.timezone=UTC -Dlog4j2.configurationFile={LOG4J_CONFIG.as_uri()}"
    return {
        "spark.app.name": conf.app_name,
        "spark.driver.memory": conf.driver_memory,
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.extraJavaOptions": java_options,
        "spark.executor.extraJavaOptions": java_options,
        "spark.sql.shuffle.partitions": str(conf.shuffle_partitions),
        "spark.default.parallelism": str(max(2, conf.shuffle_partitions)),
        "spark.sql.adaptive.enabled": "true",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        # The status store keeps every job, stage and SQL execution of the session for a UI nobody opens;
        # model training runs thousands of small jobs, so keep only the last few (memory stays flat).
        "spark.ui.retainedJobs": "50",
        "spark.ui.retainedStages": "50",
        "spark.ui.retainedTasks": "1000",
        "spark.sql.ui.retainedExecutions": "20",
        "spark.jars.ivy": str(conf.ivy_dir),
        # Few snapshot partitions: reading a small Delta log with the default 50 costs more than it saves.
        "spark.databricks.delta.snapshotPartitions": "2",
        # File statistics stay on: date and time filters skip files with them.
        "spark.databricks.delta.stats.collect": "true",
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
    }


def connect_endpoint(settings: Settings) -> str | None:
    """The Spark Connect endpoint to attach to: the configured one, else a running local server."""
    from altaviz.io import spark_server

    return settings.spark.remote or spark_server.running_url(settings)


def get_spark(settings: Settings | None = None) -> SparkSession:
    """Return the process's Spark session: attached to a Spark Connect endpoint when there is one
    (``connect_endpoint``), else started in this process on first call."""
    settings = settings or get_settings()
    endpoint = connect_endpoint(settings)
    if endpoint:
        _check_reachable(endpoint)
        return SparkSession.builder.remote(endpoint).getOrCreate()
    return _get_local_spark(settings)


def _check_reachable(endpoint: str) -> None:
    """Fail now, naming the endpoint, rather than at the first query (the client retries for minutes)."""
    address = urlsplit(endpoint.replace("sc://", "http://", 1))
    try:
        socket.create_connection((address.hostname, address.port or 15002), timeout=5).close()
    except OSError as err:
        raise RuntimeError(f"Spark Connect at {endpoint} does not answer ({err}): start it (altaviz spark start) "
                           "or correct spark.remote / ALTAVIZ_SPARK_REMOTE") from None


def check_master(master: str) -> None:
    """Fail now, naming it, when a standalone master (``spark://host:port``, several for high availability)
    does not answer: Spark would retry for a minute, then stop with a stack trace. Other masters (local,
    yarn, k8s://) are left to Spark."""
    if not master.startswith("spark://"):
        return
    errors = []
    for address in master.removeprefix("spark://").split(","):
        host, _, port = address.rpartition(":") if ":" in address else (address, "", "7077")
        try:
            socket.create_connection((host, int(port)), timeout=5).close()
            return
        except (OSError, ValueError) as err:
            errors.append(f"{address}: {err}")
    raise RuntimeError(f"the Spark master {master} does not answer ({'; '.join(errors)}): start it, or correct "
                       "spark.master / ALTAVIZ_SPARK_MASTER")


def delta_jars(settings: Settings) -> list[str]:
    """The Delta Lake jars on disk, resolved from Maven Central by a short in-process session if needed."""
    jars = _cached_delta_jars(settings.spark.ivy_dir)
    if jars is None:
        _get_local_spark(settings).stop()
        jars = _cached_delta_jars(settings.spark.ivy_dir) or []
    return jars


def _get_local_spark(settings: Settings) -> SparkSession:
    """Start (or return) Spark in this process.

    The first session resolves the Delta jars from Maven Central through Ivy and records where they
    landed; later sessions put those files straight on the classpath, with no resolver and no network.
    """
    from delta import configure_spark_with_delta_pip

    conf = settings.spark
    check_master(conf.master)
    prepare_environment()
    # Set by a Connect session's builder and inherited by child processes; it would make this builder
    # start a Connect session too.
    os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)
    conf.ivy_dir.mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder.master(conf.master)
    for key, value in session_conf(settings).items():
        builder = builder.config(key, value)
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
