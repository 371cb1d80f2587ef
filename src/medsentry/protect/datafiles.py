"""Loading the protect layer's editable YAML data files, validated with pydantic."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from medsentry.errors import ConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)


@cache
def _read(name: str) -> object:
    ref = resources.files("medsentry.protect") / "data" / name
    return yaml.safe_load(ref.read_text(encoding="utf-8"))


def load_model(name: str, model: type[ModelT], path: Path | None = None) -> ModelT:
    """Validate the packaged data file ``name`` (or a user's ``path``) against ``model``."""
    where = str(path) if path else f"medsentry/protect/data/{name}"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) if path else _read(name)
        return model.model_validate(raw)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{where}: cannot read: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"{where}: invalid at {loc}: {first['msg']}; fix the file") from exc
