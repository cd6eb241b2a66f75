"""The papermill runner on tiny notebooks: order, manifest, stage counts, and a loud failure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from altaviz.cli import build_parser
from altaviz.config import load_settings
from altaviz.runner import RunInProgress, RunParams, StageFailed, run_pipeline
from reliability import reliability


def write_notebook(folder: Path, name: str, body: str) -> None:
    book = nbformat.v4.new_notebook()
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    parameters = nbformat.v4.new_code_cell('run_id = "dev"\nseed = 0')
    parameters.metadata["tags"] = ["parameters"]
    book.cells = [parameters, nbformat.v4.new_code_cell(body)]
    nbformat.write(book, folder / f"{name}.ipynb")


@pytest.fixture()
def tiny_run(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ALTAVIZ_RUNS_DIR", str(tmp_path / "runs"))
    settings = load_settings()
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    record = "from altaviz.runs import record_stage\nrecord_stage(run_id, '{name}', {{'rows': seed * {k}}})\nprint('{name} saw seed', seed)"
    write_notebook(notebooks, "a_first", record.format(name="a_first", k=1))
    write_notebook(notebooks, "b_second", record.format(name="b_second", k=2))
    write_notebook(notebooks, "c_broken", "x = 1\nraise ValueError('sensor file missing: part-7.csv')")
    params = RunParams(run_id="r1", compressor_count=1, start_date="2026-01-01", end_date="2026-01-02", seed=21)
    return settings, notebooks, params


def test_runs_in_order_and_writes_manifest(tiny_run):
    settings, notebooks, params = tiny_run
    lines: list[str] = []
    manifest = run_pipeline(params, settings=settings, progress=lines.append,
                            stages=("a_first", "b_second"), notebook_dir=notebooks)
    run_folder = settings.pipeline.runs_dir / "r1"
    assert manifest.status == "succeeded"
    assert [(s.notebook, s.status) for s in manifest.stages] == [("a_first", "ok"), ("b_second", "ok")]
    assert manifest.row_counts == {"a_first": {"rows": 21}, "b_second": {"rows": 42}}
    on_disk = json.loads((run_folder / "manifest.json").read_text())
    assert on_disk["params"]["seed"] == 21 and on_disk["status"] == "succeeded"
    assert (run_folder / "a_first.ipynb").exists() and (run_folder / "b_second.ipynb").exists()
    assert (run_folder / "kernels.log").exists()  # kernel and JVM stderr, kept out of the progress
    # Progress names each notebook and streams what the notebooks printed.
    assert any("[1/2] a_first" in line for line in lines)
    assert any("a_first saw seed 21" in line for line in lines)


def test_stops_at_first_failure_with_cell_and_error(tiny_run):
    settings, notebooks, params = tiny_run
    with pytest.raises(StageFailed) as failure:
        run_pipeline(params, settings=settings, progress=lambda _: None,
                     stages=("a_first", "c_broken", "b_second"), notebook_dir=notebooks)
    message = str(failure.value)  # cell [3]: papermill injects the parameters as cell 2
    assert "c_broken failed in cell [3]: ValueError: sensor file missing: part-7.csv" in message
    run_folder = settings.pipeline.runs_dir / "r1"
    manifest = json.loads((run_folder / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert [(s["notebook"], s["status"]) for s in manifest["stages"]] == [("a_first", "ok"), ("c_broken", "failed")]
    assert (run_folder / "c_broken.ipynb").exists()  # the failed executed copy is kept
    assert not (run_folder / "b_second.ipynb").exists()


def test_no_simulate_skips_the_simulator():
    params = RunParams(run_id="x", compressor_count=1, start_date="2026-01-01", end_date="2026-01-02",
                       seed=1, simulate=False)
    assert params.notebook_parameters(["landing_dir"]) == {"landing_dir": ""}
    defaults = RunParams.defaults(load_settings(env={}), seed=None, compressor_count=3)
    assert (defaults.compressor_count, defaults.seed, defaults.start_date) == (3, 42, "2026-01-01")


def test_each_notebook_gets_only_the_parameters_it_declares():
    params = RunParams(run_id="x", compressor_count=4, start_date="2026-01-01", end_date="2026-01-02", seed=7,
                       failures_per_compressor_year=3.5)
    assert params.notebook_parameters(["run_id", "end_date", "not_a_run_parameter"]) == {
        "run_id": "x", "end_date": "2026-01-02"}
    assert params.notebook_parameters(["compressor_count", "failures_per_compressor_year"]) == {
        "compressor_count": 4, "failures_per_compressor_year": 3.5}


def test_every_pipeline_parameter_reaches_a_notebook_and_no_notebook_declares_an_unknown_one():
    import papermill

    from altaviz.runner import NOTEBOOK_DIR
    from altaviz.runs import STAGES

    declared = {stage: set(papermill.inspect_notebook(str(NOTEBOOK_DIR / f"{stage}.ipynb"))) for stage in STAGES}
    known = set(RunParams.__dataclass_fields__) - {"simulate"}
    assert set().union(*declared.values()) == known


def test_simulator_options_reach_every_simulator_knob_and_refuse_unknown_ones():
    from altaviz.cli import simulator_options

    assert simulator_options(["chunk_size=100", "fault_rates={spike: 0.05}", "forced_failures=[[0, bearing_wear]]",
                              "degrading_at_end=2"]) == {
        "chunk_size": 100, "fault_rates": {"spike": 0.05}, "forced_failures": [[0, "bearing_wear"]],
        "degrading_at_end": 2}
    for wrong in ("chunk_size", "cadence_minutes=5", "seed=3", "warp_speed=9"):
        with pytest.raises(ValueError, match=f"--simulator '{wrong}': expected KEY=VALUE with KEY one of"):
            simulator_options([wrong])


HOLD_THE_LOCK = """
import sys, time
from altaviz.config import load_settings
from altaviz.runner import run_lock
with run_lock("first", load_settings()):
    print("holding", flush=True)
    time.sleep(600)
"""


@reliability("fault", "Two runs at once on one data root",
             "the second is refused before writing, naming the run holding the lock; a killed run holds none")
def test_a_second_run_on_the_same_data_root_is_refused_by_name_and_a_killed_run_leaves_no_lock(tiny_run):
    settings, notebooks, params = tiny_run
    holder = subprocess.Popen([sys.executable, "-c", HOLD_THE_LOCK], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(RunInProgress, match=rf"run first \(pid {holder.pid}, started .*\) is using the data root"):
            run_pipeline(params, settings=settings, progress=lambda _: None, stages=("a_first",),
                         notebook_dir=notebooks, share_spark=False)
        assert not (settings.pipeline.runs_dir / params.run_id).exists()  # refused before writing anything
    finally:
        holder.kill()  # SIGKILL: no cleanup in the holder
        holder.wait()
    manifest = run_pipeline(params, settings=settings, progress=lambda _: None, stages=("a_first",),
                            notebook_dir=notebooks, share_spark=False)
    assert manifest.status == "succeeded"


@reliability("input", "`altaviz run --end` given something that is neither a date nor a time",
             "refused by the command line naming the value and both accepted forms; a date or an ISO time passes")
def test_run_dates_are_a_date_or_an_iso_time_and_anything_else_is_refused(capsys):
    parser = build_parser()
    for end in ("2026-06-01", "2026-06-01T06:00", "2026-06-01T06:00:00+02:00"):
        assert parser.parse_args(["run", "--end", end]).end == end
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--end", "June 1"])
    assert ("argument --end: 'June 1' is neither a date (YYYY-MM-DD) nor an ISO time (2026-06-01T06:00, "
            "2026-06-01T06:00+02:00)") in capsys.readouterr().err
