"""Loading the compliance data files (catalogues, MDS2 layouts, questionnaire, code maps):
YAML parsed safely, then validated by a pydantic model, with errors that name the file and
the offending field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from medsentry.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc}); fix the YAML file") from exc


def validated(model: type[M], data: Any, path: Path, what: str = "data file") -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"{path}: {where}: {first['msg']} ({exc.error_count()} problem(s)); fix the {what}"
        ) from exc


def load(model: type[M], path: Path, what: str = "data file") -> M:
    return validated(model, read_yaml(path), path, what)
