"""Explicit schemas of every Delta table the pipeline writes, and the units the ingest understands.

Column order here is the contract: each stage ends with ``select(*SCHEMA.fieldNames())``.
"""

from __future__ import annotations

from pyspark.sql import types as T

from altaviz.registry import SENSOR_COLUMNS, SensorRegistry, get_registry

ID_COLUMNS = ("compressor_id", "timestamp")
READING_COLUMNS = (*ID_COLUMNS, *SENSOR_COLUMNS)

# The unparsed_values key under which bronze keeps a CSV row whose field count is not the header's.
MALFORMED_ROW = "_malformed_row"

# Silver rule reason codes, in the order they are judged: a row gets the first one it breaks.
REASON_CODES = (
    "malformed_row",
    "missing_id",
    "missing_timestamp",
    "non_numeric",
    "non_finite",
    "physically_impossible",
    "future_timestamp",
    "unknown_compressor",
    "before_installation",
    "duplicate",
    "restated",
)


_STRING_MAP = T.MapType(T.StringType(), T.StringType())


def _sensor_fields() -> list[T.StructField]:
    return [T.StructField(name, T.DoubleType()) for name in SENSOR_COLUMNS]


# One row per row of a landing file, typed; raw text that failed to parse is kept in unparsed_values.
BRONZE_SCHEMA = T.StructType(
    [
        T.StructField("compressor_id", T.StringType()),
        T.StructField("timestamp", T.TimestampType()),
        *_sensor_fields(),
        T.StructField("unparsed_values", _STRING_MAP),  # column -> raw text that is not a number/time
        T.StructField("extra_columns", _STRING_MAP),  # columns the contract does not know, as text
        T.StructField("source_file", T.StringType()),  # path relative to the landing folder
        T.StructField("ingested_at", T.TimestampType()),
        T.StructField("run_id", T.StringType()),
    ]
)

# One row per landing file seen, ingested or rejected; the content hash makes "each file once".
INGEST_LOG_SCHEMA = T.StructType(
    [
        T.StructField("content_sha256", T.StringType()),
        T.StructField("source_file", T.StringType()),
        T.StructField("landing_dir", T.StringType()),
        T.StructField("file_format", T.StringType()),
        T.StructField("size_bytes", T.LongType()),
        T.StructField("status", T.StringType()),  # 'ingested' | 'rejected' | 'reference:<table>'
        T.StructField("reason", T.StringType()),  # rejected: why; ingested: a note (an empty sensor column)
        T.StructField("rows", T.LongType()),
        T.StructField("run_id", T.StringType()),
        T.StructField("ingested_at", T.TimestampType()),
    ]
)

SILVER_SCHEMA = T.StructType(
    [
        T.StructField("compressor_id", T.StringType()),
        T.StructField("timestamp", T.TimestampType()),
        *_sensor_fields(),
        T.StructField("is_outlier", T.BooleanType()),
        T.StructField("outlier_sensors", T.ArrayType(T.StringType())),
        T.StructField("source_file", T.StringType()),
        T.StructField("ingested_at", T.TimestampType()),
        T.StructField("run_id", T.StringType()),
        T.StructField("date", T.DateType()),
    ]
)

QUARANTINE_SCHEMA = T.StructType(
    [
        T.StructField("compressor_id", T.StringType()),
        T.StructField("timestamp", T.TimestampType()),
        *_sensor_fields(),
        T.StructField("unparsed_values", _STRING_MAP),
        T.StructField("reason", T.StringType()),
        T.StructField("reason_detail", T.StringType()),
        T.StructField("source_file", T.StringType()),
        T.StructField("ingested_at", T.TimestampType()),
        T.StructField("run_id", T.StringType()),
    ]
)

DQ_METRICS_SCHEMA = T.StructType(
    [
        T.StructField("run_id", T.StringType()),
        T.StructField("metric_timestamp", T.TimestampType()),
        T.StructField("compressor_id", T.StringType()),  # null = the fleet
        T.StructField("metric_type", T.StringType()),
        T.StructField("metric_value", T.DoubleType()),
        T.StructField("threshold_value", T.DoubleType()),
        T.StructField("pass_threshold", T.BooleanType()),
        T.StructField("details", T.StringType()),  # JSON
    ]
)

def gold_schema(registry: SensorRegistry) -> T.StructType:
    """Silver's columns, then the rolling features, derived signals, statuses and calendar columns."""
    fields = list(SILVER_SCHEMA.fields)
    fields += [T.StructField(name, T.DoubleType()) for name in registry.rolling_columns()]
    fields += [
        T.StructField("temp_rate_of_change", T.DoubleType()),
        T.StructField("pressure_differential", T.DoubleType()),
        T.StructField("compression_ratio", T.DoubleType()),
    ]
    fields += [T.StructField(f"{name}_status", T.StringType()) for name in registry.signals]
    fields += [
        T.StructField("hour_of_day", T.IntegerType()),
        T.StructField("day_of_week", T.IntegerType()),  # ISO 8601: 1 = Monday ... 7 = Sunday
        T.StructField("is_weekend", T.BooleanType()),
    ]
    return T.StructType(fields)


GOLD_SCHEMA = gold_schema(get_registry())

COMPRESSOR_METADATA_SCHEMA = T.StructType(
    [
        T.StructField("compressor_id", T.StringType()),
        T.StructField("model", T.StringType()),
        T.StructField("horsepower", T.DoubleType()),
        T.StructField("install_date", T.DateType()),
        T.StructField("station_id", T.StringType()),
        T.StructField("latitude", T.DoubleType()),
        T.StructField("longitude", T.DoubleType()),
    ]
)

STATION_LOCATIONS_SCHEMA = T.StructType(
    [
        T.StructField("station_id", T.StringType()),
        T.StructField("station_name", T.StringType()),
        T.StructField("latitude", T.DoubleType()),
        T.StructField("longitude", T.DoubleType()),
        T.StructField("region", T.StringType()),
        T.StructField("city", T.StringType()),
        T.StructField("state", T.StringType()),
    ]
)

MAINTENANCE_LOGS_SCHEMA = T.StructType(
    [
        T.StructField("compressor_id", T.StringType()),
        T.StructField("event_date", T.TimestampType()),
        T.StructField("event_type", T.StringType()),
        T.StructField("description", T.StringType()),
        T.StructField("downtime_hours", T.DoubleType()),
        T.StructField("severity", T.StringType()),
    ]
)

# Reference CSVs in the landing folder -> (table name, schema). Replaced wholesale each bronze run.
REFERENCE_FILES = {
    "compressor_metadata.csv": ("compressor_metadata", COMPRESSOR_METADATA_SCHEMA),
    "station_locations.csv": ("station_locations", STATION_LOCATIONS_SCHEMA),
    "maintenance_logs.csv": ("maintenance_logs", MAINTENANCE_LOGS_SCHEMA),
}
