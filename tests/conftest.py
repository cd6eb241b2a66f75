"""Shared fixtures. The whole session gets its own data root (and so its own embedded PostgreSQL),
never the developer's data/ folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Set before anything loads settings: notebooks executed by nbval inherit this environment too.
SESSION_DATA_DIR = Path(tempfile.mkdtemp(prefix="altaviz-test-"))
os.environ["ALTAVIZ_DATA_DIR"] = str(SESSION_DATA_DIR)
os.environ.setdefault("ALTAVIZ_RUNS_DIR", str(SESSION_DATA_DIR / "runs"))


@pytest.fixture(scope="session")
def spark():
    from altaviz.spark import get_spark

    return get_spark()


@pytest.fixture(scope="session")
def settings():
    """Settings pointing at this session's data root, with the serving schema applied."""
    from altaviz import db
    from altaviz.config import load_settings

    loaded = load_settings()
    db.apply_schema(loaded)
    return loaded


def pytest_sessionfinish(session, exitstatus):
    """Stop the session's embedded PostgreSQL so no server outlives the tests."""
    from altaviz import db
    from altaviz.config import load_settings

    try:
        db.stop_embedded(load_settings())
    except Exception as err:  # a teardown problem must not hide the test result
        print(f"warning: could not stop the test database: {err}")
