"""The `altaviz` command: run the pipeline, check a landing folder, manage the embedded database and the shared
Spark, serve the dashboard."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml

from altaviz.io import db
from altaviz.config import PROJECT_ROOT, ConfigError, get_settings
from altaviz.runner import RunInProgress, RunParams, StageFailed, run_pipeline
from altaviz.runs import parse_utc
from altaviz.yaml_config import SITE_CONFIG_ENV

DASHBOARD_PORT = 8866


# Set by their own flags, or fixed by config (silver's completeness reads the same cadence).
_NOT_SIMULATOR_OPTIONS = {"compressor_count", "start_date", "end_date", "seed", "failures_per_compressor_year",
                          "cadence_minutes"}


def simulator_options(pairs: list[str] | None) -> dict:
    """``KEY=VALUE`` pairs (VALUE in YAML: 5, 0.5, {spike: 0.05}, [[0, bearing_wear]]) for SimulationParams."""
    from altaviz.simulate import SimulationParams

    allowed = sorted(set(SimulationParams.__dataclass_fields__) - _NOT_SIMULATOR_OPTIONS)
    options = {}
    for pair in pairs or []:
        key, sep, text = pair.partition("=")
        if not sep or key not in allowed:
            raise ValueError(f"--simulator {pair!r}: expected KEY=VALUE with KEY one of {', '.join(allowed)}")
        options[key] = yaml.safe_load(text)
    return options


def _run(args: argparse.Namespace) -> int:
    settings = get_settings()
    params = RunParams.defaults(
        settings,
        run_id=args.run_id,
        compressor_count=args.compressors,
        start_date=args.start,
        end_date=args.end,
        seed=args.seed,
        # Resolved here: the notebooks run in notebooks/, not where the user typed the command.
        landing_dir=str(Path(args.landing).expanduser().resolve()) if args.landing else None,
        simulate=not args.no_simulate,
        failures_per_compressor_year=args.failure_rate,
        simulator_options=simulator_options(args.simulator),
        retrain=args.retrain,
    )
    # Fail before any notebook runs when the database is unreachable.
    print(f"database: {db.target(settings).describe()}")
    db.apply_schema(settings)
    try:
        manifest = run_pipeline(params, settings=settings, recompute=args.recompute)
    except StageFailed as err:
        print(f"\nFAILED: {err}", file=sys.stderr)
        return 1
    except RunInProgress as err:
        print(f"REFUSED: {err}", file=sys.stderr)
        return 2
    from altaviz.summary import run_summary

    print()
    print(run_summary(manifest, settings))
    return 0


def _db(args: argparse.Namespace) -> int:
    settings = get_settings()
    if args.action == "start":
        print(f"running: {db.target(settings).describe()}")
        print(f"schema: applied {', '.join(db.apply_schema(settings))}")
    elif args.action == "stop":
        if settings.database.is_external:
            print("an external database is configured; nothing to stop")
        elif db.stop_embedded(settings):
            print(f"stopped the embedded PostgreSQL under {db.embedded_dir(settings)}")
        else:
            print("the embedded PostgreSQL was not running")
    elif args.action == "status":
        if settings.database.is_external:
            with db.connect(settings) as conn:
                conn.execute("SELECT 1")
            print(f"reachable: {db.target(settings).describe()}")
        elif db.embedded_running(settings):
            print(f"running: {db.target(settings).describe()}")
        else:
            print(f"stopped: embedded PostgreSQL under {db.embedded_dir(settings)}")
            return 3
    elif args.action == "url":
        print(db.redacted_url(settings))
    elif args.action == "psql":
        return db.psql(settings, tuple(args.extra))
    return 0


def _ingest_check(args: argparse.Namespace) -> int:
    """Print what bronze would make of each landing file; exit 1 when any would be rejected."""
    import pandas as pd

    from altaviz.bronze.stage import check_landing
    from altaviz.io.spark import get_spark

    settings = get_settings()
    landing = Path(args.landing).expanduser() if args.landing else settings.pipeline.landing_dir
    print(f"profiles: {', '.join(source.name for source in settings.pipeline.sources)}; landing: {landing}; "
          "times in UTC")
    report = check_landing(get_spark(settings), landing, settings=settings)
    with pd.option_context("display.max_rows", None, "display.max_colwidth", 100, "display.width", 200):
        print(report.astype(object).where(report.notna(), "").to_string(index=False) if len(report) else "no files")
    verdicts = report["verdict"].value_counts()
    print("; ".join(f"{count} file(s): {verdict}" for verdict, count in verdicts.items()) or "nothing to ingest")
    return 1 if "reject" in verdicts else 0


def _spark(args: argparse.Namespace) -> int:
    from altaviz.io import spark_server

    settings = get_settings()
    if settings.spark.remote:
        print(f"a Spark Connect endpoint is configured (spark.remote): {settings.spark.remote}; nothing to manage here")
        return 0
    if args.action == "start":
        print(f"running: {spark_server.start(settings)}  (log: {spark_server.log_path(settings)})")
    elif args.action == "stop":
        stopped = spark_server.stop(settings)
        print("stopped the Spark Connect server" if stopped else "the Spark Connect server was not running")
    elif args.action == "status":
        url = spark_server.running_url(settings)
        print(f"running: {url}" if url else "stopped: notebooks start Spark in their own process")
        return 0 if url else 3
    return 0


CULL_IDLE_SECONDS = 300
VOILA_TEMPLATES = PROJECT_ROOT / "altaviz" / "dashboard" / "jupyter"  # holds voila/templates/altaviz


def voila_command(notebook: Path, *, port: int, ip: str = "127.0.0.1",
                  cull_idle_seconds: int = CULL_IDLE_SECONDS) -> tuple[list[str], dict[str, str]]:
    """How the dashboard is served (by `altaviz dashboard` and the browser tests): the command and its env.

    - Template ``altaviz``: no request leaves the machine; the notebook's developer notes stay in JupyterLab.
    - One preheated kernel: a page opens on a kernel that has imported everything and built the app.
    - A closed tab's kernel is shut down by the page's unload (the template gives the page the cookie that
      request needs); kernels of pages that went without a word (a crash, a lost network) are culled after
      ``cull_idle_seconds`` idle and unconnected (5 minutes), checked every fifth of that (at most a minute).
      A page's websocket keeps its kernel. It must exceed the time a page takes, on a busy server, from its
      kernel's last output to its websocket: a kernel culled in between leaves the page without an app.
    - A busy server waits up to 30 s (not nbclient's 4 s) for a cell's outputs after the kernel's reply:
      past that the executor drops them, and a page can load without its app.
    - Tracebacks stay in the server log; the browser gets no way to run code (Voila runs only the notebook).
    """
    command = [
        sys.executable, "-m", "voila", str(notebook),
        "--no-browser", f"--port={port}", f"--Voila.ip={ip}", "--template=altaviz",
        "--preheat_kernel=True", "--pool_size=1", "--show_tracebacks=False", "--VoilaExecutor.iopub_timeout=30",
        f"--MappingKernelManager.cull_idle_timeout={cull_idle_seconds}",
        f"--MappingKernelManager.cull_interval={max(1, min(60, cull_idle_seconds // 5))}",
    ]
    paths = os.pathsep.join(filter(None, [str(VOILA_TEMPLATES), os.environ.get("JUPYTER_PATH")]))
    return command, {**os.environ, "JUPYTER_PATH": paths}


def _dashboard(args: argparse.Namespace) -> int:
    settings = get_settings()
    db.target(settings)  # start the embedded server before Voila's kernel needs it
    notebook = PROJECT_ROOT / "notebooks" / "06_dashboard.ipynb"
    print(f"Altaviz dashboard: http://{args.ip}:{args.port}/  (Ctrl-C stops it)", flush=True)
    command, env = voila_command(notebook, port=args.port, ip=args.ip, cull_idle_seconds=args.cull_idle_seconds)
    server = subprocess.Popen(command, env=env, cwd=str(notebook.parent))
    # A stop signal sent to `altaviz dashboard` stops Voila too, instead of leaving it running as an orphan.
    signal.signal(signal.SIGTERM, lambda *_: server.terminate())
    try:
        return server.wait()
    except KeyboardInterrupt:  # Ctrl-C reaches Voila as well (same process group); let it shut down
        return server.wait()


def utc_date_or_time(text: str) -> str:
    """An argparse type: the text unchanged when it is a date or an ISO time (naive = UTC)."""
    try:
        parse_utc(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a date (YYYY-MM-DD) nor an ISO time (2026-06-01T06:00, 2026-06-01T06:00+02:00)"
        ) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="altaviz", description=__doc__)
    parser.add_argument("--config", metavar="DIR",
                        help="a site's config folder laid over the project's config/ (same as $ALTAVIZ_CONFIG_DIR); "
                             "a site that adds sensors sets the variable instead")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run notebooks 01-05 with papermill into runs/<run_id>/")
    run.add_argument("--compressors", type=int, help="fleet size (default from config/pipeline.yaml)")
    run.add_argument("--start", type=utc_date_or_time, help="first UTC day, YYYY-MM-DD (inclusive), or an ISO time")
    run.add_argument("--end", type=utc_date_or_time,
                     help="end, exclusive: a UTC day YYYY-MM-DD (its midnight) or an ISO time; also the run's as-of "
                          "time, which silver's freshness is measured against")
    run.add_argument("--seed", type=int, help="simulator seed")
    run.add_argument("--failure-rate", type=float,
                     help="simulated failures per compressor-year (default 2.0; 0 gives a healthy fleet)")
    run.add_argument("--simulator", action="append", metavar="KEY=VALUE",
                     help="any other simulator setting, repeatable, e.g. chunk_size=100, 'fault_rates={spike: 0.05}', "
                          "'forced_failures=[[0, bearing_wear]]', degrading_at_end=2")
    run.add_argument("--landing", help="landing folder (default <data_dir>/landing)")
    run.add_argument("--run-id", help="name of the run folder (default: UTC start time)")
    run.add_argument("--no-simulate", action="store_true", help="skip 01_simulate; ingest existing files")
    run.add_argument("--retrain", action="store_true",
                     help="train a new failure model instead of scoring with the saved one (data/models/)")
    run.add_argument("--recompute", action="store_true",
                     help="run silver, gold and publish even when their inputs are unchanged since they last succeeded")
    run.set_defaults(handler=_run)

    ingest = commands.add_parser("ingest", help="check what bronze would make of a landing folder, writing nothing")
    ingest.add_argument("action", choices=("check",))
    ingest.add_argument("--landing", help="landing folder (default <data_dir>/landing)")
    ingest.set_defaults(handler=_ingest_check)

    database = commands.add_parser("db", help="manage the serving PostgreSQL")
    database.add_argument("action", choices=("start", "stop", "status", "url", "psql"))
    database.add_argument("extra", nargs=argparse.REMAINDER, help="arguments passed to psql")
    database.set_defaults(handler=_db)

    spark = commands.add_parser("spark", help="manage the local Spark Connect server the notebooks share")
    spark.add_argument("action", choices=("start", "stop", "status"))
    spark.set_defaults(handler=_spark)

    dashboard = commands.add_parser("dashboard", help="serve notebooks/06_dashboard.ipynb with Voila")
    dashboard.add_argument("--port", type=int, default=DASHBOARD_PORT)
    dashboard.add_argument("--ip", default="127.0.0.1", help="address to listen on (0.0.0.0 in a container)")
    dashboard.add_argument("--cull-idle-seconds", type=int, default=CULL_IDLE_SECONDS,
                           help="how long the kernel of a closed page lives on, idle (default 300)")
    dashboard.set_defaults(handler=_dashboard)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.config:
        # Before any settings load here; the notebooks papermill starts inherit the variable.
        os.environ[SITE_CONFIG_ENV] = str(Path(args.config).expanduser().resolve())
        get_settings.cache_clear()
    try:
        return args.handler(args)
    except (ConfigError, db.DatabaseUnavailable, ValueError, RuntimeError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
