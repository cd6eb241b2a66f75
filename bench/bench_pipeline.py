"""The pipeline harness (`make bench`): fleets of several sizes through notebooks 02-05, each figure
against a baseline measured in the same invocation.

    .venv/bin/python -m bench [--fleets 10,100,1000] [--days 30] [--runs 3] [--out-dir bench/results]

First, once: a full run of ``MODEL_FLEET`` compressors trains the failure model every timed run scores with
(not timed). For each fleet size: simulate the fleet once (not timed), then ``--runs`` times copy that
landing folder and the model into a fresh data root (its own
lake and embedded PostgreSQL) and time ``run_pipeline`` over notebooks 02-05 as ``altaviz run`` does (one
shared Spark Connect server, started inside the timed run), sampling the peak memory of the process tree
(the server's JVM and the notebook kernels; PostgreSQL runs detached and is not counted). Right after each
run, a second run over the same unchanged landing folder. On the last run's data root, the baselines:

- end to end vs a bare Spark read-and-write: the same landing files read and written as one Delta table;
- gold features (``build_gold_features`` over the run's silver table) vs the straightforward formulation,
  one Spark range window per statistic (``reference=True``), forced through the ``noop`` sink;
- the PostgreSQL loader (``db.copy_upsert``: COPY into staging, upsert into a copy of
  ``sensor_readings_agg`` with its indexes) vs a bare binary COPY of the same rows into an unindexed table;
- the dashboard: every SQL statement its pages run, p50/p95 over ten draws of each page.

Once per invocation, the fixed cost: notebooks 02-05 over one compressor-day. Writes
``<out-dir>/pipeline.json`` and ``pipeline.md``; the README quotes the table.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from bench.bench_dashboard import percentile, time_queries  # noqa: E402
from bench.bench_run import stop_root, use_root  # noqa: E402

STAGES = ("02_bronze", "03_silver", "04_gold", "05_publish")
START = date(2026, 1, 1)
DASHBOARD_DRAWS = 10
MODEL_FLEET = 100


class PeakMemory:
    """The largest summed resident memory of this process and all its descendants, sampled every 0.2 s."""

    def __init__(self) -> None:
        import psutil

        self._root = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        import psutil

        while not self._stop.wait(0.2):
            total = 0
            for process in [self._root, *self._root.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except psutil.Error:  # exited between listing and reading
                    pass
            self.peak = max(self.peak, total)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        self._thread.join()


def params_for(settings, run_id: str, compressors: int, days: int, landing: Path | None = None):
    from altaviz.runner import RunParams

    extra = {"simulate": False, "landing_dir": str(landing)} if landing else {}
    return RunParams.defaults(settings, run_id=run_id, compressor_count=compressors, start_date=str(START),
                              end_date=str(START + timedelta(days=days)), **extra)


def timed_run(root: Path, params, stages=STAGES) -> dict:
    """Run ``stages`` on ``root`` as `altaviz run` does; wall seconds, per-stage seconds, peak memory."""
    from altaviz.io import db
    from altaviz.runner import run_pipeline

    settings = use_root(root)
    db.apply_schema(settings)  # as `altaviz run` does before the first notebook
    with PeakMemory() as memory:
        began = time.perf_counter()
        manifest = run_pipeline(params, settings=settings, progress=lambda _: None, stages=stages)
        seconds = time.perf_counter() - began
    return {"seconds": seconds, "stages": {s.notebook: s.seconds for s in manifest.stages},
            "skipped": [s.notebook for s in manifest.stages if s.status == "skipped"],
            "peak_memory_gb": memory.peak / 1e9}


def fresh_root(scratch: Path, name: str, landing: Path, models: Path | None) -> Path:
    """A data root holding a copy of ``landing`` and of the saved ``models`` (None: no model, a cold start)."""
    root = scratch / name
    shutil.copytree(landing, root / "landing")
    if models is not None:
        shutil.copytree(models, root / "data" / "models")
    return root


def bare_spark_write(spark, landing: Path, target: str) -> float:
    """Seconds to read the landing readings (Parquet and CSV parts) and write them as one Delta table."""
    readings = landing / "sensor_readings"
    began = time.perf_counter()
    frame = spark.read.parquet(str(readings / "part-*.parquet"))
    if any(readings.glob("part-*.csv")):
        frame = frame.unionByName(spark.read.schema(frame.schema).option("header", True)
                                  .csv(str(readings / "part-*.csv")))
    frame.write.format("delta").mode("overwrite").save(target)
    return time.perf_counter() - began


def gold_features(spark, settings, reference: bool) -> float:
    """Seconds to compute every gold column over the lake's silver table, forced through ``noop``."""
    from altaviz.gold.transforms import build_gold_features
    from altaviz.io import lake

    began = time.perf_counter()
    silver = lake.read_table(spark, "sensors_silver", settings=settings)
    build_gold_features(silver, registry=settings.registry, reference=reference).write.format("noop") \
        .mode("overwrite").save()
    return time.perf_counter() - began


def spark_baselines(settings, landing: Path, runs: int) -> dict:
    """Bare read-and-write and both gold formulations, on one Spark Connect server like a run's (a new one: the
    first round of each, untimed, pays for loading classes and starting Python workers)."""
    from altaviz.io import spark_server
    from altaviz.io.spark import get_spark

    times: dict[str, list[float]] = {"bare_read_write": [], "gold_arrow": [], "gold_range_windows": []}
    with spark_server.shared(settings, progress=lambda _: None):
        spark = get_spark(settings)
        target = str(settings.pipeline.data_dir / "bench_bare_readings")
        for index in range(runs + 1):  # interleaved: drift hits each alike; the first round warms up, untimed
            measured = {"bare_read_write": bare_spark_write(spark, landing, target),
                        "gold_arrow": gold_features(spark, settings, reference=False),
                        "gold_range_windows": gold_features(spark, settings, reference=True)}
            for name, seconds in measured.items():
                if index:
                    times[name].append(seconds)
        spark.stop()
    return times


def load_baselines(settings, runs: int) -> dict:
    """The loader vs a bare COPY, on the aggregate rows the run published."""
    from altaviz.io import db
    from altaviz.serving.transforms import AGG_COLUMNS

    columns = [*AGG_COLUMNS, "run_id"]
    frame = db.query(f"SELECT {', '.join(columns)} FROM sensor_readings_agg", settings=settings)
    times: dict[str, list[float]] = {"copy_upsert": [], "bare_copy": []}
    with db.connect(settings, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_loaded, bench_bare")
        conn.execute("CREATE TABLE bench_loaded (LIKE sensor_readings_agg INCLUDING ALL)")
        conn.execute(f"CREATE TABLE bench_bare AS SELECT {', '.join(columns)} FROM sensor_readings_agg WITH NO DATA")
        for _ in range(runs):
            conn.execute("TRUNCATE bench_loaded, bench_bare")
            began = time.perf_counter()
            with conn.transaction():
                db.copy_upsert(conn, "bench_loaded", frame, key=("compressor_id", "window_type", "agg_timestamp"))
            times["copy_upsert"].append(time.perf_counter() - began)
            began = time.perf_counter()
            with conn.transaction():
                db.copy_rows(conn, "bench_bare", frame)
            times["bare_copy"].append(time.perf_counter() - began)
        conn.execute("DROP TABLE bench_loaded, bench_bare")
    return {"rows": len(frame), **times}


def dashboard_queries(settings) -> dict:
    with contextlib.redirect_stdout(io.StringIO()):  # the pages display their figures
        statements, _ = time_queries(settings, DASHBOARD_DRAWS)
    every = [seconds for samples in statements.values() for seconds in samples]
    return {"statements": len(every), "p50_ms": median(every) * 1000,
            "p95_ms": percentile(every, 0.95) * 1000}


def train_model(scratch: Path, days: int) -> Path:
    """A full run of ``MODEL_FLEET`` compressors (not timed): its saved failure model scores every timed run,
    so no timed run trains one."""

    root = scratch / "model"
    settings = use_root(root)
    print(f"training the failure model on {MODEL_FLEET} compressors (not timed) ...", file=sys.stderr, flush=True)
    timed_run(root, params_for(settings, "train", MODEL_FLEET, days), stages=("01_simulate", *STAGES))
    stop_root(settings)
    models = settings.pipeline.data_dir / "models"
    if not models.exists():  # every timed run would then train its own: not what a timed run should measure
        raise RuntimeError(f"{MODEL_FLEET} compressors x {days} days logged too few failures to train a model")
    return models


def bench_fleet(scratch: Path, compressors: int, days: int, runs: int, models: Path) -> dict:
    from altaviz.runs import read_stage_counts

    prepared = scratch / f"prepared-{compressors}"
    settings = use_root(prepared)
    print(f"{compressors} compressors: simulate (not timed) ...", file=sys.stderr, flush=True)
    timed_run(prepared, params_for(settings, "prepare", compressors, days), stages=("01_simulate",))
    landing = settings.pipeline.landing_dir
    readings = read_stage_counts("prepare", settings)["01_simulate"]["landing_readings"]
    stop_root(settings)  # the simulation's embedded PostgreSQL: nothing reads it again

    result: dict = {"compressors": compressors, "days": days, "readings": readings, "runs": [], "again": []}
    for index in range(runs):
        root = fresh_root(scratch, f"run-{compressors}-{index}", landing, models)
        settings = use_root(root)
        result["runs"].append(timed_run(root, params_for(settings, "timed", compressors, days, root / "landing")))
        again = timed_run(root, params_for(settings, "again", compressors, days, root / "landing"))
        result["again"].append(again["seconds"])
        if index == runs - 1:
            print(f"{compressors} compressors: baselines ...", file=sys.stderr, flush=True)
            result["dashboard"] = dashboard_queries(settings)
            result["load"] = load_baselines(settings, runs)
            result["spark"] = spark_baselines(settings, root / "landing", runs)
        stop_root(settings)
        shutil.rmtree(root, ignore_errors=True)
        print(f"{compressors} compressors, run {index + 1}/{runs}: {result['runs'][-1]['seconds']:.1f} s "
              f"(again: {again['seconds']:.1f} s)", file=sys.stderr, flush=True)
    shutil.rmtree(prepared, ignore_errors=True)
    return result


def fixed_cost(scratch: Path, runs: int) -> dict:
    """Wall seconds of notebooks 02-05 over one compressor-day (144 readings), each on a fresh data root:
    what a run costs whatever its data (an empty landing folder is refused by bronze). Twice per run: on
    the server the run starts, then on another fresh root attached to that server, kept warm as `altaviz
    run` keeps it for the next run."""
    from altaviz.io import spark_server

    prepared = scratch / "prepared-fixed"
    settings = use_root(prepared)
    timed_run(prepared, params_for(settings, "prepare", 1, 1), stages=("01_simulate",))
    landing = settings.pipeline.landing_dir
    stop_root(settings)
    timed: dict[str, list] = {"runs": [], "kept": []}
    for index in range(runs):
        roots = [fresh_root(scratch, f"fixed-{index}-{kind}", landing, models=None) for kind in timed]
        first = use_root(roots[0])
        timed["runs"].append(timed_run(roots[0], params_for(first, "fixed", 1, 1, roots[0] / "landing")))
        os.environ["ALTAVIZ_SPARK_REMOTE"] = spark_server.running_url(first) or ""
        try:
            settings = use_root(roots[1])
            timed["kept"].append(timed_run(roots[1], params_for(settings, "fixed", 1, 1, roots[1] / "landing")))
            stop_root(settings)
        finally:
            os.environ.pop("ALTAVIZ_SPARK_REMOTE")
        stop_root(use_root(roots[0]))
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(prepared, ignore_errors=True)
    return {"compressors": 1, "days": 1, **timed}


def report(fleets: list[dict], fixed: dict, runs: int) -> str:
    """The Markdown table the README quotes: medians, each with its baseline from the same invocation."""
    lines = [
        "# The pipeline harness: notebooks 02-05 by fleet size",
        "",
        f"Each fleet simulated over {fleets[0]['days']} days; {runs} timed runs per fleet on a fresh data root "
        f"(median shown), scored by a failure model trained beforehand on {MODEL_FLEET} compressors; "
        f"{os.cpu_count()} cores. Generated by `make bench` (`bench/bench_pipeline.py`); JSON beside this file.",
        "",
        "| compressors | readings | " + " | ".join(f"{s} readings/s" for s in STAGES)
        + " | end to end s | readings/s | bare Spark read+write s | ratio | peak memory GB | second run s |",
        "|" + "---:|" * (len(STAGES) + 8),
    ]
    for fleet in fleets:
        total = median(r["seconds"] for r in fleet["runs"])
        bare = median(fleet["spark"]["bare_read_write"])
        per_stage = [fleet["readings"] / median(r["stages"][s] for r in fleet["runs"]) for s in STAGES]
        lines.append(
            f"| {fleet['compressors']:,} | {fleet['readings']:,} | " + " | ".join(f"{v:,.0f}" for v in per_stage)
            + f" | {total:.1f} | {fleet['readings'] / total:,.0f} | {bare:.1f} | {total / bare:.1f}× slower"
            f" | {median(r['peak_memory_gb'] for r in fleet['runs']):.1f} | {median(fleet['again']):.2f} |")
    lines += [
        "",
        "Gold features over the run's silver table, against one Spark range window per statistic; the loader "
        "(`db.copy_upsert` into an indexed copy of `sensor_readings_agg`) against a bare binary COPY into an "
        f"unindexed table; every dashboard statement over {DASHBOARD_DRAWS} draws of each page:",
        "",
        "| compressors | gold rows/s | range windows rows/s | speed-up | aggregate rows | loader rows/s "
        "| bare COPY rows/s | share | dashboard p50 ms | p95 ms |",
        "|" + "---:|" * 10,
    ]
    for fleet in fleets:
        arrow, windows = median(fleet["spark"]["gold_arrow"]), median(fleet["spark"]["gold_range_windows"])
        load = fleet["load"]
        loader, bare = load["rows"] / median(load["copy_upsert"]), load["rows"] / median(load["bare_copy"])
        lines.append(
            f"| {fleet['compressors']:,} | {fleet['readings'] / arrow:,.0f} | {fleet['readings'] / windows:,.0f} "
            f"| {windows / arrow:.1f}× | {load['rows']:,} | {loader:,.0f} | {bare:,.0f} | {loader / bare:.0%} "
            f"| {fleet['dashboard']['p50_ms']:.1f} | {fleet['dashboard']['p95_ms']:.1f} |")
    smallest = median(r["seconds"] for r in fleets[0]["runs"])
    fixed_s = median(r["seconds"] for r in fixed["runs"])
    fixed_stages = ", ".join(f"{s} {median(r['stages'][s] for r in fixed['runs']):.1f}" for s in STAGES)
    lines += ["", f"Fixed cost, notebooks 02-05 over one compressor-day (144 readings): median {fixed_s:.1f} s, "
              f"{fixed_s / smallest:.0%} of the {fleets[0]['compressors']}-compressor run ({fixed_stages} s; "
              "the rest is starting the Spark Connect server)."]
    if fixed.get("kept"):
        kept_s = median(r["seconds"] for r in fixed["kept"])
        kept_stages = ", ".join(f"{s} {median(r['stages'][s] for r in fixed['kept']):.1f}" for s in STAGES)
        lines.append(f"On the server a run keeps warm for the next: median {kept_s:.1f} s, {kept_s / smallest:.0%} "
                     f"of that run ({kept_stages} s).")
    lines.append("")
    for small, large in zip(fleets, fleets[1:]):
        growth = median(r["seconds"] for r in large["runs"]) / median(r["seconds"] for r in small["runs"])
        lines.append(f"From {small['compressors']:,} to {large['compressors']:,} compressors: "
                     f"{large['readings'] / small['readings']:.1f}× the readings, {growth:.1f}× the time.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleets", default="10,100,1000", help="compressor counts, comma-separated")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="altaviz-bench-pipeline-"))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    try:
        print("fixed cost: one compressor-day ...", file=sys.stderr, flush=True)
        fixed = fixed_cost(scratch, args.runs)
        models = train_model(scratch, args.days)
        fleets = []
        for count in args.fleets.split(","):
            fleets.append(bench_fleet(scratch, int(count), args.days, args.runs, models))
            # Written after every fleet: a long invocation cut short keeps what it measured.
            (args.out_dir / "pipeline.json").write_text(json.dumps({"fleets": fleets, "fixed_cost": fixed},
                                                                   indent=1) + "\n")
            text = report(fleets, fixed, args.runs)
            (args.out_dir / "pipeline.md").write_text(text)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(text)


if __name__ == "__main__":
    main()
