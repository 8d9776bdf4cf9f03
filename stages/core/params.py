"""Typed access to ``params.yaml``, the project's only configuration source.

Each pipeline declares its section as pydantic models built on :class:`Params` (unknown keys are
forbidden, so a typo is an error rather than a silently ignored setting). A stage loads its section
with :func:`load_section`; a wrong key or type stops it with the full key path, e.g.
``params.yaml: tabular.train.C: Input should be a valid number``.
"""
from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from .errors import ParamsError

PARAMS_FILE = Path(os.environ.get("REPROLAB_PARAMS", "params.yaml"))


class Params(BaseModel):
    """Base for every params model: unknown keys forbidden, values immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class CommonParams(Params):
    """The ``common:`` section shared by every pipeline."""

    seed: int = 42
    device: Literal["auto", "cpu", "cuda"] = "auto"


class SourceParams(Params):
    """Where a download stage gets its data.

    ``embedded`` needs no network (data shipped by an installed package, or generated from the seed);
    ``url`` downloads ``url`` once into a cache and refuses it unless its sha256 matches; ``path``
    reads the user's own files (a file or folder per entry).
    """

    source: Literal["embedded", "url", "path"] = "embedded"
    url: str | None = None
    sha256: str | None = None
    path: list[str] = []

    @model_validator(mode="after")
    def _check_source(self) -> "SourceParams":
        if self.source == "url":
            if not self.url:
                raise ValueError("source is 'url' but no url is set")
            if not self.sha256 or not re.fullmatch(r"[0-9a-fA-F]{64}", self.sha256):
                raise ValueError(f"source is 'url' but sha256 is not a 64-digit hex digest (got {self.sha256!r})")
        if self.source == "path" and not self.path:
            raise ValueError("source is 'path' but path lists no file or folder")
        return self


M = TypeVar("M", bound=BaseModel)


@functools.cache
def read_params_file(path: Path = PARAMS_FILE) -> dict:
    """Parse params.yaml once per process."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise ParamsError(f"{path}: not found (run stages from the repository root)") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of sections at the top level")
    return data


def format_validation_error(exc: ValidationError, prefix: str, path: Path) -> str:
    """One line per problem, each with its dotted key path: ``file: a.b.c: message (got X)``."""
    lines = []
    for err in exc.errors():
        key = ".".join([prefix, *(str(p) for p in err["loc"])]) if err["loc"] else prefix
        got = "" if err["type"] == "missing" else f" (got {err.get('input')!r})"
        if err["type"] == "extra_forbidden":
            got = " (unknown key: a typo?)"
        lines.append(f"{path}: {key}: {err['msg']}{got}")
    return "\n".join(lines)


def validate_section(data: dict, section: str, model: type[M], path: Path = PARAMS_FILE) -> M:
    """Validate ``data[section]`` against ``model``; errors carry ``section.key.path``."""
    if section not in data:
        raise ParamsError(f"{path}: section '{section}' is missing")
    try:
        return model.model_validate(data[section] if data[section] is not None else {})
    except ValidationError as exc:
        raise ParamsError(format_validation_error(exc, section, path)) from None


def load_section(section: str, model: type[M], path: Path = PARAMS_FILE) -> M:
    """Load and validate one top-level section of params.yaml."""
    return validate_section(read_params_file(Path(path)), section, model, path)


def load_common(path: Path = PARAMS_FILE) -> CommonParams:
    """The ``common:`` section (seed, device); defaults when absent."""
    data = read_params_file(Path(path))
    return validate_section({"common": {}, **data}, "common", CommonParams, path)
