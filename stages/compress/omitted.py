"""Stage `compress-omitted`: Hinton et al.'s omitted-class experiment (2015, §3).

Students that never see one class (``compress.omitted.omitted``, the 3s by default) are trained on
the rest of the training split, ``seeds`` times each: ``hard`` on the labels alone, ``distilled`` with
the frozen teacher's soft targets (at a high temperature, as the paper's T = 20). A hard-label
student never predicts the omitted class; a distilled one learns it from how the teacher's outputs
for the other images resemble it, but with too low a bias. Each run's bias correction is computed
here from the **training** images only (:func:`stages.compress.distillation.prior_bias_shift`: the
shift that makes the class win on as many training images as its share of the training labels) and
stored in ``metrics.json`` (``bias_shift``); ``compress-evaluate`` applies it and judges on the test
split.
"""
from __future__ import annotations

import logging

from stages.compress import params
from stages.compress.distillation import distilled_loss, omit_class, prior_bias_shift, teacher_logits
from stages.compress.images import load_split, read_summary
from stages.compress.nets import KIND, build, load_net, net_args
from stages.core.side_by_side import Run, cross_entropy, seed_names, side_by_side_parts
from stages.core.classify import predict
from stages.core.errors import ParamsError
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.training import TrainingRun

log = logging.getLogger(__name__)


def main(stage: Declared) -> None:
    section = params.load()
    p, student = section.omitted, section.students.net
    run = TrainingRun(stage, p, kind=KIND)
    summary = read_summary(stage.dep("summary.json"))
    classes = summary["classes"]
    if p.omitted >= len(classes):
        raise ParamsError(f"params.yaml: compress.omitted.omitted = {p.omitted}, but the data has {len(classes)} classes "
                          f"(0–{len(classes) - 1})")
    x, y = load_split(stage.dep("train.npz"), summary)
    logits = teacher_logits(load_net(stage.dep("teacher/model.pt")), x, run.device)  # (N, classes)
    import torch

    keep = y != p.omitted
    kept_x, kept_y = (torch.from_numpy(a) for a in omit_class(x.numpy(), y.numpy(), p.omitted))
    prior = float(1 - keep.float().mean())  # the omitted class's share of the training labels
    args = net_args(student.arch, student.channels, False, summary["channels"], len(classes))
    runs = {}
    for variant, loss, data in (("hard", cross_entropy, (kept_x, kept_y)),
                                ("distilled", distilled_loss(p.distill.temperature, p.distill.alpha), (kept_x, kept_y, logits[keep]))):
        for name, seed in seed_names(variant, run.seed, p.seeds).items():
            runs[name] = Run(net=lambda: build(args), loss=loss, seed=seed, data=data, args=args)
    trainer = run.fit(**side_by_side_parts(runs, p.batch_size),
                      inputs={"train": stage.dep("train.npz"), "teacher": stage.dep("teacher/model.pt")})
    shifts = {}
    for name, net in trainer.models.items():  # the correction, from the training images (all of them)
        shifts[name] = round(prior_bias_shift(predict(net, x, run.device).numpy(), p.omitted, prior), 6)
        log.info("%s: bias correction of class %s: +%.3f", name, classes[p.omitted], shifts[name])
    run.finish(extra={"omitted": p.omitted, "omitted_class": classes[p.omitted], "prior": round(prior, 6),
                      "n_transfer": len(kept_y), "bias_shift": shifts})


if __name__ == "__main__":
    run_stage(main)
