"""Typed access to ``params.yaml``, the project's only configuration source.

Each pipeline declares its section as pydantic models built on :class:`Params` (unknown keys are
forbidden, so a typo is an error rather than a silently ignored setting). :data:`SECTIONS` registers
every top-level section and its schema: core's, the operations harness's, and every pipeline's, found
by convention (``stages/<name>/params.py`` defining ``<Name>Params``). A stage loads its section with
:func:`load_section`; a wrong key, type or value stops it with the full key path, e.g.
``params.yaml: tabular.train.C: Input should be a valid number (got 'abc')``.

Every load also checks the whole file: an unknown top-level section is an error naming it, and so is
a key named ``size`` or ``nfiles`` at any depth (DVC's run-cache ignores such keys, treeverse/dvc#10296).
The file is parsed as DVC parses it (ruamel.yaml, YAML 1.2), so the stages and DVC's hashes see the
same values (PyYAML would read ``1e-4`` as a string and ``on`` as true).
"""
from __future__ import annotations

import functools
import importlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_serializer, model_validator

from .errors import ParamsError

PARAMS_FILE = Path(os.environ.get("REPROLAB_PARAMS", "params.yaml"))

# The top-level sections of params.yaml and their schemas, as "module:Model" (imported on demand, so a
# stage imports only its own pipeline's schema). A pipeline's section is found by convention, not listed
# here: the folder stages/<name>/ with a params.py defining <Name>Params (the CamelCase of <name>,
# e.g. stages/style_transfer/params.py:StyleTransferParams) is the schema of the `<name>:` section.
CORE_SECTIONS: dict[str, str] = {"common": "stages.core.params:CommonParams"}
# The operations harness's sections: pipelines/ owns and validates them (`python -m pipelines run`,
# `serve`, `profile apply`). Named here, as strings that no stage imports, because every load of
# params.yaml refuses an unknown top-level name, and reading pipelines/ to learn them would make the
# harness a code dep of every stage.
HARNESS_SECTIONS: dict[str, str] = {
    "orchestration": "pipelines.flows:OrchestrationParams",
    "retrain": "pipelines.retrain:RetrainParams",
}
STAGES_DIR = Path(__file__).resolve().parents[1]  # stages/


def model_name(section: str) -> str:
    """The class a pipeline's params.py defines for its section: ``style_transfer`` -> ``StyleTransferParams``."""
    return "".join(part.capitalize() for part in section.split("_")) + "Params"


def pipeline_sections(stages_dir: Path = STAGES_DIR) -> dict[str, str]:
    """Every ``stages/<name>/params.py`` (core's aside) as ``{"<name>": "stages.<name>.params:<Name>Params"}``, sorted.

    Found from the file names alone (nothing is imported): adding a pipeline's folder registers its section.
    """
    return {d.name: f"stages.{d.name}.params:{model_name(d.name)}"
            for d in sorted(stages_dir.iterdir())
            if d.name != "core" and d.name.isidentifier() and (d / "params.py").is_file()}


SECTIONS: dict[str, str] = {**CORE_SECTIONS, **HARNESS_SECTIONS, **pipeline_sections()}
OPTIONAL_SECTIONS = {"common"}  # every key has a default

# DVC's run-cache drops every key with these names, at any depth, params included, before hashing a
# stage (dvc/stage/cache.py, _get_cache_hash; treeverse/dvc#10296): a change to such a param would
# restore stale outputs from the run-cache. So no param may be named so.
DVC_IGNORED_KEYS = ("size", "nfiles")


class Params(BaseModel):
    """Base for every params model.

    Unknown keys are forbidden and values immutable. Types are strict (``true`` is not an int, ``"1.5"``
    is not a float; an int is accepted where a float is expected) and NaN/inf are refused everywhere:
    ``lr: .inf`` would train to NaN losses and exit 0.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def _list_to_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


# A fixed-length YAML list read into a tuple; its items stay strict (strict mode alone refuses lists).
AsTuple = BeforeValidator(_list_to_tuple)
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]  # NumPy seeds are 32-bit
def PowerOfTwo(low: int, high: int):  # noqa: N802 (a type, used as one: ``image_px: PowerOfTwo(16, 128)``)
    """An int that is a power of two from ``low`` to ``high`` (an image side the networks halve down)."""
    def check(v: int) -> int:
        if v < low or v > high or v & (v - 1):
            raise ValueError(f"must be a power of two from {low} to {high} (got {v})")
        return v

    return Annotated[int, AfterValidator(check)]


Betas = Annotated[tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]], AsTuple]  # Adam's


class CommonParams(Params):
    """The ``common:`` section shared by every pipeline."""

    seed: Seed = 42
    device: Literal["auto", "cpu", "cuda"] = "auto"


def digest_error(sha256: str | None, md5: str | None) -> str | None:
    """What is wrong with a download's checksum fields (exactly one of ``sha256``, ``md5``, in hex), or None."""
    if md5 is not None:
        if sha256 is not None:
            return "set sha256 or md5, not both"
        if not re.fullmatch(r"[0-9a-fA-F]{32}", md5):
            return f"md5 is not a 32-digit hex digest (got {md5!r})"
    elif not sha256 or not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        return f"sha256 is not a 64-digit hex digest (got {sha256!r})"
    return None


class RemoteFile(Params):
    """One checksum-verified download: ``url`` and its ``sha256`` (or ``md5``, for the datasets that
    publish nothing else, e.g. CIFAR-10). :func:`stages.core.sources.fetch_url` takes :attr:`checksum`."""

    url: str
    sha256: str | None = None
    md5: str | None = None

    @model_validator(mode="after")
    def _check_digest(self) -> "RemoteFile":
        problem = digest_error(self.sha256, self.md5)
        if problem:
            raise ValueError(problem)
        return self

    @model_serializer(mode="wrap")
    def _given_checksum_only(self, handler) -> dict:
        # sha256 and md5 are alternatives: a dump holds the one params.yaml gave, as params.yaml spells it
        return {k: v for k, v in handler(self).items() if not (k in ("sha256", "md5") and v is None)}

    @property
    def checksum(self) -> str:
        """``"sha256:<hex>"`` or ``"md5:<hex>"`` (what :func:`stages.core.sources.fetch_url` takes)."""
        return f"md5:{self.md5}" if self.md5 is not None else f"sha256:{self.sha256}"


class SourceParams(Params):
    """Where a download stage gets its data.

    ``embedded`` needs no network (data shipped by an installed package, or generated from the seed);
    ``url`` downloads ``url`` once into a cache and refuses it unless its sha256 matches (or its md5,
    for the datasets that publish nothing else: set ``md5`` instead of ``sha256``), as a
    :class:`RemoteFile` does; ``path`` reads the user's own files (a file or folder per entry).
    ``deadline_seconds`` bounds a whole ``url`` download, retries included (the timeout of each read
    alone never ends a slow trickle).
    """

    source: Literal["embedded", "url", "path"] = "embedded"
    url: str | None = None
    sha256: str | None = None
    md5: str | None = None
    path: list[str] = []
    deadline_seconds: float = Field(600.0, gt=0, le=86400)

    @model_validator(mode="after")
    def _check_source(self) -> "SourceParams":
        if self.source == "url":
            if not self.url:
                raise ValueError("source is 'url' but no url is set")
            problem = digest_error(self.sha256, self.md5)
            if problem:
                raise ValueError(f"source is 'url': {problem}")
        if self.source == "path" and not self.path:
            raise ValueError("source is 'path' but path lists no file or folder")
        return self

    @property
    def checksum(self) -> str:
        """The url's checksum as ``"sha256:<hex>"`` or ``"md5:<hex>"`` (what :func:`fetch_url` takes)."""
        return f"md5:{self.md5}" if self.md5 is not None else f"sha256:{self.sha256}"


M = TypeVar("M", bound=BaseModel)


def yaml_error_line(path: Path | str, exc: Exception) -> str:
    """One line for a YAML syntax error: ``params.yaml:21:84: not valid YAML: <the problem>``."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    return f"{where}: not valid YAML: {' '.join(str(problem).split())}"


def parse_params(text: str, path: Path | str = PARAMS_FILE) -> dict:
    """Parse params.yaml text as DVC does (ruamel.yaml's safe loader, YAML 1.2).

    Raises:
        ParamsError: not YAML, or not a mapping of sections.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe").load(text)
    except YAMLError as exc:
        raise ParamsError(yaml_error_line(path, exc)) from None
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of sections at the top level")
    return data


@functools.cache
def read_params_file(path: Path = PARAMS_FILE) -> dict:
    """Parse params.yaml once per process."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise ParamsError(f"{path}: not found (run stages from the repository root)") from None
    return parse_params(text, path)


def ignored_key_errors(node: Any, prefix: str, path: Path | str) -> list[str]:
    """One line per key named ``size`` or ``nfiles`` anywhere under ``node`` (see DVC_IGNORED_KEYS)."""
    lines: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{prefix}.{key}" if prefix else str(key)
            if key in DVC_IGNORED_KEYS:
                lines.append(f"{path}: {where}: a param may not be named '{key}': DVC's run-cache ignores keys named "
                             f"{' or '.join(DVC_IGNORED_KEYS)} (treeverse/dvc#10296), so changing it would restore stale "
                             "outputs; rename it")
            lines += ignored_key_errors(value, where, path)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            lines += ignored_key_errors(value, f"{prefix}.{i}", path)
    return lines


def check_file(data: dict, path: Path | str = PARAMS_FILE) -> None:
    """Checks of the whole file that every load runs: no unknown top-level section, no ignored key name.

    Raises:
        ParamsError: one line per problem, each naming the key.
    """
    lines = [f"{path}: {key}: unknown section (known: {', '.join(SECTIONS)}): a typo?"
             for key in data if key not in SECTIONS]
    lines += ignored_key_errors(data, "", path)
    if lines:
        raise ParamsError("\n".join(lines))


def _where(loc: tuple) -> list[str]:
    """The key path of a pydantic error location, without the tags pydantic adds for union members
    (``gamma.literal['scale','auto']``, ``sr.int``) and for validator functions."""
    return [str(p) for p in loc if not (isinstance(p, str) and (
        p.startswith(("literal[", "function-", "constrained-", "dict[", "list[")) or p in ("int", "float", "str", "bool", "none")))]


def format_validation_error(exc: ValidationError, prefix: str, path: Path | str) -> str:
    """One line per problem, each with its dotted key path: ``file: a.b.c: message (got X)``."""
    lines = []
    errors = exc.errors()
    keys = [".".join([prefix, *_where(err["loc"])]) for err in errors]
    wrong_type = [e["type"].endswith(("_type", "_parsing")) for e in errors]
    for err, key, mistyped in zip(errors, keys, wrong_type):
        if mistyped and any(k.startswith(key + ".") or (k == key and not t) for k, t in zip(keys, wrong_type)):
            continue  # a union (``lr: 0.1`` or ``lr: {g: 0.1}``): the member the value is of says what is wrong
        # a cross-field check's input is the whole sub-section: its message names the values
        got = "" if err["type"] == "missing" or isinstance(err.get("input"), dict) else f" (got {err.get('input')!r})"
        if err["type"] == "extra_forbidden":
            got = " (unknown key: a typo?)"
        line = f"{path}: {key}: {err['msg']}{got}"
        if line not in lines:
            lines.append(line)
    return "\n".join(lines)


def validate_section(data: dict, section: str, model: type[M], path: Path | str = PARAMS_FILE) -> M:
    """Validate ``data[section]`` against ``model``; errors carry ``section.key.path``.

    When ``section`` is a registered one, ``data`` is the whole file, and its top-level keys and key
    names are checked too (:func:`check_file`).
    """
    if section in SECTIONS:
        check_file(data, path)
    else:
        lines = ignored_key_errors(data.get(section), section, path)
        if lines:
            raise ParamsError("\n".join(lines))
    if section not in data:
        raise ParamsError(f"{path}: section '{section}' is missing")
    try:
        return model.model_validate(data[section] if data[section] is not None else {})
    except ValidationError as exc:
        raise ParamsError(format_validation_error(exc, section, path)) from None


def schema(section: str) -> type[Params]:
    """The registered model of ``section`` (imports its module).

    Raises:
        ParamsError: a pipeline's params.py that does not define its section's model by the conventional name.
    """
    module, _, name = SECTIONS[section].partition(":")
    model = getattr(importlib.import_module(module), name, None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ParamsError(f"{module.replace('.', '/')}.py: defines no model {name} (the schema of the '{section}:' "
                          f"section of params.yaml is found by that name)")
    return model


def validate_all(data: dict, path: Path | str = PARAMS_FILE) -> dict[str, Params]:
    """Validate every section of a whole params tree against its registered schema.

    Returns:
        section name -> validated model.

    Raises:
        ParamsError: one line per problem across all sections.
    """
    check_file(data, path)
    out, lines = {}, []
    for section in SECTIONS:
        if section not in data and section in OPTIONAL_SECTIONS:
            data = {**data, section: {}}
        try:
            out[section] = validate_section(data, section, schema(section), path)
        except ParamsError as exc:
            lines.append(str(exc))
    if lines:
        raise ParamsError("\n".join(lines))
    return out


def load_section(section: str, model: type[M], path: Path = PARAMS_FILE) -> M:
    """Load and validate one top-level section of params.yaml."""
    return validate_section(read_params_file(Path(path)), section, model, path)


def section_loader(model: type[M]) -> Callable[[], M]:
    """The ``load()`` of a pipeline's ``stages/<name>/params.py``: its ``<name>:`` section (the
    package's folder, as the registry names it) validated by ``model``::

        load = section_loader(TabularParams)
    """
    section = model.__module__.split(".")[-2]

    def load() -> M:
        return load_section(section, model)

    load.__doc__ = f"The ``{section}:`` section of params.yaml, validated by :class:`{model.__name__}`."
    return load


def load_common(path: Path = PARAMS_FILE) -> CommonParams:
    """The ``common:`` section (seed, device); defaults when absent."""
    data = read_params_file(Path(path))
    return validate_section({"common": {}, **data}, "common", CommonParams, path)


def load_file(path: Path = PARAMS_FILE) -> dict[str, Params]:
    """Read and validate every section of params.yaml (see :func:`validate_all`)."""
    return validate_all(read_params_file(Path(path)), path)
