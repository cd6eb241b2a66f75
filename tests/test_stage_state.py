"""A stage whose inputs are unchanged since it last succeeded is skipped (altaviz.stage_state), and runs
again when a table it reads or writes, its parameters, the settings or the code change, or when asked to.

The runner is driven with a small stand-in for 04_gold (it only counts its executions) over a data root whose
Delta logs the test writes itself: what is under test is the decision, not gold's features (the pipeline's own
rerun is in test_pipeline_e2e)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import nbformat
import pytest

from altaviz import stage_state
from altaviz.config import load_settings
from altaviz.runner import RunParams, StageFailed, run_pipeline

COUNTING = "from pathlib import Path\nwith open({log!r}, 'a') as log:\n    log.write(run_id + '\\n')\n{extra}"


def write_stand_in(folder: Path, log: Path, extra: str = "", *, notebook: str = "04_gold",
                   parameters: str = 'run_id = "dev"\nstart_date = ""\nend_date = ""') -> None:
    book = nbformat.v4.new_notebook()
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    declared = nbformat.v4.new_code_cell(parameters)
    declared.metadata["tags"] = ["parameters"]
    book.cells = [declared, nbformat.v4.new_code_cell(COUNTING.format(log=str(log), extra=extra))]
    nbformat.write(book, folder / f"{notebook}.ipynb")


def commit_version(settings, table: str, version: int) -> None:
    """What a Delta write leaves in the table's log: the next numbered commit file."""
    log = Path(settings.pipeline.table_path(table)) / "_delta_log"
    log.mkdir(parents=True, exist_ok=True)
    (log / f"{version:020d}.json").write_text("{}\n")


@pytest.fixture()
def gold_root(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ALTAVIZ_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ALTAVIZ_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("ALTAVIZ_LAKE_ROOT", "")
    settings = load_settings()
    for table in stage_state.STAGE_TABLES["04_gold"]:
        commit_version(settings, table, 0)
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    executions = tmp_path / "executions.txt"
    write_stand_in(notebooks, executions)
    return settings, notebooks, executions


def run(settings, notebooks: Path, run_id: str, *, end: str = "2026-01-15", recompute: bool = False):
    params = RunParams(run_id=run_id, compressor_count=1, start_date="2026-01-01", end_date=end, seed=1)
    manifest = run_pipeline(params, settings=settings, progress=lambda _: None, stages=("04_gold",),
                            notebook_dir=notebooks, share_spark=False, recompute=recompute)
    (stage,) = manifest.stages
    return stage.status, stage.reused_from


def test_an_unchanged_stage_is_skipped_and_any_change_to_what_it_depends_on_runs_it(gold_root):
    settings, notebooks, executions = gold_root
    assert run(settings, notebooks, "r1") == ("ok", "")
    assert run(settings, notebooks, "r2") == ("skipped", "r1")  # nothing changed: r1's gold stands

    commit_version(settings, "sensors_silver", 1)  # silver gained rows
    assert run(settings, notebooks, "r3") == ("ok", "")
    assert run(settings, notebooks, "r4") == ("skipped", "r3")

    assert run(settings, notebooks, "r5", end="2026-01-16") == ("ok", "")  # another range
    commit_version(settings, "sensors_gold", 1)  # someone rewrote gold behind the pipeline's back
    assert run(settings, notebooks, "r6", end="2026-01-16") == ("ok", "")

    write_stand_in(notebooks, executions, extra="# new code")
    assert run(settings, notebooks, "r7", end="2026-01-16") == ("ok", "")
    assert run(settings, notebooks, "r8", end="2026-01-16", recompute=True) == ("ok", "")
    assert run(settings, notebooks, "r9", end="2026-01-16") == ("skipped", "r8")
    assert executions.read_text().split() == ["r1", "r3", "r5", "r6", "r7", "r8"]


def test_bronze_looks_again_when_a_landing_file_changes_or_arrives_and_not_when_the_same_bytes_are_rewritten(
        gold_root, tmp_path):
    settings, notebooks, executions = gold_root
    write_stand_in(notebooks, executions, notebook="02_bronze", parameters='run_id = "dev"\nlanding_dir = ""')
    for table in stage_state.STAGE_TABLES["02_bronze"]:
        commit_version(settings, table, 0)
    readings = settings.pipeline.landing_dir / "sensor_readings"
    readings.mkdir(parents=True)
    (readings / "day1.csv").write_text("compressor_id,timestamp\nCOMP-0001,2026-01-01T00:00:00Z\n")

    def bronze(run_id: str):
        params = RunParams(run_id=run_id, compressor_count=1, start_date="", end_date="", seed=1, simulate=False)
        manifest = run_pipeline(params, settings=settings, progress=lambda _: None, stages=("02_bronze",),
                                notebook_dir=notebooks, share_spark=False)
        return manifest.stages[0].status

    assert bronze("r1") == "ok"
    (readings / "day1.csv").write_text((readings / "day1.csv").read_text())  # a simulator writing the same bytes
    assert bronze("r2") == "skipped"
    (readings / "day2.csv").write_text("compressor_id,timestamp\n")  # a new delivery
    assert bronze("r3") == "ok"
    (readings / "day2.csv").write_text("compressor_id,timestamp\nCOMP-0002,2026-01-02T00:00:00Z\n")  # finished
    assert bronze("r4") == "ok"
    assert bronze("r5") == "skipped"
    assert executions.read_text().split() == ["r1", "r3", "r4"]


def test_other_settings_run_the_stage_again(gold_root):
    settings, notebooks, executions = gold_root
    assert run(settings, notebooks, "r1") == ("ok", "")
    stricter = dataclasses.replace(settings, pipeline=dataclasses.replace(settings.pipeline, outlier_mad_threshold=2.5))
    assert run(stricter, notebooks, "r2") == ("ok", "")
    assert run(stricter, notebooks, "r3") == ("skipped", "r2")


def test_a_failed_execution_is_never_reused(gold_root):
    settings, notebooks, executions = gold_root
    assert run(settings, notebooks, "r1") == ("ok", "")
    write_stand_in(notebooks, executions, extra="raise RuntimeError('gold wrote no rows')")
    with pytest.raises(StageFailed):
        run(settings, notebooks, "r2")
    write_stand_in(notebooks, executions)  # the code r1 ran with again: r1's result would match, but r2 failed
    assert run(settings, notebooks, "r3") == ("ok", "")
    assert executions.read_text().split() == ["r1", "r2", "r3"]


def test_nothing_is_skipped_when_the_lake_is_not_a_local_folder(gold_root, monkeypatch):
    settings, notebooks, _ = gold_root
    remote = dataclasses.replace(settings, pipeline=dataclasses.replace(settings.pipeline,
                                                                        lake_root="s3a://fleet/lake"))
    assert stage_state.stage_state("04_gold", {}, remote, notebook_path=notebooks / "04_gold.ipynb") is None
    local = stage_state.stage_state("04_gold", {}, settings, notebook_path=notebooks / "04_gold.ipynb")
    assert local["tables"] == {"sensors_silver": 0, "compressor_metadata": 0, "sensors_gold": 0}
    assert stage_state.stage_state("01_simulate", {}, settings, notebook_path=notebooks / "04_gold.ipynb") is None
    as_uri = dataclasses.replace(settings, pipeline=dataclasses.replace(
        settings.pipeline, lake_root="file://" + settings.pipeline.table_path("").rstrip("/")))
    commit_version(settings, "sensors_gold", 1)  # a file: URI's Delta log is read like a folder's
    as_uri_state = stage_state.stage_state("04_gold", {}, as_uri, notebook_path=notebooks / "04_gold.ipynb")
    assert as_uri_state["tables"] == {"sensors_silver": 0, "compressor_metadata": 0, "sensors_gold": 1}
