"""Run every benchmark in this folder: `make bench` (or `python -m bench`).

Each bench_*.py times several runs, reports medians and a ratio against a baseline measured in the
same run, prints a markdown table and writes it to bench/results_<name>.md for the README.
"""

import runpy
import sys
from pathlib import Path

for script in sorted(Path(__file__).parent.glob("bench_*.py")):
    print(f"\n## {script.stem}\n", flush=True)
    sys.argv = [str(script)]
    runpy.run_path(str(script), run_name="__main__")
