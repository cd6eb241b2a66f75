"""Reading the YAML files under ``config/``: ``${VAR:-default}`` substitution and typed keys whose
errors name the file and the key. ``altaviz.config`` (settings) and ``altaviz.registry`` (sensors) build on it.

A site keeps its own settings outside the project: ``$ALTAVIZ_CONFIG_DIR`` (or ``altaviz --config DIR``) names a
folder whose files of the same names (``pipeline.yaml``, ``sensors.yaml``, ...) are laid over the project's, key by
key: a mapping merges into the default one, anything else (a number, a list) replaces it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import yaml

SITE_CONFIG_ENV = "ALTAVIZ_CONFIG_DIR"
_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names the file and the key."""


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


def _load_yaml(path: Path) -> dict:
    try:
        parsed = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(parsed, Mapping):
        raise ConfigError(f"{path}: expected a mapping of keys at the top, got {type(parsed).__name__}")
    return parsed


def layered(base: Mapping, over: Mapping) -> dict:
    """``over`` laid on ``base``: mappings merge key by key, any other value replaces the default."""
    merged = dict(base)
    for key, value in over.items():
        both_maps = isinstance(value, Mapping) and isinstance(merged.get(key), Mapping)
        merged[key] = layered(merged[key], value) if both_maps else value
    return merged


def site_file(path: Path, env: Mapping[str, str]) -> Path | None:
    """The site's file laid over ``path`` (same name in ``$ALTAVIZ_CONFIG_DIR``), or None."""
    folder = env.get(SITE_CONFIG_ENV) or ""
    if not folder:
        return None
    site = Path(folder).expanduser()
    if not site.is_dir():
        raise ConfigError(f"{SITE_CONFIG_ENV}={folder}: not a folder")
    candidate = site / path.name
    return candidate if candidate.is_file() and candidate.resolve() != path.resolve() else None


class Reader:
    """Reads typed keys from one YAML file (with the site's file of the same name laid over it) and names
    file and key in every error."""

    def __init__(self, path: Path, env: Mapping[str, str]):
        self.path = path
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        parsed = _load_yaml(path)
        self.site_path = site_file(path, env)
        if self.site_path is not None:
            parsed = layered(parsed, _load_yaml(self.site_path))
        # Substitute in the parsed values, not the text: a value such as a path with ': ' stays a value.
        self.data = _substitute_values(parsed, env)

    @property
    def where(self) -> str:
        """The file errors name: the project's, with the site's laid over it when there is one."""
        return self.path.name if self.site_path is None else f"{self.path.name} (with {self.site_path})"

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.where}: {key}: {problem}")

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


def pair(reader: Reader, key: str) -> tuple[float, float] | None:
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
