"""Code deps of every stage, derived from its imports: ``python -m pipelines deps [--write]``.

A stage's code deps in dvc.yaml are exactly the in-repo modules (under ``stages/`` and ``pipelines/``)
that running its module executes: the module itself and everything it imports, transitively, with
imports inside functions and relative imports included, and the modules a file imports by name at
run time where it lists them in ``RUNTIME_IMPORTS`` (:func:`runtime_imports`). A package
``__init__.py`` counts only when it holds more than a docstring (the stage packages' do not). Imports
under ``if TYPE_CHECKING:`` do not run and do not count.

``python -m pipelines deps`` checks dvc.yaml (exit 1 with what is missing or unused per stage);
``--write`` rewrites only those code deps (and the impact table of docs/code-deps.md), in place,
keeping dvc.yaml's comments and order: data deps
stay first as they are, then the stage's own module, its pipeline's modules, other pipelines' modules,
``stages/core``, ``pipelines/``, each group sorted.
"""
from __future__ import annotations

import ast
import functools
import io
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from stages.core.stage import CODE_ROOTS, is_code, module_of_cmd

DVC_FILE = "dvc.yaml"


def module_path(module: str, root: Path) -> Path | None:
    """``stages.tabular.split`` -> ``stages/tabular/split.py`` (or the package's ``__init__.py``); None outside the repo."""
    if module.split(".")[0] not in CODE_ROOTS:
        return None
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST):
    """Every import statement, at any depth (functions, classes, try blocks), except under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _parsed(path: Path) -> tuple[ast.Module, tuple[ast.Import | ast.ImportFrom, ...]]:
    """The file's syntax tree and its import statements, parsed once per version of the file (every
    stage's closure walks core's modules again: 50 stages, a thousand parses otherwise)."""
    stat = path.stat()
    return _parse(path, stat.st_mtime_ns, stat.st_size)


@functools.cache
def _parse(path: Path, mtime_ns: int, size: int) -> tuple[ast.Module, tuple[ast.Import | ast.ImportFrom, ...]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return tree, tuple(_import_nodes(tree))


def imported_modules(path: Path, module: str, root: Path) -> set[str]:
    """Dotted names of the in-repo modules that the file ``path`` (module ``module``) imports directly.

    ``import a.b`` and ``from a.b import c`` also run the packages ``a`` and ``a.b``; ``from a import b``
    names the module ``a.b`` when that is a module, else the package ``a``.
    """
    tree, nodes = _parsed(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            targets = [f"{base}.{alias.name}" if module_path(f"{base}.{alias.name}", root) else base for alias in node.names]
        for target in targets:
            parts = target.split(".")
            found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    for target in runtime_imports(tree, root):
        parts = target.split(".")
        found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return {m for m in found if module_path(m, root) is not None}


def runtime_imports(tree: ast.Module, root: Path) -> list[str]:
    """The modules a file imports by name at run time (``importlib``), as it declares them.

    A module-level ``RUNTIME_IMPORTS = ("stages.*.params", ...)`` lists them as module names, ``*``
    matching one name; each is expanded against the repository's files. (``params-check`` validates
    every pipeline's section, importing each schema by the name ``stages.core.params.SECTIONS`` gives.)
    """
    import fnmatch

    patterns = [elt.value for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
                for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                if isinstance(target, ast.Name) and target.id == "RUNTIME_IMPORTS" and node.value is not None
                for elt in getattr(node.value, "elts", []) if isinstance(elt, ast.Constant) and isinstance(elt.value, str)]
    if not patterns:
        return []
    modules = sorted(".".join(f.relative_to(root).with_suffix("").parts) for r in CODE_ROOTS for f in (root / r).rglob("*.py")
                     if "__pycache__" not in f.parts and f.name != "__init__.py")
    return [m for pattern in patterns for m in modules
            if fnmatch.fnmatchcase(m, pattern) and m.count(".") == pattern.count(".")]


def _has_code(path: Path) -> bool:
    """False for an ``__init__.py`` that holds nothing but a docstring."""
    body = ast.parse(path.read_text()).body
    return bool(body[1:] if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) else body)


@functools.cache
def _closure(module: str, root: Path) -> dict[str, str]:
    """Every in-repo file that running ``module`` executes -> the file that first imports it."""
    seen = {module: ""}
    todo = [module]
    while todo:
        current = todo.pop()
        path = module_path(current, root)
        for imported in sorted(imported_modules(path, current, root)):
            if imported not in seen:
                seen[imported] = current
                todo.append(imported)
    out = {}
    for mod, via in seen.items():
        path = module_path(mod, root)
        if path.name == "__init__.py" and mod != module and not _has_code(path):
            continue  # a package marker with only a docstring: editing it changes nothing a stage runs
        via_path = module_path(via, root) if via else None
        out[path.relative_to(root).as_posix()] = via_path.relative_to(root).as_posix() if via_path else ""
    return out


def code_deps(module: str, root: str | Path = ".") -> dict[str, str]:
    """The code deps of a stage running ``module``: repo-relative path -> the file that imports it
    (empty for the module itself).

    Raises:
        FileNotFoundError: ``module`` is not a file of this repository.
    """
    root = Path(root).resolve()
    if module_path(module, root) is None:
        raise FileNotFoundError(f"module {module} is not a file under {', '.join(f'{r}/' for r in CODE_ROOTS)} of {root}")
    return _closure(module, root)


def ordered(paths, own: str) -> list[str]:
    """The canonical order: the stage's own module, its pipeline's modules, other pipelines', core, pipelines/."""
    package = PurePosixPath(own).parent

    def key(path: str) -> tuple:
        p = PurePosixPath(path)
        group = (0 if path == own else 1 if p.parent == package else 3 if p.parts[:2] == ("stages", "core")
                 else 4 if p.parts[0] == "pipelines" else 2)
        return group, path

    return sorted(paths, key=key)


@dataclass(frozen=True)
class Drift:
    """How one stage's declared code deps differ from its imports."""

    stage: str
    module: str
    missing: dict[str, str]   # path -> the file that imports it
    unused: list[str]

    def lines(self, dvc_file: str = DVC_FILE) -> list[str]:
        out = [f"{dvc_file}: stage '{self.stage}' ({self.module}) does not list {path}, imported by {via}"
               for path, via in self.missing.items()]
        out += [f"{dvc_file}: stage '{self.stage}' ({self.module}) lists {path}, which it does not import" for path in self.unused]
        return out


def _stage_modules(stages: dict) -> dict[str, str]:
    """Stage name -> the module its cmd runs (stages that run no ``-m`` module are not checked)."""
    out = {}
    for name, entry in stages.items():
        module = module_of_cmd(entry.get("cmd", "")) if isinstance(entry, dict) else None
        if module and module.split(".")[0] in CODE_ROOTS:
            out[name] = module
    return out


def _declared_code(entry: dict) -> list[str]:
    return [str(d) for d in entry.get("deps") or [] if isinstance(d, str) and is_code(d)]


def check(root: str | Path = ".") -> list[Drift]:
    """Every stage whose declared code deps differ from its imports (empty when dvc.yaml is current)."""
    import yaml

    root = Path(root)
    stages = yaml.safe_load((root / DVC_FILE).read_text())["stages"]
    drifts = []
    for name, module in _stage_modules(stages).items():
        want = code_deps(module, root)
        have = _declared_code(stages[name])
        missing = {p: via for p, via in want.items() if p not in have}
        unused = [p for p in have if p not in want]
        if missing or unused:
            drifts.append(Drift(name, module, missing, unused))
    return drifts


def _yaml():
    from ruamel.yaml import YAML

    y = YAML()  # round-trip: comments, key order and block styles survive
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 4096
    y.preserve_quotes = True
    return y


def write(root: str | Path = ".") -> list[str]:
    """Rewrite the code deps of every drifted stage in dvc.yaml; returns the names of the stages changed."""
    root = Path(root)
    drifted = {d.stage: d for d in check(root)}
    if not drifted:
        return []
    y = _yaml()
    path = root / DVC_FILE
    doc = y.load(path.read_text())
    for name, drift in drifted.items():
        deps = doc["stages"][name].setdefault("deps", [])
        data = [d for d in deps if not (isinstance(d, str) and is_code(d))]
        own = module_path(drift.module, root.resolve()).relative_to(root.resolve()).as_posix()
        code = ordered(code_deps(drift.module, root), own)
        comment = deps.ca.items.pop(len(deps) - 1, None) if hasattr(deps, "ca") else None
        deps[:] = data + code  # in place: the sequence keeps its style and position
        if comment is not None:  # a comment or blank line after the last dep stays after the last dep
            deps.ca.items[len(deps) - 1] = comment
    buf = io.StringIO()
    y.dump(doc, buf)
    path.write_text(buf.getvalue())
    return list(drifted)


def impact(root: str | Path = ".") -> list[tuple[str, list[str]]]:
    """For each module under ``stages/core/`` and ``pipelines/``: the stages that list it as a code dep.

    Those are the stages ``dvc status`` reports changed after an edit of that module alone, and so the
    stages ``dvc repro`` reruns (their downstream stages rerun too where an output's bytes change).
    Sorted by how many, most first; ``pipelines/`` modules, which no stage imports, list none.
    """
    root = Path(root)
    stages = _yaml_stages(root)
    modules = sorted(p.relative_to(root).as_posix() for folder in ("stages/core", "pipelines")
                     for p in (root / folder).glob("*.py") if p.name != "__init__.py" or _has_code(p))
    users = {m: sorted(name for name, entry in stages.items() if m in _declared_code(entry)) for m in modules}
    return sorted(users.items(), key=lambda kv: (-len(kv[1]), kv[0]))


def impact_table(root: str | Path = ".") -> str:
    """:func:`impact` as a markdown table (docs/code-deps.md holds it; a test keeps it current)."""
    root = Path(root)
    rows = impact(root)
    with_module = sum(1 for entry in _yaml_stages(root).values() if isinstance(entry, dict) and module_of_cmd(entry.get("cmd", "")))
    lines = [f"| module | stages rerun (of {with_module}) | pipelines |", "|---|---|---|"]
    for module, names in rows:
        pipelines = sorted({n.split("-", 1)[0] for n in names})
        lines.append(f"| `{module}` | {len(names)} | {', '.join(pipelines) or '-'} |")
    return "\n".join(lines) + "\n"


IMPACT_PAGE = "docs/code-deps.md"
IMPACT_BEGIN = "<!-- impact table: python -m pipelines deps --impact -->\n"
IMPACT_END = "<!-- end of impact table -->"


def write_impact(root: str | Path = ".") -> bool:
    """Put :func:`impact_table` between its markers in docs/code-deps.md; True when that changed the page
    (False too where there is no such page, as in a test's minimal repository).

    Raises:
        ValueError: the page lacks the markers.
    """
    path = Path(root) / IMPACT_PAGE
    if not path.is_file():
        return False
    page = path.read_text()
    head, sep, rest = page.partition(IMPACT_BEGIN)
    if not sep or IMPACT_END not in rest:
        raise ValueError(f"{IMPACT_PAGE}: no impact table between {IMPACT_BEGIN.strip()!r} and {IMPACT_END!r}")
    new = head + IMPACT_BEGIN + impact_table(root) + IMPACT_END + rest.split(IMPACT_END, 1)[1]
    if new == page:
        return False
    path.write_text(new)
    return True


def _yaml_stages(root: Path) -> dict:
    import yaml

    return yaml.safe_load((root / DVC_FILE).read_text())["stages"]


def main(write_file: bool = False, root: str | Path = ".", show_impact: bool = False) -> int:
    """``python -m pipelines deps [--write | --impact]``: 0 when dvc.yaml's code deps match the imports, else 1.

    ``--impact`` prints, for each core and harness module, how many stages an edit of it reruns.
    """
    if show_impact:
        print(impact_table(root), end="")
        return 0
    if write_file:
        changed = write(root)
        print(f"{DVC_FILE}: code deps rewritten for {', '.join(changed)}" if changed else f"{DVC_FILE}: code deps are current")
        print(f"{IMPACT_PAGE}: impact table " + ("rewritten" if write_impact(root) else "is current"))
        return 0
    drifts = check(root)
    for drift in drifts:
        for line in drift.lines():
            print(line, file=sys.stderr)
    if drifts:
        print(f"{len(drifts)} stage(s) out of date; `python -m pipelines deps --write` rewrites their code deps", file=sys.stderr)
        return 1
    print(f"{DVC_FILE}: code deps are current")
    return 0
