"""Config loading: substitution, .env-free overrides, and errors that name the file and key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from altaviz.config import CONFIG_DIR, PROJECT_ROOT, ConfigError, load_settings, substitute


@pytest.fixture()
def config_copy(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new))


def test_substitute_uses_env_then_default():
    env = {"A": "1", "EMPTY": ""}
    assert substitute("${A} ${B:-two} ${EMPTY:-three} ${C}", env) == "1 two three "


def test_defaults_load_into_frozen_settings():
    settings = load_settings(env={})
    pipeline = settings.pipeline
    assert (pipeline.compressor_count, pipeline.start_date, pipeline.end_date, pipeline.seed) == (
        20, "2026-01-01", "2026-02-10", 42)
    assert pipeline.data_dir == PROJECT_ROOT / "data"
    assert pipeline.table_path("sensors_bronze") == str(PROJECT_ROOT / "data" / "lake" / "sensors_bronze")
    vibration = settings.registry.sensors["vibration_mms"]
    assert (vibration.direction, vibration.warning, vibration.critical) == ("high", 6.0, 8.0)
    suction = settings.registry.sensors["suction_pressure_psi"]
    assert suction.breaches(20.0, suction.critical) and not suction.breaches(45.0, suction.warning)
    alerting = settings.alerts
    assert (alerting.open_after_readings, alerting.resolve_after_readings, alerting.resolve_margin) == (3, 12, 0.2)
    assert (alerting.anomaly_min_outliers, alerting.anomaly_window_minutes, alerting.anomaly_clear_minutes) == (
        3, 360, 720)
    assert (alerting.prediction_warning_probability, alerting.prediction_critical_probability,
            alerting.prediction_open_after_scores, alerting.prediction_resolve_after_scores) == (0.2, 0.6, 2, 6)
    assert not settings.database.is_external
    assert settings.spark.master == "local[*]"
    with pytest.raises(AttributeError):
        settings.pipeline.seed = 1  # frozen


def test_environment_overrides(tmp_path: Path):
    env = {
        "ALTAVIZ_DATA_DIR": str(tmp_path / "elsewhere"),
        "ALTAVIZ_SPARK_MASTER": "spark://cluster:7077",
        "ALTAVIZ_LAKE_ROOT": "s3a://bucket/lake",
        "DB_HOST": "db.example", "DB_PORT": "6543", "DB_PASSWORD": "secret",
    }
    settings = load_settings(env=env)
    assert settings.pipeline.data_dir == tmp_path / "elsewhere"
    assert settings.pipeline.landing_dir == tmp_path / "elsewhere" / "landing"
    assert settings.pipeline.table_path("sensors_gold") == "s3a://bucket/lake/sensors_gold"
    assert settings.spark.master == "spark://cluster:7077"
    assert settings.database.is_external
    assert (settings.database.host, settings.database.port, settings.database.password) == (
        "db.example", 6543, "secret")


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("sensors.yaml", "warning: 6.0", "warning: lots", "sensors.yaml: sensors.vibration_mms.warning: expected float"),
        ("sensors.yaml", "direction: low\n    normal: [40.0", "direction: sideways\n    normal: [40.0",
         "sensors.yaml: sensors.suction_pressure_psi.direction: must be 'high' or 'low'"),
        ("sensors.yaml", "critical: 8.0", "critical: 5.0", "sensors.yaml: sensors.vibration_mms.critical: 5.0 is less severe"),
        ("pipeline.yaml", "max_missing_rate: 0.05", "max_missing_rate: 5", "pipeline.yaml: quality.gates.max_missing_rate: 5.0 is outside"),
        ("pipeline.yaml", 'end_date: "2026-02-10"', 'end_date: "2025-12-01"', "pipeline.yaml: defaults.end_date"),
        ("pipeline.yaml", "compressor_count: 20", "compressor_count: 0", "pipeline.yaml: defaults.compressor_count"),
        ("pipeline.yaml", 'start_date: "2026-01-01"', 'start_date: "2026-13-01"',
         "pipeline.yaml: defaults.start_date: '2026-13-01' is not a date"),
        ("pipeline.yaml", "cadence_minutes: 10", "cadence_minutes: 0", "pipeline.yaml: cadence_minutes: must be at least 1"),
        ("pipeline.yaml", "open_after_minutes: 30", "open_after_minutes: 25",
         "pipeline.yaml: alerts.open_after_minutes: 25 is not a whole multiple of cadence_minutes 10"),
        ("pipeline.yaml", "open_after_minutes: 30", "open_after_minutes: half an hour",
         "pipeline.yaml: alerts.open_after_minutes: expected int"),
        ("pipeline.yaml", "resolve_margin: 0.2", "resolve_margin: 1.5", "pipeline.yaml: alerts.resolve_margin: 1.5 is outside"),
        ("pipeline.yaml", "resolve_after_minutes: 120", "resolve_after_minutes: 0",
         "pipeline.yaml: alerts.resolve_after_minutes: must be at least 1"),
        ("pipeline.yaml", "anomaly_clear_minutes: 720", "anomaly_clear_minutes: 60",
         "pipeline.yaml: alerts.anomaly_clear_minutes: 60 is shorter than anomaly_window_minutes 360"),
        ("pipeline.yaml", "prediction_critical_probability: 0.6", "prediction_critical_probability: 0.1",
         "pipeline.yaml: alerts.prediction_critical_probability: 0.1 is below prediction_warning_probability 0.2"),
        ("pipeline.yaml", "prediction_open_after_scores: 2", "prediction_open_after_scores: 0",
         "pipeline.yaml: alerts.prediction_open_after_scores: must be at least 1"),
        ("database.yaml", "port: ${DB_PORT:-5432}", "port: 99999", "database.yaml: port: 99999 is not a TCP port"),
        ("spark.yaml", "shuffle_partitions: ${ALTAVIZ_SHUFFLE_PARTITIONS:-4}", "shuffle_partitions: four",
         "spark.yaml: shuffle_partitions: expected int"),
    ],
)
def test_wrong_values_name_file_and_key(config_copy: Path, file, old, new, message):
    edit(config_copy / file, old, new)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(").replace("[", r"\[")):
        load_settings(config_copy, env={})


def test_missing_key(config_copy: Path):
    edit(config_copy / "database.yaml", "name: ${DB_NAME:-altaviz}\n", "")
    with pytest.raises(ConfigError, match="database.yaml: name: missing"):
        load_settings(config_copy, env={})


def test_missing_file(config_copy: Path):
    (config_copy / "spark.yaml").unlink()
    with pytest.raises(ConfigError, match="spark.yaml: config file not found"):
        load_settings(config_copy, env={})


def test_env_value_is_validated_too(config_copy: Path):
    with pytest.raises(ConfigError, match="database.yaml: port: expected int, got 'abc'"):
        load_settings(config_copy, env={"DB_PORT": "abc"})


def test_values_with_yaml_syntax_stay_values(tmp_path: Path):
    odd = tmp_path / "a: b # not a comment"
    settings = load_settings(env={"ALTAVIZ_DATA_DIR": str(odd), "ALTAVIZ_SHUFFLE_PARTITIONS": "8"})
    assert settings.pipeline.data_dir == odd
    assert settings.spark.shuffle_partitions == 8
