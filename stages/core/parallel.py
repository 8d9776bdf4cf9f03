"""Per-file work on many cores or a cluster with Dask (``dask.distributed``), or in this process.

A per-file stage (``image-decode``, ``audio-decode``, ``audio-features``, ``audio-effects``) has a
``parallel`` param:

- ``none``: every file in this process, one after the other (the default);
- ``local``: a ``distributed.LocalCluster`` on this machine, one single-threaded worker process per
  core (the numeric libraries hold the GIL often enough that processes beat threads here);
- a scheduler address (``tcp://10.0.0.5:8786``): the workers of an existing Dask cluster.

:func:`map_files` runs the stage's per-file function on each item and yields the results **in input
order**, so the stage writes the same summary bytes whatever ran where. The function writes its
file's outputs itself, into the stage's temporary output folder (``Outputs.dir``): outputs stay
atomic, renamed into place by the stage's process only when every file succeeded. At most
:data:`PER_WORKER` files per worker thread are in flight (submitted in a sliding window, their results
collected as they come back), so memory stays bounded by a few files per worker, whatever the number of
files. An error in one file (a :class:`~stages.core.errors.DataError` naming it) cancels the rest and
is raised again here, unchanged, so the stage fails with the file's name exactly as a serial run does.

Remote workers must see the same paths (a shared file system, the checkout at the same path) and run
the same environment; for the float stages that run numpy on its baseline kernels
(:mod:`stages.core.numerics`), start them with ``NPY_ENABLE_CPU_FEATURES=X86_V2`` and, on CPUs with
AVX2 and FMA, ``OPENBLAS_CORETYPE=Haswell``: a worker whose settings differ from the stage's is
refused, since its outputs could differ in the last bits.
"""
from __future__ import annotations

import contextlib
import importlib
import logging
import os
import re
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Annotated, Any

from pydantic import AfterValidator

from .errors import ParamsError, StageError

log = logging.getLogger(__name__)

# what stages.core.numerics sets before numpy is imported; a worker must run with the same values
KERNEL_SETTINGS = ("NPY_ENABLE_CPU_FEATURES", "OPENBLAS_CORETYPE")
PER_WORKER = 2  # files in flight per worker thread: one running, one queued, none piling up in memory
ADDRESS = re.compile(r"^(tcp|tls|inproc|ucx|ws|wss)://[^\s]+$|^[A-Za-z0-9.-]+:\d+$")


def check_parallel(value: str) -> str:
    """``none``, ``local`` or a Dask scheduler address (``tcp://host:8786``, ``host:8786``).

    Raises:
        ValueError: anything else (pydantic turns it into a params error with the key path).
    """
    if value in ("none", "local") or ADDRESS.match(value):
        return value
    raise ValueError(f"must be 'none', 'local' or a Dask scheduler address like tcp://host:8786 (got {value!r})")


Parallel = Annotated[str, AfterValidator(check_parallel)]  # the `parallel` param of a per-file stage


def importable(fn: Callable) -> Callable:
    """``fn`` as workers can import it: a function defined in a stage run as ``python -m
    stages.x.y`` lives in ``__main__``, which a worker does not have; the same function of the module
    imported by its real name pickles by reference instead."""
    if fn.__module__ != "__main__":
        return fn
    spec = fn.__globals__.get("__spec__")
    if spec is None:
        raise StageError(f"{fn.__qualname__} is defined in a script: Dask workers cannot import it")
    return getattr(importlib.import_module(spec.name), fn.__qualname__)


@contextlib.contextmanager
def dask_client(parallel: str) -> Iterator[Any]:
    """A ``distributed.Client``: on a new LocalCluster (``local``) or connected to ``parallel``'s address.

    Raises:
        ParamsError: the scheduler at the address cannot be reached.
    """
    from distributed import Client, LocalCluster

    if parallel == "local":
        workers = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=logging.WARNING) as cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(parallel, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise ParamsError(f"params.yaml: parallel: no Dask scheduler answers at {parallel} ({exc})") from None
    with client:
        yield client


def check_workers(client: Any) -> None:
    """Refuse workers whose numpy or OpenBLAS kernel setting differs from this process's (see module
    docstring)."""
    for name in KERNEL_SETTINGS:
        mine = os.environ.get(name)
        theirs = client.run(os.environ.get, name)  # worker address -> value
        odd = sorted(addr for addr, value in theirs.items() if value != mine)
        if odd:
            fix = f"start the workers with {name}={mine}" if mine else "unset it on the workers"
            raise StageError(f"Dask worker(s) {', '.join(odd)} run with {name}={theirs[odd[0]]!r}, this stage with "
                             f"{mine!r}: their float outputs could differ in the last bits; {fix}")


def one_thread(fn: Callable, item: Any, *args: Any) -> Any:
    """``fn(item, *args)`` with the BLAS/OpenMP pools limited to one thread (threadpoolctl).

    OpenBLAS splits a matrix product across its threads, and the split changes the order of the float
    sums: audio-features' mel spectrogram (a matrix product) differed in the last bits between 2
    BLAS threads (a stage process on 2 cores) and 1 (a Dask worker, which distributed starts with
    ``OPENBLAS_NUM_THREADS=1``). One thread per file, serial or parallel, on any number of cores,
    gives one result; the files are the parallelism.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return fn(item, *args)


def map_files(fn: Callable, items: Iterable[Any], parallel: Any = "none", *args: Any, desc: str = "files") -> Iterator[Any]:
    """``fn(item, *args)`` for each item, yielded in input order.

    Args:
        fn: a module-level function (workers import it); it writes its own outputs and returns a
            small result (a summary, not the arrays).
        items: one per file; picklable (paths, manifest entries).
        parallel: ``none`` | ``local`` | a Dask scheduler address, or a ``distributed.Client`` to use as it is.
        args: passed to every call (params, the output folder).

    Yields:
        each call's return value, in the order of ``items``.

    Raises:
        whatever ``fn`` raised for the first failing file (in input order); the others are cancelled.
    """
    items = list(items)
    if parallel == "none" or len(items) <= 1:  # one file: a cluster would only cost its start-up
        from tqdm import tqdm

        for item in tqdm(items, desc=desc, unit="file", disable=len(items) < 2, leave=False):
            yield one_thread(fn, item, *args)
        return
    fn = importable(fn)
    given = not isinstance(parallel, str)
    with (contextlib.nullcontext(parallel) if given else dask_client(parallel)) as client:
        check_workers(client)
        threads = sum(client.nthreads().values()) or 1
        window = PER_WORKER * threads
        log.info("%s: %d file(s) on %d Dask worker thread(s) (%s), %d in flight at most",
                 desc, len(items), threads, client.scheduler.address if given else parallel, window)
        pending: deque = deque()
        run = uuid.uuid4().hex[:8]  # task keys unique on a scheduler that other runs share
        try:
            for i, item in enumerate(items):
                pending.append(client.submit(one_thread, fn, item, *args, pure=False, key=f"{desc}-{run}-{i}"))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:  # an error or an early stop: drop what is still queued
                future.cancel()
