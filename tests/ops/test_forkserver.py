"""The stage fork server the suite runs its stage processes on (tests/forkserver/): a stage handed
over to it must look, to DVC and to the test, like the process it would otherwise be."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import forkserver_address, run_env

PROBE = '''
import os, sys, time
print("argv", sys.argv[1:], "cwd", os.getcwd(), "probe", os.environ.get("PROBE"), "warm", "torch" in sys.modules, flush=True)
print("to stderr", file=sys.stderr, flush=True)
if sys.argv[1] == "wait":
    open("pid", "w").write(str(os.getpid()))
    time.sleep(60)
sys.exit(int(sys.argv[1]))
'''


@pytest.fixture(scope="module")
def server() -> str:
    address = forkserver_address()
    if not address:
        pytest.skip("REPROLAB_FORKSERVER=off: every stage starts cold")
    deadline = time.monotonic() + 120
    while not os.path.exists(address):  # the server is still importing
        assert time.monotonic() < deadline, "the fork server did not start in 120 s"
        time.sleep(0.1)
    return address


@pytest.fixture
def project(tmp_path) -> Path:
    (tmp_path / "stages").mkdir()
    (tmp_path / "stages" / "__init__.py").write_text("")
    (tmp_path / "stages" / "probe.py").write_text(PROBE)
    return tmp_path


def start(project: Path, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "stages.probe", *args], cwd=project, env=run_env(PROBE="yes"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_a_handed_over_stage_keeps_its_arguments_directory_environment_streams_and_status(server, project):
    proc = start(project, "3")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3
    assert out == f"argv ['3'] cwd {project} probe yes warm True\n"  # torch was there before the stage ran
    assert err == "to stderr\n"


def test_a_stage_ends_by_the_signal_its_caller_gets(server, project):
    proc = start(project, "wait")
    assert proc.stdout.readline().startswith("argv ['wait']")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == -signal.SIGTERM


def test_a_stage_ends_for_its_caller_while_a_later_one_runs(server, project):
    """The server forks every stage itself: a stage forked later must not hold the connection of an
    earlier one open, or that one's caller would wait for the later stage to end too."""
    first = start(project, "wait")
    assert first.stdout.readline().startswith("argv ['wait']")
    second = start(project, "wait")
    try:
        assert second.stdout.readline().startswith("argv ['wait']")
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == -signal.SIGTERM
    finally:
        second.kill()
        second.wait(timeout=30)


def test_a_killed_caller_takes_its_stage_with_it(server, project):
    proc = start(project, "wait")
    assert proc.stdout.readline().startswith("argv ['wait']")
    while not (project / "pid").exists() or not (project / "pid").read_text():
        time.sleep(0.01)
    stage = int((project / "pid").read_text())
    assert stage != proc.pid  # the stage is the server's fork, not the process the caller started
    proc.kill()
    proc.wait(timeout=30)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{stage}") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not os.path.exists(f"/proc/{stage}"), "the stage outlived its killed caller"


def test_without_a_server_a_stage_starts_cold(project):
    env = run_env(PROBE="no", REPROLAB_FORKSERVER=str(project / "no-such-socket"))
    proc = subprocess.run([sys.executable, "-m", "stages.probe", "0"], cwd=project, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"argv ['0'] cwd {project} probe no warm False\n"


def test_a_forked_dvc_parses_each_yaml_text_once_and_hands_out_copies(tmp_path):
    """The forked ``dvc`` child's parse cache (``server.parse_dvc_yaml_once``), run in a child here so
    this worker's DVC stays as it is: equal results, never the same object, round-trip parses and
    parse errors as DVC's own."""
    code = '''
from dvc.utils import serialize, strictyaml
from dvc.utils.serialize import _yaml
calls = []
original = _yaml.parse_yaml
_yaml.parse_yaml = lambda text, path, typ="safe": calls.append(typ) or original(text, path, typ)
import server
server.parse_dvc_yaml_once()
first = serialize.PARSERS[".yaml"]("a: {b: [1, 2]}\\n", "params.yaml")
first["a"]["b"].append(3)
again = strictyaml.parse_yaml("a: {b: [1, 2]}\\n", "params.yaml")
assert again == {"a": {"b": [1, 2]}} and calls == ["safe"], (again, calls)
open("dvc.yaml", "w").write("a: 1\\n")
strictyaml.load("dvc.yaml", round_trip=True)
strictyaml.load("dvc.yaml", round_trip=True)
assert calls == ["safe", "rt", "rt"], calls
for _ in range(2):
    try:
        _yaml.parse_yaml("a: [1\\n", "broken.yaml")
    except _yaml.YAMLFileCorruptedError as error:
        assert "broken.yaml" in str(error)
    else:
        raise AssertionError("no error")
print("ok")
'''
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "forkserver")})
    assert proc.returncode == 0 and proc.stdout == "ok\n", proc.stderr
