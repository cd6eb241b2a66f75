"""The ``model:`` section of config/pipeline.yaml: defaults, and errors that name the file and the key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from altaviz.config import CONFIG_DIR, ConfigError, load_settings


@pytest.fixture()
def config_copy(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target)
    return target


def test_model_defaults():
    model = load_settings(env={}).model
    assert (model.horizon_hours, model.warning_horizon_hours, model.folds, model.min_failures, model.estimator) == (
        48, 168, 4, 3, "logistic_regression")


@pytest.mark.parametrize(("old", "new", "message"), [
    ("estimator: logistic_regression", "estimator: svm", "pipeline.yaml: model.estimator: 'svm' is not one of"),
    ("folds: 4", "folds: 1", "pipeline.yaml: model.folds: must be at least 2"),
    ("horizon_hours: 48", "horizon_hours: 0", "pipeline.yaml: model.horizon_hours: must be at least 1"),
    ("min_failures: 3", "min_failures: lots", "pipeline.yaml: model.min_failures: expected int"),
    ("warning_min_failures: 10", "warning_min_failures: 0", "pipeline.yaml: model.warning_min_failures: must be at least 1"),
    ("warning_horizon_hours: 168", "warning_horizon_hours: 24",
     "pipeline.yaml: model.warning_horizon_hours: 24 is not longer than horizon_hours 48"),
])
def test_a_wrong_model_setting_names_file_and_key(config_copy, old, new, message):
    path = config_copy / "pipeline.yaml"
    path.write_text(path.read_text().replace(old, new))
    with pytest.raises(ConfigError, match=message):
        load_settings(config_copy, env={})
