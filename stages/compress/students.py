"""Stage `compress-students`: three small networks, each trained under ``seeds`` seeds side by side.

- ``student``: ``compress.students.net`` alone, cross-entropy on the labels;
- ``distilled``: the same network distilled from the frozen teacher (Hinton et al. 2015: hard labels
  weighted ``alpha``, the teacher's soft targets at temperature T weighted ``1 − alpha``, × T²);
- ``separable``: the same widths with MobileNet's depthwise-separable convolutions, alone.

The teacher's logits are computed once (it is frozen and the data is not augmented) and travel with
each batch. One checkpoint holds every run (``student_seed0`` …); ``compress-evaluate`` judges them.
"""
from __future__ import annotations

import logging

from stages.compress import params
from stages.compress.distillation import distilled_loss, teacher_logits
from stages.compress.images import load_split, read_summary
from stages.compress.nets import KIND, build, load_net, net_args
from stages.core.side_by_side import Run, cross_entropy, seed_names, side_by_side_parts
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.training import TrainingRun

log = logging.getLogger(__name__)


def main(stage: Declared) -> None:
    p = params.load().students
    run = TrainingRun(stage, p, kind=KIND)
    summary = read_summary(stage.dep("summary.json"))
    x, y = load_split(stage.dep("train.npz"), summary)
    logits = teacher_logits(load_net(stage.dep("teacher/model.pt")), x, run.device)  # (N, classes)
    channels, classes = summary["channels"], len(summary["classes"])
    student = net_args(p.net.arch, p.net.channels, False, channels, classes)
    separable = net_args(p.net.arch, p.net.channels, True, channels, classes)
    runs = {}
    for variant, args, loss, data in (("student", student, cross_entropy, (x, y)),
                                      ("distilled", student, distilled_loss(p.distill.temperature, p.distill.alpha), (x, y, logits)),
                                      ("separable", separable, cross_entropy, (x, y))):
        for name, seed in seed_names(variant, run.seed, p.seeds).items():
            runs[name] = Run(net=lambda a=args: build(a), loss=loss, seed=seed, data=data, args=args)
    run.fit(**side_by_side_parts(runs, p.batch_size),
            inputs={"train": stage.dep("train.npz"), "teacher": stage.dep("teacher/model.pt")})
    run.finish(extra={"n_train": len(y), "runs": list(runs)})


if __name__ == "__main__":
    run_stage(main)
