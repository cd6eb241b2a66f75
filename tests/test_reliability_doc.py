"""docs/reliability.md says exactly what the marked tests prove (tests/reliability.py)."""

from __future__ import annotations

import pytest

from reliability import DOC, collect, reliability, render


def test_the_committed_reliability_page_is_what_the_tests_say():
    cases = collect()
    assert {kind for kind, *_ in cases} == {"input", "fault", "security"}
    assert DOC.read_text() == render(cases), "docs/reliability.md is stale: run .venv/bin/python tests/reliability.py"


def test_a_case_of_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind must be one of"):
        reliability("rumour", "x", "y")
