"""The model registry: trained models saved under ``<data_dir>/models/<model_version>/`` and loaded back.

A version folder holds ``classifier/`` and ``survival/`` (Spark ML ``PipelineModel.save``), ``calibrator/``
(``IsotonicRegressionModel.save``; absent when the model has none), ``metadata.json`` (version, training
window, features, seed, estimator, horizons, failures), ``warning/`` (the early-warning classifier, saved the
same way without a survival model) and, once published, ``evaluation.json`` (the backtest of its
out-of-sample scores, ``model.backtest``). ``load_model`` returns a ``TrainedModel``
that scores identically to the one saved. This is the one I/O module of ``altaviz.model``.

A version name is ``<estimator>-<training end YYYYMMDDTHH>-s<seed>`` (``model_version``): it comes from the
data and the settings, never from the clock, so retraining on the same data gives the same name.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

from pyspark.ml import PipelineModel
from pyspark.ml.regression import IsotonicRegressionModel

from altaviz.model.train import TrainedModel


def model_version(estimator: str, training_end: datetime, seed: int) -> str:
    return f"{estimator}-{training_end:%Y%m%dT%H}-s{seed}"


def models_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "models"


def save_model(model: TrainedModel, data_dir: Path, *, evaluation: dict | None = None) -> Path:
    """Write ``model`` (and its backtest, ``evaluation``) to ``<data_dir>/models/<model_version>/``, replacing
    that version whole; returns the folder."""
    folder = models_dir(data_dir) / model.metadata["model_version"]
    shutil.rmtree(folder, ignore_errors=True)  # no file of an earlier model of that name may survive
    _write(model, folder)
    if evaluation is not None:
        save_evaluation(data_dir, model.metadata["model_version"], evaluation)
    return folder


def _write(model: TrainedModel, folder: Path) -> None:
    folder.mkdir(parents=True)
    model.classifier.write().overwrite().save(str(folder / "classifier"))
    if model.survival is not None:
        model.survival.write().overwrite().save(str(folder / "survival"))
    if model.calibrator is not None:
        model.calibrator.write().overwrite().save(str(folder / "calibrator"))
    if model.warning is not None:
        _write(model.warning, folder / "warning")
    (folder / "metadata.json").write_text(json.dumps(model.metadata, indent=2, sort_keys=True, default=str) + "\n")


def _read(folder: Path) -> TrainedModel:
    metadata = json.loads((folder / "metadata.json").read_text())

    def optional(name: str, loader):
        return loader.load(str(folder / name)) if (folder / name).is_dir() else None

    return TrainedModel(
        classifier=PipelineModel.load(str(folder / "classifier")),
        calibrator=optional("calibrator", IsotonicRegressionModel),
        survival=optional("survival", PipelineModel),
        features=tuple(metadata["features"]),
        metadata=metadata,
        warning=_read(folder / "warning") if (folder / "warning").is_dir() else None,
    )


def list_versions(data_dir: Path) -> list[str]:
    """Saved versions, ordered by training end then name (the last is the newest)."""
    found = []
    for meta in models_dir(data_dir).glob("*/metadata.json"):
        metadata = json.loads(meta.read_text())
        found.append((metadata["training_window"]["end"], metadata["model_version"]))
    return [version for _, version in sorted(found)]


def load_model(data_dir: Path, version: str | None = None) -> TrainedModel | None:
    """The saved model ``version`` (default: the newest); None when no model was ever saved."""
    versions = list_versions(data_dir)
    if not versions:
        return None
    if version is None:
        version = versions[-1]
    elif version not in versions:
        raise FileNotFoundError(f"no saved model {version!r} under {models_dir(data_dir)}; saved: {versions}")
    return _read(models_dir(data_dir) / version)


EVALUATION_FILE = "evaluation.json"


def save_evaluation(data_dir: Path, version: str, evaluation: dict) -> Path:
    """Store a version's backtest (``evaluate.Backtest.to_json``) next to the model it measured."""
    path = models_dir(data_dir) / version / EVALUATION_FILE
    if not path.parent.is_dir():
        raise FileNotFoundError(f"no saved model {version!r} under {models_dir(data_dir)} to store an evaluation with")
    path.write_text(json.dumps(evaluation, indent=1, default=str) + "\n")  # unsorted: records keep column order
    return path


def load_evaluation(data_dir: Path, version: str) -> dict | None:
    """The stored backtest of ``version``; None when it was never evaluated."""
    path = models_dir(data_dir) / version / EVALUATION_FILE
    return json.loads(path.read_text()) if path.is_file() else None
