"""Per-file stages on Dask (`parallel: local`) write the bytes of the serial run; a bad file still
fails with its name; the param accepts none, local or a scheduler address."""
from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from stages.audio.decode import decode_clip
from stages.audio.features import features_of_clip
from stages.audio.params import DecodeParams, FeaturesParams
from stages.core.errors import DataError, StageError
from stages.core.parallel import KERNEL_SETTINGS, Parallel, check_workers, map_files
from tests.audio.helpers import tone, write

# the committed params: the mel matrix product is large enough for OpenBLAS to split it across threads
FEATURES = FeaturesParams(sr=22050, n_fft=2048, hop_length=512, n_mels=128, top_db=80, parallel="none")
DECODE = DecodeParams(rates=[4000], cut_seconds=0.1, parallel="none")


def clips(folder: Path, n: int) -> list[dict]:
    folder.mkdir()
    entries = []
    for i in range(n):
        y = tone(1.5, freq=200 + 97 * i, sr=22050)
        y = y + np.float32(0.01) * np.random.default_rng(i).standard_normal(len(y), dtype=np.float32)
        write(folder / f"c{i}.wav", y, sr=22050)
        entries.append({"key": f"c{i}", "file": f"c{i}.wav", "source": f"c{i}.wav"})
    return entries


def same_tree(a: Path, b: Path) -> list[str]:
    """Relative paths whose bytes differ (or that exist on one side only)."""
    files = {p.relative_to(a) for p in a.rglob("*") if p.is_file()} | {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    return sorted(str(f) for f in files if not ((a / f).is_file() and (b / f).is_file() and filecmp.cmp(a / f, b / f, shallow=False)))


@pytest.fixture(scope="module")
def local_cluster():
    """One LocalCluster (what `parallel: local` starts) for this module's tests: starting one costs seconds."""
    from stages.core.parallel import dask_client

    with dask_client("local") as client:
        yield client


def test_dask_local_cluster_writes_the_bytes_of_the_serial_run(tmp_path, local_cluster):
    entries = clips(tmp_path / "clips", 3)
    results = {}
    for mode, parallel in (("none", "none"), ("local", local_cluster)):
        out = tmp_path / mode
        out.mkdir()
        results[mode] = list(map_files(features_of_clip, entries, parallel, str(tmp_path / "clips"), out, FEATURES))
    assert [r[0] for r in results["local"]] == [f"c{i}" for i in range(3)]      # input order kept
    assert results["local"] == results["none"]                                  # metrics and rms.csv rows
    assert len(list((tmp_path / "none").rglob("*.npz"))) == 3
    assert same_tree(tmp_path / "none", tmp_path / "local") == []


def test_a_bad_file_fails_the_parallel_run_with_its_name(tmp_path, local_cluster):
    entries = clips(tmp_path / "clips", 3)
    (tmp_path / "clips" / "c1.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")  # a broken WAV among good ones
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DataError, match=r"c1\.wav: "):
        list(map_files(decode_clip, entries, local_cluster, str(tmp_path / "clips"), out, DECODE))


def test_parallel_param_values():
    check = TypeAdapter(Parallel).validate_python
    for ok in ("none", "local", "tcp://10.0.0.5:8786", "scheduler.lan:8786", "tls://h:8786"):
        assert check(ok) == ok
    for bad in ("all", "", "tcp://", "8786", "local "):
        with pytest.raises(ValidationError, match="none', 'local' or a Dask scheduler address"):
            check(bad)


class FakeClient:
    """``Client.run(os.environ.get, name)`` answered from each worker's own environment."""

    def __init__(self, workers: dict[str, dict[str, str]]):
        self.workers = workers

    def run(self, fn, name):
        return {address: env.get(name) for address, env in self.workers.items()}


def test_workers_with_other_numpy_or_openblas_kernels_are_refused(monkeypatch):
    mine = {"NPY_ENABLE_CPU_FEATURES": "X86_V2", "OPENBLAS_CORETYPE": "Haswell"}
    assert set(mine) == set(KERNEL_SETTINGS)
    for name, value in mine.items():
        monkeypatch.setenv(name, value)
    check_workers(FakeClient({"tcp://a:1": dict(mine), "tcp://b:1": dict(mine)}))  # the same settings: accepted
    blas_default = {"NPY_ENABLE_CPU_FEATURES": "X86_V2"}  # a worker on an AVX-512 Xeon picks SkylakeX's kernels
    with pytest.raises(StageError, match=r"tcp://b:1 run with OPENBLAS_CORETYPE=None.*OPENBLAS_CORETYPE=Haswell"):
        check_workers(FakeClient({"tcp://a:1": dict(mine), "tcp://b:1": blas_default}))
    with pytest.raises(StageError, match=r"NPY_ENABLE_CPU_FEATURES='AVX512F'.*unset it on the workers"):
        monkeypatch.delenv("NPY_ENABLE_CPU_FEATURES")
        check_workers(FakeClient({"tcp://a:1": {"NPY_ENABLE_CPU_FEATURES": "AVX512F"}}))
