"""docs/reliability.md comes from the tests: a test that feeds bad input, injects a fault or attacks the
app says so with ``@reliability(kind, case, outcome)``, and tests/test_reliability_doc.py fails when the
committed page differs from what the marked tests say (``python tests/reliability.py`` rewrites it)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
DOC = TESTS.parent / "docs" / "reliability.md"
KINDS = {"input": "Bad input", "fault": "Faults", "security": "Security"}
CASES: list[tuple[str, str, str, str]] = []  # (kind, case, outcome, test)


def reliability(kind: str, case: str, outcome: str):
    """Register the decorated test as the proof of ``outcome`` for ``case``; stack it for several cases."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")

    def register(test):
        CASES.append((kind, case, outcome, f"tests/{test.__module__.rsplit('.', 1)[-1]}.py::{test.__name__}"))
        return test

    return register


def collect() -> list[tuple[str, str, str, str]]:
    """Every marked case of every test module, in a stable order."""
    sys.path[:0] = [str(TESTS), str(TESTS.parent)]
    for path in sorted(TESTS.glob("test_*.py")):
        importlib.import_module(path.stem)
    return sorted(set(CASES), key=lambda c: (list(KINDS).index(c[0]), c[3], c[1]))


def render(cases) -> str:
    lines = ["# Reliability: what was tried and what happened", "",
             "Generated from the tests (`python tests/reliability.py`); each row names the test that proves it,",
             "and `make test` fails when this page and the tests disagree.", ""]
    for kind, title in KINDS.items():
        rows = [c for c in cases if c[0] == kind]
        lines += [f"## {title}", "", "| case | outcome | test |", "|---|---|---|"]
        lines += [f"| {case} | {outcome} | `{test}` |" for _, case, outcome, test in rows]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.path[:0] = [str(TESTS)]
    import reliability  # the module the tests register with, not this __main__

    reliability.DOC.write_text(reliability.render(reliability.collect()))
    print(f"wrote {reliability.DOC}")
