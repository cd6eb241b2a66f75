"""Shared fixtures (the session's isolated data root is set up in the root conftest.py)."""

from __future__ import annotations

import pytest


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
