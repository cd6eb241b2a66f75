"""Test-session isolation for tests/ and for the notebooks nbval executes.

The whole session gets its own data root (and so its own embedded PostgreSQL and lake), never the
developer's data/ folder. It is set before anything loads settings, and nbval's kernels inherit it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

SESSION_DATA_DIR = Path(tempfile.mkdtemp(prefix="altaviz-test-"))
os.environ["ALTAVIZ_DATA_DIR"] = str(SESSION_DATA_DIR / "data")
os.environ["ALTAVIZ_RUNS_DIR"] = str(SESSION_DATA_DIR / "runs")
# Tests never touch a configured server (shell or .env): empty values fall back to the embedded one.
os.environ["DATABASE_URL"] = ""
os.environ["DB_HOST"] = ""


def pytest_sessionfinish(session, exitstatus):
    """Stop the session's embedded PostgreSQL so no server outlives the tests."""
    from altaviz.io import db
    from altaviz.config import load_settings

    try:
        db.stop_embedded(load_settings())
    except Exception as err:  # a teardown problem must not hide the test result
        print(f"warning: could not stop the test database: {err}")
