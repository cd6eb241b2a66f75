"""How fast the serving loader moves rows into PostgreSQL, against the row-by-row alternative.

    .venv/bin/python bench/bench_copy.py [--rows 50000] [--runs 5] [--out bench/results_copy.md]

Loads ``--rows`` sensor_readings_agg-shaped rows into a scratch copy of the table (same columns,
same unique key, no foreign keys) on a private embedded PostgreSQL, ``--runs`` times per method,
and reports the median rows/s and the ratio to the baseline measured in the same run:

- ``executemany INSERT ... ON CONFLICT`` (baseline: psycopg 3 executemany, pipelined, row by row)
- ``db.copy_upsert`` (what 05_publish uses: binary COPY of new keys straight into the table, the stored ones
  into a TEMP staging table + one upsert)
- ``db.copy_rows`` alone (binary COPY), text ``COPY write_row`` alone, ``COPY CSV block`` alone

Each method starts from an empty table; the upsert methods then run a second time over the same
rows (the rerun case: every row conflicts, none changes).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TABLE = "bench_sensor_readings_agg"
KEY = ("compressor_id", "window_type", "agg_timestamp")


def make_rows(count: int, seed: int = 7) -> pd.DataFrame:
    from altaviz.serving.transforms import AGG_COLUMNS

    rng = np.random.default_rng(seed)
    per_unit = 1000
    units = -(-count // per_unit)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    frame = pd.DataFrame({
        "compressor_id": np.repeat([f"COMP-{i:04d}" for i in range(units)], per_unit)[:count],
        "agg_timestamp": [start + timedelta(hours=i % per_unit) for i in range(count)],
        "window_type": "1hr",
    })
    for name in AGG_COLUMNS[3:-2]:
        frame[name] = rng.normal(100.0, 10.0, count).round(6)
    frame["reading_count"] = 6
    frame["missing_readings"] = 0
    frame["run_id"] = "bench"
    return frame


def reset(conn) -> None:
    conn.execute(f"DROP TABLE IF EXISTS {TABLE}")  # a scratch table of this benchmark only
    conn.execute(f"CREATE TABLE {TABLE} (LIKE sensor_readings_agg INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
                 "INCLUDING INDEXES)")
    conn.commit()


def by_executemany(conn, frame: pd.DataFrame) -> None:
    from altaviz.io.db import _rows

    columns = list(frame.columns)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in KEY)
    sql = (f"INSERT INTO {TABLE} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
           f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {updates}")
    with conn.cursor() as cursor:
        cursor.executemany(sql, list(_rows(frame)))


def by_copy_upsert(conn, frame: pd.DataFrame) -> None:
    from altaviz.io import db

    db.copy_upsert(conn, TABLE, frame, key=KEY)


def by_copy_text(conn, frame: pd.DataFrame) -> None:
    from altaviz.io.db import _rows

    with conn.cursor().copy(f"COPY {TABLE} ({', '.join(frame.columns)}) FROM STDIN") as copy:
        for row in _rows(frame):
            copy.write_row(row)


def by_copy_binary(conn, frame: pd.DataFrame) -> None:
    from altaviz.io import db

    db.copy_rows(conn, TABLE, frame)


def by_copy_csv(conn, frame: pd.DataFrame) -> None:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False, date_format="%Y-%m-%d %H:%M:%S%z")
    with conn.cursor().copy(f"COPY {TABLE} ({', '.join(frame.columns)}) FROM STDIN (FORMAT CSV)") as copy:
        copy.write(buffer.getvalue())


METHODS = {
    "executemany INSERT ON CONFLICT (baseline)": (by_executemany, True),
    "db.copy_upsert (new keys: binary COPY; stored: staging + upsert)": (by_copy_upsert, True),
    "COPY write_row, text": (by_copy_text, False),
    "db.copy_rows (binary COPY write_row)": (by_copy_binary, False),
    "COPY CSV block (pandas to_csv)": (by_copy_csv, False),
}


def measure(conn, method, frame: pd.DataFrame, *, rerun: bool) -> tuple[float, float | None]:
    reset(conn)
    started = time.perf_counter()
    method(conn, frame)
    conn.commit()
    first = time.perf_counter() - started
    (loaded,) = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
    assert loaded == len(frame), (method.__name__, loaded)
    if not rerun:
        return first, None
    started = time.perf_counter()
    method(conn, frame)
    conn.commit()
    return first, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results_copy.md")
    args = parser.parse_args()

    private = "ALTAVIZ_DATA_DIR" not in os.environ  # a scratch server of our own, stopped at the end
    os.environ.setdefault("ALTAVIZ_DATA_DIR", tempfile.mkdtemp(prefix="altaviz-bench-"))
    from altaviz.io import db
    from altaviz.config import load_settings

    settings = load_settings()
    try:
        db.apply_schema(settings)
        text = run(settings, args)
    finally:
        if private and not settings.database.is_external:
            db.stop_embedded(settings)
    args.out.write_text(text)
    print(text)


def run(settings, args) -> str:
    from altaviz.io import db

    frame = make_rows(args.rows)
    results = {}
    with db.connect(settings) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        for run in range(args.runs):
            for name, (method, rerun) in METHODS.items():  # interleaved: drift hits every method alike
                first, second = measure(conn, method, frame, rerun=rerun)
                results.setdefault(name, ([], []))
                results[name][0].append(first)
                if second is not None:
                    results[name][1].append(second)
            print(f"run {run + 1}/{args.runs} done", file=sys.stderr)
        reset(conn)
        conn.execute(f"DROP TABLE {TABLE}")

    baseline = statistics.median(results[next(iter(METHODS))][0])
    lines = [
        "# COPY vs row-by-row: loading sensor_readings_agg rows",
        "",
        f"{args.rows:,} rows × {len(frame.columns)} columns, {args.runs} runs per method (interleaved), "
        f"median shown; embedded PostgreSQL {version} over a Unix socket, psycopg {_psycopg_version()}, "
        f"{os.cpu_count()} cores. Generated by `bench/bench_copy.py`; rerun it to refresh.",
        "",
        "| method | median s (empty table) | rows/s | speed-up vs baseline | median s (rerun, all conflict) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, (firsts, seconds) in results.items():
        median = statistics.median(firsts)
        rerun = f"{statistics.median(seconds):.3f}" if seconds else "—"
        lines.append(f"| {name} | {median:.3f} | {args.rows / median:,.0f} | {baseline / median:.1f}× | {rerun} |")
    lines += [
        "",
        "All runs (seconds, empty table):",
        "",
        *[f"- {name}: {', '.join(f'{s:.3f}' for s in firsts)}" for name, (firsts, _) in results.items()],
        "",
    ]
    return "\n".join(lines)


def _psycopg_version() -> str:
    import psycopg

    return psycopg.__version__


if __name__ == "__main__":
    main()
