"""Stage `sequence-translate`: three translators trained side by side on the same pairs and budget.

``sequence.translate.direction`` picks the source and target language of ``sequence-pairs``' tokens
and vocabularies. The models (:mod:`stages.sequence.translators`): the notes' GRU encoder–decoder
(``plain``), the same with Luong's global attention (``attention``), and an ``nn.Transformer``
(``transformer``); each trained under ``seeds`` seeds by core's trainer, side by side (each run its
own optimizer and batch order, the same updates), with teacher forcing and cross-entropy over the
target's tokens (padding ignored). The dev split's loss is measured after every epoch.

Outputs: ``model.pt`` (every run's network, core's checkpoint), ``history.csv`` (per epoch, each
run's training and dev loss), ``metrics.json`` (each run's last dev loss and perplexity, per model
their mean over seeds) and ``translate.png`` (the dev loss curves). Decoding and BLEU are
``sequence-evaluate``'s.
"""
from __future__ import annotations

import logging
import math

from stages.core.figures import new_figure
from stages.core.runtime import run_stage
from stages.core.side_by_side import Run, over_seeds, seed_names, side_by_side_parts, variant_of
from stages.core.stage import Declared
from stages.core.training import TrainingRun
from stages.sequence import params
from stages.sequence.parallel import load_split
from stages.sequence.translators import KIND, build, net_args, translation_loss

log = logging.getLogger(__name__)


def dev_losses(nets: dict):
    """The validation step: each run's teacher-forced loss on a dev batch."""
    def step(batch) -> dict:
        return {f"dev_loss_{name}": translation_loss(net, batch) for name, net in nets.items()}
    return step


def figure(history: list[dict], runs: list[str]):
    fig, axes = new_figure(1, 2, figsize=(12, 4))
    epochs = [row["epoch"] for row in history]
    for name in runs:
        for ax, column in zip(axes, (f"loss_{name}", f"dev_loss_{name}")):
            ax.plot(epochs, [row[column] for row in history], marker="o", ms=3, label=name)
    axes[0].set(title="training loss (teacher forcing)", xlabel="epoch", ylabel="cross-entropy per token")
    axes[1].set(title="dev loss", xlabel="epoch", ylabel="cross-entropy per token")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def main(stage: Declared) -> None:
    from torch.utils.data import TensorDataset

    p = params.load().translate
    run = TrainingRun(stage, p, kind=KIND)
    folder = stage.dep("pairs")
    src_vocab, tgt_vocab, _, _, train = load_split(folder, "train", p.direction)
    dev = load_split(folder, "dev", p.direction)[-1]
    log.info("%s: %d training pairs, vocabularies %d (source) and %d (target)", p.direction, len(train[0]), len(src_vocab), len(tgt_vocab))
    lengths = train[1] + (train[3] != 0).sum(1)  # source and target tokens: batches of similar lengths
    runs = {}
    for model in p.models:
        args = net_args(model, len(src_vocab), len(tgt_vocab), emb=p.emb, hidden=p.hidden, d_model=p.d_model, heads=p.heads,
                        layers=p.layers, feedforward=p.feedforward, dropout=p.dropout)
        for name, seed in seed_names(model, run.seed, p.seeds).items():
            runs[name] = Run(net=lambda a=args: build(a), loss=translation_loss, seed=seed, data=train, args=args, lengths=lengths)
    trainer = run.fit(**side_by_side_parts(runs, p.batch_size), val=TensorDataset(*dev), val_step=dev_losses,
                      inputs={"pairs": folder})
    last = trainer.history[-1]
    dev_loss = {name: float(last[f"dev_loss_{name}"]) for name in runs}
    extra = {"direction": p.direction, "src_vocab": len(src_vocab), "tgt_vocab": len(tgt_vocab), "train_pairs": len(train[0]),
             "dev_loss": dev_loss, "dev_perplexity": {n: round(math.exp(v), 3) for n, v in dev_loss.items()},
             "models": {m: s for m, s in over_seeds(dev_loss).items() if m in p.models}}
    for name, value in dev_loss.items():
        log.info("%s (%s): dev loss %.4f, perplexity %.2f", name, variant_of(name), value, math.exp(value))
    run.finish(extra=extra, figures={"translate.png": figure(trainer.history, list(runs))})


if __name__ == "__main__":
    run_stage(main)
