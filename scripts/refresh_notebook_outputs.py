"""Refresh the outputs nbval guards: run notebooks 01-05 with their default parameters on a fresh,
temporary data root and store the outputs of the cells marked ``# NBVAL_CHECK_OUTPUT`` (and only those)
in the committed notebooks. Run it after a change that is meant to alter those outputs:

    make notebook-outputs
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import nbformat
import papermill

from altaviz.runs import STAGES

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
MARKER = "# NBVAL_CHECK_OUTPUT"


def main() -> int:
    scratch = Path(tempfile.mkdtemp(prefix="altaviz-nbval-"))
    os.environ["ALTAVIZ_DATA_DIR"] = str(scratch / "data")
    os.environ["ALTAVIZ_RUNS_DIR"] = str(scratch / "runs")
    try:
        for stage in STAGES:
            source = NOTEBOOKS / f"{stage}.ipynb"
            executed = scratch / f"{stage}.ipynb"
            print(f"executing {stage} ...", flush=True)
            papermill.execute_notebook(str(source), str(executed), cwd=str(NOTEBOOKS), progress_bar=False)
            committed = nbformat.read(source, as_version=4)
            ran = nbformat.read(executed, as_version=4)
            for cell, done in zip(committed.cells, ran.cells, strict=True):
                if cell.cell_type != "code":
                    continue
                keep = cell.source.startswith(MARKER)
                cell.outputs = done.outputs if keep else []
                cell.execution_count = done.execution_count if keep else None
            nbformat.write(committed, source)
    finally:
        from altaviz.io import db
        from altaviz.config import load_settings

        db.stop_embedded(load_settings())
    return 0


if __name__ == "__main__":
    sys.exit(main())
