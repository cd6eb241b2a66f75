"""02 bronze: append every new landing file to Delta ``sensors_bronze`` exactly once, as it came.

Grain: one bronze row per row of a landing file, typed to ``schemas.BRONZE_SCHEMA``, with the source
file (relative to the landing folder), ingest time and run id.

- Each file is identified by its content hash in Delta ``ingest_log``: rerunning over the same
  folder appends nothing (no new version at all); a new file appends only itself; a file that was
  re-exported byte for byte, under the same name or another, is not ingested twice (the report names
  the file it copies).
- A file still being written (a temporary name such as ``day3.csv.part``, or bytes that change while
  the run waits ``ingest.settle_seconds`` for them to settle) is left for the next run: not read, not logged.
- Which files are read, and how, is an ingest profile's (``config.IngestSource``): the contract's own
  ``sensor_readings/**`` files, and each profile of ``ingest.sources`` (kept in a site's config folder,
  ``$ALTAVIZ_CONFIG_DIR``) with its files glob, delimiter and decimal mark, timestamp column, pattern and time
  zone, the compressor id from a column, the path or a constant, wide columns or long (tag, time, value) rows
  pivoted to one row per unit and time, and the sensors the site lacks (null, never invented). A file two
  profiles claim is rejected; a .csv/.parquet no profile claims is listed as ignored. ``check_landing`` judges
  every file the same way and writes nothing (``altaviz ingest check``).
- ``ingest.column_mapping`` in ``config/pipeline.yaml`` renames historian columns and converts
  their units before the schema is applied (any unit pint reads, gauge or absolute: ``altaviz.units``), e.g.::

      column_mapping:
        Vib_in_s:   {column: vibration_mms, unit: in/s}
        DischTempC: {column: discharge_temp_f, unit: degC}

- CSV columns are read as text and typed with ``try_cast`` (Spark 4 runs in ANSI mode); text that is
  not a number or a time is kept verbatim in ``unparsed_values`` for silver to quarantine.
- A file that cannot be read, is empty, is cut short, is not delimited as its profile says, lacks a
  contract column, has no sensor value at all or has the wrong types (a Parquet column of the wrong type,
  or a CSV column none of whose values parse) is rejected whole: the ingest log keeps its name and the
  reason, and the other files still load. A file with one sensor column empty loads (a dead channel; silver
  keeps its nulls) and the log notes the column. Columns the contract does not know are kept
  as text in ``extra_columns``. A rejected file is not retried until its content changes (a fixed
  export has a new hash and loads on the next run), unless the settings can fix it (a missing or ambiguous
  column, a unit mix-up, another delimiter or decimal mark, times in another pattern, no id in its path):
  such a file is inspected again on every run (``transforms.SETTINGS_REJECTIONS``). A failure that is not
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

import dataclasses
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
    SETTINGS_REJECTIONS,
    ColumnSource,
    TextFormat,
    file_profiles,
    judge_file_profile,
    long_to_wide,
    resolve_columns,
    to_bronze_rows,
    to_reference_table,
    validate_column_mapping,
    validate_reference_rows,
)
from altaviz.config import DEFAULT_SOURCE, IngestSource, Settings, get_settings
from altaviz.faults import crash_point
from altaviz.io import lake
from altaviz.runs import as_utc
from altaviz.registry import SENSOR_COLUMNS
from altaviz.schemas import (
    BRONZE_SCHEMA,
    ID_COLUMNS,
    INGEST_LOG_SCHEMA,
    REFERENCE_FILES,
)


@dataclass(frozen=True)
class PlannedFile:
    """A landing file, the source profile that reads it, and where each contract column comes from."""

    file: lake.LandingFile
    source: IngestSource
    columns: Mapping[str, str]  # what the reading sees (a long file: its keys and mapped tags), name -> kind
    sources: Mapping[str, ColumnSource]
    header_fields: int  # fields in the file's header line

    def read(self, spark: SparkSession) -> DataFrame:
        """The file's rows, wide: a column per header field, or per mapped tag of a long export."""
        raw = lake.read_landing_file(spark, self.file)
        if self.source.layout == "wide":
            return raw
        keys = [src.source for name, src in self.sources.items()
                if name in ID_COLUMNS and src.constant is None]
        tags = [name for name in self.columns if name not in keys]
        return long_to_wide(raw, keys=keys, tag=self.source.tag_column, value=self.source.value_column, tags=tags)


def _plan(landing_file: lake.LandingFile, source: IngestSource, mapping: Mapping) -> PlannedFile | str:
    """Where each contract column of the file comes from under ``source``, or why the file cannot load."""
    if landing_file.error:
        return landing_file.error
    columns = dict(landing_file.columns)
    fixed = {sensor: ColumnSource("", missing=True) for sensor in source.missing}
    id_kind, id_value = source.compressor_id
    if id_kind == "constant":
        fixed["compressor_id"] = ColumnSource("", constant=id_value)
    elif id_kind == "path":
        found = source.id_from_path(landing_file.source_file)
        if not found:
            return f"compressor id: the path does not match {id_value!r} (ingest.sources.{source.name}.compressor_id)"
        fixed["compressor_id"] = ColumnSource("", constant=found)
    if source.layout == "long":
        lacking = [name for name in (source.tag_column, source.value_column) if name not in columns]
        if lacking:
            return f"missing required column(s): {', '.join(lacking)} (the long layout's tag and value)"
        keys = {name: kind for name, kind in columns.items()
                if mapping.get(name, (name,))[0] in ID_COLUMNS}
        tags = {tag: columns[source.value_column] for tag, (target, *_) in mapping.items()
                if target not in ID_COLUMNS}
        columns = {**keys, **tags}
    sources, reason = resolve_columns(columns, mapping, fixed)
    return reason or PlannedFile(landing_file, source, columns, sources, len(landing_file.columns))


def source_mapping(source: IngestSource, settings: Settings) -> dict[str, tuple[str, float, float]]:
    """The profile's column (or tag) mapping with its units resolved, plus its timestamp and id columns."""
    key = f"ingest.sources.{source.name}.columns" if source.name != DEFAULT_SOURCE else "ingest.column_mapping"
    mapping = validate_column_mapping(source.columns, key=key, registry=settings.registry)
    if source.timestamp_column != "timestamp":
        mapping.setdefault(source.timestamp_column, ("timestamp", 1.0, 0.0))
    if source.compressor_id[0] == "column" and source.compressor_id[1] != "compressor_id":
        mapping.setdefault(source.compressor_id[1], ("compressor_id", 1.0, 0.0))
    return mapping


def find_landing_files(landing_dir: Path, sources: tuple[IngestSource, ...]) -> tuple[dict[Path, IngestSource], dict[Path, str]]:
    """Each sensor file under ``landing_dir`` with the one source profile whose ``files`` glob matches it, and
    the files two profiles claim (with why they are refused)."""
    claims: dict[Path, list[IngestSource]] = {}
    for source in sources:
        for path in lake.list_landing_files(landing_dir, source.files):
            claims.setdefault(path, []).append(source)
    ambiguous = {path: f"ambiguous source: matches the profiles {', '.join(s.name for s in found)}"
                 for path, found in claims.items() if len(found) > 1}
    return {path: found[0] for path, found in sorted(claims.items()) if len(found) == 1}, ambiguous


def _inspect(path: Path, landing_dir: Path, profile_of: Mapping[Path, IngestSource], ambiguous: Mapping[Path, str],
             default: IngestSource) -> tuple[IngestSource, lake.LandingFile]:
    """The file as its profile reads it; a file two profiles claim carries why it is refused."""
    source = profile_of.get(path, default)
    landing_file = lake.inspect_landing_file(path, landing_dir, delimiter=source.delimiter, decimal=source.decimal)
    if path in ambiguous:
        landing_file = dataclasses.replace(landing_file, error=ambiguous[path])
    return source, landing_file


def unclaimed_files(landing_dir: Path, claimed) -> list[str]:
    """Sensor-like files (.csv, .parquet) under ``landing_dir`` that no profile reads, reference files aside:
    named in the report so an export in the wrong folder is not ignored silently."""
    names = [(path, path.relative_to(landing_dir).as_posix()) for path in lake.list_landing_files(landing_dir, "**/*")]
    # ground_truth/ is the simulator's answer key (injected failures) for evaluation, never a delivery.
    return [name for path, name in names
            if path not in claimed and name not in REFERENCE_FILES and not name.startswith("ground_truth/")]


IGNORED = "no ingest profile's files pattern matches it"


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
    files_ignored: tuple[str, ...] = ()  # .csv/.parquet files no ingest profile reads

    def to_frame(self) -> pd.DataFrame:
        """One row per landing file seen by this run: file, status, reason."""
        rows = [(name, "ingested", self.notes.get(name, "")) for name in self.files_ingested]
        rows += [(name, "skipped: already ingested", self.notes.get(name, ""))
                 for name in self.files_skipped_already_ingested]
        rows += [(name, "rejected", reason) for name, reason in self.files_rejected]
        rows += [(name, "deferred: still being written", reason) for name, reason in self.files_deferred]
        rows += [(name, "ignored", IGNORED) for name in self.files_ignored]
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
        ignored = (f"; {len(report.files_ignored)} file(s) no ingest profile reads, e.g. {report.files_ignored[0]}: add "
                   "a profile (ingest.sources) whose files pattern matches them" if report.files_ignored else "")
        raise NoReadingsIngested(
            f"no sensor reading files (.parquet or .csv) in {report.landing_dir}: "
            f"run 01_simulate or point landing_dir at a historian export{ignored}"
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
    mappings = {source.name: source_mapping(source, settings) for source in settings.pipeline.sources}
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
             and not (row["status"] == "rejected" and (row["reason"] or "").startswith(SETTINGS_REJECTIONS))}

    skipped, rejected, accepted, deferred, notes = [], [], [], [], {}
    profile_of, ambiguous = find_landing_files(landing_dir, settings.pipeline.sources)
    paths = sorted([*profile_of, *ambiguous])
    busy = lake.files_still_being_written(paths, settle_seconds=settings.pipeline.settle_seconds)
    for path in paths:
        if path in busy:
            deferred.append((path.relative_to(landing_dir).as_posix(), busy[path]))
            continue
        source, landing_file = _inspect(path, landing_dir, profile_of, ambiguous, settings.pipeline.sources[0])
        if landing_file.content_sha256 in known:
            skipped.append(landing_file.source_file)
            original = known[landing_file.content_sha256]
            if not original.startswith(f"{landing_file.source_file} ("):
                notes[landing_file.source_file] = f"same content as {original}"
            continue
        known[landing_file.content_sha256] = f"{landing_file.source_file} (this run)"
        planned = _plan(landing_file, source, mappings[source.name])
        if isinstance(planned, str):
            rejected.append({"file": landing_file, "status": "rejected", "reason": planned})
            continue
        accepted.append(planned)

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
        files_ignored=tuple(unclaimed_files(landing_dir, set(paths))),
    )


def check_landing(spark: SparkSession, landing_dir: Path, *, settings: Settings | None = None) -> pd.DataFrame:
    """What bronze would make of each file under ``landing_dir``, writing nothing: one row per file with the
    profile that claims it, the verdict (load, reject, wait, no profile), its units, rows, time span, the sensors
    it has values for, and the reason or note. Files are read one at a time: slow, but each is judged alone."""
    settings = settings or get_settings()
    landing_dir = Path(landing_dir).resolve()
    if not landing_dir.is_dir():
        raise FileNotFoundError(f"landing folder {landing_dir} does not exist")
    mappings = {source.name: source_mapping(source, settings) for source in settings.pipeline.sources}
    profile_of, ambiguous = find_landing_files(landing_dir, settings.pipeline.sources)
    busy = lake.files_still_being_written([*profile_of, *ambiguous], settle_seconds=0)
    rows = []
    for path in sorted([*profile_of, *ambiguous]):
        row = {"source_file": path.relative_to(landing_dir).as_posix(),
               "profile": profile_of[path].name if path in profile_of else ""}
        if path in busy:
            rows.append({**row, "verdict": "wait", "reason": busy[path]})
            continue
        source, landing_file = _inspect(path, landing_dir, profile_of, ambiguous, settings.pipeline.sources[0])
        planned = _plan(landing_file, source, mappings[source.name])
        if isinstance(planned, str):
            rows.append({**row, "verdict": "reject", "reason": planned})
            continue
        bronze = read_bronze_rows(spark, planned, run_id="check", ingested_at=datetime.now(timezone.utc))
        try:
            profile = next(iter(file_profiles(bronze).collect()), None)
        except Exception as err:  # noqa: BLE001 - what bronze would reject as unreadable
            rows.append({**row, "verdict": "reject", "reason": f"unreadable: {lake.describe_read_error(err)}"})
            continue
        reason, note = judge_file_profile(profile and profile.asDict(), sources=planned.sources,
                                          registry=settings.registry)
        found = [name for name in SENSOR_COLUMNS if profile and profile[f"{name}__present"]]
        rows.append({**row, "verdict": "reject" if reason else "load", "reason": reason or note or "",
                     **({"units": profile["units"], "rows": profile["rows"], "first": profile["first"],
                         "last": profile["last"], "sensors": ", ".join(found)} if profile else {})})
    rows += [{"source_file": name, "profile": "", "verdict": "ignored", "reason": IGNORED}
             for name in unclaimed_files(landing_dir, {*profile_of, *ambiguous})]
    columns = ["source_file", "profile", "verdict", "units", "rows", "first", "last", "sensors", "reason"]
    return pd.DataFrame(rows, columns=columns).astype({"units": "Int64", "rows": "Int64"})


def read_bronze_rows(spark: SparkSession, planned: PlannedFile, *, run_id: str, ingested_at: datetime) -> DataFrame:
    """One planned file's rows in the bronze schema (read lazily: nothing runs until an action)."""
    source = planned.source
    return to_bronze_rows(
        planned.read(spark),
        columns=planned.columns,
        sources=planned.sources,
        source_file=planned.file.source_file,
        run_id=run_id,
        ingested_at=ingested_at,
        text=TextFormat(source.decimal, source.timestamp_format, source.time_zone),
        header_fields=planned.header_fields,
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
    accepted = sorted(accepted, key=lambda planned: delivery_order(planned.file.path))
    delivered_at = {item.file.source_file: ingested_at + timedelta(microseconds=n) for n, item in enumerate(accepted)}
    per_file = {item.file.source_file: read_bronze_rows(spark, item, run_id=run_id,
                                                        ingested_at=delivered_at[item.file.source_file])
                for item in accepted}
    bronze_rows = reduce(DataFrame.unionByName, per_file.values()).persist()
    try:
        profiles = {row["source_file"]: row.asDict() for row in file_profiles(bronze_rows).collect()}
    except Exception:  # noqa: BLE001 - a file Spark cannot read: find it alone, keep the others
        bronze_rows.unpersist()
        bronze_rows, profiles = _profile_one_by_one(spark, per_file, accepted, rejected)
    ingested, good_files = [], []
    for planned in accepted:
        landing_file, name = planned.file, planned.file.source_file
        if name not in per_file:
            continue
        reason, note = judge_file_profile(profiles.get(name), sources=planned.sources, registry=settings.registry)
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
    by_name = {planned.file.source_file: planned.file for planned in accepted}
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
