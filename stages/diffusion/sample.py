"""Stage `diffusion-sample`: DDPM (Algorithm 2, T steps) and every DDIM setting from one trained network.

Its own stage, so changing a sampler's steps, η or skip reruns sampling and evaluation only, never
training. Every sampler starts from the same x_T (drawn from ``common.seed``), so their samples differ
only by the sampler. The EMA weights are used. Outputs: every sampler's samples (npz), the settings
with their network evaluations per image, sample grids, the forward process x_0 → x_T and a reverse
strip x_T → x_0. Seconds per sample are wall clock: they go to the run record
(``.reprolab/runs/diffusion-sample.json``), not into a DVC-tracked output.

The checkpoint must agree with the sampler's params (``diffusion.train``'s β schedule and T,
``diffusion.data.image_px``): a mismatch is an error naming the key, not a shape traceback.
"""
from __future__ import annotations

import logging
import time

import numpy as np
import torch

from stages.core.checkpoint import load_checkpoint
from stages.core.errors import DataError
from stages.core.params import load_common
from stages.core.runs import write_run_record
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.device import setup_torch
from stages.diffusion import params
from stages.diffusion.images import load_images_npz
from stages.diffusion.params import DiffusionParams
from stages.diffusion.plots import sample_grids, strip
from stages.diffusion.schedule import Schedule, ddim_sample, ddpm_sample, make_schedule, q_sample, step_sequence
from stages.diffusion.unet import UNet, UNetConfig

log = logging.getLogger(__name__)

KIND = "ddpm"
CHECKED = ("timesteps", "schedule", "beta_1", "beta_T")  # diffusion.train keys the sampler's schedule is built from
N_STRIP_ROWS = 4


def samplers(diffusion_params: DiffusionParams) -> list[dict]:
    """The sampler settings to run, each with its name and network evaluations per image."""
    out = [{"name": "ddpm", "sampler": "ddpm", "steps": diffusion_params.train.timesteps, "eta": 1.0, "skip": "all",
            "evaluations": diffusion_params.train.timesteps}] if diffusion_params.sample.ddpm else []
    for d in diffusion_params.sample.ddim:
        out.append({"name": f"ddim_s{d.steps}_eta{d.eta:g}_{d.skip}", "sampler": "ddim", "steps": d.steps, "eta": d.eta,
                    "skip": d.skip, "evaluations": d.steps})
    names = [s["name"] for s in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        from stages.core.errors import ParamsError

        raise ParamsError(f"params.yaml: diffusion.sample.ddim: setting(s) listed twice: {', '.join(dupes)}")
    return out


def load_unet(path, diffusion_params: DiffusionParams, in_channels: int, device) -> UNet:
    """The EMA U-Net of a `diffusion-train` checkpoint, checked against the sampler's params.

    Raises:
        DataError: the checkpoint was trained with another β schedule, T or image size, or its weights
            do not fit the config it describes.
    """
    ckpt = load_checkpoint(path, map_location=device, kind=KIND)
    trained, want = ckpt["params"], diffusion_params.train.model_dump(mode="json")
    for key in CHECKED:
        if trained.get(key) != want[key]:
            raise DataError(f"{path}: trained with diffusion.train.{key} = {trained.get(key)!r} but params.yaml has "
                            f"{want[key]!r}; the sampler's schedule must be the network's: rerun diffusion-train")
    args = ckpt["model_args"]
    for key, value in (("image_px", diffusion_params.data.image_px), ("in_channels", in_channels)):
        if args.get(key) != value:
            raise DataError(f"{path}: network built for {key} = {args.get(key)!r} but the data has {value!r} "
                            f"(diffusion.data); rerun diffusion-train")
    net = UNet(UNetConfig.from_dict(args))
    state = (ckpt.get("ema") or {}).get("unet") or ckpt["models"]["unet"]
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise DataError(f"{path}: weights do not fit the network config stored with them ({str(exc).splitlines()[0]})") from None
    return net.to(device).eval().requires_grad_(False)


def run_sampler(net, s: Schedule, setting: dict, x_T: torch.Tensor, batch: int, seed: int, variance: str,
                keep: tuple[int, ...] = (), clip: bool = True) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """One sampler over all of ``x_T`` in batches; its per-step noise from its own seeded generator.

    Returns:
        (samples (N, C, S, S) on the CPU, clamped to the data range [-1, 1] as the DDIM code does when it
        saves them; the first batch's x_t at ``keep`` (DDPM only)).
    """
    gen = torch.Generator(device=x_T.device).manual_seed(seed)
    out, kept = [], {}
    for i in range(0, len(x_T), batch):
        chunk = x_T[i:i + batch]
        if setting["sampler"] == "ddpm":
            x, k = ddpm_sample(net, s, chunk, gen, variance, keep=keep if i == 0 else (), clip=clip)
            kept = kept or k
        else:
            x = ddim_sample(net, s, chunk, step_sequence(s.T, setting["steps"], setting["skip"]), setting["eta"], gen, clip)
        out.append(x.clamp(-1, 1).cpu())
    return torch.cat(out), kept


def forward_strip(s: Schedule, x0: torch.Tensor, ts: list[int], seed: int) -> np.ndarray:
    """(R, K, C, S, S): each image under q(x_t | x_0) at the timesteps ``ts`` (one noise per image)."""
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed), dtype=x0.dtype)
    cols = [q_sample(s, x0, torch.full((len(x0),), t), noise) for t in ts]
    return torch.stack(cols, dim=1).numpy()


def main(stage: Declared) -> None:
    diffusion_params, common = params.load(), load_common()
    device = setup_torch(common.seed, common.device)
    train_images = load_images_npz(stage.dep("train.npz"))[0]
    net = load_unet(stage.dep("model.pt"), diffusion_params, train_images.shape[1], device)
    s = make_schedule(diffusion_params.train.schedule, diffusion_params.train.beta_1, diffusion_params.train.beta_T,
                      diffusion_params.train.timesteps)
    settings = samplers(diffusion_params)
    shape = (diffusion_params.sample.n_samples, *train_images.shape[1:])
    x_T = torch.randn(shape, generator=torch.Generator().manual_seed(common.seed)).to(device)
    ts = sorted({int(round(v)) for v in np.linspace(0, s.T - 1, diffusion_params.sample.strip_steps)})
    samples, timing, reverse = {}, {}, None
    for k, setting in enumerate(settings):
        start = time.perf_counter()
        keep = tuple(ts) if setting["sampler"] == "ddpm" else ()
        x, kept = run_sampler(net, s, setting, x_T, diffusion_params.sample.batch_size, common.seed + 1 + k,
                              diffusion_params.sample.variance, keep, diffusion_params.sample.clip_x0)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
        timing[setting["name"]] = {"seconds_per_sample": seconds / len(x), "evaluations_per_s": setting["evaluations"] * len(x) / seconds}
        samples[setting["name"]] = x.numpy()
        if kept:
            reverse = np.stack([kept[t][:N_STRIP_ROWS].numpy() for t in reversed(ts)] + [x[:N_STRIP_ROWS].numpy()], axis=1)
        log.info("%s: %d samples, %d evaluations each, %.4f s per sample", setting["name"], len(x), setting["evaluations"],
                 seconds / len(x))
    spread = np.linspace(0, len(train_images) - 1, N_STRIP_ROWS).astype(int)
    fwd = forward_strip(s, torch.from_numpy(train_images[spread]), ts, common.seed)
    figs = {stage.out("grids.png"): sample_grids([(n, a[:24]) for n, a in samples.items()]),
            stage.out("forward.png"): strip(fwd, [f"t={t + 1}" for t in ts], "forward process q(x_t | x_0)")}
    if reverse is None:  # no DDPM run: the strip shows the first sampler's x_0 only
        reverse = next(iter(samples.values()))[:N_STRIP_ROWS, None]
        labels = ["x_0"]
    else:
        labels = [f"t={t + 1}" for t in reversed(ts)] + ["x_0"]
    figs[stage.out("reverse.png")] = strip(reverse, labels, "reverse process (DDPM, Algorithm 2)")
    with stage.outputs() as out:
        out.npz(stage.out("samples.npz"), **samples)
        out.json(stage.out("settings.json"), settings)
        for path, fig in figs.items():
            out.figure(path, fig)
    write_run_record(stage.name, {"device": device.type, "n_samples": diffusion_params.sample.n_samples, "samplers": timing},
                     outputs=[stage.out("samples.npz")])


if __name__ == "__main__":
    run_stage(main)
