"""diffusion-data: the digits through the gan loaders, CIFAR-10 read with a numpy-only unpickler, bad params."""
from __future__ import annotations

import functools
import hashlib
import io
import os
import pickle
import tarfile

import numpy as np
import pytest
import yaml

from stages.core.errors import DataError, DownloadError, ParamsError
from stages.core.params import parse_params, validate_section
from stages.diffusion.data import load_source, split, to_model_range
from stages.diffusion.images import load_images_npz, read_cifar10, safe_unpickle
from stages.diffusion.params import DataParams, DiffusionParams
from tests.conftest import ROOT, serve_directory


def section() -> dict:
    return parse_params((ROOT / "params.yaml").read_text())["diffusion"]


def validate(d: dict) -> DiffusionParams:
    return validate_section({"diffusion": d}, "diffusion", DiffusionParams)


def with_value(dotted: str, value) -> dict:
    d = yaml.safe_load(yaml.safe_dump(section()))
    node = d
    *parents, leaf = dotted.split(".")
    for k in parents:
        node = node[int(k)] if isinstance(node, list) else node[k]
    node[leaf] = value
    return d


def test_committed_section_validates():
    p = validate(section())
    assert p.train.timesteps == 1000 and [d.steps for d in p.sample.ddim if d.eta == 0] == [10, 20, 50, 100]


@pytest.mark.parametrize("dotted,value,match", [
    ("train.beta_1", 0.0, r"diffusion\.train\.beta_1: Input should be greater than 0"),
    ("train.beta_T", 1.5, r"diffusion\.train\.beta_T: Input should be less than 1"),
    ("train.beta_T", 5e-5, r"diffusion\.train: .*must increase"),
    ("sample.ddim.2.steps", 2000, r"diffusion\.sample\.ddim\.2\.steps: steps 2000 must be between 1 and T = 1000"),
    ("sample.ddim.1.steps", 30, r"diffusion\.sample\.ddim\.1\.steps: uniform skip needs steps to divide T = 1000"),
    ("sample.ddim.3.skip", "quadratic", r"diffusion\.sample\.ddim\.3\.steps: quadratic skip repeats"),
    ("sample.ddim.0.eta", -0.5, r"diffusion\.sample\.ddim\.0\.eta: Input should be greater than or equal to 0"),
    ("sample.ddim.4.eta", 5.0, r"diffusion\.sample\.ddim\.4\.eta: Input should be less than or equal to 1"),
    ("train.schedule", "quadratic", r"diffusion\.train\.schedule: Input should be 'linear' or 'cosine'"),
    ("train.attn_resolutions", [16], r"attn_resolutions: \[16\] not among the U-Net's resolutions \[8, 4\]"),
    ("data.image_px", 12, r"diffusion\.data\.image_px: .*power of two"),
])
def test_bad_params_name_the_key(dotted, value, match):
    with pytest.raises(ParamsError, match=match):
        validate(with_value(dotted, value))


def test_no_sampler_at_all_is_refused_naming_the_keys():
    """`ddpm: false` with `ddim: []` once ran to a matplotlib traceback in diffusion-sample: now one params error."""
    d = with_value("sample.ddpm", False)
    d["sample"]["ddim"] = []
    with pytest.raises(ParamsError, match=r"diffusion\.sample: .*no sampler to run: set diffusion\.sample\.ddpm to true "
                                          r"or list a setting under diffusion\.sample\.ddim"):
        validate(d)
    validate(with_value("sample.ddim", []))  # DDPM alone is a sampler
    validate(with_value("sample.ddpm", False))  # so is one DDIM setting


def test_embedded_digits_split_per_class():
    p = validate(section()).data
    images, labels, source = load_source(p)
    train, held = split(labels, p.heldout_per_class, 0, source)
    assert not set(train) & set(held) and len(train) + len(held) == len(labels)
    assert np.bincount(labels[held]).tolist() == [p.heldout_per_class] * 10
    x = to_model_range(images[held], 8)
    assert x.shape == (len(held), 1, 8, 8) and x.min() >= -1 and x.max() <= 1
    with pytest.raises(DataError, match="class 0 has 178 images, diffusion.data.heldout_per_class is 500"):
        split(labels, 500, 0, source)


def fake_cifar(path, n=4, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """A cifar-10-python.tar.gz of the real layout (python-2-style pickles of numpy arrays), n per batch."""
    rng = np.random.default_rng(seed)
    all_data, all_labels = [], []
    with tarfile.open(path, "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
            labels = rng.integers(0, 10, n).tolist()
            blob = pickle.dumps({b"data": data, b"labels": labels, b"batch_label": b"x"}, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
            all_data.append(data)
            all_labels += labels
    return np.concatenate(all_data), np.array(all_labels)


def test_read_cifar10_layout(tmp_path):
    data, labels = fake_cifar(tmp_path / "c.tar.gz")
    images, got = read_cifar10(tmp_path / "c.tar.gz")
    assert images.shape == (24, 32, 32, 3) and got.tolist() == labels.tolist()
    assert images[0, 0, 1, 0] == pytest.approx(data[0, 1] / 255)  # red plane first, row-major
    assert to_model_range(images, 16).shape == (24, 3, 16, 16)


class Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_unpickler_refuses_anything_but_numpy():
    with pytest.raises(DataError, match="not allowed"):
        safe_unpickle(pickle.dumps({b"data": Boom()}, protocol=2), "evil")
    assert safe_unpickle(pickle.dumps({b"x": np.arange(3)}), "ok")[b"x"].tolist() == [0, 1, 2]


def test_read_cifar10_refuses_a_missing_batch_and_non_archive(tmp_path):
    with tarfile.open(tmp_path / "short.tar.gz", "w:gz"):
        pass
    with pytest.raises(DataError, match="batch data_batch_1 missing"):
        read_cifar10(tmp_path / "short.tar.gz")
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(DataError, match="not a readable tar archive"):
        read_cifar10(tmp_path / "junk.tar.gz")


def test_cifar10_url_source_checks_the_md5(tmp_path, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    fake_cifar(served / "cifar-10-python.tar.gz")
    md5 = hashlib.md5((served / "cifar-10-python.tar.gz").read_bytes()).hexdigest()
    monkeypatch.setenv("REPROLAB_CACHE", str(tmp_path / "cache"))
    base = section()["data"]
    with serve_directory(served) as url:
        p = DataParams.model_validate({**base, "dataset": "cifar10", "source": "url",
                                       "cifar10": {"url": f"{url}/cifar-10-python.tar.gz", "md5": md5}})
        images, labels, _ = load_source(p)
        assert images.shape == (24, 32, 32, 3)
        bad = p.model_copy(update={"cifar10": p.cifar10.model_copy(update={"md5": "0" * 32,
                                                                            "url": f"{url}/cifar-10-python.tar.gz?again"})})
        monkeypatch.setattr("stages.diffusion.data.fetch_url",
                            functools.partial(__import__("stages.core.sources", fromlist=["x"]).fetch_url, retries=0))
        with pytest.raises(DownloadError):
            load_source(bad)


def test_load_images_npz_refuses_missing_arrays(tmp_path):
    np.savez(tmp_path / "x.npz", images=np.zeros((2, 1, 8, 8), np.float32))
    with pytest.raises(DataError, match="labels"):
        load_images_npz(tmp_path / "x.npz")


def test_sampler_refuses_a_checkpoint_trained_with_other_params(tmp_path):
    """A network trained with T = 1000 is not sampled with T = 500 or at another image size: one line naming the key."""
    import torch

    from stages.core.checkpoint import save_checkpoint
    from stages.diffusion.sample import KIND, load_unet
    from stages.diffusion.train import unet_config

    p = validate(section())
    cfg = unet_config(p.train.model_copy(update={"ch": 4}), 1, p.data.image_px)
    from stages.diffusion.unet import UNet

    net = UNet(cfg)
    ckpt = {"kind": KIND, "model_args": cfg.as_dict(), "params": p.train.model_dump(mode="json"), "epoch": 1,
            "models": {"unet": net.state_dict()}, "ema": {"unet": net.state_dict()}}
    save_checkpoint(tmp_path / "model.pt", ckpt)
    assert isinstance(load_unet(tmp_path / "model.pt", p, 1, torch.device("cpu")), UNet)
    other = p.model_copy(update={"train": p.train.model_copy(update={"timesteps": 500})})
    with pytest.raises(DataError, match=r"model.pt: trained with diffusion.train.timesteps = 1000 but params.yaml has 500"):
        load_unet(tmp_path / "model.pt", other, 1, torch.device("cpu"))
    linear = p.model_copy(update={"train": p.train.model_copy(update={"schedule": "linear"})})
    with pytest.raises(DataError, match=r"trained with diffusion.train.schedule = 'cosine' but params.yaml has 'linear'"):
        load_unet(tmp_path / "model.pt", linear, 1, torch.device("cpu"))
    with pytest.raises(DataError, match=r"network built for in_channels = 1 but the data has 3"):
        load_unet(tmp_path / "model.pt", p, 3, torch.device("cpu"))
    broken = {**ckpt, "model_args": {**cfg.as_dict(), "ch": 8}}
    save_checkpoint(tmp_path / "broken.pt", broken)
    with pytest.raises(DataError, match="weights do not fit the network config"):
        load_unet(tmp_path / "broken.pt", p, 1, torch.device("cpu"))
