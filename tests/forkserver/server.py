"""A fork server for the processes the test suite starts most: one warm interpreter per test session
(started by pytest-xdist's controller for all its workers, or by the one pytest process), holding
the third-party libraries the stages and DVC import (torch, torchvision, pandas, scikit-learn,
matplotlib, DVC, ...), that forks a child for each ``python -m stages.<pipeline>.<step>`` and each
command of the venv's ``dvc``.

Each stage process of a ``dvc repro`` pays 2-6 s of CPU importing those libraries before it does
a fraction of a second of smoke-sized work, and the suite starts a few hundred of them. Started
with this folder on ``PYTHONPATH`` and ``REPROLAB_FORKSERVER`` naming the server's socket, such a
process runs :mod:`sitecustomize` here first: it hands its command line, working directory,
environment, ``sys.path`` and standard streams (the file descriptors themselves) to the server and
waits. The server forks; the child takes them over and runs the module (``runpy``, as ``python -m``
does) or the script as ``__main__``, so DVC, the stage and the test see an ordinary process: the
same streams, the same exit status (or signal), the same files. Nothing of the project is
imported before the fork: the stage imports its own code, so the read check
(``REPROLAB_CHECK_READS``) and every import-time effect of the project happen as in a cold start.

The protocol, one connection per process: the client sends one JSON message (argv after the
interpreter, cwd, env, sys.path, sys.prefix) with its stdin, stdout and stderr attached
(``SCM_RIGHTS``); the server answers ``{"cold": true}`` to another venv's interpreter, or forks the
child, sends ``{"pid": ...}``, and ``{"status": ...}`` (``os.waitpid``'s) when the child ends. A
signal the client receives (SIGTERM, SIGINT, SIGHUP) is relayed as ``{"signal": n}``; a client that
disappears (SIGKILL) closes the connection, and the server kills the child at once. One loop in the
server watches every connection and every child's pidfd: a fork of this gigabyte of warm interpreter
costs about 30 ms of system time and its exit as much again, so there is no supervisor process per
connection (there was: twice the forks).

Usage: ``python server.py SOCKET``. It exits when its parent (the pytest process that started it) does.
"""
from __future__ import annotations

import array
import json
import os
import select
import signal
import socket
import sys

# Imported once, before any fork: what the stages import at their top or in their functions. Every
# child gets them for free (copy-on-write). No project module is here, and nothing that starts a thread.
WARM = (
    "numpy", "pandas", "scipy", "scipy.signal", "scipy.io.wavfile", "yaml", "ruamel.yaml", "tabulate", "tqdm.auto",
    "pydantic", "pydantic.main", "pydantic.fields", "pydantic.functional_validators", "pydantic.functional_serializers",
    "pydantic.json_schema", "pyarrow.parquet", "pyarrow.dataset", "pyarrow.pandas_compat",
    "narwhals._pandas_like.dataframe", "narwhals._pandas_like.namespace",
    "cv2", "PIL.Image", "PIL.JpegImagePlugin", "PIL.PngImagePlugin", "PIL.features",
    "torch", "torch.nn", "torch.nn.functional", "torch.utils.data", "torch._dynamo", "torch.distributed",
    "torch.ao.quantization", "torch.nn.utils.prune", "torch.optim.swa_utils",
    "torchvision", "torchvision.models", "torchvision.models.quantization", "torchvision.transforms",
    "torchmetrics", "torchmetrics.functional", "captum.attr",
    "sklearn.model_selection", "sklearn.metrics", "sklearn.preprocessing", "sklearn.impute",
    "sklearn.linear_model", "sklearn.svm", "sklearn.feature_extraction.text", "sklearn.datasets",
    "matplotlib", "matplotlib.pyplot", "matplotlib.patches", "matplotlib.ticker", "matplotlib.backends.backend_agg",
    "soundfile", "pydub", "librosa.effects", "librosa.feature", "librosa.display",
    "gymnasium", "gensim.models.word2vec", "gensim.models.fasttext", "janome.tokenizer",
    # DVC's commands and what `dvc repro`, `status`, `exp`, `push`, `pull` and `queue` import when they run
    # (listed from the modules each DVC process of a `make test` held at its end)
    "dvc.cli", "dvc.cli.parser", "dvc.repo", "dvc.repo.index", "dvc.repo.reproduce", "dvc.repo.status",
    "dvc.repo.experiments", "dvc.repo.experiments.queue.celery", "dvc.repo.metrics.show", "dvc.repo.params.show",
    "dvc.stage.cache", "dvc.output", "dvc.dependency", "dvc.dvcfile", "dvc.lock", "dvc.fs.dvc", "dvc_data.index",
    "dvc_data.hashfile.build", "scmrepo.git",
    "dvc.repo.graph", "dvc.repo.plots", "dvc.repo.artifacts", "dvc.repo.datasets", "dvc.repo.stage", "dvc.repo.trie",
    "dvc.repo.open_repo", "dvc.repo.brancher", "dvc.repo.experiments.show", "dvc.repo.experiments.collect",
    "dvc.repo.metrics.diff", "dvc.repo.params.diff", "dvc.cachemgr", "dvc.data_cloud", "dvc.dirs", "dvc._debug",
    "dvc.utils.strictyaml", "dvc_data.fs", "dvc_data.hashfile.db.local", "dvc_data.hashfile.status",
    "dvc_data.index.checkout", "dvc_render.vega", "dvc_render.html", "dvc_render.image", "dvc_render.plotly",
    "dvc_task.app", "scmrepo.fs", "scmrepo.git.backend.pygit2", "scmrepo.git.backend.pygit2.filter",
    "scmrepo.git.backend.dulwich", "dulwich.porcelain", "dulwich.worktree", "dulwich.ignore", "dulwich.filters",
    "dulwich.line_ending", "networkx", "pygit2", "flatten_dict", "platformdirs", "fsspec.implementations.memory",
    "rich.json", "shelve", "socketserver", "celery.worker", "celery.canvas", "celery.app.amqp", "celery.app.control",
    "celery.app.routes", "celery.app.task", "celery.backends.filesystem", "celery.loaders.app",
    "celery.utils.saferepr", "kombu.pidbox", "billiard.einfo",
)
MAX_MESSAGE = 1 << 20


def warm_up() -> None:
    import importlib
    import warnings

    with warnings.catch_warnings():  # an import-time warning is the stage's to show, when it imports the module
        warnings.simplefilter("ignore")
        for name in WARM:
            try:
                importlib.import_module(name)
            except ImportError:  # an optional library this venv lacks: the stage will say so itself
                pass


def receive(conn: socket.socket) -> tuple[dict, list[int]]:
    """One request: the JSON message and the three file descriptors sent with it."""
    fds = array.array("i")
    data, ancdata, _, _ = conn.recvmsg(MAX_MESSAGE, socket.CMSG_SPACE(3 * fds.itemsize))
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    return json.loads(data), list(fds)


def send(conn: socket.socket, message: dict) -> None:
    try:
        conn.sendall(json.dumps(message).encode() + b"\n")
    except OSError:  # the client is gone; the server notices on its next read of the connection
        pass


def become_stage(request: dict, fds: list[int]) -> list[str]:
    """In the forked child: take over the client's streams, directory and environment; return the
    command line to run."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # KeyboardInterrupt, as in any interpreter
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # what the interpreter sets at start
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    threads = os.environ.get("OMP_NUM_THREADS")
    if threads and threads.isdigit():  # the OpenMP runtime read it once, when the server imported torch
        import torch

        torch.set_num_threads(int(threads))
    argv = request["argv"]
    if argv[0] == "-m":
        sys.argv = argv[1:]  # runpy sets argv[0] to the module's file, as `python -m` does
        sys.path[:] = [request["cwd"], *request["path"]]  # the client's (its PYTHONPATH); `-m` puts the cwd first
    else:  # a script (dvc's)
        sys.argv = list(argv)
        sys.path[:] = [os.path.dirname(argv[0]), *request["path"]]
        parse_dvc_yaml_once()
    return argv


def parse_dvc_yaml_once() -> None:
    """In a forked ``dvc`` child: parse each YAML text once. ``dvc repro`` parses params.yaml again for
    every stage whose params it checks (14 parses of 3 texts in a no-op ``dvc repro tabular-evaluate``,
    with ruamel's pure-Python parser): about 0.2 s of the command's 1.4 s of CPU. Every caller still
    gets a copy of its own, so what it changes changes nothing cached; round-trip parses (DVC's edits
    of dvc.yaml) are not cached."""
    import copy

    try:
        from dvc.utils import serialize, strictyaml
        from dvc.utils.serialize import _yaml
    except ImportError:  # another DVC than the one this was written against: parse as it does
        return
    parse, parsed = _yaml.parse_yaml, {}

    def parse_once(text, path, typ="safe"):
        if typ != "safe":
            return parse(text, path, typ)
        if text not in parsed:
            parsed[text] = parse(text, path, typ)  # a parse error raises, naming this path: nothing cached
        return copy.deepcopy(parsed[text])

    _yaml.parse_yaml = serialize.parse_yaml = strictyaml.parse_yaml = parse_once  # each place DVC looks it up


class Stage:
    """One forked stage and the connection of the client that waits for it."""

    def __init__(self, conn: socket.socket, pid: int):
        self.conn, self.pid = conn, pid
        self.pidfd = os.pidfd_open(pid)
        self.buffer = b""

    def close(self) -> None:
        os.close(self.pidfd)
        self.conn.close()


def start(conn: socket.socket, listener: socket.socket, stages: dict[int, Stage]) -> Stage | list[str] | None:
    """Read one request from a new connection and fork its stage. In the server: returns the
    :class:`Stage`, or None when the client is told to start cold (another venv's interpreter) or is
    gone. In the stage child: returns the command line to run."""
    conn.settimeout(10)  # a client sends its request as soon as it connects
    try:
        request, fds = receive(conn)
    except (OSError, ValueError):  # a client that died mid-request, or sent garbage
        conn.close()
        return None
    conn.settimeout(None)
    if os.path.realpath(request.get("prefix") or "/") != os.path.realpath(sys.prefix):  # another venv: cold
        for fd in fds:
            os.close(fd)
        send(conn, {"cold": True})
        conn.close()
        return None
    pid = os.fork()
    if pid == 0:  # the stage: nothing of the server's connections stays open in it
        listener.close()
        for other in stages.values():
            other.close()
        conn.close()
        return become_stage(request, fds)
    for fd in fds:
        os.close(fd)
    send(conn, {"pid": pid})
    return Stage(conn, pid)


def relay(stage: Stage) -> bool:
    """The client wrote: relay the signals it asks for. A closed connection means the client died
    (SIGKILL): the stage is killed at once. Returns False once the stage is gone that way."""
    try:
        chunk = stage.conn.recv(4096)
    except OSError:  # a connection reset: as good as closed
        chunk = b""
    if not chunk:
        try:
            os.kill(stage.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(stage.pid, 0)
        return False
    stage.buffer += chunk
    while b"\n" in stage.buffer:
        line, stage.buffer = stage.buffer.split(b"\n", 1)
        try:
            os.kill(stage.pid, int(json.loads(line)["signal"]))
        except ProcessLookupError:  # it ended meanwhile: its pidfd says so next
            pass
    return True


def serve(path: str) -> list[str]:
    """Accept connections until the parent exits, each stage forked from this process; in a stage
    child, return the command line to run. One loop watches the listener, every client's connection
    (relayed signals; its end when the client is killed) and every stage's pidfd (its exit status,
    sent to the client; waited for here, so the stages' CPU time counts in this process's children)."""
    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".tmp")
    listener.listen(64)
    warm_up()
    import gc

    gc.freeze()  # what the server imported is never collected: no child's collection touches its pages
    os.rename(path + ".tmp", path)  # ready: until the name exists, clients start cold
    stages: dict[int, Stage] = {}  # by pid
    while True:
        by_conn = {stage.conn: stage for stage in stages.values()}
        by_pidfd = {stage.pidfd: stage for stage in stages.values()}
        readable, _, _ = select.select([listener, *by_conn, *by_pidfd], [], [], 1.0)
        if os.getppid() != parent:  # the pytest process that started it is gone
            os.unlink(path)
            os._exit(0)
        for ready in readable:
            if ready is listener:
                conn, _ = listener.accept()
                started = start(conn, listener, stages)
                if isinstance(started, list):
                    return started  # in the stage child
                if started is not None:
                    stages[started.pid] = started
            elif ready in by_pidfd:
                stage = by_pidfd[ready]
                if stage.pid in stages:
                    _, status = os.waitpid(stage.pid, 0)
                    send(stage.conn, {"status": status})
                    stages.pop(stage.pid).close()
            else:
                stage = by_conn[ready]
                if stage.pid in stages and not relay(stage):
                    stages.pop(stage.pid).close()


def run_stage(argv: list[str]) -> None:
    """Run ``-m module`` or a script as ``__main__`` and end the process as the interpreter would, less its
    finalization: tearing down the modules the server imported would write to (and so copy) most
    of the pages the child shares with the server, about 1.7 s of CPU for nothing."""
    import atexit
    import runpy
    import threading
    import traceback

    code = 0
    try:
        if argv[0] == "-m":
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            code = stop.code or 0
        else:
            print(stop.code, file=sys.stderr)
            code = 1
    except KeyboardInterrupt:
        traceback.print_exc()
        code = -signal.SIGINT
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    threading._shutdown()  # join the threads that are not daemons, as the interpreter does at exit
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    if code == -signal.SIGINT:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code & 0xFF)


if __name__ == "__main__":
    run_stage(serve(sys.argv[1]))
