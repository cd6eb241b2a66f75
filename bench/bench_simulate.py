"""Benchmark the simulator: readings per second for 100 and 1,000 compressors x 30 days.

Run: ``python bench/bench_simulate.py [--repeats 5] [--fleet-year]``. Prints a markdown table and
writes it to ``bench/results_simulate.md``.

Baseline, measured in the same run: the floor cost of producing the same number of rows with no
physics, events or faults (i.i.d. normal sensor values, the same ids and timestamps) and writing them
with the same Parquet writer. "x baseline" is simulator time / baseline time for the same row count, so
it is the price of the physics, schedules and faults on top of merely writing the data.

``--fleet-year`` also runs 10,000 compressors x 1 year once in a child process and records its time
and peak memory (about 10-15 minutes and 25 GB of disk on a 2-core machine).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from altaviz.simulate import SimulationParams, simulate_fleet  # noqa: E402

DAYS = 30
START, END = "2026-01-01", "2026-01-31"
CADENCE_MINUTES = SimulationParams(start_date=START, end_date=END).cadence_minutes  # from config/pipeline.yaml


@dataclass(frozen=True)
class Result:
    label: str
    readings: int
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def time_simulation(count: int, csv_every: int, repeats: int) -> Result:
    params = SimulationParams(compressor_count=count, start_date=START, end_date=END, csv_every=csv_every)
    seconds, readings = [], 0
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as landing:
            began = time.perf_counter()
            summary = simulate_fleet(params, Path(landing))
            seconds.append(time.perf_counter() - began)
            readings = summary.readings_written
    formats = "Parquet only" if csv_every == 0 else f"every {csv_every}nd chunk CSV"
    return Result(f"simulate {count:,} x {DAYS} d ({formats})", readings, seconds)


def time_baseline(count: int, repeats: int) -> Result:
    """Same row count and schema, random values, one Parquet file per 250 units: no physics at all."""
    steps, step_us = DAYS * 24 * 60 // CADENCE_MINUTES, CADENCE_MINUTES * 60_000_000
    seconds = []
    for run in range(repeats):
        rng = np.random.default_rng(run)
        with tempfile.TemporaryDirectory() as landing:
            began = time.perf_counter()
            for part, c0 in enumerate(range(0, count, 250)):
                units = min(250, count - c0)
                unit = np.repeat(np.arange(units, dtype=np.int32), steps)
                ids = pa.array([f"COMP-{c0 + i + 1:04d}" for i in range(units)])
                columns = [pa.DictionaryArray.from_arrays(pa.array(unit), ids).cast(pa.string()),
                           pa.array(1_767_225_600_000_000 + np.tile(np.arange(steps), units) * step_us,
                                    pa.timestamp("us", tz="UTC"))]
                columns += [pa.array(np.round(rng.normal(1000.0, 10.0, unit.size), 2)) for _ in range(6)]
                table = pa.Table.from_arrays(columns, names=[f"c{i}" for i in range(8)])
                pq.write_table(table, Path(landing) / f"part-{part:05d}.parquet", compression="snappy")
            seconds.append(time.perf_counter() - began)
    return Result(f"baseline {count:,} x {DAYS} d (random values, Parquet write only)", count * steps, seconds)


def time_fleet_year() -> tuple[float, int, float]:
    """10,000 x 1 year in a child process: (seconds, readings, peak RSS in MB)."""
    code = ("import sys, pathlib, tempfile; sys.path.insert(0, %r)\n"
            "from altaviz.simulate import SimulationParams, simulate_fleet\n"
            "with tempfile.TemporaryDirectory() as d:\n"
            "    s = simulate_fleet(SimulationParams(compressor_count=10_000, start_date='2026-01-01',"
            " end_date='2027-01-01'), pathlib.Path(d))\n"
            "    print(s.readings_written)\n") % str(ROOT)
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return seconds, int(done.stdout.split()[-1]), peak_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--fleet-year", action="store_true", help="also run 10,000 x 1 year once")
    args = parser.parse_args()

    header = [
        "# Simulator benchmark",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"numpy {np.__version__}, pyarrow {pa.__version__}. {args.repeats} runs each, fresh temp dir per run.",
        "Produced by `python bench/bench_simulate.py`; see its docstring for what the baseline is.",
        "",
        "| run | readings | median s | min s | readings/s | x baseline |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines = list(header)
    print("\n".join(header), flush=True)

    def report(line: str) -> None:
        lines.append(line)
        print(line, flush=True)
        (ROOT / "bench" / "results_simulate.md").write_text("\n".join(lines) + "\n")

    baselines = {count: time_baseline(count, args.repeats) for count in (100, 1000)}
    runs = [(100, baselines[100]), (1000, baselines[1000])]
    for count, csv_every in ((100, 0), (1000, 0), (1000, 2)):
        runs.append((count, time_simulation(count, csv_every, args.repeats)))
    for count, r in runs:
        base = baselines[count]  # same fleet size; simulated rows differ only by gaps and downtime
        report(f"| {r.label} | {r.readings:,} | {r.median:.2f} | {min(r.seconds):.2f} | "
               f"{r.readings / r.median:,.0f} | {r.median / base.median:.1f} |")
    if args.fleet_year:
        seconds, readings, peak_mb = time_fleet_year()
        report(f"| simulate 10,000 x 365 d (every 2nd chunk CSV), once | {readings:,} | {seconds:.0f} | "
               f"{seconds:.0f} | {readings / seconds:,.0f} | - |")
        report("")
        report(f"10,000 x 1 year peak memory (child process max RSS): {peak_mb:,.0f} MB.")


if __name__ == "__main__":
    main()
