"""Test-session isolation for tests/ and for the notebooks nbval executes.

The whole session gets its own data root (and so its own embedded PostgreSQL and lake), never the
developer's data/ folder. It is set before anything loads settings, and nbval's kernels inherit it.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

SESSION_DATA_DIR = Path(tempfile.mkdtemp(prefix="altaviz-test-"))
os.environ["ALTAVIZ_DATA_DIR"] = str(SESSION_DATA_DIR / "data")
os.environ["ALTAVIZ_RUNS_DIR"] = str(SESSION_DATA_DIR / "runs")
# Tests never touch a configured server (shell or .env): empty values fall back to the embedded one.
os.environ["DATABASE_URL"] = ""
os.environ["DB_HOST"] = ""
# One Spark Connect server for the session, on a port of its own: the tests, nbval's notebooks and the
# pipeline runs (whatever their data root) all attach to it (pytest_sessionstart). It runs every test's
# jobs (model training alone is thousands), so it gets more heap than a run's default.
os.environ["ALTAVIZ_SPARK_REMOTE"] = ""
os.environ["ALTAVIZ_DRIVER_MEMORY"] = "8g"
with socket.socket() as _probe:
    _probe.bind(("127.0.0.1", 0))
    os.environ["ALTAVIZ_SPARK_CONNECT_PORT"] = str(_probe.getsockname()[1])


def pytest_sessionstart(session):
    """Start the session's Spark and name it as the endpoint: runs on other data roots attach to it too."""
    from altaviz.io import spark_server

    os.environ["ALTAVIZ_SPARK_REMOTE"] = spark_server.start()


def pytest_sessionfinish(session, exitstatus):
    """Stop the session's embedded PostgreSQL and Spark server so neither outlives the tests; then delete the
    session's data root (about 160 MB) when every test passed, and keep it, saying where, for a failure."""
    from altaviz.io import db, spark_server
    from altaviz.config import load_settings

    stopped = True
    for stop in (db.stop_embedded, spark_server.stop):
        try:
            stop(load_settings())
        except Exception as err:  # a teardown problem must not hide the test result
            stopped = False
            print(f"warning: could not stop {stop.__module__}: {err}")
    if exitstatus == 0 and stopped:
        shutil.rmtree(SESSION_DATA_DIR, ignore_errors=True)
    else:
        print(f"\nthe session's data root (lake, database, Spark and Voila logs) is kept: {SESSION_DATA_DIR}")
