"""Settings: the YAML files in ``config/`` loaded once into a frozen, validated object.

Each file may use ``${VAR:-default}`` substitution; variables come from the process environment,
then from ``.env`` at the project root. A wrong value fails at load with the file and the key.
"""

from __future__ import annotations

import functools
import os
import re
import zoneinfo
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Mapping

from dotenv import dotenv_values

from altaviz.registry import SensorRegistry, read_registry, registry_path
from altaviz.yaml_config import ConfigError, Reader, substitute

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = PROJECT_ROOT / "config"
MAX_COMPRESSORS = 10_000  # the simulator's and the config's cap on a fleet

__all__ = ["ConfigError", "substitute", "Settings", "load_settings", "get_settings", "PROJECT_ROOT", "CONFIG_DIR"]

@dataclass(frozen=True)
class Alerting:
    """When alerts open and resolve (``config/pipeline.yaml``, ``alerts:``; the lifecycle is in
    ``altaviz/serving/alerts.py``). Minutes are whole multiples of ``cadence_minutes``."""

    cadence_minutes: int  # the reading cadence the minutes below are counted in
    open_after_minutes: int  # a limit exceeded this long opens a threshold alert
    resolve_margin: float  # fraction of (warning - normal edge) a reading must be inside the warning level
    resolve_after_minutes: int  # that long inside the margin resolves it
    anomaly_min_outliers: int  # flagged readings of one sensor ...
    anomaly_window_minutes: int  # ... within this long open an anomaly alert
    anomaly_clear_minutes: int  # no flag this long resolves it
    prediction_warning_probability: float
    prediction_critical_probability: float
    prediction_open_after_scores: int  # consecutive scores at or above a level open or escalate
    prediction_resolve_margin: float  # resolving scores are below warning minus this
    prediction_resolve_after_scores: int  # consecutive resolving scores that resolve

    @property
    def open_after_readings(self) -> int:
        return self.open_after_minutes // self.cadence_minutes

    @property
    def resolve_after_readings(self) -> int:
        return self.resolve_after_minutes // self.cadence_minutes


ESTIMATORS = ("logistic_regression", "gbt", "random_forest")


@dataclass(frozen=True)
class ModelSettings:
    horizon_hours: int  # a failure trip within this many hours of an hour labels it 1
    warning_horizon_hours: int  # the early-warning classifier's horizon (0: none); prediction warnings use it
    warning_min_failures: int  # fewer labelled failures: no early-warning classifier (it needs more examples)
    folds: int  # cross-fitting folds, grouped by compressor
    min_failures: int  # fewer labelled failures: no model is trained, the trend baseline scores
    estimator: str  # one of ESTIMATORS
    seed: int


@dataclass(frozen=True)
class QualityGates:
    max_missing_rate: float
    max_rejection_rate: float
    max_duplicate_rate: float


@dataclass(frozen=True)
class IngestSource:
    """How to read one kind of landing file (``ingest.sources.<name>`` in ``config/pipeline.yaml``)."""

    name: str
    files: str  # a glob under the landing folder, e.g. "pump_rig/**/*.csv"
    layout: str  # 'wide': a column per sensor; 'long': rows of (tag, time, value)
    delimiter: str
    decimal: str  # '.' or ','
    timestamp_column: str
    timestamp_format: str  # a Spark datetime pattern; "" = ISO 8601
    time_zone: str  # the zone of times written without an offset
    compressor_id: tuple[str, str]  # ('column', name) | ('path', regex with one group) | ('constant', id)
    columns: Mapping[str, object]  # source column (long: tag) -> sensor, or {column, unit}
    tag_column: str = ""  # long layout only
    value_column: str = ""
    missing: tuple[str, ...] = ()  # sensors the site does not have: null in every row, never invented

    def id_from_path(self, source_file: str) -> str | None:
        match = re.search(self.compressor_id[1], source_file)
        return match.group(1) if match else None


LAYOUTS = ("wide", "long")
DEFAULT_SOURCE = "sensor_readings"  # the landing contract's own files (01_simulate writes them)


@dataclass(frozen=True)
class Pipeline:
    data_dir: Path
    runs_dir: Path
    lake_root: str
    compressor_count: int
    start_date: str
    end_date: str
    seed: int
    cadence_minutes: int
    freshness_sla_minutes: int
    gates: QualityGates
    outlier_mad_threshold: float
    column_mapping: Mapping[str, Mapping[str, str]]
    settle_seconds: float  # a landing file changing within this long is left for the next run
    profiles: tuple[IngestSource, ...] = ()  # ingest.sources, in file order

    @property
    def sources(self) -> tuple[IngestSource, ...]:
        """The contract's own ``sensor_readings/`` files (renamed by ``ingest.column_mapping``), then each
        profile of ``ingest.sources``; a profile named ``sensor_readings`` replaces the default one."""
        default = IngestSource(name=DEFAULT_SOURCE, files=f"{DEFAULT_SOURCE}/**/*", layout="wide", delimiter=",",
                               decimal=".", timestamp_column="timestamp", timestamp_format="", time_zone="UTC",
                               compressor_id=("column", "compressor_id"), columns=self.column_mapping)
        named = {source.name for source in self.profiles}
        return (default,) * (DEFAULT_SOURCE not in named) + self.profiles

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    def table_path(self, table: str) -> str:
        """Where a Delta table lives: under the lake root, a local folder or any Hadoop URI."""
        return f"{self.lake_root.rstrip('/')}/{table}"


@dataclass(frozen=True)
class Database:
    url: str  # empty: use the embedded server under <data_dir>/postgres
    host: str
    port: int
    name: str
    user: str
    password: str
    connect_timeout_seconds: int

    @property
    def is_external(self) -> bool:
        return bool(self.url or self.host)


@dataclass(frozen=True)
class SparkSettings:
    master: str
    app_name: str
    driver_memory: str
    shuffle_partitions: int
    log_level: str
    ivy_dir: Path
    remote: str  # a Spark Connect endpoint (sc://host:port) to attach to; "" = the local server, if running
    connect_port: int  # where `altaviz spark start` listens (127.0.0.1 only)
    keep_minutes: float  # a server `altaviz run` started stops after this long without a client; 0: with the run


@dataclass(frozen=True)
class DashboardSettings:
    refresh_seconds: int  # 0: refresh on demand only
    stale_after_minutes: int
    map_tiles: str  # a tile URL template; "" = bundled outline only, no request leaves the machine


@dataclass(frozen=True)
class Settings:
    registry: SensorRegistry
    alerts: Alerting
    pipeline: Pipeline
    database: Database
    spark: SparkSettings
    model: ModelSettings
    dashboard: DashboardSettings


def _resolve(path_text: str) -> Path:
    path = Path(path_text).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def _day(reader: Reader, key: str) -> str:
    text = reader.get(key, str)
    try:
        date.fromisoformat(text)
    except ValueError:
        raise reader.fail(key, f"{text!r} is not a date (YYYY-MM-DD)") from None
    return text


def _positive(reader: Reader, key: str) -> int:
    value = reader.get(key, int)
    if value < 1:
        raise reader.fail(key, f"must be at least 1, got {value}")
    return value


def _ingest_source(reader: Reader, name: str, sensors: tuple[str, ...]) -> IngestSource:
    key = f"ingest.sources.{name}"
    known = {"files", "layout", "delimiter", "decimal", "timestamp", "compressor_id", "columns", "tag", "value",
             "missing"}
    unknown = sorted(set(reader.get(key, dict)) - known)
    if unknown:
        raise reader.fail(f"{key}.{unknown[0]}", f"unknown key; a source takes {sorted(known)}")
    layout = reader.get(f"{key}.layout", str, optional=True, default="wide")
    if layout not in LAYOUTS:
        raise reader.fail(f"{key}.layout", f"{layout!r} is not one of {LAYOUTS}")
    delimiter = reader.get(f"{key}.delimiter", str, optional=True, default=",").replace("\\t", "\t")
    decimal = reader.get(f"{key}.decimal", str, optional=True, default=".")
    if len(delimiter) != 1:
        raise reader.fail(f"{key}.delimiter", f"one character, got {delimiter!r} (a tab is written \"\\t\")")
    if decimal not in (".", ",") or decimal == delimiter:
        raise reader.fail(f"{key}.decimal", f"'.' or ',' and not the delimiter, got {decimal!r}")
    zone = reader.get(f"{key}.timestamp.time_zone", str, optional=True, default="UTC")
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise reader.fail(f"{key}.timestamp.time_zone", f"{zone!r} is not an IANA time zone (Europe/Berlin, UTC)") from None
    id_spec = reader.get(f"{key}.compressor_id", dict, optional=True, default={"column": "compressor_id"})
    if len(id_spec) != 1 or next(iter(id_spec)) not in ("column", "path", "constant"):
        raise reader.fail(f"{key}.compressor_id", f"one of {{column: NAME}}, {{path: REGEX}}, {{constant: ID}}, got {id_spec!r}")
    id_kind, id_value = next(iter(id_spec.items()))
    if id_kind == "path":
        try:
            groups = re.compile(str(id_value)).groups
        except re.error as err:
            raise reader.fail(f"{key}.compressor_id.path", f"not a regular expression: {err}") from None
        if groups != 1:
            raise reader.fail(f"{key}.compressor_id.path", f"needs exactly one (group) around the id, has {groups}")
    missing = tuple(reader.get(f"{key}.missing", list, optional=True, default=[]))
    if set(missing) - set(sensors):
        raise reader.fail(f"{key}.missing", f"unknown sensor(s) {sorted(set(missing) - set(sensors))}; known: {list(sensors)}")
    tag = reader.get(f"{key}.tag", str, optional=layout == "wide", default="")
    value = reader.get(f"{key}.value", str, optional=layout == "wide", default="")
    return IngestSource(
        name=name,
        files=reader.get(f"{key}.files", str),
        layout=layout,
        delimiter=delimiter,
        decimal=decimal,
        timestamp_column=reader.get(f"{key}.timestamp.column", str, optional=True, default="timestamp"),
        timestamp_format=reader.get(f"{key}.timestamp.format", str, optional=True, default=""),
        time_zone=zone,
        compressor_id=(id_kind, str(id_value)),
        columns=reader.get(f"{key}.columns", dict, optional=True, default={}),
        tag_column=tag,
        value_column=value,
        missing=missing,
    )


def _pipeline(reader: Reader, sensors: tuple[str, ...] = ()) -> Pipeline:
    data_dir = _resolve(reader.get("data_dir", str))
    lake_root = reader.get("lake_root", str, optional=True) or str(data_dir / "lake")
    start, end = _day(reader, "defaults.start_date"), _day(reader, "defaults.end_date")
    if end <= start:
        raise reader.fail("defaults.end_date", f"{end} is not after start_date {start}")
    count = reader.get("defaults.compressor_count", int)
    if not 1 <= count <= MAX_COMPRESSORS:
        raise reader.fail("defaults.compressor_count", f"{count} is outside [1, {MAX_COMPRESSORS}]")
    mapping = reader.get("ingest.column_mapping", dict, optional=True, default={})
    return Pipeline(
        data_dir=data_dir,
        runs_dir=_resolve(reader.get("runs_dir", str)),
        lake_root=lake_root,
        compressor_count=count,
        start_date=start,
        end_date=end,
        seed=reader.get("defaults.seed", int),
        cadence_minutes=_positive(reader, "cadence_minutes"),
        freshness_sla_minutes=_positive(reader, "quality.freshness_sla_minutes"),
        gates=QualityGates(
            max_missing_rate=reader.number("quality.gates.max_missing_rate", low=0, high=1),
            max_rejection_rate=reader.number("quality.gates.max_rejection_rate", low=0, high=1),
            max_duplicate_rate=reader.number("quality.gates.max_duplicate_rate", low=0, high=1),
        ),
        outlier_mad_threshold=reader.number("quality.outlier_mad_threshold", low=1),
        column_mapping=mapping,
        settle_seconds=reader.number("ingest.settle_seconds", low=0),
        profiles=tuple(_ingest_source(reader, str(name), sensors)
                       for name in reader.get("ingest.sources", dict, optional=True, default={})),
    )


def _alerting(reader: Reader) -> Alerting:
    cadence = _positive(reader, "cadence_minutes")

    def minutes(key: str) -> int:
        value = _positive(reader, key)
        if value % cadence:
            raise reader.fail(key, f"{value} is not a whole multiple of cadence_minutes {cadence}")
        return value

    warning = reader.number("alerts.prediction_warning_probability", low=0, high=1)
    critical = reader.number("alerts.prediction_critical_probability", low=0, high=1)
    if critical < warning:
        raise reader.fail("alerts.prediction_critical_probability",
                          f"{critical} is below prediction_warning_probability {warning}")
    window, clear = minutes("alerts.anomaly_window_minutes"), minutes("alerts.anomaly_clear_minutes")
    if clear < window:
        # Shorter, and a resolved episode's flags could count toward the next alert.
        raise reader.fail("alerts.anomaly_clear_minutes", f"{clear} is shorter than anomaly_window_minutes {window}")
    return Alerting(
        cadence_minutes=cadence,
        open_after_minutes=minutes("alerts.open_after_minutes"),
        resolve_margin=reader.number("alerts.resolve_margin", low=0, high=1),
        resolve_after_minutes=minutes("alerts.resolve_after_minutes"),
        anomaly_min_outliers=_positive(reader, "alerts.anomaly_min_outliers"),
        anomaly_window_minutes=window,
        anomaly_clear_minutes=clear,
        prediction_warning_probability=warning,
        prediction_critical_probability=critical,
        prediction_open_after_scores=_positive(reader, "alerts.prediction_open_after_scores"),
        prediction_resolve_margin=reader.number("alerts.prediction_resolve_margin", low=0, high=warning),
        prediction_resolve_after_scores=_positive(reader, "alerts.prediction_resolve_after_scores"),
    )


def _model(reader: Reader) -> ModelSettings:
    estimator = reader.get("model.estimator", str)
    if estimator not in ESTIMATORS:
        raise reader.fail("model.estimator", f"{estimator!r} is not one of {ESTIMATORS}")
    horizon = _positive(reader, "model.horizon_hours")
    warning_horizon = reader.get("model.warning_horizon_hours", int)
    if warning_horizon and warning_horizon <= horizon:
        raise reader.fail("model.warning_horizon_hours",
                          f"{warning_horizon} is not longer than horizon_hours {horizon} (0 turns it off)")
    folds = reader.get("model.folds", int)
    if folds < 2:
        raise reader.fail("model.folds", f"must be at least 2, got {folds}")
    return ModelSettings(
        horizon_hours=horizon,
        warning_horizon_hours=warning_horizon,
        warning_min_failures=_positive(reader, "model.warning_min_failures"),
        folds=folds,
        min_failures=_positive(reader, "model.min_failures"),
        estimator=estimator,
        seed=reader.get("model.seed", int),
    )


def _database(reader: Reader) -> Database:
    port = reader.get("port", int)
    if not 1 <= port <= 65535:
        raise reader.fail("port", f"{port} is not a TCP port")
    return Database(
        url=reader.get("url", str, optional=True, default=""),
        host=reader.get("host", str, optional=True, default=""),
        port=port,
        name=reader.get("name", str),
        user=reader.get("user", str),
        password=reader.get("password", str, optional=True, default=""),
        connect_timeout_seconds=reader.get("connect_timeout_seconds", int),
    )


def _spark(reader: Reader) -> SparkSettings:
    partitions = reader.get("shuffle_partitions", int)
    if partitions < 1:
        raise reader.fail("shuffle_partitions", "must be at least 1")
    keep = reader.get("keep_minutes", float)
    if keep < 0:
        raise reader.fail("keep_minutes", "must be 0 (stop with the run) or more")
    return SparkSettings(
        master=reader.get("master", str),
        app_name=reader.get("app_name", str),
        driver_memory=reader.get("driver_memory", str),
        shuffle_partitions=partitions,
        log_level=reader.get("log_level", str),
        ivy_dir=_resolve(reader.get("ivy_dir", str)),
        remote=reader.get("remote", str, optional=True, default=""),
        connect_port=reader.get("connect_port", int),
        keep_minutes=keep,
    )


def _dashboard(reader: Reader) -> DashboardSettings:
    refresh = reader.get("refresh_seconds", int)
    if refresh < 0:
        raise reader.fail("refresh_seconds", f"must be 0 (on demand) or more, got {refresh}")
    return DashboardSettings(
        refresh_seconds=refresh,
        stale_after_minutes=_positive(reader, "stale_after_minutes"),
        map_tiles=reader.get("map_tiles", str, optional=True, default=""),
    )


def load_settings(config_dir: Path = CONFIG_DIR, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every config file; ``env`` defaults to os.environ over ``.env``."""
    if env is None:
        env = {**dotenv_values(PROJECT_ROOT / ".env"), **os.environ}
    pipeline_reader = Reader(config_dir / "pipeline.yaml", env)
    registry = read_registry(registry_path(env, config_dir), env)
    return Settings(
        registry=registry,
        alerts=_alerting(pipeline_reader),
        pipeline=_pipeline(pipeline_reader, registry.columns),
        database=_database(Reader(config_dir / "database.yaml", env)),
        spark=_spark(Reader(config_dir / "spark.yaml", env)),
        model=_model(pipeline_reader),
        dashboard=_dashboard(Reader(config_dir / "dashboard.yaml", env)),
    )


@functools.cache
def get_settings() -> Settings:
    """The settings of this process, loaded once."""
    return load_settings()
