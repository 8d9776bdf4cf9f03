"""A stage's declaration: its entry in dvc.yaml, the only place its paths are written.

A stage module does not repeat its paths in an argparse block. :func:`stages.core.runtime.run_stage`
finds the dvc.yaml entry whose ``cmd`` runs the module (``python -m stages.tabular.split``) and hands
``main`` a :class:`Declared`: the stage's data inputs, outputs and param keys. ``main`` looks paths up
by a unique suffix and writes through :meth:`Declared.outputs`, which refuses a path that is not a
declared output and fails when a declared output was not written::

    def main(stage: Declared) -> None:
        frame = read_parquet(stage.dep("raw.parquet"))          # data/tabular/raw.parquet
        with stage.outputs() as out:
            write_pair(out, stage.out("split"), train, test)      # artifacts/tabular/split

Adding a stage: write ``stages/<pipeline>/<step>.py`` (pure functions, a ``main(stage)``, and
``run_stage(main)`` under ``if __name__ == "__main__":``); add its dvc.yaml entry with
``cmd: python -m stages.<pipeline>.<step>``, its data deps, params keys and outs; add its params
section; then ``python -m pipelines deps --write`` fills in its code deps.
"""
from __future__ import annotations

import contextlib
import functools
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from .errors import StageError
from .io import HASH_SUFFIX, Outputs, atomic_outputs

DVC_FILE = Path("dvc.yaml")
CODE_ROOTS = ("stages", "pipelines")  # a dep under these folders is code, anything else is data


@functools.cache
def read_dvc_file(path: Path = DVC_FILE) -> dict:
    """Parse dvc.yaml once per process.

    Raises:
        StageError: the file is missing, not YAML, or has no ``stages:`` mapping.
    """
    try:
        # libyaml's parser where PyYAML was built with it: the pure-Python one takes about 0.5 s on
        # dvc.yaml, in every stage process
        data = yaml.load(Path(path).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except FileNotFoundError:
        raise StageError(f"{path}: not found (run stages from the repository root, as `dvc repro` does)") from None
    except yaml.YAMLError as exc:
        raise StageError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("stages"), dict):
        raise StageError(f"{path}: expected a 'stages:' mapping at the top level")
    return data


def module_of_cmd(cmd: str | list[str]) -> str | None:
    """The module a dvc.yaml ``cmd`` runs with ``-m`` (``python -m stages.x.y``, ``torchrun … -m stages.x.y``).

    Returns:
        the dotted module name, or None when the command runs no module.
    """
    for line in [cmd] if isinstance(cmd, str) else cmd:
        tokens = shlex.split(str(line))
        for i, token in enumerate(tokens[:-1]):
            if token == "-m":
                return tokens[i + 1]
    return None


def _paths(entries: list | None) -> tuple[str, ...]:
    """Paths of a deps/outs/metrics/plots list; an entry is ``path`` or ``{path: {options}}``."""
    out = []
    for entry in entries or []:
        out.extend(entry) if isinstance(entry, dict) else out.append(str(entry))
    return tuple(out)


def _param_keys(entries: list | None) -> tuple[str, ...]:
    """Param keys of a stage; an entry is ``key`` or ``{file: [keys]}`` (keys of another params file)."""
    out = []
    for entry in entries or []:
        if isinstance(entry, dict):
            for keys in entry.values():
                out.extend(keys or [])
        else:
            out.append(str(entry))
    return tuple(out)


def is_code(path: str) -> bool:
    """A dep under ``stages/`` or ``pipelines/`` is code; the stage does not read it as data. A pipeline's
    vendored data (``stages/<pipeline>/datasets/``) is data."""
    parts = PurePosixPath(path).parts
    return parts[0] in CODE_ROOTS and "datasets" not in parts


def _within(path: PurePosixPath, folder: PurePosixPath) -> bool:
    return path == folder or folder in path.parents


@dataclass(frozen=True)
class Declared:
    """One stage as dvc.yaml declares it.

    Attributes:
        name: the stage name (``tabular-split``).
        module: the module its ``cmd`` runs (``stages.tabular.split``).
        deps: data inputs, in dvc.yaml order (code deps under ``stages/``/``pipelines/`` left out).
        code: code deps, in dvc.yaml order.
        outs: every path the stage writes: ``outs``, ``metrics`` and ``plots`` entries.
        params: the param keys it reads (``common.seed``, ``tabular.split``).
        file: the dvc.yaml it was read from (named in errors).
    """

    name: str
    module: str
    deps: tuple[str, ...]
    code: tuple[str, ...]
    outs: tuple[str, ...]
    params: tuple[str, ...]
    file: Path = DVC_FILE

    def dep(self, suffix: str) -> Path:
        """The one declared data input whose path ends with ``suffix`` (whole path components).

        Raises:
            StageError: no input or several inputs end with ``suffix``.
        """
        return Path(self._lookup(suffix, self.deps, "input (deps)"))

    def out(self, suffix: str) -> Path:
        """The one declared output (outs, metrics, plots) whose path ends with ``suffix``.

        Raises:
            StageError: no output or several outputs end with ``suffix``.
        """
        return Path(self._lookup(suffix, self.outs, "output (outs/metrics/plots)"))

    def _lookup(self, suffix: str, paths: tuple[str, ...], what: str) -> str:
        want = PurePosixPath(suffix).parts
        found = [p for p in paths if PurePosixPath(p).parts[-len(want):] == want] if want else []
        if len(found) == 1:
            return found[0]
        listed = ", ".join(paths) or "none"
        if not found:
            raise StageError(f"{self.file}: stage '{self.name}' declares no {what} ending in '{suffix}' (declared: {listed})")
        raise StageError(f"{self.file}: stage '{self.name}' declares several {what}s ending in '{suffix}': "
                         f"{', '.join(found)}; use a longer suffix")

    def owner(self, target: str | Path) -> str | None:
        """The declared output that ``target`` is, or lies inside; None when it is not declared."""
        path = PurePosixPath(Path(target).as_posix())
        return next((o for o in self.outs if _within(path, PurePosixPath(o))), None)

    @contextlib.contextmanager
    def outputs(self) -> Iterator[DeclaredOutputs]:
        """:func:`stages.core.io.atomic_outputs` bound to this declaration.

        Writing a path that is neither a declared output nor inside a declared output folder raises
        at once; leaving a declared output unwritten raises at the end of the block. Either way
        nothing is renamed into place.
        """
        with atomic_outputs() as out:
            bound = DeclaredOutputs(out, self)
            yield bound
            bound.check_complete()

    def describe(self) -> str:
        """The declaration as ``--help`` shows it."""
        lines = [f"declared in {self.file} as stage '{self.name}':"]
        for title, items in (("inputs", self.deps), ("outputs", self.outs), ("params", self.params), ("code", self.code)):
            lines.append(f"  {title}:" + ("" if items else " none"))
            lines.extend(f"    {item}" for item in items)
        return "\n".join(lines)


class DeclaredOutputs:
    """The :class:`stages.core.io.Outputs` of one stage run, limited to its declared outputs.

    Every ``Outputs`` method takes the target path first; the target is checked before anything is
    written, then the call is passed on unchanged.
    """

    def __init__(self, out: Outputs, stage: Declared):
        self._out, self._stage = out, stage
        self._written: set[str] = set()  # declared outputs written so far (or written into)

    def _allow(self, target: str | Path) -> None:
        owner = self._stage.owner(target)
        if owner is None:
            raise StageError(f"{self._stage.file}: stage '{self._stage.name}' writes {target}, which is not a declared "
                             f"output (declared: {', '.join(self._stage.outs) or 'none'}); add it to outs/metrics/plots")
        self._written.add(owner)

    def pickle(self, target: str | Path, obj: Any) -> Any:
        """:meth:`Outputs.pickle`; its ``.sha256`` sidecar must be declared as well (or lie in a declared folder)."""
        self._allow(target)
        self._allow(Path(target).with_name(Path(target).name + HASH_SUFFIX))
        return self._out.pickle(target, obj)

    def __getattr__(self, name: str):
        method = getattr(self._out, name)
        if name.startswith("_") or not callable(method):
            return method

        def checked(target, *args, **kwargs):
            self._allow(target)
            return method(target, *args, **kwargs)

        checked.__doc__ = method.__doc__
        return checked

    def check_complete(self) -> None:
        """Raises StageError naming every declared output that was not written."""
        missing = [o for o in self._stage.outs if o not in self._written]
        if missing:
            raise StageError(f"{self._stage.file}: stage '{self._stage.name}' did not write its declared output(s) "
                             f"{', '.join(missing)}")


def declared(module: str, dvc_file: Path = DVC_FILE) -> Declared:
    """The dvc.yaml entry whose ``cmd`` runs ``module``.

    Raises:
        StageError: no stage, or more than one, runs ``module``.
    """
    stages = read_dvc_file(Path(dvc_file))["stages"]
    matches = [(name, entry) for name, entry in stages.items()
               if isinstance(entry, dict) and module_of_cmd(entry.get("cmd", "")) == module]
    if not matches:
        raise StageError(f"{dvc_file}: no stage runs `python -m {module}`; add a stage whose cmd is `python -m {module}`")
    if len(matches) > 1:
        raise StageError(f"{dvc_file}: stages {', '.join(n for n, _ in matches)} all run `python -m {module}`; "
                         "one module is one stage")
    name, entry = matches[0]
    deps = _paths(entry.get("deps"))
    return Declared(
        name=name,
        module=module,
        deps=tuple(d for d in deps if not is_code(d)),
        code=tuple(d for d in deps if is_code(d)),
        outs=_paths(entry.get("outs")) + _paths(entry.get("metrics")) + _paths(entry.get("plots")),
        params=_param_keys(entry.get("params")),
        file=Path(dvc_file),
    )
