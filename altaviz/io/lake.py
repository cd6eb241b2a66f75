"""The one module that reads and writes files: Delta tables under the lake root, and landing files.

Every other module transforms DataFrames and calls these functions for I/O.

Writes are idempotent and make exactly one Delta version each:

- ``append_table``  — bronze only: new landing files, never the same rows twice (the ingest log decides).
- ``merge_table``   — upsert on natural keys (null-safe), updating only rows whose content changed and,
  when asked, deleting target rows the source no longer has (``delete_missing``).
- ``write_table``   — overwrite, or Delta ``replaceWhere`` on a predicate (gold's date range).

Time travel: every write is a Delta version, so a table can be read as it was::

    read_table(spark, "sensors_silver", version=3)        # DataFrameReader.option("versionAsOf", 3)
    read_history(spark, "sensors_silver")                 # version, timestamp, operation, metrics

and an older version restored with ``RESTORE TABLE delta.`<path>` TO VERSION AS OF n``.

Table operations are Delta SQL on ``delta.`<path>```, not the ``delta.tables`` Python API: SQL runs the
same in an in-process session and over Spark Connect, whose server needs no Delta plugin jar for it.
"""

from __future__ import annotations

import csv
import hashlib
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence
from urllib.parse import urlparse

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from altaviz.config import Settings, get_settings

SENSOR_READINGS_DIR = "sensor_readings"


# --------------------------------------------------------------------------- Delta tables


def _path(name: str, settings: Settings | None) -> str:
    return (settings or get_settings()).pipeline.table_path(name)


def _sql_table(name: str, settings: Settings | None) -> str:
    """``delta.`<path>``` for Delta SQL (a backtick in the path doubled)."""
    return "delta.`" + _path(name, settings).replace("`", "``") + "`"


def local_version(name: str, settings: Settings | None = None) -> int | None:
    """The Delta table's newest committed version read from its ``_delta_log`` folder, -1 when it has none;
    None when the lake is not on this machine's file system (``s3a://``, ``hdfs://``: ask Spark)."""
    location = _path(name, settings)
    parsed = urlparse(location)
    if parsed.scheme not in ("", "file"):
        return None
    log = Path(parsed.path if parsed.scheme else location) / "_delta_log"
    # Commits are 00000000000000000012.json; a cleaned-up log may keep only a checkpoint for old versions.
    names = [path.name.split(".")[0] for path in [*log.glob("*.json"), *log.glob("*.checkpoint*.parquet")]]
    return max((int(name) for name in names if name.isdigit()), default=-1)


def table_exists(spark: SparkSession, name: str, *, settings: Settings | None = None) -> bool:
    """Whether the Delta table exists: from its log folder when the lake is local (asking Spark is a round
    trip to the server and a log read, and a stage asks for several tables), else from Spark."""
    from pyspark.errors import AnalysisException

    version = local_version(name, settings)
    if version is not None:
        return version >= 0
    try:
        spark.sql(f"DESCRIBE DETAIL {_sql_table(name, settings)}").first()
    except AnalysisException as err:
        if "DELTA_MISSING_DELTA_TABLE" in str(err) or "DELTA_PATH_DOES_NOT_EXIST" in str(err):
            return False
        raise
    return True


def read_table(
    spark: SparkSession,
    name: str,
    *,
    settings: Settings | None = None,
    version: int | None = None,
    where: Column | str | None = None,
) -> DataFrame:
    """A Delta table, optionally as of an older ``version`` (time travel) and filtered by ``where``.

    A ``where`` on the partition column (``date``) prunes partitions before any file is read.
    """
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    table = reader.load(_path(name, settings))
    return table if where is None else table.where(where)


def read_table_or_empty(
    spark: SparkSession, name: str, schema: T.StructType, *, settings: Settings | None = None
) -> DataFrame:
    """The table if it exists, else an empty DataFrame with ``schema``."""
    if table_exists(spark, name, settings=settings):
        return read_table(spark, name, settings=settings)
    return spark.createDataFrame([], schema)


def read_history(spark: SparkSession, name: str, *, settings: Settings | None = None) -> DataFrame:
    """One row per table version, newest first: version, timestamp, operation, operationMetrics."""
    return spark.sql(f"DESCRIBE HISTORY {_sql_table(name, settings)}")


def latest_version(spark: SparkSession, name: str, *, settings: Settings | None = None) -> int:
    return int(read_history(spark, name, settings=settings).agg(F.max("version")).first()[0])


def append_table(
    rows: DataFrame,
    name: str,
    *,
    settings: Settings | None = None,
    partition_by: Sequence[str] = (),
    user_metadata: str | None = None,
) -> None:
    """Append ``rows`` (creating the table on first use): one version, whose history entry carries
    ``user_metadata`` (column ``userMetadata`` of ``read_history``) when given."""
    writer = rows.write.format("delta").mode("append")
    if user_metadata is not None:
        writer = writer.option("userMetadata", user_metadata)
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.save(_path(name, settings))


def delete_rows(spark: SparkSession, name: str, condition: str, values: dict, *, settings: Settings | None = None) -> None:
    """Delete the rows matching ``condition``: one version. Its ``{name}`` fields take ``values`` as quoted SQL
    literals (pyspark's formatter; Delta's DELETE does not bind ``:parameters``)."""
    table = _sql_table(name, settings).replace("{", "{{").replace("}", "}}")
    spark.sql(f"DELETE FROM {table} WHERE {condition}", **values).collect()


def write_table(
    rows: DataFrame,
    name: str,
    *,
    settings: Settings | None = None,
    partition_by: Sequence[str] = (),
    replace_where: str | None = None,
) -> None:
    """Overwrite the table, or only the rows matching ``replace_where`` when it exists: one version."""
    # Static: the session's dynamic partition overwrite would keep partitions the rows do not touch.
    writer = rows.write.format("delta").mode("overwrite").option("partitionOverwriteMode", "static")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    if replace_where is not None and table_exists(rows.sparkSession, name, settings=settings):
        writer = writer.option("replaceWhere", replace_where)
    writer.save(_path(name, settings))


def merge_table(
    rows: DataFrame,
    name: str,
    *,
    keys: Sequence[str],
    settings: Settings | None = None,
    partition_by: Sequence[str] = (),
    delete_missing: bool = False,
) -> None:
    """Upsert ``rows`` on ``keys`` (null-safe) in one MERGE; create the table on first use.

    Matched rows are rewritten only when a non-key column differs, so a rerun with the same input
    changes no data file. ``delete_missing`` removes target rows absent from ``rows``: the target
    becomes exactly ``rows``, written as a MERGE so unchanged rows stay where they are.
    """
    spark = rows.sparkSession
    if not table_exists(spark, name, settings=settings):
        append_table(rows, name, settings=settings, partition_by=partition_by)
        return
    on = " AND ".join(f"t.`{key}` <=> s.`{key}`" for key in keys)
    # Partition columns in the condition let Delta prune the files it has to rewrite.
    on += "".join(f" AND t.`{col}` <=> s.`{col}`" for col in partition_by if col not in keys)
    changed = " OR ".join(f"NOT (t.`{col}` <=> s.`{col}`)" for col in rows.columns if col not in keys)
    source = f"altaviz_merge_source_{uuid.uuid4().hex}"  # a temp view of this session, dropped after
    rows.createOrReplaceTempView(source)
    try:
        spark.sql(
            f"MERGE INTO {_sql_table(name, settings)} t USING {source} s ON {on} "
            f"WHEN MATCHED {f'AND ({changed}) ' if changed else ''}THEN UPDATE SET * "
            "WHEN NOT MATCHED THEN INSERT * "
            + ("WHEN NOT MATCHED BY SOURCE THEN DELETE" if delete_missing else "")
        ).collect()
    finally:
        spark.catalog.dropTempView(source)


# --------------------------------------------------------------------------- landing files


@dataclass(frozen=True)
class LandingFile:
    """What the driver learns about a landing file without Spark: its format, columns and hash.

    ``columns`` maps column name -> kind: 'string', 'numeric', 'timestamp', 'timestamp_ns', 'null',
    'other:<type>' for Parquet; every CSV column is 'text'. ``error`` is why the file is refused before Spark
    reads it: unreadable, empty, or a CSV not laid out as bronze reads it (``_csv_layout_problem``).
    """

    path: Path
    source_file: str  # relative to the landing folder
    file_format: str  # 'parquet' | 'csv'
    size_bytes: int
    content_sha256: str
    columns: tuple[tuple[str, str], ...]
    error: str | None = None
    spark_schema: T.StructType | None = None  # Parquet: the footer's schema, so Spark need not infer it
    delimiter: str = ","  # CSV: between fields


SENSOR_SUFFIXES = (".parquet", ".csv")
# What copy tools and exporters call a file until it is complete (curl/wget/rsync .part, browsers,
# WinSCP, `hdfs dfs -put`): listed so the run can say it waits for them, never read.
TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".filepart", ".crdownload", "._copying_")


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob over relative paths as a regex: ``**/`` any folders (or none), ``*`` and ``?`` within a name."""
    parts = re.split(r"(\*\*/|\*|\?)", pattern)
    wild = {"**/": "(?:.*/)?", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(wild.get(part, re.escape(part)) for part in parts))


def without_temp_suffix(name: str) -> str:
    return next((name[: -len(s)] for s in TEMP_SUFFIXES if name.lower().endswith(s)), name)


def list_landing_files(landing_dir: Path, pattern: str = f"{SENSOR_READINGS_DIR}/**/*") -> list[Path]:
    """Sensor files (.parquet, .csv) under ``landing_dir`` whose relative path matches the glob ``pattern``,
    sorted for a stable order, including those still under a temporary name (``day3.csv.part``)."""
    landing_dir = Path(landing_dir)
    fixed = pattern.split("*")[0].split("?")[0].rpartition("/")[0]  # the folder before the first wildcard
    root = landing_dir / fixed
    if not root.is_dir():
        return []
    matches = _glob_regex(pattern).fullmatch

    def is_sensor_file(path: Path) -> bool:
        relative = without_temp_suffix(path.relative_to(landing_dir).as_posix())
        return relative.lower().endswith(SENSOR_SUFFIXES) and bool(matches(relative))

    return sorted(p for p in root.rglob("*") if p.is_file() and is_sensor_file(p))


def files_still_being_written(paths: Iterable[Path], *, settle_seconds: float) -> dict[Path, str]:
    """The files among ``paths`` that are not complete yet, each with why: a temporary name, or bytes that
    changed while this run watched them.

    A file changed less than ``settle_seconds`` ago may still be growing: the run waits (once) until the
    youngest is that old and looks again. One that changed meanwhile is being written: read now it would
    be rejected, and remembered by the hash of its first half; left alone, the next run reads it whole.
    One that did not (an export that ended just before the run, as 01_simulate's do) is read now."""
    busy, watched = {}, {}
    for path in paths:
        suffix = next((path.name[-len(s):] for s in TEMP_SUFFIXES if path.name.lower().endswith(s)), None)
        if suffix:
            busy[path] = f"still being written: a temporary name (*{suffix})"
        else:
            watched[path] = path.stat()
    now = time.time()
    fresh = {path: now - stat.st_mtime for path, stat in watched.items() if now - stat.st_mtime < settle_seconds}
    if not fresh:
        return busy
    wait = settle_seconds - max(0.0, min(fresh.values()))  # a clock-skewed future mtime waits the full time
    time.sleep(wait)
    for path in fresh:
        before, after = watched[path], path.stat()
        if (after.st_mtime_ns, after.st_size) != (before.st_mtime_ns, before.st_size):
            busy[path] = f"still being written: it changed during the {wait:.1f} s this run watched it"
    return busy


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _arrow_kind(kind: pa.DataType) -> str:
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_dictionary(kind):
        return "string"
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "numeric"
    if pa.types.is_timestamp(kind):
        # Spark 4 cannot read INT64 TIMESTAMP(NANOS) columns.
        return "timestamp_ns" if kind.unit == "ns" else "timestamp"
    if pa.types.is_null(kind):
        return "null"
    return f"other:{kind}"


_ARROW_TO_SPARK = {
    pa.int8(): T.ByteType(), pa.int16(): T.ShortType(), pa.int32(): T.IntegerType(), pa.int64(): T.LongType(),
    pa.float32(): T.FloatType(), pa.float64(): T.DoubleType(), pa.bool_(): T.BooleanType(),
    pa.string(): T.StringType(), pa.large_string(): T.StringType(), pa.date32(): T.DateType(),
}


def _spark_schema(schema: pa.Schema) -> T.StructType | None:
    """The Spark schema of a Parquet footer for the simple types, else None (Spark infers it)."""
    fields = []
    for arrow_field in schema:
        kind = arrow_field.type
        if pa.types.is_timestamp(kind) and kind.unit in ("ms", "us"):
            spark_type = T.TimestampType() if kind.tz else T.TimestampNTZType()
        else:
            spark_type = _ARROW_TO_SPARK.get(kind)
        if spark_type is None:
            return None
        fields.append(T.StructField(arrow_field.name, spark_type))
    return T.StructType(fields)


def inspect_landing_file(path: Path, landing_dir: Path, *, delimiter: str = ",", decimal: str = ".") -> LandingFile:
    """Hash the file and read its column names and types (Parquet footer, CSV header split on ``delimiter``)."""
    path = Path(path)
    file_format = "parquet" if path.suffix.lower() == ".parquet" else "csv"
    base = dict(
        path=path,
        source_file=path.relative_to(landing_dir).as_posix(),
        file_format=file_format,
        size_bytes=path.stat().st_size,
        content_sha256=_sha256(path),
    )
    if not base["size_bytes"]:
        return LandingFile(**base, columns=(), error="empty: 0 bytes")
    try:
        if file_format == "parquet":
            schema = pq.read_schema(path)
            columns = tuple((field.name, _arrow_kind(field.type)) for field in schema)
            return LandingFile(**base, columns=columns, spark_schema=_spark_schema(schema))
        else:
            with path.open(newline="", encoding="utf-8") as handle:
                rows = csv.reader(handle, delimiter=delimiter)
                header, first_row = next(rows, None), next(rows, None)
            if not header:
                return LandingFile(**base, columns=(), error="empty: no header")
            columns = tuple((name.strip().lstrip("\ufeff"), "text") for name in header)
            problem = _csv_layout_problem(path, header, first_row, delimiter=delimiter, decimal=decimal)
            return LandingFile(**base, columns=columns, error=problem, delimiter=delimiter)
    except (OSError, UnicodeDecodeError, csv.Error, pa.ArrowException) as err:
        return LandingFile(**base, columns=(), error=f"unreadable: {type(err).__name__}: {err}")


_DELIMITERS = (",", ";", "\t", "|")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")


def _csv_layout_problem(path: Path, header: list[str], first_row: list[str] | None, *, delimiter: str = ",",
                        decimal: str = ".") -> str | None:
    """Why a CSV is not what its source profile says (``delimiter`` between fields, ``decimal`` as the decimal
    mark, every row ended by a line break), judged on its header, second line and last bytes; None when it is.

    Read anyway, such a file goes wrong quietly or with the wrong reason: a ';' file read as ',' is one column
    ("missing required columns"), unquoted decimal commas shift every value one field right, quoted ones do not
    parse, and a file cut short loads its last value cut short (1400.0 as 14)."""
    line = delimiter.join(header)  # the header line, give or take quoting
    other = max((d for d in _DELIMITERS if d != delimiter), key=line.count)
    if line.count(other) + 1 > len(header):
        cells = delimiter.join(first_row or []).split(other)
        commas = [cell.strip() for cell in cells if _DECIMAL_COMMA.match(cell.strip())]
        decimals = f", and line 2 writes decimals with a comma ({commas[0]!r})" if commas else ""
        return (f"delimiter: the header splits on {other!r} into {line.count(other) + 1} columns{decimals}; this "
                f"source reads {delimiter!r}: set delimiter (and decimal) in its ingest profile")
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - 4096))
        tail = handle.read()
    if not tail.endswith((b"\n", b"\r")):
        last = tail.splitlines()[-1].decode("utf-8", "replace")
        return f"truncated: the last line ends without a line break, cut short: {last[-80:]!r}"
    if first_row is None:
        return None
    commas = [(name, value) for name, value in zip(header, first_row) if _DECIMAL_COMMA.match(value.strip())]
    if commas and decimal == ".":
        name, value = commas[0]
        return f"decimal comma: line 2 has {name} = {value!r}; this source reads '.': set decimal: ',' in its profile"
    if len(first_row) != len(header):
        return (f"field count: line 2 has {len(first_row)} fields and the header {len(header)} (a decimal comma or "
                f"an unquoted {delimiter!r} inside a value splits one)")
    return None


def inspect_reference_file(path: Path, landing_dir: Path) -> LandingFile | None:
    """A reference CSV's identity (hash, size), or None when the file is absent."""
    path = Path(path)
    if not path.is_file():
        return None
    return LandingFile(
        path=path,
        source_file=path.relative_to(landing_dir).as_posix(),
        file_format="csv",
        size_bytes=path.stat().st_size,
        content_sha256=_sha256(path),
        columns=(),
    )


# Spark's words for "this file's own bytes cannot be read as its format". A moved file, a JVM out of memory
# or a lost executor is not the file's fault: such a failure must not be remembered against its hash.
_BAD_FILE_ERROR = re.compile(
    r"\[(FAILED_READ_FILE\.(NO_HINT|CANNOT_READ_FILE_FOOTER|PARQUET_COLUMN_DATA_TYPE_MISMATCH)|MALFORMED_RECORD_IN_PARSING[.\w]*)\]"
)
_NOT_THE_FILES_FAULT = re.compile(r"OutOfMemoryError|FILE_NOT_EXIST|PATH_NOT_FOUND")


def is_bad_file_error(err: BaseException) -> bool:
    """True when Spark failed because of the landing file's content, False for any other failure."""
    text = str(err)
    return bool(_BAD_FILE_ERROR.search(text)) and not _NOT_THE_FILES_FAULT.search(text)


def describe_read_error(err: BaseException) -> str:
    """One line for the ingest log: Spark's error condition and message, then its first cause (no stack)."""
    text = str(err)
    condition = re.search(r"(\[[A-Z_]+(?:\.[A-Z_]+)*\].*?)(?:\s+SQLSTATE: \w+)?$", text, re.MULTILINE)
    cause = re.search(r"^Caused by: (.+)$", text, re.MULTILINE)
    headline = condition.group(1).strip() if condition else (text.strip().splitlines() or [type(err).__name__])[0]
    return f"{headline} (cause: {cause.group(1).strip()})" if cause else headline


def read_landing_file(spark: SparkSession, landing_file: LandingFile) -> DataFrame:
    """The file's rows: Parquet with its own types, CSV with every column as a string (by header)."""
    path = str(landing_file.path)
    if landing_file.file_format == "parquet":
        reader = spark.read if landing_file.spark_schema is None else spark.read.schema(landing_file.spark_schema)
        return reader.parquet(path)
    return _read_csv_as_text(spark, path, [name for name, _ in landing_file.columns], landing_file.delimiter)


def _read_csv_as_text(spark: SparkSession, path: str, columns: Iterable[str], delimiter: str = ",") -> DataFrame:
    """Every column as a string by header position, plus ``_fields`` (the row's field count) and ``_line``.

    Spark's CSV reader pads a short row with nulls and drops a long row's extra fields without a word, so a
    row that lost or gained a ',' mid-file would load its values one column off. Read as lines and parsed
    with the same CSV parser, each row keeps its field count, and bronze marks a mismatched row."""
    names = list(columns)
    schema = ", ".join(f"_c{i} STRING" for i in range(len(names)))
    options = {"ignoreLeadingWhiteSpace": "true", "ignoreTrailingWhiteSpace": "true", "sep": delimiter}
    with open(path, encoding="utf-8") as handle:
        header = handle.readline().rstrip("\r\n")
    lines = spark.read.text(path).where((F.col("value") != F.lit(header)) & (F.trim("value") != ""))
    # Quoted text may hold the delimiter: count the separators outside quotes.
    fields = F.size(F.split(F.regexp_replace("value", '"[^"]*"', ""), re.escape(delimiter), -1))
    parsed = lines.select(F.from_csv("value", schema, options).alias("_row"), fields.alias("_fields"),
                          F.col("value").alias("_line"))
    return parsed.select(*[F.col(f"_row._c{i}").alias(name) for i, name in enumerate(names)], "_fields", "_line")


def read_reference_csv(spark: SparkSession, path: Path) -> DataFrame | None:
    """A reference CSV (metadata, stations, maintenance) as strings, or None when the file is absent.

    These files are small dimension snapshots: read on the driver, no Spark job.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        text = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (ValueError, UnicodeDecodeError) as err:  # pandas' parser errors name the line, not the file
        raise ValueError(f"{path.name}: cannot read it as CSV: {err}") from None
    text.columns = [str(name).strip() for name in text.columns]
    schema = T.StructType([T.StructField(name, T.StringType()) for name in text.columns])
    rows = [tuple(value if value != "" else None for value in row) for row in text.itertuples(index=False)]
    return spark.createDataFrame(rows, schema)
