"""The local Spark Connect server a run's notebooks share: one JVM, started and reattached like the
embedded PostgreSQL (``altaviz spark start|stop|status``).

A notebook that starts its own Spark pays about 10 s for the JVM and again for Spark's first jobs; as a
thin client of this server it attaches in about a second and finds the server warm. The server runs
the same settings as an in-process session (``altaviz.io.spark.session_conf``), has Delta Lake on,
listens on 127.0.0.1 only, and keeps its pid and port under ``<data_dir>/spark/``, so every process with
the same data root (papermill's kernels, JupyterLab, the tests) finds it. Its own log is
``<data_dir>/logs/spark-connect.log``. A server a run started outlives the run and stops itself once idle
(``shared``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from altaviz.config import Settings, get_settings
from altaviz.io.logs import tail
from altaviz.io.spark import check_master, connect_endpoint, delta_jars, prepare_environment, session_conf

HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 120
SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


def state_file(settings: Settings) -> Path:
    return settings.pipeline.data_dir / "spark" / "connect.json"


def log_path(settings: Settings) -> Path:
    return settings.pipeline.data_dir / "logs" / "spark-connect.log"


def _alive(pid: int) -> bool:
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child, exited: reaped, not a zombie
            return False
    except ChildProcessError:  # started by another process
        pass
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((HOST, port)) == 0


def _state(settings: Settings) -> dict | None:
    """The recorded server, if its process is still alive."""
    return _read_state(state_file(settings))


def _read_state(path: Path) -> dict | None:
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return state if _alive(state["pid"]) else None


def running_url(settings: Settings | None = None) -> str | None:
    """``sc://127.0.0.1:<port>`` of this data root's server when it is up and listening, else None."""
    state = _state(settings or get_settings())
    return f"sc://{HOST}:{state['port']}" if state and _listening(state["port"]) else None


def _command(settings: Settings) -> list[str]:
    import pyspark

    conf = {
        **session_conf(settings),
        "spark.master": settings.spark.master,
        "spark.jars": ",".join(delta_jars(settings)),
        "spark.connect.grpc.binding.address": HOST,
        "spark.connect.grpc.binding.port": str(settings.spark.connect_port),
    }
    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    command = [str(submit), "--class", SERVER_CLASS, "--name", "altaviz-connect"]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    return command + ["spark-internal"]


def start(settings: Settings | None = None) -> str:
    """Start the server unless it runs already; return its URL once it accepts connections."""
    settings = settings or get_settings()
    url = running_url(settings)
    if url:
        return url
    port = settings.spark.connect_port
    if _listening(port):
        raise RuntimeError(f"port {port} on {HOST} is taken by another program: set ALTAVIZ_SPARK_CONNECT_PORT")
    check_master(settings.spark.master)
    prepare_environment()
    log = log_path(settings)
    log.parent.mkdir(parents=True, exist_ok=True)
    state_file(settings).parent.mkdir(parents=True, exist_ok=True)
    command = _command(settings)
    with open(log, "ab") as output:
        # Its own session: the server outlives the command that started it, as a database would.
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True, env=os.environ.copy())
    state_file(settings).write_text(json.dumps({"pid": process.pid, "port": port, "command": command}))
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Spark Connect server exited with code {process.returncode}\n"
                               f"last lines of {log}:\n{tail(log)}")
        if _listening(port):
            return f"sc://{HOST}:{port}"
        time.sleep(0.5)
    stop(settings)
    raise RuntimeError(f"the Spark Connect server did not listen on {HOST}:{port} within "
                       f"{START_TIMEOUT_SECONDS} s\nlast lines of {log}:\n{tail(log)}")


def stop(settings: Settings | None = None) -> bool:
    """Stop this data root's server; False when none was running."""
    return _stop_recorded(state_file(settings or get_settings()))


def _stop_recorded(path: Path) -> bool:
    state = _read_state(path)
    path.unlink(missing_ok=True)
    if state is None:
        return False
    _close_clients_of_this_process(state["port"])
    os.killpg(state["pid"], signal.SIGTERM)  # spark-submit and the JVM it started
    deadline = time.monotonic() + 30
    while _alive(state["pid"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(state["pid"]):
        os.killpg(state["pid"], signal.SIGKILL)
    return True


def _close_clients_of_this_process(port: int) -> None:
    """Close this process's Spark Connect session to the server on ``port`` first: a client left open keeps
    retrying a stopped server for minutes, and holds the process at exit. A session to another server (the
    test session's, say) stays open."""
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    active = ConnectSession.getActiveSession()
    builder = getattr(getattr(active, "client", None), "_builder", None)
    if getattr(builder, "endpoint", None) == f"{HOST}:{port}":
        active.stop()


@contextmanager
def shared(settings: Settings, progress: Callable[[str], None] = print) -> Iterator[str]:
    """The Spark every notebook of a run attaches to: the configured endpoint, this data root's running
    server, or one started here for the run.

    A server this data root runs with other settings (memory, master, a jar) is restarted first. One
    started here is kept, warm, for the next run (its JVM has loaded its classes and compiled its hot
    code: the same small run takes half the time on it) and stops itself after ``spark.keep_minutes``
    without a client (``altaviz spark stop`` stops it now); with ``keep_minutes: 0``, or on a cluster
    master, it stops with the run.
    """
    endpoint = connect_endpoint(settings)
    state = _state(settings)
    if endpoint and not settings.spark.remote and state and state.get("command") != _command(settings):
        progress("spark: the settings changed since this data root's server started; restarting it")
        stop(settings)
        endpoint = None
    if endpoint:
        progress(f"spark: {endpoint}")
        yield endpoint
        return
    began = time.monotonic()
    endpoint = start(settings)
    # On a cluster the server is an application holding the workers' executors: it stops with the run.
    keep = settings.spark.keep_minutes if settings.spark.master.startswith("local") else 0
    kept = f"; kept for {keep:g} idle minutes after the run (altaviz spark stop)" if keep else ""
    progress(f"spark: started a Spark Connect server for this run at {endpoint} "
             f"({time.monotonic() - began:.0f} s){kept}")
    if keep:
        _watch_idle(settings, keep)
    try:
        yield endpoint
    finally:
        if not keep:
            stop(settings)


def _watch_idle(settings: Settings, keep_minutes: float) -> None:
    """Start the process that stops this data root's server once it has had no client for ``keep_minutes``
    (``python -m altaviz.io.spark_server``, detached like the server)."""
    import sys

    path = state_file(settings)
    with open(log_path(settings), "ab") as output:
        subprocess.Popen([sys.executable, "-m", "altaviz.io.spark_server", str(path), str(_read_state(path)["pid"]),
                          str(keep_minutes)],
                         stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)


def clients(pid: int, port: int) -> int:
    """How many connections the server ``pid`` holds open on its Spark Connect ``port``: a notebook
    kernel, JupyterLab or a test keeps its channel open for as long as its session lives."""
    import psutil

    try:
        connections = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return 0
    return sum(1 for c in connections if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port)


def stop_when_idle(path: Path, pid: int, keep_minutes: float) -> bool:
    """Stop the server ``pid`` recorded in ``path`` once it has had no client for ``keep_minutes``; True if
    it was stopped here, False when it went away otherwise (stopped, or replaced by another server)."""
    poll_seconds = min(10.0, keep_minutes * 15)  # four looks per idle period at least
    idle_since = time.monotonic()
    while True:
        state = _read_state(path)
        if state is None or state["pid"] != pid:
            return False
        if clients(pid, state["port"]):
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= keep_minutes * 60:
            print(f"spark: no client for {keep_minutes:g} minutes, stopping the server", flush=True)
            return _stop_recorded(path)
        time.sleep(poll_seconds)


if __name__ == "__main__":  # the idle watch a run starts next to the server it keeps (_watch_idle)
    import sys

    stop_when_idle(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
