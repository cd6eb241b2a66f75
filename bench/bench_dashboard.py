"""The dashboard on a fleet-month: every query it runs, page draws in the kernel, and the served page in
chromium (first meaningful paint of a warm page, page switches).

    .venv/bin/python bench/bench_dashboard.py [--compressors 1000] [--days 30] [--runs 20] [--loads 3]

The serving tables are filled by tests/serving_seed.py (1,000 compressors x 30 days: 720 k hourly, 180 k
4-hourly and 30 k daily aggregates, 720 k predictions) in a scratch data root with its own embedded
PostgreSQL. Every SQL statement the pages issue is timed where it runs (``db.query``) while each page is
drawn ``--runs`` times for a rotating compressor; p50/p95 per statement. The browser part serves the
dashboard with Voila's preheated kernel, loads the page ``--loads`` times (each time after the pool has
refilled: a warm page) and, in the page, times the first animation frame in which the KPI cards and the map's
markers show (from the start of navigation), then for each page switch the first frame in which its content
shows (from the click). The engineer reads each page for 2 s before switching to the next. Results:
bench/results/dashboard.json and bench/results_dashboard.md.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

PAGE_READY = {  # a page has drawn its data: a JavaScript test, run in each animation frame (hidden pages do not count)
    "Real-Time Monitoring": "shown('.js-plotly-plot, .plot-img') >= 2",  # gauges and trends
    "Predictive Alerts": "document.body.innerText.includes('showing')",
    "Data Quality": "shown('.js-plotly-plot, .plot-img') >= 1",
    "Fleet Overview": "shown('.leaflet-interactive') >= 1",
}
FIRST_PAINT = "shown('.kpi') >= 1 && " + PAGE_READY["Fleet Overview"]
READ_BEFORE_SWITCHING_MS = 2000
# Records window.READY_AT: the time of the first animation frame after `since` in which `test` holds.
FRAME_WATCH = """([test, since]) => {
  const shown = s => [...document.querySelectorAll(s)].filter(e => e.getClientRects().length > 0).length;
  const ready = new Function('shown', 'return ' + test);
  window.READY_AT = null;
  const tick = () => { const now = performance.now();
    if (now >= since() && ready(shown)) { window.READY_AT = now; } else { requestAnimationFrame(tick); } };
  requestAnimationFrame(tick);
}"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def time_queries(settings, runs: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per SQL statement (its first words) and per page draw: the seconds of each execution."""
    from altaviz.dashboard import app as app_module
    from altaviz.io import db

    by_statement: dict[str, list[float]] = defaultdict(list)
    real_query = db.query

    def timed(sql, params=None, settings=None):
        text = sql if isinstance(sql, str) else sql.as_string(None)
        began = time.perf_counter()
        try:
            return real_query(sql, params, settings=settings)
        finally:
            by_statement[" ".join(text.split())[:90]].append(time.perf_counter() - began)

    db.query = timed
    try:
        dashboard = app_module.Dashboard(settings=settings)
        dashboard.refresh()
        units = list(dashboard.view.fleet["compressor_id"])
        by_page: dict[str, list[float]] = defaultdict(list)
        for run in range(runs):
            began = time.perf_counter()
            dashboard.refresh()
            by_page["refresh (fleet + KPI)"].append(time.perf_counter() - began)
            dashboard.open_unit(units[(run * 97) % len(units)])
            for index, name in enumerate(app_module.PAGES):
                began = time.perf_counter()
                dashboard.pages[index].show(dashboard.view)
                by_page[name].append(time.perf_counter() - began)
    finally:
        db.query = real_query
    return by_statement, by_page


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def time_browser(env: dict, loads: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "altaviz.cli", "dashboard", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=ROOT)
    times: dict[str, list[float]] = defaultdict(list)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            for _ in range(loads):
                time.sleep(25)  # the preheated kernel (re)fills: the next page is warm
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.add_init_script(f"({FRAME_WATCH})([{json.dumps(FIRST_PAINT)}, () => 0])")
                page.goto(f"http://127.0.0.1:{port}/", timeout=180_000)
                page.wait_for_function("window.READY_AT !== null", timeout=180_000)
                times["first meaningful paint (warm)"].append(page.evaluate("window.READY_AT") / 1000)
                for name, ready in PAGE_READY.items():
                    page.wait_for_timeout(READ_BEFORE_SWITCHING_MS)
                    page.evaluate("() => { window.CLICKED_AT = Infinity; document.addEventListener('click', "
                                  "() => { window.CLICKED_AT = performance.now(); }, {capture: true, once: true}); }")
                    page.evaluate(f"([test]) => ({FRAME_WATCH})([test, () => window.CLICKED_AT])", [ready])
                    page.get_by_role("button", name=name, exact=True).click()
                    page.wait_for_function("window.READY_AT !== null", timeout=60_000)
                    times[f"switch to {name}"].append(page.evaluate("window.READY_AT - window.CLICKED_AT") / 1000)
                page.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return times


def summary(samples: dict[str, list[float]], unit: float = 1000.0) -> list[dict]:
    return [{"name": name, "n": len(values), "p50": statistics.median(values) * unit,
             "p95": percentile(values, 0.95) * unit, "max": max(values) * unit}
            for name, values in samples.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compressors", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="altaviz-bench-dashboard-"))
    os.environ["ALTAVIZ_DATA_DIR"] = str(root / "data")
    os.environ["DATABASE_URL"] = ""
    from altaviz.config import get_settings
    from altaviz.io import db

    import serving_seed

    settings = get_settings()
    try:
        began = time.perf_counter()
        rows = serving_seed.seed(settings, compressors=args.compressors, days=args.days)
        print(f"seeded {rows:,} rows in {time.perf_counter() - began:.0f} s", flush=True)
        statements, pages = time_queries(settings, args.runs)
        result = {"compressors": args.compressors, "days": args.days, "rows": rows,
                  "statements_ms": summary(statements), "page_draws_ms": summary(pages)}
        if not args.no_browser:
            result["browser_s"] = summary(time_browser(dict(os.environ), args.loads), unit=1.0)
    finally:
        db.stop_embedded(settings)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "dashboard.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [f"# Dashboard on {args.compressors:,} compressors x {args.days} days ({rows:,} serving rows)", "",
             f"Every statement the pages run, timed in `db.query` over {args.runs} draws of each page (ms):", "",
             "| statement | n | p50 | p95 | max |", "|---|---:|---:|---:|---:|"]
    lines += [f"| `{s['name']}` | {s['n']} | {s['p50']:.1f} | {s['p95']:.1f} | {s['max']:.1f} |"
              for s in result["statements_ms"]]
    lines += ["", "Page draws in the kernel (ms, queries and figures):", "", "| page | p50 | p95 |", "|---|---:|---:|"]
    lines += [f"| {s['name']} | {s['p50']:.0f} | {s['p95']:.0f} |" for s in result["page_draws_ms"]]
    if "browser_s" in result:
        lines += ["", f"In chromium, served by Voila (s, {args.loads} warm loads):", "", "| | p50 | max |",
                  "|---|---:|---:|"]
        lines += [f"| {s['name']} | {s['p50']:.2f} | {s['max']:.2f} |" for s in result["browser_s"]]
    (ROOT / "bench" / "results_dashboard.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
