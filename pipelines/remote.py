"""GPU-host handoff through a shared DVC remote.

One host (a CPU machine, CI) runs the pipelines and pushes every output **and the run-cache**; another
host (a GPU machine) pulls them and reproduces: DVC restores every stage whose code, params and inputs
did not change and runs only the rest, typically the training stages.

The remote is any DVC remote: a shared folder (NFS mount, local disk), an S3-compatible bucket (AWS,
MinIO, Ceph; ``--endpoint-url``) or an SSH server (needs ``pip install dvc-ssh``). Its URL and options
go to ``.dvc/config`` (committed, so every clone knows it); credentials go to ``.dvc/config.local``
(git-ignored) or come from the environment (``AWS_ACCESS_KEY_ID``, ``~/.ssh``).

    python -m pipelines remote setup shared s3://bucket/reprolab --endpoint-url http://minio:9000
    python -m pipelines remote push           # dvc push --run-cache
    python -m pipelines remote push tabular   # only tabular's outputs and run-cache entries
    python -m pipelines remote pull           # dvc pull --run-cache, then lists the stages left to run
"""
from __future__ import annotations

import importlib.util
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from pipelines.dag import StageInfo
from pipelines.dvc_command import dvc

log = logging.getLogger(__name__)


class RemoteError(RuntimeError):
    """A remote is set up wrongly; the message says which and why (a failing ``dvc`` command raises
    :class:`pipelines.dvc_command.DvcError`)."""


@dataclass(frozen=True)
class RemoteSpec:
    """What ``remote setup`` writes: the URL, its kind, and the ``dvc remote modify`` options.

    ``options`` go to ``.dvc/config`` (shared through git); ``secrets`` to ``.dvc/config.local``.
    """

    name: str
    url: str
    kind: str  # "local" | "s3" | "ssh"
    options: tuple[tuple[str, str], ...] = ()
    secrets: tuple[tuple[str, str], ...] = ()


def remote_kind(url: str) -> str:
    """``s3://…`` → ``s3``, ``ssh://…`` → ``ssh``, a path (or ``file://``) → ``local``.

    Raises:
        RemoteError: another scheme (``gs://``, ``azure://`` … are DVC remotes too, but this project
        documents and tests only these three).
    """
    match = re.match(r"^([a-z][a-z0-9+.-]*)://", url)
    if match is None or match.group(1) == "file":
        return "local"
    if match.group(1) in ("s3", "ssh"):
        return match.group(1)
    raise RemoteError(f"remote URL {url!r}: scheme '{match.group(1)}' is not one of s3://, ssh:// or a folder path")


def build_spec(
    name: str,
    url: str,
    *,
    root: Path,
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    user: str | None = None,
    port: int | None = None,
    keyfile: str | None = None,
) -> RemoteSpec:
    """Check the arguments against the URL's kind and turn them into DVC remote options.

    A local folder is made absolute (relative to the current directory, not to ``.dvc/``, which is
    where DVC would resolve it) so that every clone on the host finds the same folder.

    Raises:
        RemoteError: an option that does not fit the kind (``--endpoint-url`` for an SSH remote …),
        or half of an S3 key pair.
    """
    kind = remote_kind(url)
    s3_only = {"--endpoint-url": endpoint_url, "--region": region, "--profile": profile,
               "--access-key-id": access_key_id, "--secret-access-key": secret_access_key}
    ssh_only = {"--user": user, "--port": port, "--keyfile": keyfile}
    wrong = [flag for flag, value in {**(s3_only if kind != "s3" else {}), **(ssh_only if kind != "ssh" else {})}.items()
             if value is not None]
    if wrong:
        raise RemoteError(f"remote URL {url!r} is a {kind} remote; {', '.join(wrong)} only applies to "
                          f"{'s3' if wrong[0] in s3_only else 'ssh'} remotes")
    options: list[tuple[str, str]] = []
    secrets: list[tuple[str, str]] = []
    if kind == "local":
        path = Path(url.removeprefix("file://")).expanduser()
        url = str(path if path.is_absolute() else (Path.cwd() / path).resolve())
    elif kind == "s3":
        if (access_key_id is None) != (secret_access_key is None):
            raise RemoteError("give both --access-key-id and --secret-access-key, or neither (then the "
                              "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY environment or ~/.aws is used)")
        options += [(k, v) for k, v in (("endpointurl", endpoint_url), ("region", region), ("profile", profile)) if v]
        if access_key_id is not None:
            secrets += [("access_key_id", access_key_id), ("secret_access_key", secret_access_key or "")]
    else:  # ssh
        options += [(k, str(v)) for k, v in (("user", user), ("port", port)) if v is not None]
        if keyfile is not None:
            secrets.append(("keyfile", str(Path(keyfile).expanduser())))
    return RemoteSpec(name=name, url=url, kind=kind, options=tuple(options), secrets=tuple(secrets))


def setup_remote(spec: RemoteSpec, root: str | Path, *, default: bool = True) -> None:
    """Write ``spec`` to the DVC config of ``root`` (replacing a remote of the same name)."""
    if spec.kind == "ssh" and importlib.util.find_spec("dvc_ssh") is None:
        log.warning("SSH remotes need the dvc-ssh plugin: pip install dvc-ssh (on every host)")
    dvc(["remote", "add", "--project", "--force", *(["--default"] if default else []), spec.name, spec.url], root)
    for key, value in spec.options:
        dvc(["remote", "modify", "--project", spec.name, key, value], root)
    for key, value in spec.secrets:
        dvc(["remote", "modify", "--local", spec.name, key, value], root)
    if spec.kind == "local":
        Path(spec.url).mkdir(parents=True, exist_ok=True)


def default_remote(root: str | Path) -> str | None:
    """The default remote's name, or None when the project has none (``dvc remote default``)."""
    proc = dvc(["remote", "default"], root, check=False)
    name = proc.stdout.strip()
    return name if proc.returncode == 0 and name and "No default remote" not in name else None


def push(root: str | Path, remote: str | None = None, targets: list[str] | None = None) -> str:
    """Outputs and run-cache to the remote. Returns a one-line summary.

    Without ``targets``: ``dvc push --run-cache`` (every output of dvc.lock plus the whole run-cache, so
    another host can restore stages from params/inputs it has never seen in a dvc.lock), then the
    outputs that only run-cache entries refer to (see :func:`push_run_cache_outputs`).

    With ``targets`` (stage names): ``dvc push <targets>``, then only the run-cache entries of those
    stages and their outputs. ``dvc push --run-cache <targets>`` would send the whole run-cache and
    every output it refers to, whatever the targets (the GAN models of a ``push tabular``).
    """
    if not targets:
        proc = dvc(["push", "--run-cache", *(["--remote", remote] if remote else [])], root)
        summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "nothing to push"
        extra = push_run_cache_outputs(root, remote)
        return summary + (f" (+{extra} output files of run-cache entries)" if extra else "")
    proc = dvc(["push", *(["--remote", remote] if remote else []), *targets], root)
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "nothing to push"
    entries = push_run_cache_entries(root, set(targets), remote)
    extra = push_run_cache_outputs(root, remote, set(targets))
    return summary + f" (+{entries} run-cache entries of {len(targets)} stage(s), {extra} output files of them)"


def run_cache_entries(root: str | Path, stages: set[str] | None = None) -> list[tuple[str, str]]:
    """The local run-cache entries as ``(key, value)`` file names, those of ``stages`` only when given.

    An entry (``.dvc/cache/runs/<key[:2]>/<key>/<value>``, a dvc.lock stage record) does not name its
    stage; it belongs to the stage of dvc.yaml that declares the same outputs (an output path belongs
    to exactly one stage). An entry whose outputs no stage declares any more belongs to none.
    """
    import yaml
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        runs = Path(repo.stage_cache.cache_dir)
        owner = {frozenset(o.def_path for o in s.outs): s.addressing for s in repo.index.stages}
    if not runs.is_dir():
        return []
    found = []
    for prefix in sorted(runs.iterdir()):
        for key in sorted(prefix.iterdir()):
            for value in sorted(key.iterdir()):
                if stages is not None:
                    entry = yaml.safe_load(value.read_text()) or {}
                    outs = frozenset(o["path"] for o in entry.get("outs", []))
                    if owner.get(outs) not in stages:
                        continue
                found.append((key.name, value.name))
    return found


def push_run_cache_entries(root: str | Path, stages: set[str], remote: str | None = None) -> int:
    """Copy the run-cache entries of ``stages`` to the remote (where ``dvc push --run-cache`` puts them);
    returns how many."""
    from dvc import fs
    from dvc.repo import Repo

    used = run_cache_entries(root, stages)
    if not used:
        return 0
    with Repo(str(root)) as repo:
        src_odb = repo.cache.legacy
        dest_odb = repo.cloud.get_remote_odb(remote, "push --run-cache", hash_name="md5-dos2unix")
        runs = repo.stage_cache.cache_dir
        for key, value in used:
            src = os.path.join(runs, key[:2], key, value)
            rel = Path(os.path.relpath(src, src_odb.path)).as_posix()  # runs/<k[:2]>/<k>/<v>
            fs.generic.copy(src_odb.fs, src, dest_odb.fs, dest_odb.fs.join(dest_odb.path, *rel.split("/")))
    return len(used)


def push_run_cache_outputs(root: str | Path, remote: str | None = None, stages: set[str] | None = None) -> int:
    """Push the outputs the local run-cache entries (of ``stages`` only, when given) refer to; returns how
    many files were sent.

    ``dvc push --run-cache`` sends the run-cache entries but only the outputs the *current* dvc.lock
    records: an entry from an earlier run (another param value tried on this host) would reach the
    other host without its outputs, and ``dvc repro --pull`` there would have to run the stage again.
    Uses DVC's Python API (``stage_cache.get_used_objs``, ``cloud.push``); objects no longer in the
    local cache (``dvc gc``) are skipped.
    """
    from dvc.repo import Repo

    used = run_cache_entries(root, stages)
    if not used:
        return 0
    with Repo(str(root)) as repo:
        try:
            objs = repo.stage_cache.get_used_objs(used)
        except Exception as exc:  # noqa: BLE001 - a broken entry must not stop the regular push
            log.warning("run-cache outputs not pushed: %s", exc)
            return 0
        hashes = set().union(*objs.values()) if objs else set()
        if not hashes:
            return 0
        result = repo.cloud.push(hashes, remote=remote)
        if result.failed:
            log.warning("%d run-cache output(s) not pushed (not in the local cache any more)", len(result.failed))
        return len(result.transferred)


def pull(root: str | Path, remote: str | None = None, targets: list[str] | None = None) -> str:
    """``dvc pull --run-cache --allow-missing``: the outputs dvc.lock records and the run-cache.

    ``--allow-missing``: an output that was never pushed (a stage that only ran here) is not an error;
    ``dvc repro`` will simply run that stage. Returns DVC's summary line.
    """
    proc = dvc(["pull", "--run-cache", "--allow-missing", *(["--remote", remote] if remote else []), *(targets or [])], root)
    return proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "nothing to pull"


def stale_stages(root: str | Path, targets: list[str] | None = None) -> list[str]:
    """Stages ``dvc repro`` would run or restore now (changed code, params or inputs), from ``dvc status``."""
    import json

    proc = dvc(["status", "--json", *(targets or [])], root)
    status = json.loads(proc.stdout or "{}")
    return [name for name, changes in status.items() if ":" not in name and changes]


def training_stages(dag: list[StageInfo]) -> list[str]:
    """Stages that train, in DAG order: those marked ``meta: {train: true}`` in dvc.yaml.

    Raises:
        ValueError: a stage's ``meta.train`` is neither true nor false (the message names the stage).
    """
    errors = [s.train_error for s in dag if s.train_error]
    if errors:
        raise ValueError(errors[0])
    return [s.name for s in dag if s.train]


def downstream(dag: list[StageInfo], stages: list[str]) -> list[str]:
    """``stages`` and every stage that depends on them, in DAG order (training → evaluation …)."""
    wanted = set(stages)
    for s in dag:  # topological order: upstream first, so one pass suffices
        if wanted.intersection(s.upstream):
            wanted.add(s.name)
    return [s.name for s in dag if s.name in wanted]


def upstream(dag: list[StageInfo], stages: list[str]) -> list[str]:
    """Every stage ``stages`` depend on (not themselves), in DAG order: what a CPU host prepares."""
    by_name = {s.name: s for s in dag}
    wanted: set[str] = set()
    todo = list(stages)
    while todo:
        for up in by_name[todo.pop()].upstream:
            if up not in wanted:
                wanted.add(up)
                todo.append(up)
    return [s.name for s in dag if s.name in wanted and s.name not in stages]
