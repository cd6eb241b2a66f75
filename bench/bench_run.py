"""A whole run, 02_bronze to 05_publish: one shared Spark against one JVM per notebook.

    .venv/bin/python bench/bench_run.py [--compressors 10] [--days 30] [--runs 3] [--out bench/results_run.md]

Simulates the fleet and trains its failure model once (a full run in a scratch data root). Each timed
run then copies that landing folder and saved model into a fresh data root (its own lake and embedded
PostgreSQL) and executes notebooks 02-05 through ``run_pipeline``: with the Spark Connect server a run
shares (what ``altaviz run`` does; its start-up is part of the time) or, the baseline measured in the same
invocation, with each notebook starting Spark in its own kernel. Runs are interleaved; medians are shown.
Right after each shared run, a second run over the same, unchanged landing folder gives the fixed cost
of a run that has nothing new to do.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STAGES = ("02_bronze", "03_silver", "04_gold", "05_publish")
MODES = {"one JVM per notebook (baseline)": False, "one shared Spark Connect server": True}


def use_root(root: Path):
    """Point this process and the kernels it starts at ``root`` (lake, database, runs), fresh settings."""
    from altaviz.config import get_settings

    os.environ["ALTAVIZ_DATA_DIR"] = str(root / "data")
    os.environ["ALTAVIZ_RUNS_DIR"] = str(root / "runs")
    get_settings.cache_clear()
    return get_settings()


def stop_root(settings) -> None:
    """Stop what a run left running on this data root: its embedded PostgreSQL and the Spark Connect server
    it kept warm (the next root's run would find the port taken)."""
    from altaviz.io import db, spark_server

    spark_server.stop(settings)
    db.stop_embedded(settings)


def run(root: Path, params, *, share_spark: bool, stages=STAGES) -> tuple[float, dict[str, float]]:
    from altaviz.io import db
    from altaviz.runner import run_pipeline

    settings = use_root(root)
    db.apply_schema(settings)  # as `altaviz run` does before the first notebook
    began = time.perf_counter()
    manifest = run_pipeline(params, settings=settings, progress=lambda _: None, stages=stages,
                            share_spark=share_spark)
    return time.perf_counter() - began, {stage.notebook: stage.seconds for stage in manifest.stages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compressors", type=int, default=10)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results_run.md")
    args = parser.parse_args()

    from altaviz.runner import RunParams
    from altaviz.runs import read_stage_counts

    start = date(2026, 1, 1)
    end = start + timedelta(days=args.days)
    scratch = Path(tempfile.mkdtemp(prefix="altaviz-bench-run-"))
    try:
        prepared = scratch / "prepared"
        settings = use_root(prepared)
        params = RunParams.defaults(settings, run_id="prepare", compressor_count=args.compressors,
                                    start_date=str(start), end_date=str(end))
        print("preparing: simulate and train once ...", file=sys.stderr, flush=True)
        run(prepared, params, share_spark=True, stages=("01_simulate", *STAGES))
        stop_root(settings)
        landing, models = settings.pipeline.landing_dir, settings.pipeline.data_dir / "models"
        readings = read_stage_counts("prepare", settings)["02_bronze"]["sensors_bronze"]

        timings: dict[str, list[tuple[float, dict]]] = {name: [] for name in MODES}
        empty: list[float] = []
        for index in range(args.runs):
            for name, shared in MODES.items():  # interleaved: drift hits both alike
                root = scratch / f"run-{index}-{int(shared)}"
                shutil.copytree(landing, root / "landing")
                if models.exists():  # none when the fleet logged too few failures to train (cold start)
                    shutil.copytree(models, root / "data" / "models")
                timed = RunParams.defaults(settings, run_id="timed", compressor_count=args.compressors,
                                           start_date=str(start), end_date=str(end), simulate=False,
                                           landing_dir=str(root / "landing"))
                timings[name].append(run(root, timed, share_spark=shared))
                if shared:
                    again = RunParams.defaults(settings, run_id="again", compressor_count=args.compressors,
                                               start_date=str(start), end_date=str(end), simulate=False,
                                               landing_dir=str(root / "landing"))
                    empty.append(run(root, again, share_spark=True)[0])
                stop_root(use_root(root))
                shutil.rmtree(root, ignore_errors=True)
                print(f"run {index + 1}/{args.runs} {name}: {timings[name][-1][0]:.1f} s", file=sys.stderr,
                      flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    baseline = statistics.median(total for total, _ in timings[next(iter(MODES))])
    lines = [
        "# A whole run: one shared Spark vs one JVM per notebook",
        "",
        f"{args.compressors} compressors × {args.days} days ({readings:,} readings), notebooks 02-05 on a fresh "
        "data root with the prepared run's model, if it trained one (no training in the timed runs); "
        f"{args.runs} runs per mode (interleaved), median seconds; {os.cpu_count()} cores. "
        "Generated by `bench/bench_run.py`; rerun it to refresh.",
        "",
        "| mode | " + " | ".join(STAGES) + " | whole run | readings/s | speed-up vs baseline |",
        "|---|" + "---:|" * (len(STAGES) + 3),
    ]
    for name, results in timings.items():
        total = statistics.median(t for t, _ in results)
        stages = [statistics.median(s[stage] for _, s in results) for stage in STAGES]
        lines.append(f"| {name} | " + " | ".join(f"{v:.1f}" for v in stages)
                     + f" | {total:.1f} | {readings / total:,.0f} | {baseline / total:.2f}× |")
    lines += [
        "",
        "A second run over the same landing folder, nothing new (shared Spark): "
        f"median {statistics.median(empty):.1f} s ({', '.join(f'{s:.1f}' for s in empty)}).",
        "",
        "All runs (whole run, seconds):",
        "",
        *[f"- {name}: {', '.join(f'{t:.1f}' for t, _ in results)}" for name, results in timings.items()],
        "",
    ]
    report = "\n".join(lines)
    print(report)
    args.out.write_text(report)


if __name__ == "__main__":
    main()
