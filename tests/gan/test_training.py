"""The core training machinery with the GAN stages: smoke training, checkpoints, resume, kill-and-resume."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from stages.core.checkpoint import load_checkpoint, save_checkpoint
from stages.core.errors import DataError, IntegrityError
from stages.core.gan_nets import build
from stages.core.training import RESUME_ONLY, history_csv, run_key, without_wall_clock
from stages.gan.params import GanTrainParams
from stages.core.training import TrainingRun
from stages.gan.training import gan_parts
from tests.conftest import ROOT, run_env
from tests.gan.smoke import smoke_params

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def gan_params(kind: str = "dcgan", **over) -> GanTrainParams:
    return GanTrainParams(**{**smoke_params(PARAMS)["gan"][kind], **over})


def tiny_images(n: int = 32, size: int = 16) -> torch.Tensor:
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1


def train(kind: str, epochs: int, resume: Path | None = None, key: str = "k", checkpoint_last: bool = True,
          **over) -> "object":
    p, images = gan_params(kind, epochs=epochs, **over), tiny_images()
    run = TrainingRun(f"gan-{kind}", p, kind=kind, device="cpu", seed=0)
    trainer = run.build(**gan_parts(kind, p, 16), data=images, key=key, resume=resume, checkpoint_last=checkpoint_last)
    trainer.fit(images)
    return trainer


@pytest.mark.parametrize("kind", ["dcgan", "sagan"])
def test_smoke_training_records_history(kind):
    trainer = train(kind, epochs=2)
    assert [r["epoch"] for r in trainer.history] == [1, 2]
    assert all(np.isfinite(r["loss_d"]) and np.isfinite(r["loss_g"]) for r in trainer.history)
    assert history_csv(trainer.history).splitlines()[0] == "epoch,loss_d,loss_g"  # wall clock: the run record
    assert all(r["images_per_s"] > 0 for r in trainer.history)


def test_checkpoint_describes_itself_and_loads_on_cpu(tmp_path):
    trainer = train("sagan", epochs=1)
    save_checkpoint(tmp_path / "m.pt", trainer.checkpoint())
    ckpt = load_checkpoint(tmp_path / "m.pt", map_location="cpu", kind="sagan")  # weights_only=True inside
    assert ckpt["epoch"] == 1 and ckpt["model_args"] == {"image_size": 16, "z_dim": 20, "channels": 8}
    assert set(ckpt["optimizers"]) == {"d", "g"} and "torch" in ckpt["rng"][0] and ckpt["params"]["epochs"] == 1
    g, _ = build("sagan", ckpt["model_args"])
    g.load_state_dict(ckpt["models"]["g"])
    assert all(t.device.type == "cpu" for t in g.state_dict().values())


def test_load_checkpoint_refuses_foreign_and_wrong_kind(tmp_path):
    torch.save({"weights": torch.zeros(1)}, tmp_path / "foreign.pt")
    with pytest.raises(DataError, match="not a reprolab-checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable"):
        load_checkpoint(tmp_path / "junk.pt")
    save_checkpoint(tmp_path / "m.pt", train("dcgan", epochs=1).checkpoint())
    with pytest.raises(DataError, match="expected 'sagan'"):
        load_checkpoint(tmp_path / "m.pt", kind="sagan")


def assert_same_training(a: dict, b: dict) -> None:
    for net in a["models"]:
        for name, tensor in a["models"][net].items():
            assert torch.equal(tensor, b["models"][net][name]), f"{net}.{name} differs"
    losses = lambda h: [{k: v for k, v in r.items() if k.startswith("loss_")} for r in h]  # noqa: E731
    assert losses(a["history"]) == losses(b["history"])


def test_resume_in_process_equals_uninterrupted(tmp_path):
    whole = train("dcgan", epochs=3).checkpoint()
    first = train("dcgan", epochs=2, resume=tmp_path / "b" / "last.pt", key="k")  # as if killed after epoch 2
    assert first.epoch == 2
    resumed = train("dcgan", epochs=3, resume=tmp_path / "b" / "last.pt", key="k")
    assert resumed.resumed_from == 2
    assert_same_training(whole, resumed.checkpoint())


def test_a_stage_run_writes_no_resume_checkpoint_after_its_last_epoch(tmp_path):
    """What ``TrainingRun.fit`` builds: its ``finish`` writes the final state as the declared output, so
    the last epoch's resume checkpoint would be written and deleted unread; the ones before stay."""
    ckpt = tmp_path / "run" / "last.pt"
    one = train("dcgan", epochs=1, resume=ckpt, key="k", checkpoint_last=False)
    assert one.epoch == 1 and not ckpt.exists()
    train("dcgan", epochs=3, resume=ckpt, key="k", checkpoint_last=False, checkpoint_every=1)
    assert load_checkpoint(ckpt, verify=True)["epoch"] == 2   # every epoch but the last


def test_resume_ignores_a_checkpoint_of_other_params(tmp_path):
    train("dcgan", epochs=2, resume=tmp_path / "last.pt", key="one")
    assert train("dcgan", epochs=2, resume=tmp_path / "last.pt", key="two").resumed_from == 0
    assert run_key(a=1) != run_key(a=2)


DCGAN = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["gan-dcgan"]
TRAIN_NPZ = next(Path(d) for d in DCGAN["deps"] if d.endswith("train.npz"))
MODEL = next(Path(o) for o in DCGAN["outs"] if str(o).endswith("model.pt"))


def stage_dir(tmp_path: Path, name: str, epochs: int) -> tuple[Path, list[str], dict]:
    """A working folder laid out like the repository: dvc.yaml, params.yaml (smoke, ``epochs``) and the
    digits where gan-dcgan's entry declares them; and the stage's command, as dvc.yaml runs it."""
    work = tmp_path / name
    (work / TRAIN_NPZ).parent.mkdir(parents=True)
    (work / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    params = smoke_params(PARAMS)
    params["gan"]["dcgan"].update(epochs=epochs, checkpoint_every=1)
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    images = tiny_images(48)
    np.savez(work / TRAIN_NPZ, images=images.numpy(), labels=np.zeros(48, dtype=np.int64))
    cmd = [sys.executable, *DCGAN["cmd"].split()[1:]]  # python -m stages.gan.dcgan
    env = run_env(PYTHONPATH=str(ROOT), REPROLAB_CHECKPOINTS=str(work / "ckpt"), OMP_NUM_THREADS="1",
                  REPROLAB_FORKSERVER="")  # killed: a process of its own
    return work, cmd, env


@pytest.mark.e2e  # a training stage run, killed and rerun in subprocesses: about a minute on 2 busy cores
def test_killed_stage_resumes_and_matches_an_uninterrupted_run(tmp_path):
    epochs = 30
    work, cmd, env = stage_dir(tmp_path, "killed", epochs)
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not list((work / "ckpt").glob("*/last.pt")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (work / MODEL).exists(), "the run finished before it could be killed"
    last = load_checkpoint(next((work / "ckpt").glob("*/last.pt")))
    killed_at = last["epoch"]
    assert 1 <= killed_at < epochs and set(last["optimizers"]) == {"d", "g"}  # what resuming reads

    # and a run killed earlier with other params (another key) left its folder: the stage deletes it on start
    killed_dir = next((work / "ckpt").glob("*/last.pt")).parent
    stale = killed_dir.with_name("gan-dcgan-" + "0" * 16)
    shutil.copytree(killed_dir, stale)

    rerun = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming from" in rerun.stderr
    assert f"{stale}: deleting the resume checkpoint of an earlier run with other params" in rerun.stderr
    assert not list((work / "ckpt").iterdir()), "the resume checkpoints are removed once the outputs are written"

    whole_dir, whole_cmd, whole_env = stage_dir(tmp_path, "whole", epochs)
    subprocess.run(whole_cmd, cwd=whole_dir, env=whole_env, check=True, capture_output=True, timeout=300)
    resumed, whole = load_checkpoint(work / MODEL), load_checkpoint(whole_dir / MODEL)
    assert resumed["epoch"] == whole["epoch"] == epochs
    assert not set(RESUME_ONLY) & set(whole), "the declared model.pt holds what using the model needs, no optimizer state"
    assert_same_training(resumed, whole)
    # byte-identical outputs: the same params and data give the same bytes in another process, killed or
    # not (DVC hashes bytes: a rerun must not rerun what depends on it), so no wall-clock figure is in an
    # output; those live in the run record
    assert set(output_hashes(whole_dir)) == {"model.pt", "history.csv", "metrics.json", "samples.png"}
    assert output_hashes(work) == output_hashes(whole_dir)
    assert "seconds" not in (whole_dir / MODEL.parent / "history.csv").read_text()
    assert "images_per_s" in json.loads((whole_dir / ".reprolab" / "runs" / "gan-dcgan.json").read_text())
    record = json.loads((work / ".reprolab" / "runs" / "gan-dcgan.json").read_text())
    assert record["resumed_from_epoch"] == killed_at and record["images_per_s"] > 0 and record["train_seconds"] > 0


def output_hashes(work: Path) -> dict[str, str]:
    """sha256 of every file a stage wrote in its output folder (nothing else may be there: no temporaries)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((work / MODEL.parent).iterdir())}


def test_resume_checkpoint_with_flipped_bytes_is_refused_and_training_starts_over(tmp_path, caplog):
    ckpt = tmp_path / "run" / "last.pt"
    train("dcgan", epochs=2, resume=ckpt, key="k")
    assert (tmp_path / "run" / "last.pt.sha256").is_file()
    data = bytearray(ckpt.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside a tensor's storage: torch.load would not notice
    ckpt.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        again = train("dcgan", epochs=3, resume=ckpt, key="k")
    assert again.resumed_from == 0 and again.epoch == 3
    assert "does not match the hash" in caplog.text and "starting over" in caplog.text
    with pytest.raises(IntegrityError, match="does not match"):
        (tmp_path / "run" / "last.pt").write_bytes(bytes(data))
        load_checkpoint(ckpt, verify=True)


def test_resume_checkpoint_without_its_hash_is_not_loaded(tmp_path):
    ckpt = tmp_path / "run" / "last.pt"
    train("dcgan", epochs=1, resume=ckpt, key="k")
    (tmp_path / "run" / "last.pt.sha256").unlink()
    assert train("dcgan", epochs=2, resume=ckpt, key="k").resumed_from == 0


def test_resumed_checkpoint_bytes_equal_uninterrupted(tmp_path):
    """In process: optimizer state that went through save + load pickles as before (betas tuple vs list)."""
    whole = train("dcgan", epochs=2, resume=tmp_path / "a" / "last.pt", key="k")
    save_checkpoint(tmp_path / "whole.pt", whole.checkpoint())
    train("dcgan", epochs=1, resume=tmp_path / "b" / "last.pt", key="k")
    resumed = train("dcgan", epochs=2, resume=tmp_path / "b" / "last.pt", key="k")
    assert resumed.resumed_from == 1
    save_checkpoint(tmp_path / "resumed.pt", {**resumed.checkpoint(), "history": without_wall_clock(resumed.history)})
    save_checkpoint(tmp_path / "whole.pt", {**whole.checkpoint(), "history": without_wall_clock(whole.history)})
    assert (tmp_path / "resumed.pt").read_bytes() == (tmp_path / "whole.pt").read_bytes()


def test_same_checkpoint_gives_the_same_bytes_whatever_the_file_name(tmp_path):
    """DVC hashes the model file: the same weights must not hash differently because of a temp name."""
    from stages.core.checkpoint import load_checkpoint, save_checkpoint

    ckpt = {"kind": "test", "model_args": {}, "params": {}, "models": {"g": torch.nn.Linear(3, 2).state_dict()}, "epoch": 1}
    save_checkpoint(tmp_path / "a.pt", ckpt)
    save_checkpoint(tmp_path / "other-name.pt", ckpt)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "other-name.pt").read_bytes()
    assert load_checkpoint(tmp_path / "a.pt")["epoch"] == 1


@pytest.mark.e2e  # torchrun: two training processes
def test_dcgan_stage_trains_with_two_processes_when_params_say_so(tmp_path):
    """``gan.dcgan.nproc_per_node: 2``: the same command re-runs itself under torchrun (gloo on CPU);
    the GAN's two optimizers train through DDP and rank 0 writes the stage's outputs."""
    work, cmd, env = stage_dir(tmp_path, "ddp", epochs=2)
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["gan"]["dcgan"]["nproc_per_node"] = 2
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert set(output_hashes(work)) == {"model.pt", "history.csv", "metrics.json", "samples.png"}
    ckpt = load_checkpoint(work / MODEL, kind="dcgan")
    assert ckpt["world_size"] == 2 and ckpt["epoch"] == 2 and ckpt["params"]["nproc_per_node"] == 2
    assert json.loads((work / ".reprolab" / "runs" / "gan-dcgan.json").read_text())["processes"] == 2
    assert not list((work / "ckpt").glob("*/last.pt"))
