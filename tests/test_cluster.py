"""Scale-out: the pipeline on a real Spark standalone cluster, chosen by configuration alone.

A master and two workers (one core each) start from the installed pyspark, bound to 127.0.0.1. `altaviz run`
then runs notebooks 01-05 with ``ALTAVIZ_SPARK_MASTER=spark://…`` and the lake root given as a ``file://`` URI:
the run's own Spark Connect server becomes a driver on the cluster, and the notebooks attach to it as always.
The same run on the session's local Spark, in another data root at the same time, is the reference: gold,
the stage counts and the serving tables must come out the same. The master's JSON and the workers' executor
folders show the work ran there. The cluster stops when the module ends, however it ends.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyspark
import pytest
from pyspark.testing import assertDataFrameEqual

from altaviz.config import PROJECT_ROOT, load_settings
from altaviz.io import db, spark_server
from altaviz.io.logs import tail

pytestmark = pytest.mark.integration

HOST = "127.0.0.1"
SPARK_HOME = Path(pyspark.__file__).parent
# Spikes (outliers), duplicates (quarantine) and nulls, so that silver's branches run on the cluster too.
RUN_ARGS = ["--compressors", "3", "--start", "2026-01-01", "--end", "2026-01-04", "--seed", "7", "--run-id", "scale",
            "--simulator", "fault_rates={spike: 1.0, duplicate: 1.0, 'null': 1.0}"]
RUN_TIMEOUT_SECONDS = 1500
EXECUTOR_MEMORY_MB = 768  # from spark-defaults.conf in SPARK_CONF_DIR: how other cluster settings reach the run
SERVING_TABLES = {  # table -> its natural key; id, updated_at and when a check ran differ between any two runs
    "sensor_readings_agg": ["compressor_id", "window_type", "agg_timestamp"],
    "alert_history": ["compressor_id", "sensor_name", "alert_type", "alert_timestamp"],
    "ml_predictions": ["compressor_id", "prediction_timestamp", "model_version"],
    "data_quality_metrics": ["metric_type", "compressor_id", "metric_timestamp"],
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _group_gone(process: subprocess.Popen, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        process.poll()  # reap the leader, else it stays a zombie and its group never looks empty
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM to the process group (a worker's executors and their Python workers are in it), then SIGKILL."""
    for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        if _group_gone(process, grace):
            break
    process.wait(timeout=10)


@dataclass
class Cluster:
    master_url: str  # spark://127.0.0.1:<port>
    web_url: str  # the master's web UI, whose /json/ lists workers and applications
    work_dirs: list[Path]  # one per worker: <app id>/<executor id>/ per executor it ran
    logs: list[Path] = field(default_factory=list)
    processes: list[subprocess.Popen] = field(default_factory=list)  # master, worker-1, worker-2

    def state(self) -> dict:
        with urllib.request.urlopen(f"{self.web_url}/json/", timeout=10) as answer:
            return json.load(answer)

    def log_tails(self) -> str:
        return "\n".join(f"--- {log}:\n{tail(log)}" for log in self.logs)

    def stopped(self) -> list[str]:
        """The cluster's processes that have exited, by log name."""
        return [log.stem for log, process in zip(self.logs, self.processes) if process.poll() is not None]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A Spark standalone master and two workers (1 core, 1 GB each) on 127.0.0.1, stopped at the end."""
    root = tmp_path_factory.mktemp("cluster")
    port, web = _free_port(), _free_port()
    env = {**os.environ, "SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": HOST, "PYSPARK_PYTHON": sys.executable,
           "SPARK_DAEMON_MEMORY": "512m",
           # The master's REST submission server would take the fixed port 6066.
           "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false"}
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    cluster = Cluster(f"spark://{HOST}:{port}", f"http://{HOST}:{web}", [root / "worker-1", root / "worker-2"])
    commands = [[spark_class, "org.apache.spark.deploy.master.Master", "--host", HOST, "--port", str(port),
                 "--webui-port", str(web)]]
    commands += [[spark_class, "org.apache.spark.deploy.worker.Worker", cluster.master_url, "--host", HOST,
                  "--cores", "1", "--memory", "1g", "--webui-port", str(_free_port()), "--work-dir", str(work_dir)]
                 for work_dir in cluster.work_dirs]
    processes = cluster.processes
    try:
        for name, command in zip(("master", "worker-1", "worker-2"), commands):
            log = root / f"{name}.log"
            cluster.logs.append(log)
            with open(log, "wb") as sink:
                # A session of its own: the group is what teardown kills, executors included.
                processes.append(subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env,
                                                  stdin=subprocess.DEVNULL, start_new_session=True))
        deadline = time.monotonic() + 120
        while True:
            try:
                if cluster.state()["aliveworkers"] == 2:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or cluster.stopped():
                pytest.fail(f"the cluster did not come up with two workers\n{cluster.log_tails()}")
            time.sleep(1)
        yield cluster
    finally:
        for process in reversed(processes):
            _stop_group(process)


def _run_env(root: Path, **overrides: str) -> dict[str, str]:
    env = {**os.environ, "ALTAVIZ_DATA_DIR": str(root / "data"), "ALTAVIZ_RUNS_DIR": str(root / "runs"), **overrides}
    env.pop("SPARK_CONNECT_MODE_ENABLED", None)  # set by this process's Connect client
    return env


@dataclass
class Run:
    env: dict[str, str]
    log: Path
    returncode: int | None = None

    @property
    def settings(self):
        return load_settings(env=self.env)

    def manifest(self) -> dict:
        return json.loads((self.settings.pipeline.runs_dir / "scale" / "manifest.json").read_text())


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory):
    """The same `altaviz run`, at the same time: on the cluster, and on the session's local Spark Connect
    server (ALTAVIZ_SPARK_REMOTE, set by the root conftest). Yields (cluster run, local run, what the master's
    JSON showed while the runs went on)."""
    root = tmp_path_factory.mktemp("scale")
    conf_dir = root / "spark-conf"
    conf_dir.mkdir()
    (conf_dir / "spark-defaults.conf").write_text(f"spark.executor.memory {EXECUTOR_MEMORY_MB}m\n")
    on_cluster = Run(_run_env(root / "cluster", ALTAVIZ_SPARK_REMOTE="", ALTAVIZ_SPARK_MASTER=cluster.master_url,
                              ALTAVIZ_SPARK_CONNECT_PORT=str(_free_port()), ALTAVIZ_DRIVER_MEMORY="1g",
                              ALTAVIZ_LAKE_ROOT=(root / "cluster" / "lake").as_uri(), SPARK_CONF_DIR=str(conf_dir)),
                     root / "cluster.log")
    local = Run(_run_env(root / "local"), root / "local.log")
    assert local.env["ALTAVIZ_SPARK_REMOTE"].startswith("sc://"), "the session's Spark Connect server is not set"
    processes, seen, broken = {}, [], ""
    try:
        for run in (on_cluster, local):
            with open(run.log, "wb") as sink:
                processes[id(run)] = subprocess.Popen(
                    [sys.executable, "-m", "altaviz.cli", "run", *RUN_ARGS], env=run.env, cwd=PROJECT_ROOT,
                    stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
        while any(p.poll() is None for p in processes.values()):
            failed = [run for run in (on_cluster, local) if processes[id(run)].poll() not in (None, 0)]
            if failed:  # no need to wait for the other one
                broken = f"the run {failed[0].log.stem} failed"
            elif time.monotonic() > deadline:
                broken = f"the runs did not finish within {RUN_TIMEOUT_SECONDS} s"
            elif cluster.stopped():  # jobs would wait for executors that never come
                broken = f"{', '.join(cluster.stopped())} stopped during the run"
            if broken:
                break
            try:
                seen.append(cluster.state())
            except OSError:
                pass
            time.sleep(2)
        for run in (on_cluster, local):
            run.returncode = processes[id(run)].poll()
        if broken:
            explained = _explain(local) if failed and failed[0] is local else _explain(on_cluster, cluster)
            pytest.fail(f"{broken}\n{explained}")
        yield on_cluster, local, seen
    finally:
        for process in processes.values():
            if process.poll() is None:  # stopped early: the run, its kernels
                _stop_group(process)
        for run in (on_cluster, local):
            for stop in (spark_server.stop, db.stop_embedded):  # the local run has no server of its own
                try:
                    stop(run.settings)
                except Exception as err:  # teardown must not hide the result
                    print(f"warning: {stop.__module__}.{stop.__name__}: {err}")


def _explain(run: Run, cluster: Cluster | None = None) -> str:
    text = f"exit {run.returncode}; last lines of {run.log}:\n{tail(run.log, 60)}"
    connect_log = spark_server.log_path(run.settings)
    if cluster is not None:
        text += f"\n--- {connect_log}:\n{tail(connect_log)}\n{cluster.log_tails()}"
    return text


def test_both_runs_succeed(runs, cluster):
    on_cluster, local, _ = runs
    assert local.returncode == 0, _explain(local)
    assert on_cluster.returncode == 0, _explain(on_cluster, cluster)
    stages = ["01_simulate", "02_bronze", "03_silver", "04_gold", "05_publish"]
    for run in (on_cluster, local):
        assert [(s["notebook"], s["status"]) for s in run.manifest()["stages"]] == [(s, "ok") for s in stages]
    assert "spark: started a Spark Connect server for this run" in on_cluster.log.read_text()
    assert f"spark: {local.env['ALTAVIZ_SPARK_REMOTE']}\n" in local.log.read_text()  # the session's local Spark


def test_the_run_was_an_application_of_the_cluster_with_an_executor_on_each_worker(runs, cluster):
    on_cluster, _, seen = runs
    assert on_cluster.returncode == 0, _explain(on_cluster, cluster)
    state = cluster.state()
    apps = state["completedapps"] + state["activeapps"]
    assert [(app["name"], app["state"]) for app in apps] == [("altaviz-connect", "FINISHED")]  # not kept
    app = apps[0]
    assert app["cores"] == 2 and app["memoryperexecutor"] == EXECUTOR_MEMORY_MB
    # While the run went on, the application held both workers' cores.
    busy = [s for s in seen if any(a["id"] == app["id"] for a in s["activeapps"])]
    assert busy and max(sum(w["coresused"] for w in s["workers"]) for s in busy) == 2
    assert state["aliveworkers"] == 2
    # Each worker started an executor for it, which fetched the Delta jars from the driver.
    for work_dir in cluster.work_dirs:
        executors = list((work_dir / app["id"]).iterdir())
        assert executors, f"no executor of {app['id']} on {work_dir}"
        assert all(list(e.glob("io.delta_delta-spark_*.jar")) for e in executors), executors


def test_the_cluster_run_gives_what_the_local_run_gives(runs, cluster, spark):
    on_cluster, local, _ = runs
    assert on_cluster.returncode == 0 and local.returncode == 0, _explain(on_cluster, cluster)
    assert on_cluster.manifest()["row_counts"] == local.manifest()["row_counts"]
    counts = local.manifest()["row_counts"]
    assert counts["04_gold"]["sensors_gold"] > 1000 and counts["03_silver"]["outliers_flagged"] > 0
    assert counts["03_silver"]["sensors_quarantine"] > 0

    def gold(run: Run):
        return spark.read.format("delta").load(run.settings.pipeline.table_path("sensors_gold")).drop("ingested_at")

    assertDataFrameEqual(gold(on_cluster), gold(local))  # row for row, any order; doubles to 1e-5 relative
    for table, key in SERVING_TABLES.items():
        frames = [_serving_rows(run, table, key) for run in (on_cluster, local)]
        assert len(frames[1]) > 0, table
        pd.testing.assert_frame_equal(*frames, obj=table, check_exact=False, rtol=1e-9)


def _serving_rows(run: Run, table: str, key: list[str]) -> pd.DataFrame:
    rows = db.query(f"SELECT * FROM {table}", settings=run.settings).drop(columns=["id", "updated_at"])
    if "details" in rows:  # quality details: judged_through / judged_after are the run's wall-clock time
        rows["details"] = [{k: v for k, v in d.items() if not k.startswith("judged_")} for d in rows["details"]]
    return rows.sort_values(key, na_position="first").reset_index(drop=True)


def test_the_lake_root_takes_a_file_uri(runs):
    on_cluster, _, _ = runs
    assert on_cluster.returncode == 0
    lake_root = on_cluster.settings.pipeline.lake_root
    assert lake_root.startswith("file:///")
    lake = Path(lake_root.removeprefix("file://"))
    for table in ("sensors_bronze", "sensors_silver", "sensors_gold", "ingest_log"):
        assert (lake / table / "_delta_log" / "00000000000000000000.json").is_file(), table
    # Nothing went to the default lake or to a folder named after the URI.
    assert not (on_cluster.settings.pipeline.data_dir / "lake").exists()
    assert not [p for folder in (PROJECT_ROOT, PROJECT_ROOT / "notebooks", on_cluster.settings.pipeline.data_dir)
                for p in folder.iterdir() if p.name.startswith("file:")]

