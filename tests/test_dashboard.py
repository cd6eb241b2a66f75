"""Dashboard pieces that need no browser: no Spark in the app. Each page's tests are in
test_dashboard_<page>.py (the fleet page's ordering, counts and map in test_dashboard_fleet.py)."""

from __future__ import annotations

import subprocess
import sys


def test_dashboard_never_imports_spark():
    # Every module of the package, not only what app.py happens to import.
    code = ("import importlib, pkgutil, sys, altaviz.dashboard as d\n"
            "for m in pkgutil.walk_packages(d.__path__, 'altaviz.dashboard.'): importlib.import_module(m.name)\n"
            "sys.exit(1 if 'pyspark' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0

