"""`make bench` (or `python -m bench [options]`): the pipeline harness, bench/bench_pipeline.py.

The other bench_*.py scripts time one part each (the simulator, the loader, gold and model features, the dashboard,
the map, a shared Spark against one JVM per notebook); each runs on its own and writes bench/results_<name>.md.
"""

import sys

from bench.bench_pipeline import main

main(sys.argv[1:])
