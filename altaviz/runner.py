"""Run notebooks 01–05 headlessly with papermill, one executed copy per notebook in runs/<run_id>/."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from altaviz.config import PROJECT_ROOT, Settings, get_settings
from altaviz import stage_state
from altaviz.io import spark_server
from altaviz.io.logs import stderr_to
from altaviz.runs import STAGES, read_stage_counts, run_dir

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
SPARK_FREE = ("01_simulate",)  # notebooks that never attach to Spark


class StageFailed(RuntimeError):
    """A notebook failed; the message names it, the failing cell and the error."""


class RunInProgress(RuntimeError):
    """Another run holds the data root's run lock; the message names it."""


@contextlib.contextmanager
def run_lock(run_id: str, settings: Settings):
    """Hold ``<data_dir>/run.lock`` for one run: a second run on the same data root refuses at once, naming the
    run that holds it, instead of writing the same tables. The operating system drops the lock when its
    process ends, however it ends (a killed run leaves no stale lock)."""
    path = settings.pipeline.data_dir / "run.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RunInProgress(f"{holder} is using the data root {settings.pipeline.data_dir}; wait for it to "
                                "finish (or stop it) and start this run again") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"run {run_id} (pid {os.getpid()}, started {_now()})")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class RunParams:
    run_id: str
    compressor_count: int
    start_date: str
    end_date: str
    seed: int
    landing_dir: str = ""  # empty: <data_dir>/landing
    simulate: bool = True
    failures_per_compressor_year: float = 2.0  # simulator knob
    simulator_options: dict = field(default_factory=dict)  # any other SimulationParams field (see cli)
    retrain: bool = False  # 05_publish trains a new failure model instead of reusing the saved one

    @classmethod
    def defaults(cls, settings: Settings | None = None, **overrides) -> "RunParams":
        pipeline = (settings or get_settings()).pipeline
        # The configured days are the simulator's. A run over files already delivered (a backfill) leaves them
        # empty: gold covers what silver holds, and the as-of time is the newest reading.
        simulating = overrides.get("simulate", True) is not False
        values = dict(
            run_id=datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ"),
            compressor_count=pipeline.compressor_count,
            start_date=pipeline.start_date if simulating else "",
            end_date=pipeline.end_date if simulating else "",
            seed=pipeline.seed,
        )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def notebook_parameters(self, declared: Iterable[str]) -> dict:
        """The values of the parameters a notebook declares in its ``parameters`` cell, and no others."""
        values = {k: v for k, v in asdict(self).items() if k != "simulate"}
        return {name: values[name] for name in declared if name in values}


@dataclass
class StageResult:
    notebook: str
    status: str  # 'ok' | 'failed' | 'skipped'
    seconds: float = 0.0
    output: str = ""
    error: str = ""
    reused_from: str = ""  # skipped: the run whose result stands (its inputs are unchanged since)


@dataclass
class Manifest:
    params: dict
    started_at: str
    finished_at: str = ""
    status: str = "running"
    stages: list[StageResult] = field(default_factory=list)
    row_counts: dict = field(default_factory=dict)

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True))


# Papermill's own bookkeeping lines: kept in the executed notebooks, not echoed. (The Spark JVM's
# start-up lines never get here: get_spark sends its stderr to data/logs/spark-driver.log.)
_CHATTER = re.compile(r"^(Executing|Ending Cell|Input Notebook|Output Notebook|Working directory)")


class _CellOutputPrinter(logging.Handler):
    """Streams what the notebooks print (papermill logs cell output) as run progress."""

    def __init__(self, progress: Callable[[str], None], prefix: str):
        super().__init__(logging.INFO)
        self.progress, self.prefix = progress, prefix

    def emit(self, record: logging.LogRecord) -> None:
        for line in record.getMessage().rstrip().splitlines():
            if line.strip() and not _CHATTER.match(line):
                self.progress(f"    {self.prefix} | {line}")


def _describe_failure(notebook: str, err: Exception) -> str:
    exec_count = getattr(err, "exec_count", None)
    ename, evalue = getattr(err, "ename", type(err).__name__), getattr(err, "evalue", str(err))
    cell = f"cell [{exec_count}]" if exec_count is not None else "a cell"
    return f"{notebook} failed in {cell}: {ename}: {evalue}"


def run_pipeline(
    params: RunParams,
    *,
    settings: Settings | None = None,
    progress: Callable[[str], None] = print,
    stages: tuple[str, ...] = STAGES,
    notebook_dir: Path = NOTEBOOK_DIR,
    share_spark: bool = True,
    recompute: bool = False,
) -> Manifest:
    """Execute the stage notebooks in order; stop at the first failure and raise StageFailed.

    A stage whose inputs are those of its last success is skipped (``altaviz.stage_state``) unless
    ``recompute``. ``share_spark=False`` lets each notebook start Spark in its own kernel (the benchmark's
    baseline). A run on a data root that another run is using raises RunInProgress before it writes anything."""
    settings = settings or get_settings()
    with run_lock(params.run_id, settings):
        return _run_locked(params, settings, progress, stages, notebook_dir, share_spark, recompute)


def _run_locked(params: RunParams, settings: Settings, progress: Callable[[str], None], stages: tuple[str, ...],
                notebook_dir: Path, share_spark: bool, recompute: bool) -> Manifest:
    out_dir = run_dir(params.run_id, settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(params=asdict(params), started_at=_now())
    manifest_path = out_dir / "manifest.json"
    selected = [s for s in stages if params.simulate or s != "01_simulate"]
    progress(f"run {params.run_id}: {len(selected)} notebooks -> {out_dir}")
    try:
        # One Spark for the run, started before the first notebook that needs it (none, when every stage after
        # the simulator is skipped): each notebook attaches to it instead of starting a JVM of its own.
        with contextlib.ExitStack() as spark:
            attached = not share_spark  # share_spark=False: each notebook starts its own
            for index, notebook in enumerate(selected, start=1):
                step = f"[{index}/{len(selected)}] {notebook}"
                source = notebook_dir / f"{notebook}.ipynb"
                parameters = _parameters(params, source)
                before = stage_state.stage_state(notebook, parameters, settings, notebook_path=source)
                reused = None if recompute else stage_state.unchanged_since(notebook, before, settings)
                if reused is not None:
                    manifest.stages.append(StageResult(notebook, "skipped", 0.0, reused_from=reused))
                    progress(f"{step} skipped: inputs unchanged since run {reused} (--recompute runs it)")
                    continue
                if not attached and notebook not in SPARK_FREE:
                    spark.enter_context(spark_server.shared(settings, progress))
                    attached = True
                progress(f"{step} ...")
                stage_state.record_success(settings, notebook, run_id=params.run_id, state=None)
                seconds = _execute(notebook, parameters, out_dir, source, manifest, progress)
                after = stage_state.stage_state(notebook, parameters, settings, notebook_path=source,
                                                landing=(before or {}).get("landing"))
                stage_state.record_success(settings, notebook, run_id=params.run_id, state=after)
                progress(f"{step} ok ({seconds:.1f} s)")
        manifest.status = "succeeded"
    finally:
        manifest.finished_at = _now()
        manifest.row_counts = read_stage_counts(params.run_id, settings)
        manifest.write(manifest_path)
    return manifest


def _parameters(params: RunParams, source: Path) -> dict:
    import papermill

    return params.notebook_parameters(papermill.inspect_notebook(str(source)))


def _execute(notebook: str, parameters: dict, out_dir: Path, source: Path, manifest: Manifest,
             progress: Callable[[str], None]) -> float:
    """Run one notebook with papermill into ``out_dir``, record it in the manifest; seconds taken."""
    import papermill

    output = out_dir / f"{notebook}.ipynb"
    handler = _CellOutputPrinter(progress, notebook)
    papermill_log = logging.getLogger("papermill")
    papermill_log.addHandler(handler)
    papermill_log.setLevel(logging.INFO)
    papermill_log.propagate = False
    began = time.monotonic()
    try:
        # Kernels inherit this process's stderr; their start-up noise belongs in the run's log.
        with stderr_to(out_dir / "kernels.log"):
            papermill.execute_notebook(
                str(source),
                str(output),
                parameters=parameters,
                cwd=str(source.parent),
                kernel_name="python3",
                progress_bar=False,
                log_output=True,
            )
    except Exception as err:
        message = _describe_failure(notebook, err)
        manifest.stages.append(StageResult(notebook, "failed", time.monotonic() - began, str(output), message))
        manifest.status = "failed"
        raise StageFailed(f"{message}\nexecuted copy kept at {output}") from None
    finally:
        papermill_log.removeHandler(handler)
    seconds = time.monotonic() - began
    manifest.stages.append(StageResult(notebook, "ok", seconds, str(output)))
    return seconds


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
