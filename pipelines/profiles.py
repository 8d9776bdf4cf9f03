"""Profiles: named sets of params values kept in ``profiles/<name>.yaml``, applied to params.yaml.

params.yaml stays the only configuration; a profile is a visible edit of it. ``course`` holds the
book's settings (full epochs, real datasets), ``smoke`` the seconds-long settings that tests, CI and
users share. A profile is a partial params tree (the same nesting as params.yaml); it only overrides
keys params.yaml already has, never adds one.

``default`` is no file: it is derived, as params.yaml's value *as committed* (``git show
HEAD:params.yaml``) of every key another profile sets, so applying it switches back, and there is no
copy of params.yaml's values to keep in step. (Commit a profile's values and they are the defaults
from then on; ``git checkout <rev> -- params.yaml`` goes back further.)

    python -m pipelines profile show course gan      # the diff it would make to params.yaml
    python -m pipelines profile apply course gan     # write it (comments and order kept)
    python -m pipelines profile apply default gan    # back to the committed values

Applying rewrites only the changed values (ruamel.yaml round trip), validates the whole result
against every section's schema before writing, and writes atomically; ``git diff`` and
``dvc params diff`` then show exactly what changed.
"""
from __future__ import annotations

import copy
import difflib
import io
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

PROFILES_DIR = "profiles"
PARAMS = "params.yaml"
DEFAULT = "default"  # derived from params.yaml as committed, not kept in profiles/ (default_profile)


class ProfileError(ValueError):
    """A profile that does not exist, names an unknown pipeline, or sets a key params.yaml lacks."""


def _round_trip():
    """ruamel.yaml set up to write params.yaml back byte for byte where nothing changed."""
    from ruamel.yaml import YAML

    rt = YAML()
    rt.width = 4096  # never wrap a long flow list
    rt.indent(mapping=2, sequence=4, offset=2)
    rt.preserve_quotes = True
    rt.representer.add_representer(type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    return rt


def available(root: str | Path = ".") -> list[str]:
    """Names of the profiles: those kept in ``profiles/`` and ``default``."""
    return sorted({p.stem for p in (Path(root) / PROFILES_DIR).glob("*.yaml")} | {DEFAULT})


def profile_path(name: str, root: str | Path = ".") -> Path:
    """``profiles/<name>.yaml``.

    Raises:
        ProfileError: no such file, or a ``profiles/default.yaml`` (the default profile is derived).
    """
    path = Path(root) / PROFILES_DIR / f"{name}.yaml"
    if name == DEFAULT:
        raise ProfileError(f"{path}: the default profile is derived from params.yaml as committed (git HEAD), "
                           "not read from a file" + ("; delete this file" if path.exists() else ""))
    if not path.is_file():
        raise ProfileError(f"no profile '{name}' ({path} not found; available: {', '.join(available(root))})")
    return path


def _loader(round_trip: bool):
    from ruamel.yaml import YAML

    return _round_trip() if round_trip else YAML(typ="safe")


def committed_params(root: str | Path = ".") -> str:
    """params.yaml's text as committed in git (``HEAD``).

    Raises:
        ProfileError: ``root`` is no git repository, or HEAD has no params.yaml.
    """
    proc = subprocess.run(["git", "show", f"HEAD:{PARAMS}"], cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ProfileError(f"profile '{DEFAULT}' is {PARAMS} as committed in git (HEAD), and `git show HEAD:{PARAMS}` "
                           f"in {Path(root).resolve()} failed: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def default_profile(root: str | Path = ".", round_trip: bool = False) -> dict:
    """The ``default`` profile: the committed value (git HEAD) of every key another profile sets.

    Raises:
        ProfileError: no git or no committed params.yaml, or a key some profile sets that the committed
        params.yaml lacks (commit params.yaml first).
    """
    committed = _loader(round_trip).load(committed_params(root)) or {}
    tree: dict = {}
    for name in available(root):
        if name == DEFAULT:
            continue
        for dotted in flatten(load_profile(name, root)):
            node, target, parts = committed, tree, dotted.split(".")
            for i, part in enumerate(parts):
                if not isinstance(node, dict) or part not in node:
                    raise ProfileError(f"profile '{DEFAULT}': {PARAMS} as committed (HEAD) has no {dotted}, which "
                                       f"{PROFILES_DIR}/{name}.yaml sets: commit {PARAMS} first")
                node = node[part]
                if i < len(parts) - 1:
                    target = target.setdefault(part, {})
            target[parts[-1]] = node
    return tree


def load_profile(name: str, root: str | Path = ".", round_trip: bool = False) -> dict:
    """The profile's tree: plain values, or ruamel's (keeping how numbers are written) with ``round_trip``."""
    if name == DEFAULT:
        return default_profile(root, round_trip)
    path = profile_path(name, root)
    tree = _loader(round_trip).load(path.read_text()) or {}
    if not isinstance(tree, dict):
        raise ProfileError(f"{path}: expected a mapping of params sections")
    return tree


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """Nested mapping -> {dotted key: leaf value}; lists are leaves (they replace whole)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(flatten(value, dotted))
        else:
            out[dotted] = value
    return out


def select_sections(tree: dict, pipelines: list[str] | None, name: str) -> dict:
    """The profile's sections for the named pipelines (all of them for none or 'all')."""
    from stages.core.params import SECTIONS

    unknown = [p for p in pipelines or [] if p != "all" and p not in SECTIONS]
    if unknown:
        raise ProfileError(f"unknown pipeline(s): {', '.join(unknown)} (known: {', '.join(SECTIONS)}, all)")
    bad = [s for s in tree if s not in SECTIONS]
    if bad:
        raise ProfileError(f"profiles/{name}.yaml: unknown section(s): {', '.join(map(str, bad))}")
    if not pipelines or "all" in pipelines:
        return tree
    return {s: v for s, v in tree.items() if s in pipelines}


def overrides(name: str, pipelines: list[str] | None = None, root: str | Path = ".") -> dict[str, Any]:
    """{dotted key: value} that profile ``name`` sets in the named pipelines (plain Python values)."""
    return flatten(select_sections(load_profile(name, root), pipelines, name))


def apply_overrides(params: dict, values: dict[str, Any]) -> dict:
    """A copy of a parsed params tree with ``values`` ({dotted key: value}) set.

    Raises:
        ProfileError: a key that params.yaml does not have (a profile overrides, it never adds).
    """
    out = copy.deepcopy(params)
    for dotted, value in values.items():
        node = out
        *parents, leaf = dotted.split(".")
        for i, key in enumerate(parents):
            if not isinstance(node, dict) or key not in node:
                raise ProfileError(f"{dotted}: params.yaml has no '{'.'.join(parents[:i + 1])}'")
            node = node[key]
        if not isinstance(node, dict) or leaf not in node:
            raise ProfileError(f"{dotted}: params.yaml has no such key (a profile only overrides existing keys)")
        node[leaf] = copy.deepcopy(value)
    return out


def _set_round_trip(node: Any, tree: dict, prefix: str) -> None:
    """Set ``tree``'s leaves into the ruamel document ``node``, keeping each list's flow style."""
    from ruamel.yaml.comments import CommentedSeq

    for key, value in tree.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if not hasattr(node, "keys") or key not in node:
            raise ProfileError(f"{dotted}: params.yaml has no such key (a profile only overrides existing keys)")
        old = node[key]
        if isinstance(value, dict) and value:
            _set_round_trip(old, value, dotted)
            continue
        if isinstance(value, list):
            new = CommentedSeq(copy.deepcopy(list(value)))
            if isinstance(old, CommentedSeq):
                new.fa._flow_style = old.fa.flow_style()
            value = new
        node[key] = value


def render(params_text: str, name: str, pipelines: list[str] | None = None, root: str | Path = ".") -> str:
    """params.yaml's text with profile ``name`` applied to the named pipelines; unchanged lines kept as written."""
    rt = _round_trip()
    doc = rt.load(params_text)
    _set_round_trip(doc, select_sections(load_profile(name, root, round_trip=True), pipelines, name), "")
    buf = io.StringIO()
    rt.dump(doc, buf)
    return buf.getvalue()


def set_values(params_text: str, values: dict[str, Any]) -> str:
    """params.yaml's text with ``values`` ({dotted key: value}) set; unchanged lines kept as written."""
    tree: dict = {}
    for dotted, value in values.items():
        *parents, leaf = dotted.split(".")
        node = tree
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    rt = _round_trip()
    doc = rt.load(params_text)
    _set_round_trip(doc, tree, "")
    buf = io.StringIO()
    rt.dump(doc, buf)
    return buf.getvalue()


def diff(old: str, new: str, path: str = PARAMS) -> str:
    """Unified diff of two versions of params.yaml ('' when equal)."""
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{path}", f"b/{path}"))


def apply(name: str, pipelines: list[str] | None = None, root: str | Path = ".", write: bool = True) -> str:
    """Apply profile ``name`` to ``root/params.yaml``; returns the diff (written only when ``write``).

    The result is validated against every section's schema first: an invalid profile writes nothing.

    Raises:
        ProfileError: unknown profile, pipeline or key.
        stages.core.errors.ParamsError: the result does not validate (one line per problem).
    """
    from stages.core.params import parse_params, validate_all

    path = Path(root) / PARAMS
    old = path.read_text()
    new = render(old, name, pipelines, root)
    validate_all(parse_params(new, PARAMS), PARAMS)
    if write and new != old:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".params.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(new)
            os.chmod(tmp, path.stat().st_mode & 0o777)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return diff(old, new)


def cmd_profile(args) -> int:
    """``python -m pipelines profile list|show|apply``."""
    import sys

    from stages.core.errors import ParamsError

    try:
        if args.action == "list":
            for name in available():
                if name == DEFAULT:
                    print(f"{name:10} params.yaml's committed value (git HEAD) of every key another profile sets")
                    continue
                first = profile_path(name).read_text().splitlines()[:1]
                print(f"{name:10} {first[0].lstrip('# ') if first and first[0].startswith('#') else ''}")
            return 0
        text = apply(args.name, args.pipelines or None, write=args.action == "apply")
    except (ProfileError, ParamsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    targets = " ".join([args.name, *args.pipelines])
    where = " ".join(args.pipelines) or "all pipelines"
    if not text:
        print(f"params.yaml already has profile '{args.name}''s values for {where}: nothing to change")
        return 0
    print(text, end="")
    if args.action == "apply" and args.name != "default":
        back = " ".join(["default", *args.pipelines])
        print(f"\nparams.yaml now has profile '{args.name}' for {where}. Review with `git diff params.yaml` or "
              f"`dvc params diff`, then `dvc repro`; `python -m pipelines profile apply {back}` switches back.")
    elif args.action == "apply":
        print(f"\nparams.yaml now has the committed values for {where}. Review with `git diff params.yaml`, then `dvc repro`.")
    else:
        print(f"\n(nothing written; `python -m pipelines profile apply {targets}` writes it)")
    return 0


def add_parser(sub) -> None:
    """Register the ``profile`` command on the CLI's subparsers."""
    p = sub.add_parser("profile", help="switch params.yaml to a profile (course, smoke, default) in one visible step",
                       description="Apply a profile kept in profiles/ to params.yaml: the course's full settings "
                       "(course), seconds-long runs (smoke), or back to the defaults (default). Only the values change; "
                       "comments and order stay, so `git diff` and `dvc params diff` show exactly what changed.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="the profiles in profiles/")
    for action, text in (("show", "print the diff the profile would make to params.yaml (writes nothing)"),
                         ("apply", "write the profile's values into params.yaml (validated first)")):
        a = actions.add_parser(action, help=text, description=text)
        a.add_argument("name", help="profile name: course, smoke, or default (params.yaml as committed; see `profile list`)")
        a.add_argument("pipelines", nargs="*", metavar="PIPELINE",
                       help="limit to these pipelines' sections (see `python -m pipelines list`; default: all)")
    p.set_defaults(func=cmd_profile)
