"""Bronze transformations (no I/O): map and convert a landing file's columns onto the reading
contract, type them, profile each file, and type the reference CSVs with errors naming file, line and column."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from altaviz.config import ConfigError
from altaviz.registry import SENSOR_COLUMNS, SensorRegistry
from altaviz.schemas import (
    BRONZE_SCHEMA,
    MALFORMED_ROW,
    READING_COLUMNS,
    UNIT_CONVERSIONS,
)

_STRING_MAP = T.MapType(T.StringType(), T.StringType())


@dataclass(frozen=True)
class ColumnSource:
    """Where a contract column comes from in a landing file, and how to convert it."""

    source: str
    scale: float = 1.0
    offset: float = 0.0


def validate_column_mapping(mapping: Mapping[str, object]) -> dict[str, tuple[str, float, float]]:
    """``ingest.column_mapping`` as source -> (contract column, scale, offset); raises ConfigError."""
    resolved: dict[str, tuple[str, float, float]] = {}
    for source, entry in (mapping or {}).items():
        key = f"pipeline.yaml: ingest.column_mapping.{source}"
        target, unit = (entry, None) if isinstance(entry, str) else (None, None)
        if isinstance(entry, Mapping):
            target, unit = entry.get("column"), entry.get("unit")
        if target not in READING_COLUMNS:
            raise ConfigError(f"{key}: column must be one of {list(READING_COLUMNS)}, got {target!r}")
        if unit is None:
            resolved[str(source)] = (target, 1.0, 0.0)
            continue
        units = UNIT_CONVERSIONS.get(target, {})
        if unit not in units:
            raise ConfigError(f"{key}: unit {unit!r} is not convertible to {target}; known: {sorted(units)}")
        resolved[str(source)] = (target, *units[unit])
    return resolved


# Rejections that ingest.column_mapping can fix: such a file is inspected again on every run.
MAPPING_REJECTIONS = ("missing required column", "ambiguous column", "units:")


def resolve_columns(
    columns: Mapping[str, str], mapping: Mapping[str, tuple[str, float, float]]
) -> tuple[dict[str, ColumnSource], str | None]:
    """For each contract column, its source in a file with ``columns`` (name -> kind), or a reason to reject.
    The mapping comes first: it may declare the unit of a column that already has the contract's name."""
    sources: dict[str, list[ColumnSource]] = {name: [] for name in READING_COLUMNS}
    for name in columns:
        if name in mapping:
            target, scale, offset = mapping[name]
            sources[target].append(ColumnSource(name, scale, offset))
        elif name in sources:
            sources[name].append(ColumnSource(name))
    missing = [name for name, found in sources.items() if not found]
    if missing:
        return {}, f"missing required column(s): {', '.join(missing)}"
    ambiguous = [name for name, found in sources.items() if len(found) > 1]
    if ambiguous:
        return {}, f"ambiguous column(s): {', '.join(f'{n} from {[s.source for s in sources[n]]}' for n in ambiguous)}"
    resolved = {name: found[0] for name, found in sources.items()}
    return resolved, _check_kinds(columns, resolved)


def _check_kinds(columns: Mapping[str, str], resolved: Mapping[str, ColumnSource]) -> str | None:
    """Parquet types must fit the contract; CSV ('text') is typed per value later."""
    expected = {"compressor_id": {"string"}, "timestamp": {"timestamp"}}
    problems = []
    for name, source in resolved.items():
        kind = columns[source.source]
        allowed = expected.get(name, {"numeric", "null"})
        if kind == "text" or kind in allowed:
            continue
        if kind == "timestamp_ns":
            problems.append(f"{source.source} is a nanosecond timestamp (Spark reads micro- or milliseconds)")
        else:
            problems.append(f"{source.source} is {kind}, expected {'/'.join(sorted(allowed))}")
    return f"wrong type(s): {'; '.join(problems)}" if problems else None


def _typed(raw: Column, name: str, source: ColumnSource, is_text: bool) -> Column:
    if name == "compressor_id":
        return F.trim(raw.cast(T.StringType())) if is_text else raw.cast(T.StringType())
    if name == "timestamp":
        # Naive CSV text and TIMESTAMP_NTZ Parquet both mean UTC (the session time zone is UTC).
        return raw.try_cast(T.TimestampType()) if is_text else raw.cast(T.TimestampType())
    number = raw.try_cast(T.DoubleType()) if is_text else raw.cast(T.DoubleType())
    return number * F.lit(source.scale) + F.lit(source.offset) if (source.scale, source.offset) != (1.0, 0.0) else number


def _string_map(pairs: list[tuple[str, Column]]) -> Column:
    if not pairs:
        return F.create_map().cast(_STRING_MAP)
    entries = F.create_map(*[item for name, value in pairs for item in (F.lit(name), value.cast(T.StringType()))])
    return F.map_filter(entries, lambda _key, value: value.isNotNull())


def to_bronze_rows(
    raw: DataFrame,
    *,
    columns: Mapping[str, str],
    sources: Mapping[str, ColumnSource],
    source_file: str,
    run_id: str,
    ingested_at: datetime,
) -> DataFrame:
    """One landing file's rows in ``BRONZE_SCHEMA``: renamed, converted, typed, extras kept aside."""
    is_text = {name: columns[src.source] == "text" for name, src in sources.items()}
    typed = {name: _typed(F.col(f"`{src.source}`"), name, src, is_text[name]) for name, src in sources.items()}
    unparsed = [
        (name, F.when(F.col(f"`{src.source}`").isNotNull() & typed[name].isNull(), F.col(f"`{src.source}`")))
        for name, src in sources.items()
        if is_text[name] and name != "compressor_id"
    ]
    if "_fields" in raw.columns:  # a CSV row with another field count than the header: kept whole for silver
        malformed = F.format_string(f"%d fields where the header has {len(columns)}: %s", "_fields", "_line")
        unparsed.append((MALFORMED_ROW, F.when(F.col("_fields") != len(columns), malformed)))
    used = {src.source for src in sources.values()}
    extras = [(name, F.col(f"`{name}`")) for name in columns if name not in used]
    return raw.select(
        *[typed[name].alias(name) for name in READING_COLUMNS],
        _string_map(unparsed).alias("unparsed_values"),
        _string_map(extras).alias("extra_columns"),
        F.lit(source_file).alias("source_file"),
        F.lit(ingested_at).cast(T.TimestampType()).alias("ingested_at"),
        F.lit(run_id).alias("run_id"),
    ).select(*BRONZE_SCHEMA.fieldNames())


def file_profiles(bronze_rows: DataFrame) -> DataFrame:
    """One row per source file: rows, and per contract column the values present and unparsable."""
    aggregates = [F.count(F.lit(1)).alias("rows"),
                  F.count(F.when(F.map_contains_key("unparsed_values", F.lit(MALFORMED_ROW)), 1)).alias("malformed")]
    for name in READING_COLUMNS[1:]:
        is_unparsed = F.map_contains_key("unparsed_values", F.lit(name))
        aggregates += [
            F.count(F.when(is_unparsed, 1)).alias(f"{name}__unparsed"),
            F.count(F.when(is_unparsed | F.col(name).isNotNull(), 1)).alias(f"{name}__present"),
        ]
    aggregates += [F.percentile_approx(name, 0.5).alias(f"{name}__median") for name in SENSOR_COLUMNS]
    return bronze_rows.groupBy("source_file").agg(*aggregates)


def judge_file_profile(
    profile: Mapping[str, int] | None, *, sources: Mapping[str, ColumnSource], registry: SensorRegistry
) -> tuple[str | None, str | None]:
    """(why to reject the file, a note on a file that loads) from its ``file_profiles`` row; None: no rows."""
    if not profile:
        return "empty: no rows", None
    mix_up = unit_mix_up(profile, sources=sources, registry=registry)
    if mix_up:
        return mix_up, None
    bad = [
        name
        for name in READING_COLUMNS[1:]
        if profile[f"{name}__present"] > 0 and profile[f"{name}__unparsed"] == profile[f"{name}__present"]
    ]
    if bad:
        return f"wrong type(s): no value of {', '.join(bad)} parses", None
    empty = [name for name in SENSOR_COLUMNS if profile[f"{name}__present"] == 0]
    if len(empty) == len(SENSOR_COLUMNS):
        # Rows of ids and times alone would count as readings received and make the unit look fresh.
        return f"no sensor values: every sensor column is empty in all {profile['rows']} row(s)", None
    # One dead channel is not the file's fault: its other sensors load (silver keeps the null), and the log says so.
    notes = [f"empty column(s): {', '.join(empty)}"] if empty else []
    if profile["malformed"]:
        notes.append(f"{profile['malformed']} row(s) with another field count than the header, quarantined by silver")
    return None, "; ".join(notes) or None


def unit_mix_up(profile: Mapping, *, sources: Mapping[str, ColumnSource], registry: SensorRegistry) -> str | None:
    """Why a sensor column looks declared in the wrong unit, or None.

    A column exported in °C but read as °F (or bar as psi, in/s as mm/s) may stay physically possible and
    load quietly wrong. Its file median then sits far outside the sensor's normal band (beyond the band's
    own width) while another unit of ``UNIT_CONVERSIONS`` puts it inside. Judged only when most of the
    other sensors are in their bands: a stopped or idling unit reads low everywhere and is not mixed up."""
    medians = {name: profile.get(f"{name}__median") for name in SENSOR_COLUMNS}
    banded = [name for name in SENSOR_COLUMNS if registry.sensors[name].normal and medians[name] is not None]

    def in_band(name: str, value: float, widen: float = 0.0) -> bool:
        low, high = registry.sensors[name].normal
        return low - widen * (high - low) <= value <= high + widen * (high - low)

    for name in banded:
        others = [other for other in banded if other != name]
        if in_band(name, medians[name], widen=1.0) or 2 * sum(in_band(o, medians[o]) for o in others) <= len(others):
            continue
        declared, sensor = sources[name], registry.sensors[name]
        raw = (medians[name] - declared.offset) / declared.scale
        for unit, (scale, offset) in UNIT_CONVERSIONS.get(name, {}).items():
            if (scale, offset) != (declared.scale, declared.offset) and in_band(name, raw * scale + offset):
                low, high = sensor.normal
                return (f"units: {declared.source} reads {medians[name]:g} {sensor.unit} at the median, far outside "
                        f"the normal {low:g}-{high:g} while the other sensors are in theirs; read as {unit} it would be "
                        f"{raw * scale + offset:g} {sensor.unit}: declare its unit in ingest.column_mapping")
    return None


def to_reference_table(raw: DataFrame, schema: T.StructType) -> DataFrame:
    """A reference CSV (all text) typed to ``schema`` with try_cast; absent columns become null."""
    present = set(raw.columns)
    return raw.select(
        *[
            (F.trim(F.col(f"`{fld.name}`")).try_cast(fld.dataType) if fld.name in present else F.lit(None).cast(fld.dataType)).alias(
                fld.name
            )
            for fld in schema.fields
        ]
    )


def validate_reference_rows(raw: DataFrame, typed: DataFrame, schema: T.StructType, *, file_name: str) -> None:
    """Raise ValueError naming the file, CSV line and column of the first value that does not parse,
    or of a row without its key (the first column). Reference files are small: checked on the driver."""
    key = schema.fields[0].name
    text_rows, typed_rows = raw.collect(), typed.collect()
    for index, (text, value) in enumerate(zip(text_rows, typed_rows)):
        line = index + 2  # the header is line 1
        if value[key] is None:
            raise ValueError(f"{file_name}: line {line}: column {key} is empty")
        for column in schema.fields:
            given = text[column.name] if column.name in raw.columns else None
            if given is not None and value[column.name] is None:
                raise ValueError(
                    f"{file_name}: line {line}: column {column.name}: {given!r} is not a {column.dataType.simpleString()}"
                )
