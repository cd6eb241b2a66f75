"""The notebooks' contract: title, a papermill parameters cell, no logic in cells; 01 runs under papermill."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nbformat
import pandas as pd
import papermill
import pytest

from altaviz.config import PROJECT_ROOT

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("0*.ipynb"))
# Each notebook declares only the parameters it uses.
PARAMETERS = {
    "01_simulate": {"run_id", "compressor_count", "start_date", "end_date", "seed", "landing_dir",
                    "failures_per_compressor_year", "simulator_options"},
    "02_bronze": {"run_id", "landing_dir"},
    "03_silver": {"run_id", "end_date"},
    "04_gold": {"run_id", "start_date", "end_date"},
    "05_publish": {"run_id", "start_date", "landing_dir", "retrain"},
    "06_dashboard": {"as_of"},
}


def code_cells(path: Path) -> list[str]:
    return [cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]


def test_all_six_notebooks_exist():
    assert [p.stem for p in NOTEBOOKS] == [
        "01_simulate", "02_bronze", "03_silver", "04_gold", "05_publish", "06_dashboard"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_title_then_parameters_cell(path: Path):
    cells = nbformat.read(path, as_version=4).cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    assert "**Reads:**" in cells[0].source and "**Writes:**" in cells[0].source
    assert cells[1].cell_type == "code" and "parameters" in cells[1].metadata.get("tags", [])
    assigned = {node.targets[0].id for node in ast.parse(cells[1].source).body if isinstance(node, ast.Assign)}
    assert assigned == PARAMETERS[path.stem]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_logic_in_notebooks(path: Path):
    """Logic lives in altaviz/: notebook cells have no def, class, loops or %run."""
    for source in code_cells(path):
        assert "%run" not in source
        for node in ast.walk(ast.parse(source)):
            assert not isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.For, ast.While, ast.Lambda)), (
                f"{path.name}: {type(node).__name__} in a cell:\n{source}")


def test_stage_notebooks_record_their_counts():
    for path in NOTEBOOKS[:5]:
        assert any(f'record_stage(run_id, "{path.stem}"' in source for source in code_cells(path)), path.name


def test_simulate_notebook_runs_under_papermill(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ALTAVIZ_RUNS_DIR", str(tmp_path / "runs"))
    landing = tmp_path / "landing"
    executed = tmp_path / "01_simulate.ipynb"
    papermill.execute_notebook(
        str(PROJECT_ROOT / "notebooks" / "01_simulate.ipynb"), str(executed),
        parameters={"run_id": "small", "compressor_count": 3, "start_date": "2026-01-01",
                    "end_date": "2026-01-04", "seed": 5, "landing_dir": str(landing)},
        cwd=str(PROJECT_ROOT / "notebooks"), kernel_name="python3", progress_bar=False,
    )
    metadata = pd.read_csv(landing / "compressor_metadata.csv")
    assert list(metadata["compressor_id"]) == ["COMP-0001", "COMP-0002", "COMP-0003"]
    counts = json.loads((tmp_path / "runs" / "small" / "stages" / "01_simulate.json").read_text())
    readings = sum(len(pd.read_parquet(p)) for p in (landing / "sensor_readings").glob("*.parquet"))
    readings += sum(len(pd.read_csv(p)) for p in (landing / "sensor_readings").glob("*.csv"))
    assert counts == {"landing_readings": readings} and 0 < readings <= 3 * 3 * 144 * 1.05
    # The executed copy carries the injected parameters.
    assert "compressor_count = 3" in "".join(code_cells(executed))


def test_nbval_checked_cells_carry_their_expected_output():
    """nbval skips a cell that was never executed, so a guarded cell without output guards nothing."""
    guarded = 0
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code" and cell.source.startswith("# NBVAL_CHECK_OUTPUT"):
                guarded += 1
                assert cell.execution_count and cell.outputs, f"{path.name}: run `make notebook-outputs`"
    assert guarded >= 5
