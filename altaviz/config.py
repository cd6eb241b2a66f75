"""Settings: the YAML files in ``config/`` loaded once into a frozen, validated object.

Each file may use ``${VAR:-default}`` substitution; variables come from the process environment,
then from ``.env`` at the project root. A wrong value fails at load with the file and the key.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Mapping

import yaml
from dotenv import dotenv_values

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = PROJECT_ROOT / "config"

SENSOR_COLUMNS = (
    "vibration_mms",
    "discharge_temp_f",
    "suction_pressure_psi",
    "discharge_pressure_psi",
    "horsepower_consumption",
    "gas_flow_mcf",
)

_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names the file and the key."""


@dataclass(frozen=True)
class Limit:
    """The limits of one sensor or derived signal."""

    name: str
    unit: str
    label: str
    direction: str  # 'high': bad at or above the limit; 'low': bad at or below
    warning: float
    critical: float | None
    normal: tuple[float, float] | None = None
    physical: tuple[float, float] | None = None

    def breaches(self, value: float, limit: float) -> bool:
        return value >= limit if self.direction == "high" else value <= limit


@dataclass(frozen=True)
class Thresholds:
    sensors: Mapping[str, Limit]
    derived: Mapping[str, Limit]
    auto_resolve_after_normal_readings: int


@dataclass(frozen=True)
class QualityGates:
    max_missing_rate: float
    max_rejection_rate: float
    max_duplicate_rate: float


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

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

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


@dataclass(frozen=True)
class Settings:
    thresholds: Thresholds
    pipeline: Pipeline
    database: Database
    spark: SparkSettings


def substitute(text: str, env: Mapping[str, str]) -> str:
    """Replace ``${VAR}`` and ``${VAR:-default}`` with values from ``env``."""

    def value(match: re.Match[str]) -> str:
        name, default = match.group("name"), match.group("default")
        found = env.get(name)
        if found not in (None, ""):
            return found
        return default if default is not None else ""

    return _VAR.sub(value, text)


def _substitute_values(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return substitute(node, env)
    if isinstance(node, Mapping):
        return {key: _substitute_values(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [_substitute_values(value, env) for value in node]
    return node


class _Reader:
    """Reads typed keys from one YAML file and names file and key in every error."""

    def __init__(self, path: Path, env: Mapping[str, str]):
        self.path = path
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        try:
            parsed = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from err
        # Substitute in the parsed values, not the text: a value such as a path with ': ' stays a value.
        self.data = _substitute_values(parsed, env)

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path.name}: {key}: {problem}")

    def get(self, key: str, kind: type, *, optional: bool = False, default: Any = None) -> Any:
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                if optional:
                    return default
                raise self.fail(key, "missing")
            node = node[part]
        if node is None or node == "":
            if optional:
                return default
            raise self.fail(key, "must not be empty")
        try:
            if kind is bool:
                return _to_bool(node)
            if kind is int and isinstance(node, float) and not node.is_integer():
                raise ValueError
            return kind(node)
        except (TypeError, ValueError):
            raise self.fail(key, f"expected {kind.__name__}, got {node!r}") from None

    def number(self, key: str, *, low: float | None = None, high: float | None = None, optional=False):
        value = self.get(key, float, optional=optional)
        if value is None:
            return None
        if (low is not None and value < low) or (high is not None and value > high):
            raise self.fail(key, f"{value} is outside [{low}, {high}]")
        return value


def _to_bool(node: Any) -> bool:
    if isinstance(node, bool):
        return node
    text = str(node).strip().lower()
    if text in {"true", "yes", "1", "on"}:
        return True
    if text in {"false", "no", "0", "off"}:
        return False
    raise ValueError(node)


def _pair(reader: _Reader, key: str) -> tuple[float, float] | None:
    node = reader.get(key, list, optional=True)
    if node is None:
        return None
    if len(node) != 2:
        raise reader.fail(key, f"expected [low, high], got {node!r}")
    try:
        low, high = float(node[0]), float(node[1])
    except (TypeError, ValueError):
        raise reader.fail(key, f"expected two numbers, got {node!r}") from None
    if low > high:
        raise reader.fail(key, f"low {low} is above high {high}")
    return (low, high)


def _limit(reader: _Reader, section: str, name: str) -> Limit:
    key = f"{section}.{name}"
    direction = reader.get(f"{key}.direction", str)
    if direction not in ("high", "low"):
        raise reader.fail(f"{key}.direction", f"must be 'high' or 'low', got {direction!r}")
    warning = reader.number(f"{key}.warning")
    critical = reader.number(f"{key}.critical", optional=True)
    if critical is not None and not (critical >= warning if direction == "high" else critical <= warning):
        raise reader.fail(f"{key}.critical", f"{critical} is less severe than warning {warning}")
    return Limit(
        name=name,
        unit=reader.get(f"{key}.unit", str),
        label=reader.get(f"{key}.label", str, optional=True, default=name),
        direction=direction,
        warning=warning,
        critical=critical,
        normal=_pair(reader, f"{key}.normal"),
        physical=_pair(reader, f"{key}.physical"),
    )


def _thresholds(reader: _Reader) -> Thresholds:
    sensors = {name: _limit(reader, "sensors", name) for name in SENSOR_COLUMNS}
    unknown = set(reader.get("sensors", dict)) - set(SENSOR_COLUMNS)
    if unknown:
        raise reader.fail("sensors", f"unknown sensor(s) {sorted(unknown)}")
    derived = {
        name: _limit(reader, "derived", name) for name in ("pressure_differential", "temp_rate_of_change")
    }
    resolve_after = reader.get("alerts.auto_resolve_after_normal_readings", int)
    if resolve_after < 1:
        raise reader.fail("alerts.auto_resolve_after_normal_readings", "must be at least 1")
    return Thresholds(sensors, derived, resolve_after)


def _resolve(path_text: str) -> Path:
    path = Path(path_text).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def _day(reader: _Reader, key: str) -> str:
    text = reader.get(key, str)
    try:
        date.fromisoformat(text)
    except ValueError:
        raise reader.fail(key, f"{text!r} is not a date (YYYY-MM-DD)") from None
    return text


def _positive(reader: _Reader, key: str) -> int:
    value = reader.get(key, int)
    if value < 1:
        raise reader.fail(key, f"must be at least 1, got {value}")
    return value


def _pipeline(reader: _Reader) -> Pipeline:
    data_dir = _resolve(reader.get("data_dir", str))
    lake_root = reader.get("lake_root", str, optional=True) or str(data_dir / "lake")
    start, end = _day(reader, "defaults.start_date"), _day(reader, "defaults.end_date")
    if end <= start:
        raise reader.fail("defaults.end_date", f"{end} is not after start_date {start}")
    count = reader.get("defaults.compressor_count", int)
    if not 1 <= count <= 10_000:
        raise reader.fail("defaults.compressor_count", f"{count} is outside [1, 10000]")
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
    )


def _database(reader: _Reader) -> Database:
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


def _spark(reader: _Reader) -> SparkSettings:
    partitions = reader.get("shuffle_partitions", int)
    if partitions < 1:
        raise reader.fail("shuffle_partitions", "must be at least 1")
    return SparkSettings(
        master=reader.get("master", str),
        app_name=reader.get("app_name", str),
        driver_memory=reader.get("driver_memory", str),
        shuffle_partitions=partitions,
        log_level=reader.get("log_level", str),
        ivy_dir=_resolve(reader.get("ivy_dir", str)),
    )


def load_settings(config_dir: Path = CONFIG_DIR, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every config file; ``env`` defaults to os.environ over ``.env``."""
    if env is None:
        env = {**dotenv_values(PROJECT_ROOT / ".env"), **os.environ}
    return Settings(
        thresholds=_thresholds(_Reader(config_dir / "thresholds.yaml", env)),
        pipeline=_pipeline(_Reader(config_dir / "pipeline.yaml", env)),
        database=_database(_Reader(config_dir / "database.yaml", env)),
        spark=_spark(_Reader(config_dir / "spark.yaml", env)),
    )


@functools.cache
def get_settings() -> Settings:
    """The settings of this process, loaded once."""
    return load_settings()
