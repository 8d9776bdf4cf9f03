"""Run records: wall-clock figures beside, not inside, the outputs; shown by audit."""
from __future__ import annotations

import hashlib

from pipelines.audit import format_audit
from stages.core.runs import format_run_record, read_run_record, write_run_record


def test_run_record_round_trip_with_output_hashes(tmp_path, monkeypatch):
    monkeypatch.delenv("REPROLAB_RUNS", raising=False)
    (tmp_path / "model.pt").write_bytes(b"weights")
    monkeypatch.chdir(tmp_path)
    path = write_run_record("gan-dcgan", {"images_per_s": 1234.5678, "processes": 2}, outputs=["model.pt", "absent.png"])
    assert path.resolve() == tmp_path / ".reprolab" / "runs" / "gan-dcgan.json"
    record = read_run_record("gan-dcgan")
    assert record["images_per_s"] == 1234.5678 and record["outputs"] == {"model.pt": hashlib.md5(b"weights").hexdigest()}
    line = format_run_record(record)
    assert line.startswith("gan-dcgan (run ") and "images_per_s 1235" in line and "processes 2" in line
    assert read_run_record("never-ran") is None
    (tmp_path / ".reprolab" / "runs" / "torn.json").write_text("{")
    assert read_run_record("torn") is None


def test_audit_shows_the_run_record_and_whether_it_made_this_artifact():
    md5 = "0" * 32
    report = {"path": "artifacts/gan/dcgan/model.pt", "rev": None, "stage": "gan-dcgan", "cmd": "python -m stages.gan.dcgan",
              "output": {"path": "artifacts/gan/dcgan/model.pt", "md5": md5, "size": 10, "nfiles": None}, "file": None,
              "workspace": None, "params": {}, "lineage": [], "commits": [], "experiments": [], "metrics": {},
              "run": {"stage": "gan-dcgan", "finished_utc": "2026-01-01T00:00:00+00:00", "host": "h", "train_seconds": 12.5,
                      "outputs": {"artifacts/gan/dcgan/model.pt": md5}}}
    text = format_audit(report)
    assert "run that produced it" in text and "(this artifact)" in text and "train_seconds 12.5" in text
    report["run"]["outputs"]["artifacts/gan/dcgan/model.pt"] = "1" * 32
    assert "another run" in format_audit(report) and "last run on this host" in format_audit(report)
    assert "last run" not in format_audit({**report, "run": None})
