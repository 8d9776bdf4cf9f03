"""Shared fixtures. End-to-end tests run DVC in a temporary copy of the repository (its own
``git init``), never in the working tree.

Reproducing is what makes end-to-end tests slow, so it happens once per session where a test's point
allows: :func:`reproduced_tabular` is one fresh copy in which ``dvc repro tabular-evaluate`` ran once
(its output kept, for the tests that check what a fresh repro runs). Tests only read it; a test that
changes a repo starts from :func:`clone_repo` of it (outputs, DVC cache and run-cache, git history)
instead of reproducing from scratch. Tests whose point is a fresh repo (nothing reproduced, an empty
run-cache) keep :func:`make_repo` / ``temp_repo``.

A test repo holds only the stages its test runs: the pipelines it names (``make_repo(dest,
["tabular"])``, ``@pytest.mark.pipelines(...)`` for ``temp_repo``; by default the pipeline whose test
folder it is) and everything upstream of them (:func:`pipelines.workspace.keep_stages`). DVC builds
its index of every stage in the file for every command, so a repo of one pipeline is what keeps a
test's DVC commands from growing with the number of pipelines; the whole DAG is checked on the
project's own dvc.yaml (``tests/pipelines``)."""
from __future__ import annotations

import atexit
import fcntl
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# One BLAS/OpenMP (and so torch) thread per process, set before anything imports numpy or torch and
# inherited by every dvc/stage subprocess: `make test` runs three pytest workers on two cores, and tiny
# smoke models on two threads each were measured at several times the CPU time of one thread on a
# busy 2-core host. `OMP_NUM_THREADS=2 make test` overrides it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pipelines.workspace import copy_project, empty_lock  # noqa: E402 - after the thread count is set
from stages.core.standins import serve_directory  # noqa: E402,F401 - tests import it from here

ROOT = Path(__file__).resolve().parents[1]
# real public data for tests; REPROLAB_SHARED_DATA points elsewhere (a git worktree has no ../shared)
SHARED_DATA = Path(os.environ.get("REPROLAB_SHARED_DATA", ROOT.parent / "shared" / "data"))
BIN = Path(sys.executable).parent


def committed_params_with(dotted: str, value) -> dict:
    """The committed params.yaml, parsed, with one value replaced (``"compress.prune.sparsities"``):
    what a params schema test validates."""
    import copy

    from stages.core.params import parse_params

    data = copy.deepcopy(parse_params((ROOT / "params.yaml").read_text()))
    *parents, leaf = dotted.split(".")
    node = data
    for key in parents:
        node = node[key]
    node[leaf] = value
    return data


# A test that uses one of these is end to end (a dvc repro, a Prefect server), marked so or not:
# `make test-fast` (pytest -m "not e2e") leaves it out.
E2E_FIXTURES = frozenset({"temp_repo", "tabular_repo", "reproduced_tabular", "prefect_server"})


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``e2e`` every test whose fixtures (direct or indirect) include one of :data:`E2E_FIXTURES`,
    then order the files longest first.

    ``make test`` hands whole files to its workers in collection order (``--dist loadfile
    --no-loadscope-reorder``). Started last, one 3-minute course check on its own decides when the run
    ends; started first, it runs beside everything else. A file's weight is the sum over its
    tests of ``@pytest.mark.slow(seconds)`` (a rough figure on 2 busy cores, only for this order; no
    test checks a time), 1 for another end-to-end test, 0 for the rest; ties keep pytest's order, and
    the order is the same on every worker, as xdist requires.
    """
    for item in items:
        if E2E_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)
    weight: dict[str, float] = {}
    for item in items:
        slow = item.get_closest_marker("slow")
        cost = float(slow.args[0]) if slow else 1.0 if item.get_closest_marker("e2e") else 0.0
        weight[item.path] = weight.get(item.path, 0.0) + cost
    order = {id(item): i for i, item in enumerate(items)}
    items.sort(key=lambda item: (-weight[item.path], order[id(item)]))


def base_env(**extra: str) -> dict[str, str]:
    """This process's environment with the venv first on PATH, no analytics, quiet Prefect, and
    ``extra``."""
    env = dict(os.environ)
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        DVC_NO_ANALYTICS="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
        MPLBACKEND="Agg",
        PYTHONUNBUFFERED="1",
        REPROLAB_CHECK_READS="1",  # every stage a test runs fails if it reads a file it does not declare
    )
    env.update(extra)
    return env


FORKSERVER = ROOT / "tests" / "forkserver"


def forkserver_address() -> str:
    """The socket of this process's fork server (``tests/forkserver/server.py``), started on the
    first call; ``""`` when ``REPROLAB_FORKSERVER=off`` (every process then starts cold).

    Stage processes and the venv's ``dvc`` commands started with :func:`run_env` hand themselves
    over to it: it forks a child from an interpreter that imported torch, pandas, scikit-learn,
    matplotlib and DVC once, instead of paying 2-6 s of imports per process. Until it has finished
    importing (a few seconds), they start cold. Under pytest-xdist the controller starts one for all
    its workers (:func:`pytest_configure`): a server's imports cost 11 s of CPU."""
    if os.environ.get("REPROLAB_FORKSERVER") == "off":
        return ""
    return os.environ.get("REPROLAB_FORKSERVER_SESSION") or _start_forkserver()


def pytest_configure(config: pytest.Config) -> None:
    """The xdist controller starts the session's fork server before it starts its workers, which
    inherit its address (the server forks a process for each connection, whoever makes it)."""
    if (not hasattr(config, "workerinput") and getattr(config.option, "numprocesses", None)
            and os.environ.get("REPROLAB_FORKSERVER") != "off"):
        os.environ["REPROLAB_FORKSERVER_SESSION"] = _start_forkserver()


@functools.cache
def _start_forkserver() -> str:
    folder = tempfile.mkdtemp(prefix="reprolab-forkserver-")
    address = os.path.join(folder, "socket")
    server = subprocess.Popen([sys.executable, str(FORKSERVER / "server.py"), address],
                              stdin=subprocess.DEVNULL, env=base_env())

    def stop() -> None:
        server.terminate()
        server.wait()
        shutil.rmtree(folder, ignore_errors=True)

    atexit.register(stop)
    return address


def run_env(**extra: str) -> dict[str, str]:
    """:func:`base_env` with the stage fork server's address and its client on ``PYTHONPATH`` (after
    the caller's). A test that kills a stage process passes ``REPROLAB_FORKSERVER=""``: a stage then
    starts cold, as a process of its own."""
    env = base_env(REPROLAB_FORKSERVER=forkserver_address())
    env.update(extra)
    if env["REPROLAB_FORKSERVER"]:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(FORKSERVER)) if p)
    return env


class Repo:
    """A throw-away copy of the project with its own git history and DVC cache."""

    def __init__(self, path: Path):
        self.path = path

    def run(self, *cmd: str, check: bool = True, env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            list(cmd), cwd=self.path, env=env or run_env(), capture_output=True, text=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
        return proc

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(str(BIN / "dvc"), *args, check=check)

    def python(self, *args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
        return self.run(sys.executable, *args, check=check, env=env)

    def ran_stages(self, proc: subprocess.CompletedProcess) -> list[str]:
        """Stages that `dvc repro` executed (not skipped, not restored), from its output; params-check,
        which reruns on every edit of params.yaml and belongs to no pipeline, is left out."""
        return [line.split("'")[1] for line in proc.stdout.splitlines()
                if line.startswith("Running stage '") and not line.startswith("Running stage 'params-check'")]

    def set_param(self, dotted: str, value) -> None:
        self.set_params({dotted: value})

    def set_params(self, values: dict, commit: str | None = None) -> None:
        """Set each ``{dotted key: value}`` in params.yaml (one rewrite), then commit when ``commit``
        gives the message (a test's smoke settings: ``repo.set_params(SMOKE, commit="smoke params")``)."""
        import yaml

        params = yaml.safe_load((self.path / "params.yaml").read_text())
        for dotted, value in values.items():
            node = params
            *parents, leaf = dotted.split(".")
            for key in parents:
                node = node[key]
            node[leaf] = value
        (self.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        if commit is not None:
            self.commit(commit)

    def commit(self, message: str) -> None:
        """``git add -A`` and commit; an empty commit when nothing changed (a repro on the host that
        wrote the committed dvc.lock gives that lock back byte for byte, so there may be nothing new)."""
        self.run("git", "add", "-A")
        self.run("git", "commit", "-qm", message, "--allow-empty")


@functools.cache
def project_dag() -> list:
    """The project's DAG (:func:`pipelines.dag.read_dag`), read once per process."""
    import contextlib

    from pipelines.dag import read_dag

    with contextlib.chdir(ROOT):  # DVC names stages relative to the working directory
        return read_dag(".")


def make_repo(dest: Path, pipelines: list[str] | None = None) -> Repo:
    """Copy the project into ``dest``, ``git init`` and commit it, with outputs, cache and ``dvc.lock``
    empty (:func:`pipelines.workspace.empty_lock`: DVC rewrites the whole lock after each stage it runs,
    1 s of CPU with the project's; a test comparing with the committed lock reads ``ROOT / "dvc.lock"``).
    ``pipelines``: the copy's dvc.yaml holds their stages and everything upstream (None: every stage)."""
    from pipelines.dag import select

    stages = None if pipelines is None else {s.name for s in select(project_dag(), pipelines)}
    repo = Repo(copy_project(ROOT, dest, stages=stages))
    repo.run("git", "config", "user.email", "test@example.invalid")
    repo.run("git", "config", "user.name", "test")
    empty_lock(dest)
    repo.run("git", "commit", "-q", "--amend", "--no-edit", "-a")
    return repo


def clone_repo(source: Repo, dest: Path) -> Repo:
    """A copy of ``source`` at ``dest``: working tree, outputs, ``.dvc/cache`` (run-cache included),
    ``.reprolab`` and ``.git``. DVC keeps its hash index per repository path (outside the repo), so the
    copy is a repository of its own. ``first`` (the output of the source's fresh repro) comes along."""
    shutil.copytree(source.path, dest, symlinks=True, ignore=shutil.ignore_patterns(".venv"))
    clone = Repo(dest)
    if hasattr(source, "first"):
        clone.first = source.first
    return clone


def session_dir(tmp_path_factory, worker_id: str) -> Path:
    """The folder every worker of this pytest run shares (xdist: the parent of the workers' own), for
    what a session builds once for all of them under a lock."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if worker_id != "master" else base


@pytest.fixture(scope="session")
def reproduced_tabular(tmp_path_factory, worker_id: str) -> Repo:
    """A copy of the project in which ``dvc repro tabular-evaluate`` ran once, from scratch, with the
    committed params (``dvc.lock`` left uncommitted, as after any repro). ``first`` is that repro's
    output. Shared by the whole session, every xdist worker included (the first to need it builds it
    while the others wait on a lock): read it, never change it (:func:`clone_repo` it instead)."""
    base = session_dir(tmp_path_factory, worker_id)
    path, stdout = base / "reproduced-tabular", base / "reproduced-tabular.stdout"
    with open(base / "reproduced-tabular.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stdout.exists():
            shutil.rmtree(path, ignore_errors=True)  # a worker killed half-way left a part
            first = make_repo(path, ["tabular"]).dvc("repro", "tabular-evaluate")
            stdout.write_text(first.stdout)
    repo = Repo(path)
    repo.first = subprocess.CompletedProcess(["dvc", "repro", "tabular-evaluate"], 0, stdout.read_text(), "")
    return repo


@pytest.fixture
def tabular_repo(reproduced_tabular: Repo, tmp_path: Path) -> Repo:
    """A copy of :func:`reproduced_tabular` for one test to change."""
    return clone_repo(reproduced_tabular, tmp_path / "repo")


def repo_pipelines(request) -> list[str] | None:
    """The pipelines a test's repo holds: its ``@pytest.mark.pipelines(...)`` (no names: every stage),
    else the pipeline whose folder the test is in (``tests/<pipeline>/``), else every stage."""
    from pipelines.dag import pipelines

    marker = request.node.get_closest_marker("pipelines")
    if marker is not None:
        return list(marker.args) or None
    folder = request.node.path.parent.name
    return [folder] if folder in pipelines(project_dag()) else None


@pytest.fixture
def temp_repo(request, tmp_path: Path) -> Repo:
    """A fresh copy of the project for one test, holding the stages of :func:`repo_pipelines`."""
    return make_repo(tmp_path / "repo", repo_pipelines(request))


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory, worker_id: str) -> Iterator[tuple[str, Path]]:
    """``prefect server start`` on 127.0.0.1 (SQLite in a temporary PREFECT_HOME); yields its API URL
    and PREFECT_HOME. Each flow run without PREFECT_API_URL would start a temporary server of its own
    (10-20 s on 2 cores), and a server takes as long to start: one serves the whole session, every
    xdist worker included. The first worker to need it starts it (in its own process group, so it
    outlives that worker if it must); each user counts itself in a file under a lock, and the last one
    to finish stops it. The tests that share it use deployments and flow runs of their own names."""
    from tests.ops.helpers import has_live_member, stop_group

    base = session_dir(tmp_path_factory, worker_id)
    state, lock_path = base / "prefect-server.json", base / "prefect-server.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        info = json.loads(state.read_text()) if state.exists() else None
        if info is None or not has_live_member(info["pgid"]):
            info = _start_prefect_server(base)
        info["users"] += 1
        state.write_text(json.dumps(info))
    try:
        yield info["api"], Path(info["home"])
    finally:
        with open(lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            info = json.loads(state.read_text())
            info["users"] -= 1
            if info["users"] <= 0:
                stop_group(info["pgid"])
                state.unlink()
            else:
                state.write_text(json.dumps(info))


def _start_prefect_server(base: Path) -> dict:
    from tests.ops.helpers import free_port, start, stop, wait_http

    home = Path(tempfile.mkdtemp(prefix="prefect-home-", dir=base))
    port = free_port()
    env = run_env(
        PREFECT_HOME=str(home),
        # the scheduler's loop, shortened so that a deployment served on a short interval gets its first
        # scheduled run within seconds (tests/ops/test_schedule.py): default one pass a minute, 100 runs ahead
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="2",
        PREFECT_SERVER_SERVICES_SCHEDULER_MAX_RUNS="2",
        # loops no test uses (automations, late and paused runs, work-pool health, cancelled runs'
        # children, concurrency leases): measured twice each, idle CPU 2.8 s -> 1.8-2.2 s a 90 s, and
        # 12.7-15.7 s -> 9.9-11.4 s of CPU to start
        **{f"PREFECT_SERVER_SERVICES_{name}_ENABLED": "false" for name in
           ("TRIGGERS", "LATE_RUNS", "PAUSE_EXPIRATIONS", "FOREMAN", "CANCELLATION_CLEANUP", "REPOSSESSOR")},
    )
    env.pop("PREFECT_API_URL", None)
    log = home / "server.log"
    proc = start([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port),
                  "--no-ui", "--analytics-off"], log, env)
    try:
        wait_http(f"http://127.0.0.1:{port}/api/health", proc, log, timeout=180)
    except BaseException:
        stop(proc)
        raise
    return {"api": f"http://127.0.0.1:{port}/api", "home": str(home), "pgid": proc.pid, "users": 0}


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``: real public data for tests; skipped where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not present")
    return SHARED_DATA


