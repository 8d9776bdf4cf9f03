"""Background servers the operations tests start and stop themselves (Prefect, moto S3), on 127.0.0.1."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], log: Path, env: dict, cwd: Path | None = None) -> subprocess.Popen:
    """Start ``cmd`` in its own process group (so :func:`stop` ends it and every child it spawned)."""
    fh = log.open("w")
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM to the process group ``proc`` leads, SIGKILL if it has not exited after ``timeout`` s."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)
        except ProcessLookupError:
            pass
    try:  # children that outlived the leader (same group id)
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Poll ``url`` until it answers 2xx; fail with the server's log if it dies or times out."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args} exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


def has_live_member(pgid: int) -> bool:
    """Whether process group ``pgid`` has a member that is not a zombie (a leader this process started
    and has not waited for is reaped here; one another process started may wait unreaped in its parent)."""
    try:
        os.waitpid(pgid, os.WNOHANG)
    except ChildProcessError:  # not this process's child, or already reaped
        pass
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # state, ppid, pgrp, ...
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def group_alive(pgid: int, wait: float = 10) -> bool:
    """Whether any process of group ``pgid`` is still alive after up to ``wait`` s (time to be reaped)."""
    deadline = time.monotonic() + wait
    while has_live_member(pgid):
        if time.monotonic() > deadline:
            return True
        time.sleep(0.2)
    return False


def stop_group(pgid: int, timeout: float = 20) -> None:
    """SIGTERM to process group ``pgid``, SIGKILL to what is left after ``timeout`` s: for a group whose
    leader this process holds no ``Popen`` of (:func:`stop` takes the ``Popen``)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        if not group_alive(pgid, timeout):
            return