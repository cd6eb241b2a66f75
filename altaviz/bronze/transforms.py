"""Bronze transformations (no I/O): map and convert a landing file's columns onto the reading
contract, type them, profile each file, and type the reference CSVs with errors naming file, line and column."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from altaviz.config import ConfigError
from altaviz.registry import SENSOR_COLUMNS, SensorRegistry, get_registry
from altaviz.schemas import (
    BRONZE_SCHEMA,
    MALFORMED_ROW,
    READING_COLUMNS,
)
from altaviz.units import likely_units, linear_conversion

_STRING_MAP = T.MapType(T.StringType(), T.StringType())


@dataclass(frozen=True)
class ColumnSource:
    """Where a contract column comes from in a landing file, and how to convert it. A ``constant`` column
    comes from the source profile, not the file: the compressor id (from the path or the profile), or null for
    a sensor the site does not have (``missing=True``)."""

    source: str
    scale: float = 1.0
    offset: float = 0.0
    constant: str | None = None
    missing: bool = False


def validate_column_mapping(
    mapping: Mapping[str, object], *, key: str = "ingest.column_mapping", registry: SensorRegistry | None = None
) -> dict[str, tuple[str, float, float]]:
    """A column mapping (``ingest.column_mapping``, or the ``columns`` of an ingest profile at ``key``) as
    source -> (contract column, scale, offset); raises ConfigError naming the key. A unit is any pint reads,
    converted into the sensor's registry unit (``altaviz.units``: gauge and absolute pressures, °C, m³/h ...)."""
    sensors = (registry or get_registry()).sensors
    resolved: dict[str, tuple[str, float, float]] = {}
    prefix = key
    for source, entry in (mapping or {}).items():
        key = f"pipeline.yaml: {prefix}.{source}"
        target, unit = (entry, None) if isinstance(entry, str) else (None, None)
        if isinstance(entry, Mapping):
            target, unit = entry.get("column"), entry.get("unit")
        if target not in READING_COLUMNS:
            raise ConfigError(f"{key}: column must be one of {list(READING_COLUMNS)}, got {target!r}")
        if unit is None:
            resolved[str(source)] = (target, 1.0, 0.0)
            continue
        if target not in sensors:
            raise ConfigError(f"{key}: {target} takes no unit, got unit {unit!r}")
        try:
            resolved[str(source)] = (target, *linear_conversion(str(unit), sensors[target].unit))
        except ValueError as reason:
            examples = likely_units(sensors[target].unit)
            hint = f"; it may be written e.g. {', '.join(examples)}" if examples else ""
            raise ConfigError(f"{key}: unit {unit!r} is not convertible to {target}: {reason}{hint}") from None
    return resolved


# Rejections the settings can fix (the column mapping, a unit, an ingest profile's delimiter, decimal mark, time
# pattern or id): such a file is inspected again on every run, so fixing the profile loads it without touching it.
SETTINGS_REJECTIONS = ("missing required column", "ambiguous column", "units:", "delimiter:", "decimal comma:",
                       "compressor id:", "ambiguous source:", "wrong type(s): no value of")


def resolve_columns(
    columns: Mapping[str, str],
    mapping: Mapping[str, tuple[str, float, float]],
    fixed: Mapping[str, ColumnSource] | None = None,
) -> tuple[dict[str, ColumnSource], str | None]:
    """For each contract column, its source in a file with ``columns`` (name -> kind), or a reason to reject.
    The mapping comes first: it may declare the unit of a column that already has the contract's name.
    ``fixed`` columns (a constant id, a missing sensor) come from the profile and need no file column."""
    sources: dict[str, list[ColumnSource]] = {name: [] for name in READING_COLUMNS}
    for name, source in (fixed or {}).items():
        sources[name].append(source)
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
        if source.constant is not None or source.missing:
            continue
        kind = columns[source.source]
        allowed = expected.get(name, {"numeric", "null"})
        if kind == "text" or kind in allowed:
            continue
        if kind == "timestamp_ns":
            problems.append(f"{source.source} is a nanosecond timestamp (Spark reads micro- or milliseconds)")
        else:
            problems.append(f"{source.source} is {kind}, expected {'/'.join(sorted(allowed))}")
    return f"wrong type(s): {'; '.join(problems)}" if problems else None


@dataclass(frozen=True)
class TextFormat:
    """How a source writes values as text (``IngestSource``): the decimal mark, the time pattern and the zone of
    times written without an offset."""

    decimal: str = "."
    timestamp_format: str = ""  # a Spark datetime pattern; "" = ISO 8601
    time_zone: str = "UTC"


_HAS_OFFSET = r"(Z|[+-]\d\d(:?\d\d)?)$"


def _typed(raw: Column, name: str, source: ColumnSource, is_text: bool, text: TextFormat, naive: bool) -> Column:
    """``naive``: a Parquet time without a zone (TIMESTAMP_NTZ), read in the profile's zone like text."""
    if name == "compressor_id":
        return F.trim(raw.cast(T.StringType())) if is_text else raw.cast(T.StringType())
    if name == "timestamp":
        if not is_text:
            stamp = raw.cast(T.TimestampType())  # NTZ in the session's zone, UTC
            return F.to_utc_timestamp(stamp, text.time_zone) if naive and text.time_zone != "UTC" else stamp
        stamp = F.try_to_timestamp(raw, F.lit(text.timestamp_format)) if text.timestamp_format else raw.try_cast(
            T.TimestampType())
        if text.time_zone == "UTC":
            return stamp
        # A written offset says where the time was taken; only times without one are in the profile's zone.
        return F.when(F.trim(raw).rlike(_HAS_OFFSET), stamp).otherwise(F.to_utc_timestamp(stamp, text.time_zone))
    if is_text:
        number = (F.regexp_replace(raw, ",", ".") if text.decimal == "," else raw).try_cast(T.DoubleType())
    else:
        number = raw.cast(T.DoubleType())
    return number * F.lit(source.scale) + F.lit(source.offset) if (source.scale, source.offset) != (1.0, 0.0) else number


def _fixed(name: str, source: ColumnSource) -> Column:
    kind = T.StringType() if name == "compressor_id" else T.DoubleType()
    return F.lit(source.constant).cast(kind)


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
    text: TextFormat = TextFormat(),
    header_fields: int | None = None,
) -> DataFrame:
    """One landing file's rows in ``BRONZE_SCHEMA``: renamed, converted, typed, extras kept aside.
    ``header_fields``: the fields of the file's header when ``columns`` are not (a long file's pivot)."""
    read = {name: src for name, src in sources.items() if src.constant is None and not src.missing}
    is_text = {name: columns[src.source] == "text" for name, src in read.items()}
    naive = {field.name for field in raw.schema.fields if isinstance(field.dataType, T.TimestampNTZType)}
    typed = {name: _typed(F.col(f"`{src.source}`"), name, src, is_text[name], text, src.source in naive)
             for name, src in read.items()}
    typed.update({name: _fixed(name, src) for name, src in sources.items() if name not in read})
    unparsed = [
        (name, F.when(F.col(f"`{src.source}`").isNotNull() & typed[name].isNull(), F.col(f"`{src.source}`")))
        for name, src in read.items()
        if is_text[name] and name != "compressor_id"
    ]
    if "_fields" in raw.columns:  # a CSV row with another field count than the header: kept whole for silver
        expected = header_fields or len(columns)
        malformed = F.format_string(f"%d fields where the header has {expected}: %s", "_fields", "_line")
        unparsed.append((MALFORMED_ROW, F.when(F.col("_fields") != expected, malformed)))
    used = {src.source for src in read.values()}
    extras = [(name, F.col(f"`{name}`")) for name in columns if name not in used and name in raw.columns]
    return raw.select(
        *[typed[name].alias(name) for name in READING_COLUMNS],
        _string_map(unparsed).alias("unparsed_values"),
        _string_map(extras).alias("extra_columns"),
        F.lit(source_file).alias("source_file"),
        F.lit(ingested_at).cast(T.TimestampType()).alias("ingested_at"),
        F.lit(run_id).alias("run_id"),
    ).select(*BRONZE_SCHEMA.fieldNames())


def long_to_wide(raw: DataFrame, *, keys: list[str], tag: str, value: str, tags: list[str]) -> DataFrame:
    """A long export (one row per key, tag and value) as one row per key with a column per configured tag.

    Tags the profile does not map are left out; a tag written twice for the same key keeps its first value.
    A line with another field count than the header cannot be placed: it stays a row of its own, keys and tags
    null, with its ``_fields`` and ``_line`` for silver to quarantine."""
    if "_fields" not in raw.columns:
        return raw.groupBy(*[F.col(f"`{k}`") for k in keys]).pivot(tag, tags).agg(F.first(F.col(f"`{value}`")))
    fields = len(raw.columns) - 2
    good = raw.where(F.col("_fields") == fields)
    wide = (good.groupBy(*[F.col(f"`{k}`") for k in keys]).pivot(tag, tags).agg(F.first(F.col(f"`{value}`")))
            .select("*", F.lit(fields).alias("_fields"), F.lit(None).cast(T.StringType()).alias("_line")))
    bad = raw.where(F.col("_fields") != fields).select(
        *[F.lit(None).cast(T.StringType()).alias(name) for name in [*keys, *tags]], "_fields", "_line")
    return wide.unionByName(bad)


def file_profiles(bronze_rows: DataFrame) -> DataFrame:
    """One row per source file: rows, and per contract column the values present and unparsable."""
    aggregates = [F.count(F.lit(1)).alias("rows"), F.count_distinct("compressor_id").alias("units"),
                  F.min("timestamp").alias("first"), F.max("timestamp").alias("last"),
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
    expected = [name for name in SENSOR_COLUMNS if not sources[name].missing]  # a sensor the site lacks is null
    empty = [name for name in expected if profile[f"{name}__present"] == 0]
    if len(empty) == len(expected):
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
    own width) while another of the units such a sensor is exported in (``units.LIKELY_UNITS``) puts it
    inside. Judged only when most of the other sensors are in their bands: a stopped or idling unit reads low
    everywhere and is not mixed up."""
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
        for unit in likely_units(sensor.unit):
            scale, offset = linear_conversion(unit, sensor.unit)
            is_declared = math.isclose(scale, declared.scale) and math.isclose(offset, declared.offset, abs_tol=1e-9)
            if not is_declared and in_band(name, raw * scale + offset):
                low, high = sensor.normal
                return (f"units: {declared.source} reads {medians[name]:g} {sensor.unit} at the median, far "
                        f"outside the normal {low:g}-{high:g} while the other sensors are in theirs; read as {unit} it "
                        f"would be {raw * scale + offset:g} {sensor.unit}: declare its unit in ingest.column_mapping")
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
