"""02 bronze: append every new landing file to Delta ``sensors_bronze`` exactly once, as it came.

Grain: one bronze row per row of a landing file, typed to ``schemas.BRONZE_SCHEMA``, with the source
file (relative to the landing folder), ingest time and run id.

- Each file is identified by its content hash in Delta ``ingest_log``: rerunning over the same
  folder appends nothing (no new version at all); a new file appends only itself; a file that was
  re-exported byte for byte, under the same name or another, is not ingested twice (the report names
  the file it copies).
- A file still being written (a temporary name such as ``day3.csv.part``, or bytes that change while
  the run waits ``ingest.settle_seconds`` for them to settle) is left for the next run: not read, not logged.
- ``ingest.column_mapping`` in ``config/pipeline.yaml`` renames historian columns and converts
  their units before the schema is applied (``schemas.UNIT_CONVERSIONS``), e.g.::

      column_mapping:
        Vib_in_s:   {column: vibration_mms, unit: in/s}
        DischTempC: {column: discharge_temp_f, unit: degC}

- CSV columns are read as text and typed with ``try_cast`` (Spark 4 runs in ANSI mode); text that is
  not a number or a time is kept verbatim in ``unparsed_values`` for silver to quarantine.
- A file that cannot be read, is empty, is cut short, is not comma-separated with '.' decimals, lacks a
  contract column, has no sensor value at all or has the wrong types (a Parquet column of the wrong type,
  or a CSV column none of whose values parse) is rejected whole: the ingest log keeps its name and the
  reason, and the other files still load. A file with one sensor column empty loads (a dead channel; silver
  keeps its nulls) and the log notes the column. Columns the contract does not know are kept
  as text in ``extra_columns``. A rejected file is not retried until its content changes (a fixed
  export has a new hash and loads on the next run), unless ``ingest.column_mapping`` can fix it (a missing
  or ambiguous column, a unit mix-up): such a file is inspected again on every run. A failure that is not
  the file's fault (the JVM out of memory, the file moved while it was read) stops the stage with
  ``RetryNextRun`` before any reading is appended or any delivery logged, so the next run reads the file again.
- A unit mix-up that stays physically possible (°C values in the °F column) is caught on the file's
  medians (``transforms.unit_mix_up``): rejected naming the unit that explains them; declare it in
  ``ingest.column_mapping`` (a column may keep the contract's name: ``discharge_temp_f: {column:
  discharge_temp_f, unit: degC}``).
- The deliveries of one run are ingested a microsecond apart, in the order they were written (modification
  time, then the name with numbers compared as numbers): silver lets the later of two overlapping deliveries
  win a restated reading, so ``export_10`` written after ``export_9`` wins however their names sort.
- A CSV row with more or fewer fields than the header is kept whole for silver to quarantine
  (``malformed_row``), and the log counts such rows.
- The reference CSVs (compressor metadata, stations, maintenance log) are dimension snapshots:
  when a file's content differs from the table's last logged snapshot, the table is replaced
  wholesale (one overwrite); an unchanged file writes nothing. A rerun therefore adds no version
  to any table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
import re
from functools import reduce
from pathlib import Path
from typing import Mapping

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from altaviz.bronze.transforms import (
    MAPPING_REJECTIONS,
    file_profiles,
    judge_file_profile,
    resolve_columns,
    to_bronze_rows,
    to_reference_table,
    validate_column_mapping,
    validate_reference_rows,
)
from altaviz.config import Settings, get_settings
from altaviz.faults import crash_point
from altaviz.io import lake
from altaviz.runs import as_utc
from altaviz.schemas import (
    BRONZE_SCHEMA,
    INGEST_LOG_SCHEMA,
    REFERENCE_FILES,
)


@dataclass(frozen=True)
class BronzeReport:
    run_id: str
    landing_dir: str
    files_ingested: tuple[str, ...]
    files_skipped_already_ingested: tuple[str, ...]
    files_rejected: tuple[tuple[str, str], ...]  # (source file, reason)
    rows_appended: int
    reference_rows: Mapping[str, int]
    counts: Mapping[str, int] = field(default_factory=dict)
    files_deferred: tuple[tuple[str, str], ...] = ()  # (source file, why it waits for the next run)
    notes: Mapping[str, str] = field(default_factory=dict)  # ingested or skipped file -> what to know about it

    def to_frame(self) -> pd.DataFrame:
        """One row per landing file seen by this run: file, status, reason."""
        rows = [(name, "ingested", self.notes.get(name, "")) for name in self.files_ingested]
        rows += [(name, "skipped: already ingested", self.notes.get(name, ""))
                 for name in self.files_skipped_already_ingested]
        rows += [(name, "rejected", reason) for name, reason in self.files_rejected]
        rows += [(name, "deferred: still being written", reason) for name, reason in self.files_deferred]
        return pd.DataFrame(rows, columns=["source_file", "status", "reason"]).sort_values(
            "source_file", ignore_index=True
        )


class NoReadingsIngested(RuntimeError):
    """This run found no sensor file to read, or rejected every new one."""


def validate_bronze_run(report: BronzeReport) -> None:
    """Raise when this run's deliveries were all rejected (naming each file and why), or when the
    landing folder holds no sensor file at all. A rerun that finds only files already ingested passes."""
    if report.files_rejected and not report.files_ingested:
        reasons = "\n- ".join(f"{name}: {reason}" for name, reason in report.files_rejected)
        raise NoReadingsIngested(
            f"all {len(report.files_rejected)} new sensor file(s) in {report.landing_dir} were rejected:\n- {reasons}"
        )
    if not (report.files_ingested or report.files_skipped_already_ingested) and report.files_deferred:
        waiting = "\n- ".join(f"{name}: {reason}" for name, reason in report.files_deferred)
        raise NoReadingsIngested(
            f"every new sensor file in {report.landing_dir} is still being written; run again once they are "
            f"complete:\n- {waiting}"
        )
    if not (report.files_ingested or report.files_skipped_already_ingested):
        raise NoReadingsIngested(
            f"no sensor reading files (.parquet or .csv) in {report.landing_dir}: "
            "run 01_simulate or point landing_dir at a historian export"
        )


def _log_rows(spark, entries: list[dict], run_id: str, ingested_at: datetime, landing_dir: Path) -> DataFrame:
    rows = [
        (
            e["file"].content_sha256,
            e["file"].source_file,
            str(landing_dir),
            e["file"].file_format,
            e["file"].size_bytes,
            e["status"],
            e.get("reason"),
            e.get("rows"),
            run_id,
            e.get("ingested_at", ingested_at),
        )
        for e in entries
    ]
    return spark.createDataFrame(rows, INGEST_LOG_SCHEMA)


def ingest_landing(
    spark: SparkSession,
    landing_dir: Path,
    *,
    run_id: str,
    settings: Settings | None = None,
    ingested_at: datetime | None = None,
) -> BronzeReport:
    """Append new landing files to ``sensors_bronze``, log every file, refresh the reference tables."""
    settings = settings or get_settings()
    landing_dir = Path(landing_dir).resolve()
    # Aware UTC: PySpark turns naive datetimes into instants with the machine's local zone.
    ingested_at = (ingested_at or datetime.now(timezone.utc)).replace(microsecond=0)
    ingested_at = ingested_at if ingested_at.tzinfo else ingested_at.replace(tzinfo=timezone.utc)
    mapping = validate_column_mapping(settings.pipeline.column_mapping)
    if not landing_dir.is_dir():
        raise FileNotFoundError(f"landing folder {landing_dir} does not exist: run 01_simulate or point landing_dir at an export")

    # The log is small (one row per file): read it once, decide everything on the driver.
    logged = (
        lake.read_table(spark, "ingest_log", settings=settings)
        .select("content_sha256", "source_file", "status", "reason", "rows", "ingested_at", "run_id").collect()
        if lake.table_exists(spark, "ingest_log", settings=settings)
        else []
    )
    undo_unlogged_append(spark, {row["run_id"] for row in logged}, settings=settings)
    # Silver lets the latest ingested copy of a restated reading win: a wall clock set back between runs must
    # not make this run's deliveries older than the last run's, so ingest time never goes backwards.
    last = max((row["ingested_at"] for row in logged if row["ingested_at"] is not None), default=None)
    if last is not None:
        ingested_at = max(ingested_at, as_utc(last) + timedelta(seconds=1))
    # content hash -> the file first seen with it, so a copy under another name is named as one
    known = {row["content_sha256"]: f"{row['source_file']} ({row['status']}, run {row['run_id']})"
             for row in logged if not row["status"].startswith("reference:")
             and not (row["status"] == "rejected" and (row["reason"] or "").startswith(MAPPING_REJECTIONS))}

    skipped, rejected, accepted, deferred, notes = [], [], [], [], {}
    paths = lake.list_landing_files(landing_dir)
    busy = lake.files_still_being_written(paths, settle_seconds=settings.pipeline.settle_seconds)
    for path in paths:
        if path in busy:
            deferred.append((path.relative_to(landing_dir).as_posix(), busy[path]))
            continue
        landing_file = lake.inspect_landing_file(path, landing_dir)
        if landing_file.content_sha256 in known:
            skipped.append(landing_file.source_file)
            original = known[landing_file.content_sha256]
            if not original.startswith(f"{landing_file.source_file} ("):
                notes[landing_file.source_file] = f"same content as {original}"
            continue
        known[landing_file.content_sha256] = f"{landing_file.source_file} (this run)"
        columns = dict(landing_file.columns)
        sources, reason = ({}, landing_file.error) if landing_file.error else resolve_columns(columns, mapping)
        if reason:
            rejected.append({"file": landing_file, "status": "rejected", "reason": reason})
            continue
        accepted.append((landing_file, columns, sources))

    # References first: a broken reference file stops the stage before any reading is appended.
    references, reference_rows = _refresh_reference_tables(spark, landing_dir, logged, settings)
    ingested, appended = _append_accepted(spark, accepted, rejected, run_id, ingested_at, settings)
    notes.update({e["file"].source_file: e["reason"] for e in ingested if e["reason"]})
    # A file the mapping could fix, rejected again for the same reason, is reported but not logged again: a
    # rerun over an unchanged folder writes no version.
    logged_rejections = {row["content_sha256"]: row["reason"] for row in logged if row["status"] == "rejected"}
    log_entries = ingested + references + [
        e for e in rejected if logged_rejections.get(e["file"].content_sha256) != e["reason"]]
    if log_entries:
        lake.merge_table(
            _log_rows(spark, log_entries, run_id, ingested_at, landing_dir), "ingest_log", keys=["content_sha256"], settings=settings
        )
    bronze_total = appended + sum(row["rows"] or 0 for row in logged if row["status"] == "ingested")
    counts = {
        "sensors_bronze": bronze_total,
        "sensors_bronze_appended": appended,
        "files_ingested": len(ingested),
        "files_skipped_already_ingested": len(skipped),
        "files_rejected": len(rejected),
        "files_deferred": len(deferred),
        **reference_rows,
    }
    return BronzeReport(
        run_id=run_id,
        landing_dir=str(landing_dir),
        files_ingested=tuple(sorted(e["file"].source_file for e in ingested)),
        files_skipped_already_ingested=tuple(sorted(skipped)),
        files_rejected=tuple(sorted((e["file"].source_file, e["reason"]) for e in rejected)),
        rows_appended=appended,
        reference_rows=reference_rows,
        counts=counts,
        files_deferred=tuple(sorted(deferred)),
        notes=notes,
    )


def delivery_order(path: Path) -> tuple:
    """When the file was written, then its name with numbers compared as numbers (export_9 before export_10)."""
    return path.stat().st_mtime_ns, [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _append_accepted(spark, accepted, rejected, run_id, ingested_at, settings) -> tuple[list[dict], int]:
    """Profile every accepted file in one pass, reject the unparsable ones, append the rest once."""
    if not accepted:
        return [], 0
    # Each delivery of a run is ingested a microsecond after the one written before it: silver lets the later
    # of two overlapping deliveries win, and that must never be decided by how their names sort.
    accepted = sorted(accepted, key=lambda item: delivery_order(item[0].path))
    delivered_at = {item[0].source_file: ingested_at + timedelta(microseconds=n) for n, item in enumerate(accepted)}
    per_file = {}
    for landing_file, columns, sources in accepted:
        per_file[landing_file.source_file] = to_bronze_rows(
            lake.read_landing_file(spark, landing_file),
            columns=columns,
            sources=sources,
            source_file=landing_file.source_file,
            run_id=run_id,
            ingested_at=delivered_at[landing_file.source_file],
        )
    bronze_rows = reduce(DataFrame.unionByName, per_file.values()).persist()
    try:
        profiles = {row["source_file"]: row.asDict() for row in file_profiles(bronze_rows).collect()}
    except Exception:  # noqa: BLE001 - a file Spark cannot read: find it alone, keep the others
        bronze_rows.unpersist()
        bronze_rows, profiles = _profile_one_by_one(spark, per_file, accepted, rejected)
    ingested, good_files = [], []
    for landing_file, _, sources in accepted:
        name = landing_file.source_file
        if name not in per_file:
            continue
        reason, note = judge_file_profile(profiles.get(name), sources=sources, registry=settings.registry)
        if reason:
            rejected.append({"file": landing_file, "status": "rejected", "reason": reason})
            continue
        ingested.append({"file": landing_file, "status": "ingested", "rows": profiles[name]["rows"], "reason": note,
                         "ingested_at": delivered_at[name]})
        good_files.append(name)
    appended = sum(e["rows"] for e in ingested)
    if appended:
        lake.append_table(bronze_rows.where(F.col("source_file").isin(good_files)), "sensors_bronze", settings=settings,
                          user_metadata=run_id)
        crash_point("bronze-appended")  # the readings are committed, the ingest log not yet
    bronze_rows.unpersist()
    return ingested, appended


def undo_unlogged_append(spark, logged_runs: set[str], *, settings: Settings) -> str | None:
    """Delete the readings of a run that died between its bronze append and its ingest-log commit.

    The two are separate Delta commits. Each append is tagged with its run id (the commit's userMetadata),
    so the newest append whose run logged nothing was cut short: its rows go (one DELETE version) and its
    files, never logged, are read again as new by this run, once. Returns the run id undone, if any."""
    if not lake.table_exists(spark, "sensors_bronze", settings=settings):
        return None
    newest = (lake.read_history(spark, "sensors_bronze", settings=settings)
              .orderBy(F.desc("version")).select("operation", "userMetadata").first())
    run_id = newest["userMetadata"]
    if newest["operation"] != "WRITE" or not run_id or run_id in logged_runs:
        return None
    lake.delete_rows(spark, "sensors_bronze", "run_id = {run_id}", {"run_id": run_id}, settings=settings)
    print(f"bronze: run {run_id} stopped after appending readings and before logging its files; "
          "its readings were removed and its files are read again now")
    return run_id


class RetryNextRun(RuntimeError):
    """A landing file failed to load for a reason outside the file (memory, a moved file, a lost executor)."""


def _profile_one_by_one(spark, per_file, accepted, rejected):
    profiles, readable = {}, []
    by_name = {landing_file.source_file: landing_file for landing_file, _, _ in accepted}
    for name in list(per_file):
        try:
            profiles.update({row["source_file"]: row.asDict() for row in file_profiles(per_file[name]).collect()})
            readable.append(per_file[name])
        except Exception as err:  # noqa: BLE001
            message = lake.describe_read_error(err)
            if not lake.is_bad_file_error(err):
                raise RetryNextRun(
                    f"{name} could not be read, and not because of its content: {message}. Nothing was recorded "
                    "for it or appended from this run; the next run reads it again."
                ) from err
            rejected.append({"file": by_name[name], "status": "rejected", "reason": f"unreadable: {message}"})
            del per_file[name]
    if not readable:
        return spark.createDataFrame([], BRONZE_SCHEMA), profiles
    return reduce(DataFrame.unionByName, readable).persist(), profiles


def _refresh_reference_tables(spark, landing_dir: Path, logged: list, settings: Settings) -> tuple[list[dict], dict[str, int]]:
    """Overwrite each reference table whose CSV content changed; log entries and row counts.

    A reference file whose hash is the table's latest logged snapshot is already its content: no write.
    """
    entries, counts = [], {}
    for file_name, (table, schema) in REFERENCE_FILES.items():
        landing_file = lake.inspect_reference_file(landing_dir / file_name, landing_dir)
        if landing_file is None:
            continue
        snapshots = sorted((row for row in logged if row["status"] == f"reference:{table}"), key=lambda row: row["ingested_at"])
        previous = snapshots[-1] if snapshots else None
        is_current = previous is not None and previous["content_sha256"] == landing_file.content_sha256
        if is_current and lake.table_exists(spark, table, settings=settings):
            counts[table] = int(previous["rows"] or 0)
            continue
        raw = lake.read_reference_csv(spark, landing_file.path)
        counts[table] = raw.count()  # a local relation: counted without a job
        typed = to_reference_table(raw, schema)
        validate_reference_rows(raw, typed, schema, file_name=landing_file.source_file)
        lake.write_table(typed, table, settings=settings)
        entries.append({"file": landing_file, "status": f"reference:{table}", "rows": counts[table]})
    return entries, counts
