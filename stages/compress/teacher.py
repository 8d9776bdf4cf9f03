"""Stage `compress-teacher`: the network every compressed model is measured against, trained once.

``compress.teacher.net`` on the training split with cross-entropy and the stage's recipe (core's
training run: seed, device, resume, checkpoint, history, metrics). Its checkpoint is what the
students distil from, what pruning and quantisation compress, and the reference of every ratio in
``compress-evaluate``'s table.
"""
from __future__ import annotations

from stages.compress import params
from stages.compress.images import load_split, read_summary
from stages.compress.nets import KIND, classifier_parts, net_args
from stages.core.batches import TensorData
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.training import TrainingRun


def main(stage: Declared) -> None:
    p = params.load().teacher
    run = TrainingRun(stage, p, kind=KIND)
    summary = read_summary(stage.dep("summary.json"))
    x, y = load_split(stage.dep("train.npz"), summary)
    args = net_args(p.net.arch, p.net.channels, p.net.separable, summary["channels"], len(summary["classes"]))
    run.fit(**classifier_parts(args), data=TensorData(x, y), inputs={"train": stage.dep("train.npz")})
    run.finish(extra={"n_train": len(y)})


if __name__ == "__main__":
    run_stage(main)
