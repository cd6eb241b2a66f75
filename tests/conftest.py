"""Shared fixtures (the session's isolated data root is set up in the root conftest.py)."""

from __future__ import annotations

import itertools
import os
import shutil
from dataclasses import replace

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from dashboard_fixtures import seeded  # noqa: F401  (the browser tests' seeded database, behind an Outage front)

_databases = itertools.count()


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, never a browser downloaded by a test tool. Missing: a one-line skip that says
    what to install, except in CI, where .ci/run installs it and a missing browser is a failure."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = "the browser tests need Debian's chromium: apt-get install chromium"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def spark():
    """The session's Spark: a client of the Spark Connect server the root conftest started."""
    from altaviz.io.spark import get_spark

    return get_spark()


@pytest.fixture(autouse=True, scope="module")
def _release_cached_frames():
    """A module's persisted DataFrames die with it: cached plans slow and fill the shared session."""
    yield
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.catalog.clearCache()


@pytest.fixture(scope="session")
def settings_no_db():
    """The session's settings, without starting the database (for tests that never touch PostgreSQL)."""
    from altaviz.config import load_settings

    return load_settings()


@pytest.fixture(scope="session")
def settings():
    """Settings pointing at this session's data root, with the serving schema applied."""
    from altaviz.io import db
    from altaviz.config import load_settings

    loaded = load_settings()
    db.apply_schema(loaded)
    return loaded


@pytest.fixture
def serving_settings(settings, tmp_path):
    """Settings for a fresh database on the session's server and a lake under tmp_path."""
    from altaviz.io import db

    where = db.target(settings)
    name = f"altaviz_serving_{next(_databases)}"
    with psycopg.connect(where.conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    isolated = replace(
        settings,
        database=replace(settings.database, url=make_conninfo(where.conninfo, dbname=name)),
        pipeline=replace(settings.pipeline, lake_root=str(tmp_path / "lake")),
    )
    db.apply_schema(isolated)
    yield isolated
    with psycopg.connect(where.conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so a fixture can tell whether its test failed
    (the browser tests then keep a screenshot of what the page showed)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)
