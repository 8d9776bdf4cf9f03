"""Audit: which params, data and code produced an artifact, which commits and experiments record it,
and what it scored.

Everything is read from ``dvc.lock`` (the stage that wrote each output, with the hash of every
dependency, the param values and the hash of every output) and from git, without importing DVC: one
``git rev-list`` and two ``git cat-file --batch`` processes read every commit's ``dvc.lock`` at once,
so an audit over a long history stays well under a second or two.

    python -m pipelines audit artifacts/tabular/train/model.pkl
    python -m pipelines audit artifacts/tabular/train/model.pkl --rev HEAD~3 --json
    python -m pipelines diff HEAD~1 HEAD
"""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from pipelines.dvc_command import dvc
from stages.core.runs import format_run_record, producing_run
from stages.core.runtime import file_md5

try:  # the C loader is ~10x faster on a large dvc.lock
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader  # type: ignore[assignment]

LOCK = "dvc.lock"
DVC_YAML = "dvc.yaml"
EXP_REFS = "refs/exps/"


class AuditError(RuntimeError):
    """The question cannot be answered (unknown revision, not a git repository …); says why."""


class NotProduced(AuditError):
    """No stage produced the file; the message says what the file is instead, where that is known."""


# ---- git -----------------------------------------------------------------------------------------

def git(root: str | Path, *args: str, stdin: str | None = None, check: bool = True) -> str:
    """``git <args>`` in ``root``; its stdout.

    Raises:
        AuditError: git exited non-zero (its message included).
    """
    proc = subprocess.run(["git", *args], cwd=root, input=stdin, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AuditError(f"git {' '.join(args)}: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def experiment_refs(root: str | Path) -> dict[str, tuple[str, str]]:
    """DVC experiments: ref → (commit, name). ``refs/exps/<ab>/<baseline rest>/<name>`` (the
    ``exec``/``celery`` bookkeeping refs excluded)."""
    out = git(root, "for-each-ref", "--format=%(objectname) %(refname)", EXP_REFS)
    refs = {}
    for line in out.splitlines():
        sha, ref = line.split(" ", 1)
        parts = ref[len(EXP_REFS):].split("/")
        if len(parts) == 3 and len(parts[0]) == 2:
            refs[ref] = (sha, parts[2])
    return refs


def resolve_rev(root: str | Path, rev: str) -> str:
    """A commit SHA for ``rev``: anything ``git rev-parse`` knows, or a DVC experiment name.

    Raises:
        AuditError: neither (the message says so).
    """
    sha = git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False).strip()
    if sha:
        return sha
    matches = [sha for sha, name in experiment_refs(root).values() if name == rev]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise AuditError(f"'{rev}' names {len(matches)} DVC experiments (with different baselines); give a commit SHA")
    raise AuditError(f"'{rev}' is neither a git revision nor a DVC experiment name (see `dvc exp show`)")


def read_blobs(root: str | Path, objects: list[str]) -> dict[str, str | None]:
    """Contents of ``<rev>:<path>`` objects in one ``git cat-file --batch`` (None where absent)."""
    if not objects:
        return {}
    proc = subprocess.run(["git", "cat-file", "--batch"], cwd=root, input=("\n".join(objects) + "\n").encode(),
                          capture_output=True, check=True)
    data, pos, out = proc.stdout, 0, {}
    for obj in objects:
        end = data.index(b"\n", pos)
        header = data[pos:end].decode()
        pos = end + 1
        if header.endswith(" missing") or header.endswith(" ambiguous"):
            out[obj] = None
            continue
        size = int(header.rsplit(" ", 1)[1])
        out[obj] = data[pos:pos + size].decode()
        pos += size + 1
    return out


def read_text(root: str | Path, path: str, rev: str | None) -> str | None:
    """``path`` in the workspace (rev None) or at ``rev``; None where it does not exist."""
    if rev is None:
        file = Path(root) / path
        return file.read_text() if file.is_file() else None
    return read_blobs(root, [f"{rev}:{path}"])[f"{rev}:{path}"]


# ---- dvc.lock and the cache ------------------------------------------------------------------------

@dataclass(frozen=True)
class Output:
    stage: str
    path: str
    md5: str
    size: int | None
    nfiles: int | None

    @property
    def is_dir(self) -> bool:
        return self.md5.endswith(".dir")


def parse_lock(text: str | None) -> dict[str, dict]:
    """``dvc.lock`` text → its ``stages`` mapping (empty when there is no lock)."""
    if not text:
        return {}
    return (yaml.load(text, Loader=SafeLoader) or {}).get("stages", {}) or {}


def outputs(lock: dict[str, dict]) -> dict[str, Output]:
    """Every output of every stage: path → :class:`Output`."""
    return {
        o["path"]: Output(stage, o["path"], o.get("md5", ""), o.get("size"), o.get("nfiles"))
        for stage, entry in lock.items()
        for o in entry.get("outs", [])
    }


def inside(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or lies below it (POSIX, repository-relative)."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def producer(outs: dict[str, Output], path: str) -> tuple[Output, str | None] | None:
    """The output that is ``path`` or the folder output containing it, with the path inside the folder."""
    if path in outs:
        return outs[path], None
    for out in outs.values():
        if out.is_dir and inside(path, out.path):
            return out, path[len(out.path.rstrip("/")) + 1:]
    return None


def cache_dir(root: str | Path) -> Path:
    """The DVC cache folder of ``root`` (``cache.dir`` of .dvc/config.local or .dvc/config, else .dvc/cache)."""
    from configobj import ConfigObj

    dvc_dir = Path(root) / ".dvc"
    for name in ("config.local", "config"):
        file = dvc_dir / name
        if file.is_file():
            folder = ConfigObj(str(file)).get("cache", {}).get("dir")
            if folder:
                return (dvc_dir / folder).resolve()  # relative to .dvc/, as DVC resolves it
    return dvc_dir / "cache"


def cache_object(root: str | Path, md5: str) -> Path | None:
    """The cache file of ``md5`` (``files/md5/ab/cdef…``, DVC 3 layout), or None when not cached."""
    file = cache_dir(root) / "files" / "md5" / md5[:2] / md5[2:]
    return file if file.is_file() else None


def read_output(root: str | Path, out: Output, inner: str | None = None, *, workspace: bool = True) -> bytes | None:
    """The bytes an output (or a file inside a folder output) had when ``dvc.lock`` recorded ``out``:
    the workspace file when its hash still matches, else the DVC cache; None when neither has it."""
    md5 = out.md5
    if inner is not None:
        manifest = cache_object(root, out.md5)
        if manifest is None:
            return None
        entry = next((e for e in json.loads(manifest.read_text()) if e["relpath"] == inner), None)
        if entry is None:
            return None
        md5 = entry["md5"]
    file = Path(root) / out.path / (inner or "")
    if workspace and file.is_file() and file_md5(file) == md5:
        return file.read_bytes()
    cached = cache_object(root, md5)
    return cached.read_bytes() if cached else None


def declared_metrics(dvc_yaml_text: str | None) -> dict[str, list[str]]:
    """Stage → the metrics files it declares in dvc.yaml (templated entries skipped)."""
    stages = (yaml.load(dvc_yaml_text, Loader=SafeLoader) or {}).get("stages", {}) if dvc_yaml_text else {}
    out = {}
    for name, stage in (stages or {}).items():
        files = [m if isinstance(m, str) else next(iter(m)) for m in (stage or {}).get("metrics", []) or []]
        out[name] = [f for f in files if "${" not in f]
    return out


# ---- the audit ------------------------------------------------------------------------------------

def lineage(lock: dict[str, dict], stage: str) -> list[dict]:
    """``stage`` and every stage upstream of it (nearest first), each with its command, params and
    dependencies (path, hash, and the stage that produced it, None for a source file)."""
    outs = outputs(lock)
    seen, order, todo = set(), [], [stage]
    while todo:
        name = todo.pop(0)
        if name in seen or name not in lock:
            continue
        seen.add(name)
        entry = lock[name]
        deps = []
        for d in entry.get("deps", []):
            found = producer(outs, d["path"])
            made_by = found[0].stage if found else next(  # a dep folder that contains outputs of a stage
                (o.stage for o in outs.values() if inside(o.path, d["path"]) and o.stage != name), None)
            deps.append({"path": d["path"], "md5": d.get("md5"), "produced_by": made_by})
            if made_by:
                todo.append(made_by)
        order.append({"stage": name, "cmd": entry.get("cmd"), "params": entry.get("params", {}), "deps": deps})
    return order


def downstream_stages(lock: dict[str, dict], stage: str) -> list[str]:
    """``stage`` and every stage that (transitively) consumes its outputs."""
    outs = outputs(lock)
    wanted, changed = {stage}, True
    while changed:
        changed = False
        for name, entry in lock.items():
            if name in wanted:
                continue
            for d in entry.get("deps", []):
                found = producer(outs, d["path"])
                if found and found[0].stage in wanted:
                    wanted.add(name)
                    changed = True
                    break
    return [name for name in lock if name in wanted]


def locks_recording(root: str | Path, path: str, md5: str) -> tuple[list[dict], list[dict]]:
    """Git commits (branches, tags, HEAD) and DVC experiments whose dvc.lock gives ``path`` the hash ``md5``.

    Returns:
        (commits newest first as ``{"sha", "date", "subject"}``, experiments as ``{"name", "sha", "baseline"}``).
    """
    log = git(root, "log", "--branches", "--tags", "HEAD", "--format=%H%x00%ad%x00%s", "--date=iso-strict", check=False)
    commits = [dict(zip(("sha", "date", "subject"), line.split("\0"))) for line in log.splitlines() if line]
    exps = experiment_refs(root)
    revs = [c["sha"] for c in commits] + [sha for sha, _ in exps.values()]
    if not revs:
        return [], []
    # One batch-check gives each commit's dvc.lock blob; each distinct blob is then read and parsed once.
    checks = subprocess.run(["git", "cat-file", "--batch-check"], cwd=root, capture_output=True, text=True, check=True,
                            input="".join(f"{r}:{LOCK}\n" for r in revs)).stdout.splitlines()
    blob_of = {rev: line.split(" ", 1)[0] for rev, line in zip(revs, checks) if not line.endswith("missing")}
    texts = read_blobs(root, sorted(set(blob_of.values())))
    records = {}
    for blob, text in texts.items():
        if text is None or md5 not in text:  # cheap pre-filter before parsing YAML
            records[blob] = False
            continue
        out = outputs(parse_lock(text)).get(path)
        records[blob] = out is not None and out.md5 == md5
    commits = [c for c in commits if records.get(blob_of.get(c["sha"], ""), False)]
    experiments = [
        {"name": name, "sha": sha, "baseline": ref[len(EXP_REFS):].split("/")[0] + ref[len(EXP_REFS):].split("/")[1]}
        for ref, (sha, name) in sorted(exps.items(), key=lambda kv: kv[1][1])
        if records.get(blob_of.get(sha, ""), False)
    ]
    return commits, experiments


def repo_relative(root: str | Path, path: str) -> str:
    """``path`` (absolute, or relative to the current folder) as a POSIX path relative to ``root``."""
    absolute = (Path.cwd() / path).resolve() if not Path(path).is_absolute() else Path(path).resolve()
    try:
        return absolute.relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        raise AuditError(f"{path}: not inside the repository {Path(root).resolve()}") from None


def params_readers(lock: dict[str, dict], path: str) -> dict[str, list[str]]:
    """Stage -> the keys of params file ``path`` it reads (its ``params:`` in dvc.lock); {} if it is none's."""
    out: dict[str, list[str]] = {}
    for name, entry in lock.items():
        keys = (entry.get("params") or {}).get(path)
        if keys:
            out[name] = sorted(keys)
    return out


def not_produced_message(root: str | Path, path: str, lock: dict[str, dict], rev: str | None) -> str:
    """Why ``path`` has no producer: a dvc-add'ed file, a stage input, a git file, or nothing known."""
    where = f"dvc.lock at {rev[:10]}" if rev else "dvc.lock"
    head = f"{path}: no stage in {where} produced this file"
    parts = PurePosixPath(path).parts
    for i in range(len(parts), 0, -1):  # dvc add: a .dvc file beside it or beside a parent folder
        tracked = "/".join(parts[:i]) + ".dvc"
        text = read_text(root, tracked, rev)
        if text:
            outs = (yaml.load(text, Loader=SafeLoader) or {}).get("outs", [{}])
            return f"{head}; it is data added with `dvc add` ({tracked}, md5 {outs[0].get('md5')}), not a stage output"
    readers = params_readers(lock, path)
    if readers:
        lines = [f"  {stage}: {', '.join(keys)}" for stage, keys in readers.items()]
        return (f"{path}: a params file (configuration), not an artifact: `audit` takes a stage output, e.g. a model. "
                f"The stages that read its keys (from {where}):\n" + "\n".join(lines))
    users = sorted(name for name, entry in lock.items() for d in entry.get("deps", []) if inside(path, d["path"]))
    if users:
        return f"{head}; it is a source file: an input (dependency) of {', '.join(users)}"
    exists = (Path(root) / path).exists() if rev is None else read_text(root, path, rev) is not None
    if exists:
        return f"{head}; it is not a dependency of any stage either (tracked by git or untracked)"
    return f"{head}, and it does not exist {'at that revision' if rev else 'in the workspace'}"


def audit(root: str | Path, path: str, rev: str | None = None) -> dict:
    """The provenance of ``path`` (repository-relative) as recorded by dvc.lock at ``rev`` (None: the workspace).

    Returns:
        ``{"path", "rev", "stage", "cmd", "output", "file", "workspace", "params", "lineage",
        "commits", "experiments", "metrics", "run"}`` (see docs/operations.md, "Auditing a model"); ``run`` is the
        producing stage's last run record on this host (wall-clock figures; workspace audits only), or None.

    Raises:
        NotProduced: no stage produced ``path`` (the message says what the file is).
        AuditError: ``rev`` is unknown, or ``root`` is not a git repository.
    """
    sha = resolve_rev(root, rev) if rev is not None else None
    lock = parse_lock(read_text(root, LOCK, sha))
    found = producer(outputs(lock), path)
    if found is None:
        raise NotProduced(not_produced_message(root, path, lock, sha))
    out, inner = found
    entry = lock[out.stage]

    file_hash = None
    if inner is not None:  # a file inside a folder output: its own hash from the folder's manifest
        manifest = cache_object(root, out.md5)
        if manifest is not None:
            file_hash = next((e["md5"] for e in json.loads(manifest.read_text()) if e["relpath"] == inner), None)
    workspace = None
    if sha is None:
        target = Path(root) / path
        if not target.exists():
            workspace = "missing"
        elif target.is_file() and (file_hash or (not out.is_dir and out.md5)):
            workspace = "matches dvc.lock" if file_md5(target) == (file_hash or out.md5) else "modified since dvc.lock"

    commits, experiments = locks_recording(root, out.path, out.md5)
    metrics = {}
    metric_files = declared_metrics(read_text(root, DVC_YAML, sha))
    outs = outputs(lock)
    for name in downstream_stages(lock, out.stage):
        for file in metric_files.get(name, []):
            if file in outs:
                raw = read_output(root, outs[file], workspace=sha is None)
                metrics[file] = {"stage": name, "md5": outs[file].md5,
                                 "values": json.loads(raw) if raw is not None else None}
    return {
        "path": path,
        "rev": sha,
        "stage": out.stage,
        "cmd": entry.get("cmd"),
        "output": {"path": out.path, "md5": out.md5, "size": out.size, "nfiles": out.nfiles},
        "file": {"path": path, "md5": file_hash} if inner is not None else None,
        "workspace": workspace,
        "params": entry.get("params", {}),
        "lineage": lineage(lock, out.stage),
        "commits": commits,
        "experiments": experiments,
        "metrics": metrics,
        "run": producing_run(out.stage, out.path, out.md5, root) if sha is None else None,
    }


def flat_params(params: dict) -> dict[str, object]:
    """``{"params.yaml": {"tabular.train": {"C": 1.0}}}`` → ``{"tabular.train.C": 1.0}`` (other files prefixed)."""
    from pipelines.dag import flatten

    out = {}
    for file, values in params.items():
        prefix = "" if file == "params.yaml" else f"{file}:"
        out.update(flatten(values, prefix))
    return out


def format_audit(report: dict, max_commits: int = 10) -> str:
    """The audit as text for a terminal."""
    short = lambda md5: (md5 or "?")[:12]  # noqa: E731
    out = report["output"]
    lines = [f"{report['path']}" + (f"  (at {report['rev'][:10]})" if report["rev"] else "  (workspace)")]
    lines.append(f"  produced by  {report['stage']}: {' '.join(str(report['cmd']).split())}")
    if report["file"]:
        lines.append(f"  hash        {short(report['file']['md5'])}  (file inside output {out['path']}, md5 {short(out['md5'])})")
    else:
        lines.append(f"  hash        md5 {out['md5']}" + (f"  ({out['size']} bytes)" if out["size"] else ""))
    if report["workspace"]:
        lines.append(f"  workspace   {report['workspace']}")
    lines.append("  params")
    for key, value in flat_params(report["params"]).items():
        lines.append(f"    {key} = {value}")
    lines.append("  lineage (each dependency with its hash; <- the stage that produced it)")
    for step in report["lineage"]:
        lines.append(f"    {step['stage']}")
        for dep in step["deps"]:
            src = f"  <- {dep['produced_by']}" if dep["produced_by"] else ""
            lines.append(f"      {short(dep['md5'])}  {dep['path']}{src}")
        for key, value in flat_params(step["params"]).items():
            lines.append(f"      param {key} = {value}")
    commits = report["commits"]
    lines.append(f"  commits recording this hash: {len(commits)}" + ("" if commits else "  (none: dvc.lock not committed yet)"))
    for c in commits[:max_commits]:
        lines.append(f"    {c['sha'][:10]}  {c['date'][:19]}  {c['subject']}")
    if len(commits) > max_commits:
        lines.append(f"    … {len(commits) - max_commits} more; first recorded in {commits[-1]['sha'][:10]}")
    lines.append(f"  DVC experiments recording this hash: {len(report['experiments'])}")
    for e in report["experiments"]:
        lines.append(f"    {e['name']}  {e['sha'][:10]}  (baseline {e['baseline'][:7]})")
    lines.append("  metrics recorded with it")
    if not report["metrics"]:
        lines.append("    (none declared downstream of this stage)")
    for file, m in report["metrics"].items():
        if m["values"] is None:
            lines.append(f"    {file} ({m['stage']}): md5 {short(m['md5'])} not in the local cache (dvc pull / dvc fetch)")
            continue
        lines.append(f"    {file} ({m['stage']})")
        from pipelines.dag import flatten

        for key, value in flatten(m["values"]).items():
            lines.append(f"      {key}: {value:.4f}" if isinstance(value, float) else f"      {key}: {value}")
    run = report.get("run")
    if run:
        same = (run.get("outputs") or {}).get(out["path"])
        which = "" if same is None else ("  (this artifact)" if same == out["md5"] else "  (another run: its output hash differs)")
        what = "run that produced it" if same == out["md5"] else "last run on this host"
        lines.append(f"  {what} (wall clock, in no output){which}")
        lines.append(f"    {format_run_record(run)}")
    return "\n".join(lines)


# ---- diff of two revisions ------------------------------------------------------------------------

def diff(root: str | Path, rev_a: str, rev_b: str, *, all_values: bool = False) -> dict:
    """Params and metrics of two revisions (commits, branches, tags or experiment names) side by side,
    from ``dvc params diff`` / ``dvc metrics diff``, plus the outputs whose hash differs.

    Returns:
        ``{"a", "b", "params": {file: {key: {"old", "new"}}}, "metrics": {file: {key: {"old", "new", "diff"}}},
        "outputs": {path: {"old", "new"}}}``.
    """
    a, b = resolve_rev(root, rev_a), resolve_rev(root, rev_b)
    extra = ["--all"] if all_values else []
    params = json.loads(dvc(["params", "diff", a, b, "--json", *extra], root).stdout or "{}")
    metrics = json.loads(dvc(["metrics", "diff", a, b, "--json", *extra], root).stdout or "{}")
    old, new = (outputs(parse_lock(read_text(root, LOCK, r))) for r in (a, b))
    changed = {p: {"old": old[p].md5 if p in old else None, "new": new[p].md5 if p in new else None}
               for p in sorted(set(old) | set(new))
               if (old.get(p) and old[p].md5) != (new.get(p) and new[p].md5)}
    return {"a": {"rev": rev_a, "sha": a}, "b": {"rev": rev_b, "sha": b},
            "params": params, "metrics": metrics, "outputs": changed}


def format_diff(report: dict) -> str:
    """The diff as aligned text columns."""
    def show(v: object) -> str:
        return "-" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)

    a, b = report["a"], report["b"]
    head_a, head_b = f"{a['rev']} ({a['sha'][:7]})", f"{b['rev']} ({b['sha'][:7]})"
    rows: list[tuple[str, str, str, str]] = []
    for section, key in (("params", "params"), ("metrics", "metrics")):
        rows.append((section, "", "", ""))
        entries = [(f"{file}:{k}" if file != "params.yaml" else k, v)
                   for file, values in report[key].items() for k, v in values.items()]
        if not entries:
            rows.append(("  (no change)", "", "", ""))
        fmt = show if key == "metrics" else (lambda v: "-" if v is None else str(v))
        for name, v in entries:
            change = fmt(v.get("diff")) if isinstance(v.get("diff"), (int, float)) else ""
            rows.append((f"  {name}", fmt(v.get("old")), fmt(v.get("new")), change))
    rows.append(("outputs with a different hash", "", "", ""))
    if not report["outputs"]:
        rows.append(("  (none)", "", "", ""))
    for path, v in report["outputs"].items():
        rows.append((f"  {path}", (v["old"] or "-")[:10], (v["new"] or "-")[:10], ""))
    widths = [max(len(r[i]) for r in rows + [("", head_a, head_b, "change")]) for i in range(4)]
    lines = ["".ljust(widths[0]) + "  " + head_a.ljust(widths[1]) + "  " + head_b.ljust(widths[2]) + "  change"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)
