"""How fast the Fleet Overview page draws a large fleet.

    .venv/bin/python bench/bench_fleet_map.py [--units 1000] [--runs 5] [--browser] [--out bench/results_fleet_map.md]

Builds a synthetic fleet frame (ten units to a station, every unit of a station at the station's point,
as tests/serving_seed.py does; statuses cycled) and times, median of ``--runs``:

- ``FleetPage(...)``: the widgets, with the bundled outline of the US states;
- ``page.show(view)``: markers, legend, unit list and station summary from the frame (no SQL: the page
  queries only when a marker is clicked);
- the size of the markers' GeoJSON as sent to the browser;
- against the alternative: one CircleMarker widget and one popup widget per unit.

``--browser`` also serves a notebook showing the page with Voila (as ``altaviz dashboard`` does: its
template, a preheated kernel) and opens it in Debian's chromium (headless), reporting the seconds from the
request until every marker is in the DOM (``path.altaviz-unit`` in the overlay pane), that a click on one
opens its popup and that no request left the machine; then the same for the alternative.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STATUS_CYCLE = ["healthy"] * 7 + ["warning", "stale", "critical"]


def synthetic_fleet(units: int) -> pd.DataFrame:
    """``units`` rows shaped like queries.read_fleet, deterministic."""
    as_of = pd.Timestamp("2026-02-10 00:00", tz="UTC")
    numbers = range(units)
    status = [STATUS_CYCLE[(n * 7) % len(STATUS_CYCLE)] for n in numbers]
    return pd.DataFrame({
        "compressor_id": [f"COMP-{n + 1:04d}" for n in numbers],
        "model": "Ajax DPC-360",
        "horsepower": 1400,
        "station_id": [f"ST-{n // 10:03d}" for n in numbers],
        "station_name": [f"Station {n // 10:03d}" for n in numbers],
        # Stations on a coarse grid over Texas, 28-34 N, 94-103 W (as tests/serving_seed.py).
        "latitude": [28.5 + ((n // 10) * 0.37) % 5.5 for n in numbers],
        "longitude": [-102.5 + ((n // 10) * 0.83) % 8.5 for n in numbers],
        "last_reading_time": [as_of - pd.Timedelta(hours=6 if s == "stale" else 0) for s in status],
        "active_alert_count": [2 if s == "critical" else int(s == "warning") for s in status],
        "critical_alert_count": [int(s == "critical") for s in status],
        "warning_alert_count": [int(s in ("warning", "critical")) for s in status],
        "in_downtime": False,
        "failure_probability": [(n % 100) / 100 for n in numbers],
        "warning_probability": [min(1.0, (n % 100) / 80) for n in numbers],
        "rul_days": [None if n % 3 else float(n % 60) for n in numbers],
        "stale": [s == "stale" for s in status],
        "status": status,
    })


def widget_map(fleet: pd.DataFrame):
    """The alternative measured against: one CircleMarker widget with its own HTML popup widget per unit
    (what the page drew before), in a LayerGroup on a map without tiles."""
    import ipyleaflet as L
    import ipywidgets as W

    from altaviz.dashboard.style import STATUS_COLORS

    layer = L.LayerGroup()
    for unit in fleet.itertuples():
        color = STATUS_COLORS[unit.status]
        marker = L.CircleMarker(location=(unit.latitude, unit.longitude), radius=7, color=color, fill_color=color)
        marker.popup = W.HTML(f"<b>{unit.compressor_id}</b> · {unit.model}<br>{unit.station_name}")
        layer.add(marker)
    return L.Map(layers=(layer,), center=(31.0, -99.0), zoom=6, layout=W.Layout(height="480px"))


def python_side(units: int, runs: int) -> list[str]:
    from altaviz.config import get_settings
    from altaviz.dashboard.pages.fleet import FleetPage, us_outline
    from altaviz.dashboard.view import View

    settings = get_settings()
    fleet = synthetic_fleet(units)
    view = View(as_of=pd.Timestamp("2026-02-10 00:00", tz="UTC").to_pydatetime(), fleet=fleet)
    us_outline()  # read once per kernel: not part of a page's build
    builds, shows = [], []
    for _ in range(runs):
        start = time.perf_counter()
        page = FleetPage(settings, open_unit=print)
        built = time.perf_counter()
        page.show(view)
        shows.append(time.perf_counter() - built)
        builds.append(built - start)
    widget_builds = []
    for _ in range(runs):
        start = time.perf_counter()
        widget_map(fleet)
        widget_builds.append(time.perf_counter() - start)
    markers = len(json.dumps(page.markers.data))
    outline = len(json.dumps(us_outline()))
    return [
        f"- units: {units} ({len(page.markers.data['features'])} markers, {len(page.units.options)} rows)",
        f"- FleetPage(...) with the outline: median {statistics.median(builds) * 1000:.0f} ms",
        f"- page.show(view): median {statistics.median(shows) * 1000:.0f} ms",
        f"- the alternative, {units} CircleMarker + {units} popup widgets: median "
        f"{statistics.median(widget_builds) * 1000:.0f} ms to build",
        f"- markers GeoJSON: {markers / 1024:.0f} KiB; outline GeoJSON: {outline / 1024:.0f} KiB",
    ]


NOTEBOOK_CODE = """\
import sys
sys.path.insert(0, {root!r})
sys.path.insert(0, {bench!r})
import pandas as pd
from bench_fleet_map import synthetic_fleet
from altaviz.config import get_settings
from altaviz.dashboard.pages.fleet import FleetPage
from altaviz.dashboard.view import View
page = FleetPage(get_settings(), open_unit=print)
page.show(View(as_of=pd.Timestamp("2026-02-10", tz="UTC").to_pydatetime(), fleet=synthetic_fleet({units})))
page.widget
"""
WIDGETS_NOTEBOOK_CODE = """\
import sys
sys.path.insert(0, {root!r})
sys.path.insert(0, {bench!r})
from bench_fleet_map import synthetic_fleet, widget_map
widget_map(synthetic_fleet({units}))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def browser_side(units: int, *, widgets: bool = False) -> list[str]:
    import nbformat
    from playwright.sync_api import sync_playwright

    from altaviz.cli import VOILA_TEMPLATES, voila_command
    from altaviz.dashboard.style import STATUS_COLORS

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        return ["- browser: skipped (apt-get install chromium)"]
    with tempfile.TemporaryDirectory() as folder:
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
            (WIDGETS_NOTEBOOK_CODE if widgets else NOTEBOOK_CODE).format(
                root=str(ROOT), bench=str(ROOT / "bench"), units=units))])
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        path = Path(folder) / "fleet.ipynb"
        nbformat.write(notebook, path)
        port = _free_port()
        # Served as `altaviz dashboard` serves (its template, a preheated kernel) when that template is there.
        command, env = voila_command(path, port=port)
        preheated = any((VOILA_TEMPLATES / "voila" / "templates" / "altaviz").glob("*"))
        if not preheated:
            command = [sys.executable, "-m", "voila", str(path), "--no-browser", f"--port={port}",
                       "--Voila.ip=127.0.0.1"]
        server = subprocess.Popen(command, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with socket.socket() as probe:
                    if probe.connect_ex(("127.0.0.1", port)) == 0:
                        break
                time.sleep(0.2)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
                tab = browser.new_page(viewport={"width": 1400, "height": 1000})
                outside = []
                tab.on("request", lambda r: outside.append(r.url)
                       if not r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else None)
                time.sleep(20 if preheated else 0)  # a preheated kernel runs the notebook before the request
                start = time.perf_counter()
                tab.goto(f"http://127.0.0.1:{port}/", timeout=120_000)
                tab.wait_for_selector(".leaflet-container", timeout=120_000)
                map_shown = time.perf_counter() - start
                markers = ".leaflet-overlay-pane path.leaflet-interactive" + ("" if widgets else ".altaviz-unit")
                tab.wait_for_function(f"document.querySelectorAll('{markers}').length >= {units}", timeout=300_000)
                all_markers = time.perf_counter() - start
                count = tab.locator(markers).count()
                if widgets:
                    browser.close()
                    return [f"- browser, the alternative ({units} CircleMarker + popup widgets): map in the DOM "
                            f"{map_shown:.1f} s after the request, all {count} markers {all_markers:.1f} s after it"]
                outline_paths = tab.locator(".leaflet-overlay-pane path.altaviz-outline").count()
                outline_hits = tab.locator(".leaflet-overlay-pane path.altaviz-outline.leaflet-interactive").count()
                critical = tab.locator(f'{markers}.altaviz-critical[fill="{STATUS_COLORS["critical"]}"]'
                                       f'[stroke="{STATUS_COLORS["critical"]}"]').count()
                tab.locator(f"{markers}.altaviz-critical").last.click()
                tab.wait_for_selector(".leaflet-popup-content >> text=Open COMP-", timeout=30_000)
                popup = tab.locator(".leaflet-popup-content").inner_text().splitlines()[0]
                tab.screenshot(path=str(Path(tempfile.gettempdir()) / "bench_fleet_map.png"))
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    return [
        f"- browser ({'preheated kernel, as altaviz dashboard' if preheated else 'kernel started on request'}): "
        f"map in the DOM {map_shown:.1f} s after the request, all {count} markers {all_markers:.1f} s after it "
        f"({critical} critical by class and colour); {outline_paths} outline paths, {outline_hits} of them "
        f"clickable; a click on a critical marker opened the popup of {popup.split(' ')[0]}; "
        f"requests that left the machine: {len(outside)}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--browser", action="store_true")
    parser.add_argument("--out", type=Path, help="also write the results there (markdown)")
    args = parser.parse_args()
    lines = python_side(args.units, args.runs)
    if args.browser:
        lines += browser_side(args.units) + browser_side(args.units, widgets=True)
    print("\n".join(lines))
    if args.out:
        args.out.write_text(
            "# Fleet Overview: drawing a large fleet\n\n"
            f"Synthetic fleet of {args.units} units (ten to a station, stations over Texas), median of {args.runs} "
            "runs, 2 cores. Generated by `bench/bench_fleet_map.py --browser`; rerun it to refresh.\n\n"
            + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
