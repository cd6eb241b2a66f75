"""Where Spark runs: the shared Spark Connect server the tests (and a run's notebooks) attach to, and an
in-process JVM, which keeps its stderr in the driver log so nothing it prints lands in a notebook cell."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid

import pandas as pd
import pytest

from altaviz.config import PROJECT_ROOT, get_settings, load_settings
from altaviz.io import spark_server
from altaviz.io.logs import stderr_to
from altaviz.io.spark import check_master, get_spark


def test_a_child_started_inside_stderr_to_keeps_writing_to_the_log(tmp_path):
    log = tmp_path / "logs" / "child.log"
    before = os.fstat(2)
    with stderr_to(log):
        child = subprocess.Popen(
            [sys.executable, "-c", "import sys, time; time.sleep(0.5); print('late line', file=sys.stderr)"]
        )
    after = os.fstat(2)
    child.wait()
    assert log.read_text() == "late line\n"  # written after the block ended, still in the log
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)  # this process got its stderr back


def test_an_in_process_jvm_writes_its_stderr_to_the_driver_log(tmp_path):
    # A data root with no shared server: the session starts in the process, as in JupyterLab.
    marker = f"altaviz-marker-{uuid.uuid4().hex}"
    script = ("from altaviz.io.spark import get_spark\nspark = get_spark()\n"
              "assert type(spark).__module__ == 'pyspark.sql.session'\n"
              f"spark._jvm.java.lang.System.err.println({marker!r})\nspark._jvm.java.lang.System.err.flush()\n")
    env = {**os.environ, "ALTAVIZ_DATA_DIR": str(tmp_path / "data"), "ALTAVIZ_SPARK_REMOTE": ""}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert marker in (tmp_path / "data" / "logs" / "spark-driver.log").read_text().splitlines()
    assert marker not in result.stderr


def small_fleet_features(spark):
    """The model's features of two units over five days, one of them repaired (a subprocess imports this)."""
    from altaviz.model.features import build_model_features
    from tests.model_fixtures import synthetic_fleet, to_spark

    gold, log = to_spark(spark, *synthetic_fleet(2, 5, failing={0: [60.0]}, seed=5))
    return build_model_features(gold, log, registry=get_settings().registry, cadence_minutes=10)


def test_an_in_process_session_builds_the_model_features_a_connect_session_builds(tmp_path, spark):
    # JupyterLab without a server runs 05_publish in the kernel's own JVM: classic pyspark, some of whose
    # functions take an argument only as a Python value where Spark Connect's take a column.
    script = ("from altaviz.io.spark import get_spark\nfrom tests.test_spark import small_fleet_features\n"
              "spark = get_spark()\nassert type(spark).__module__ == 'pyspark.sql.session'\n"
              f"small_fleet_features(spark).toPandas().to_parquet({str(tmp_path / 'in_process.parquet')!r})\n")
    env = {**os.environ, "ALTAVIZ_DATA_DIR": str(tmp_path / "data"), "ALTAVIZ_SPARK_REMOTE": ""}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300,
                            cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stderr
    key = ["compressor_id", "prediction_timestamp"]
    in_process = pd.read_parquet(tmp_path / "in_process.parquet").sort_values(key, ignore_index=True)
    over_connect = small_fleet_features(spark).toPandas().sort_values(key, ignore_index=True)
    assert len(in_process) > 100 and in_process["vibration_mms__z"].notna().sum() > 40
    pd.testing.assert_frame_equal(in_process, over_connect, check_exact=False)


def test_the_session_attaches_to_the_shared_spark_connect_server(spark):
    url = spark_server.running_url()
    assert url == f"sc://127.0.0.1:{get_settings().spark.connect_port}" == os.environ["ALTAVIZ_SPARK_REMOTE"]
    assert type(spark).__module__ == "pyspark.sql.connect.session" and spark.range(3).count() == 3
    env = {**os.environ, "ALTAVIZ_SPARK_REMOTE": ""}  # found through the data root, not the setting
    status = subprocess.run([sys.executable, "-m", "altaviz.cli", "spark", "status"], env=env, capture_output=True,
                            text=True)
    assert (status.returncode, status.stdout.strip()) == (0, f"running: {url}")


def test_a_data_root_without_a_server_reports_it_stopped_and_a_dead_endpoint_is_named(tmp_path):
    env = {**os.environ, "ALTAVIZ_DATA_DIR": str(tmp_path / "data"), "ALTAVIZ_SPARK_REMOTE": ""}
    status = subprocess.run([sys.executable, "-m", "altaviz.cli", "spark", "status"], env=env,
                            capture_output=True, text=True)
    assert (status.returncode, status.stdout.strip()) == (3, "stopped: notebooks start Spark in their own process")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        script = "from altaviz.io.spark import get_spark\nget_spark()\n"
        env["ALTAVIZ_SPARK_REMOTE"] = f"sc://127.0.0.1:{port}"
        result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"RuntimeError: Spark Connect at sc://127.0.0.1:{port} does not answer" in result.stderr


def test_a_jvm_that_cannot_start_is_reported_with_the_log_tail(tmp_path):
    script = "from altaviz.io.spark import get_spark\nget_spark()\n"
    env = {**os.environ, "JAVA_HOME": str(tmp_path / "no-java"), "ALTAVIZ_DATA_DIR": str(tmp_path / "data"),
           "ALTAVIZ_SPARK_REMOTE": ""}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    log = tmp_path / "data" / "logs" / "spark-driver.log"
    missing_java = f"{tmp_path / 'no-java'}/bin/java"
    assert missing_java in log.read_text()
    assert "Spark did not start" in result.stderr and f"last lines of {log}:" in result.stderr
    # the log's last lines close the error the user sees
    assert result.stderr.strip().splitlines()[-1] == log.read_text().strip().splitlines()[-1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_standalone_master_that_does_not_answer_fails_at_once_naming_it(tmp_path):
    """ALTAVIZ_SPARK_MASTER=spark://… that nothing answers: refused before any JVM starts, naming the master and
    the setting (Spark itself would retry for a minute and stop with a stack trace)."""
    master = f"spark://127.0.0.1:{_free_port()}"  # bound, then closed: connections are refused
    env = {**os.environ, "ALTAVIZ_DATA_DIR": str(tmp_path / "data"), "ALTAVIZ_SPARK_REMOTE": "",
           "ALTAVIZ_SPARK_CONNECT_PORT": str(_free_port()), "ALTAVIZ_SPARK_MASTER": master}
    settings = load_settings(env=env)
    refused = (rf"the Spark master {master} does not answer \(.*\): "
               r"start it, or correct spark.master / ALTAVIZ_SPARK_MASTER")
    with pytest.raises(RuntimeError, match=refused):
        spark_server.start(settings)  # the shared server a run starts
    assert spark_server.running_url(settings) is None and not spark_server.state_file(settings).exists()
    with pytest.raises(RuntimeError, match=refused):
        get_spark(settings)  # an in-process session, as a notebook opened on its own starts
    # Masters Spark checks itself are left to it; of several standalone masters (high availability) one must answer.
    for other in ("local[*]", "yarn", "k8s://https://kube.example:6443"):
        check_master(other)
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        check_master(f"{master},127.0.0.1:{listening.getsockname()[1]}")


def test_a_server_a_run_started_is_kept_while_a_client_is_attached_and_stops_once_idle(spark, tmp_path):
    """`altaviz run` leaves its server warm for the next run: it outlives the run, stays up while a client
    holds a session past the idle limit, stops by itself once none has for ``keep_minutes``, and is restarted
    when the next run's settings differ. With ``keep_minutes: 0`` the run stops it (the failing case).
    Stopping these servers leaves this process's session to another one (the test session's) open."""
    env = {**os.environ, "ALTAVIZ_DATA_DIR": str(tmp_path / "data"), "ALTAVIZ_SPARK_REMOTE": "",
           "ALTAVIZ_SPARK_CONNECT_PORT": str(_free_port()), "ALTAVIZ_DRIVER_MEMORY": "1g",
           "ALTAVIZ_SPARK_KEEP_MINUTES": "0.05"}  # 3 s
    settings = load_settings(env=env)
    said: list[str] = []
    try:
        with spark_server.shared(settings, said.append) as url:
            pid = spark_server._state(settings)["pid"]
        assert spark_server.running_url(settings) == url  # kept after the run
        assert len(said) == 1 and said[0].startswith(f"spark: started a Spark Connect server for this run at {url} (")
        assert said[0].endswith("; kept for 0.05 idle minutes after the run (altaviz spark stop)")
        client = subprocess.Popen(
            [sys.executable, "-c", "import time\nfrom altaviz.io.spark import get_spark\n"
             "assert get_spark().range(3).count() == 3\nprint('attached', flush=True)\ntime.sleep(8)\n"],
            env={**env, "ALTAVIZ_SPARK_REMOTE": url}, stdout=subprocess.PIPE, text=True)
        assert client.stdout.readline() == "attached\n"
        time.sleep(5)  # past the idle limit, with the client attached
        assert spark_server.running_url(settings) == url and spark_server.clients(pid, settings.spark.connect_port)
        assert client.wait(timeout=60) == 0
        deadline = time.monotonic() + 60
        while (spark_server.running_url(settings) or spark_server._alive(pid)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert spark_server.running_url(settings) is None and not spark_server._alive(pid)
        assert "spark: no client for 0.05 minutes, stopping the server" in spark_server.log_path(settings).read_text()

        # The next run's settings differ from the kept server's: it is restarted with them.
        with spark_server.shared(settings, said.append):
            first = spark_server._state(settings)["pid"]
        changed = load_settings(env={**env, "ALTAVIZ_DRIVER_MEMORY": "2g"})
        with spark_server.shared(changed, said.append):
            assert spark_server._state(changed)["pid"] != first and not spark_server._alive(first)
        assert "spark: the settings changed since this data root's server started; restarting it" in said
    finally:
        spark_server.stop(settings)
    stopped_with_the_run = load_settings(env={**env, "ALTAVIZ_SPARK_KEEP_MINUTES": "0"})
    with spark_server.shared(stopped_with_the_run, said.append) as url:
        assert spark_server.running_url(stopped_with_the_run) == url
    assert spark_server.running_url(stopped_with_the_run) is None
    assert spark.range(3).count() == 3
