"""Stage `compress-prune`: the teacher pruned by global weight magnitude, then fine-tuned.

For each sparsity of ``compress.prune.sparsities``, that fraction of all conv and linear weights of
the teacher, smallest magnitudes first over all layers together, is masked to 0
(:func:`stages.compress.pruning.prune_global`), and the pruned net is fine-tuned under the stage's
recipe ``seeds`` times, side by side (the masks hold: pruned weights get no gradient). The masks are
folded into plain weights (zeros kept) before the checkpoint is written, so every run loads as a
teacher-shaped net. Accuracy before fine-tuning is ``compress-evaluate``'s to measure (pruning the
teacher again is deterministic and takes milliseconds).
"""
from __future__ import annotations

import logging

from stages.compress import params
from stages.compress.images import load_split, read_summary
from stages.compress.nets import KIND, load_checkpoint_args, load_net
from stages.compress.pruning import copy_net, make_permanent, prune_global, weight_sparsity
from stages.core.side_by_side import Run, cross_entropy, seed_names, side_by_side_parts
from stages.core.checkpoint import save_checkpoint
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.training import TrainingRun, output_checkpoint

log = logging.getLogger(__name__)


def run_name(sparsity: float) -> str:
    """``sparsity90`` for 0.9 (``sparsity87.5`` for 0.875): a run's prefix."""
    return f"sparsity{100 * sparsity:g}"


def main(stage: Declared) -> None:
    p = params.load().prune
    run = TrainingRun(stage, p, kind=KIND)
    summary = read_summary(stage.dep("summary.json"))
    x, y = load_split(stage.dep("train.npz"), summary)
    teacher_path = stage.dep("teacher/model.pt")
    teacher, args = load_net(teacher_path), load_checkpoint_args(teacher_path)
    teacher.requires_grad_(True)
    runs = {}
    for sparsity in p.sparsities:
        pruned = prune_global(teacher, sparsity)
        for name, seed in seed_names(run_name(sparsity), run.seed, p.seeds).items():
            runs[name] = Run(net=lambda net=pruned: copy_net(net), loss=cross_entropy, seed=seed, data=(x, y), args=args)
    trainer = run.fit(**side_by_side_parts(runs, p.batch_size),
                      inputs={"train": stage.dep("train.npz"), "teacher": teacher_path})
    permanent = {name: make_permanent(net) for name, net in trainer.models.items()}
    sparsity = {name: round(weight_sparsity(net), 6) for name, net in permanent.items()}

    def write(out) -> None:
        save_checkpoint(out.path(stage.out("model.pt")), output_checkpoint(
            trainer, models={n: m.state_dict() for n, m in permanent.items()}))

    run.finish(model=None, write=write, run_outputs=("model.pt",),
               extra={"sparsities": p.sparsities, "weight_sparsity": sparsity, "n_train": len(y)})


if __name__ == "__main__":
    run_stage(main)
