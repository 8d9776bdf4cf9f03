"""Classification, shared by every pipeline that trains or scores a classifier (vit, transfer, nlp,
the diffusion judge, tabular's figure): the objective and its validation step, batched prediction,
the accuracy's bootstrap interval, the confusion matrix and its figure.

A library module, not a stage. Each function does the arithmetic its pipelines did before, in the
same order, so moving a pipeline onto it leaves its outputs byte-identical.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import torch


class Classification:
    """The trainer's objective for a classifier: cross-entropy of its logits on ``(inputs, labels)``
    batches, one update step named ``step`` (the key of its optimiser in the trainer).

    Args:
        net: the classifier.
        step: the optimiser's name (``net``, ``sgd``, ``judge``: what the pipeline's trainer calls it).
        prepare: applied to a batch's inputs before the net (e.g. vit's uint8 → normalised floats).
        label_smoothing: of the training loss (validation reports the plain cross-entropy).
        logits_of: picks the logits from the net's output when it returns more (nlp's net returns
            ``(logits, attention maps)``); default: the output is the logits.
    """

    def __init__(self, net, *, step: str = "net", prepare: Callable | None = None, label_smoothing: float = 0.0,
                 logits_of: Callable | None = None) -> None:
        self.net, self.step, self.prepare, self.label_smoothing, self.logits_of = net, step, prepare, label_smoothing, logits_of

    def logits(self, x) -> torch.Tensor:
        """(B, classes) logits of a batch of inputs."""
        out = self.net(x if self.prepare is None else self.prepare(x))
        return out if self.logits_of is None else self.logits_of(out)

    def loss(self, batch) -> torch.Tensor:
        import torch.nn.functional as F

        x, y = batch  # inputs (B, ...), labels (B,)
        return F.cross_entropy(self.logits(x), y, label_smoothing=self.label_smoothing)

    def steps(self) -> list[tuple[str, Callable]]:
        return [(self.step, self.loss)]

    def validate(self, batch) -> dict[str, torch.Tensor]:
        """The trainer's ``val_step``: the batch's mean cross-entropy (``val_loss``) and accuracy (``val_accuracy``)."""
        import torch.nn.functional as F

        x, y = batch
        logits = self.logits(x)
        return {"val_loss": F.cross_entropy(logits, y), "val_accuracy": (logits.argmax(1) == y).float().mean()}


def predict(net, x, device, *, batch_size: int = 256, prepare: Callable | None = None,
            probabilities: bool = False) -> torch.Tensor:
    """Logits (N, classes), float32 on the CPU, of inputs ``x`` (N, ...), in eval mode, a batch at a time.

    Args:
        prepare: applied to each batch (on ``device``) before the net, as in :class:`Classification`.
        probabilities: softmax probabilities instead of logits.
    """
    import torch
    import torch.nn.functional as F

    net.eval()
    x = torch.as_tensor(x)
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            batch = x[i:i + batch_size].to(device)
            logits = net(batch if prepare is None else prepare(batch)).float()  # (b, classes)
            out.append((F.softmax(logits, 1) if probabilities else logits).cpu())
    return torch.cat(out)


def bootstrap_accuracy(correct: np.ndarray, resamples: int, seed: int, level: float = 0.95, *,
                       draw: Literal["binomial", "indices"] = "binomial") -> tuple[float, float]:
    """Percentile bootstrap interval of an accuracy: the test set resampled with replacement.

    Each of a resample's N draws picks a correct item with probability k/N (k correct in all),
    independently, so the number of correct draws is Binomial(N, k/N). ``draw="binomial"`` draws
    that count directly: O(R) memory (25,000 IMDb reviews x 2,000 resamples as an index table would
    be 400 MB). ``draw="indices"`` draws the (R, N) index table itself, as vit's evaluation always
    has: the same distribution, other random numbers, kept so vit's published intervals stay the
    same until its outputs are regenerated anyway.

    Args:
        correct: (N,) booleans, one per test item.
        resamples: R, the number of resamples.
        seed: seeds the resampling (``common.seed``).
        level: the interval's coverage.

    Returns:
        (low, high): the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the resampled accuracies.
    """
    rng = np.random.default_rng(seed)
    n = len(correct)
    if draw == "binomial":
        acc = rng.binomial(n, correct.mean(), size=resamples) / n  # (R,)
    else:
        acc = correct[rng.integers(0, n, size=(resamples, n))].mean(axis=1)  # (R, N) indices -> (R,)
    return float(np.quantile(acc, (1 - level) / 2)), float(np.quantile(acc, (1 + level) / 2))


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """(classes, classes) int64 counts: row = true class, column = predicted class.

    Raises:
        ValueError: a label or prediction outside ``0 .. classes - 1``, or arrays of different lengths.
    """
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    if labels.shape != predicted.shape:
        raise ValueError(f"{len(labels)} labels but {len(predicted)} predictions")
    for name, a in (("label", labels), ("prediction", predicted)):
        if len(a) and (a.min() < 0 or a.max() >= classes):
            raise ValueError(f"a {name} is outside 0..{classes - 1} (got {a.min()}..{a.max()})")
    m = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(m, (labels, predicted), 1)
    return m


def draw_confusion(ax, m: np.ndarray, classes: list[str], title: str) -> None:
    """One confusion matrix on ``ax``: counts in blue, each non-zero cell labelled, a colour bar."""
    im = ax.imshow(m, cmap="Blues")
    ax.set(xticks=range(len(classes)), yticks=range(len(classes)), xlabel="predicted", ylabel="true", title=title)
    ax.set_xticklabels(classes, rotation=45, ha="right", fontsize=7)
    ax.set_yticklabels(classes, fontsize=7)
    for (i, j), v in np.ndenumerate(m):
        if v:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=6, color="white" if v > m.max() / 2 else "black")
    ax.figure.colorbar(im, ax=ax, fraction=0.046)


def confusion_figure(panels: dict[str, Any], classes: list[str]):
    """One confusion matrix per model, side by side.

    Args:
        panels: each panel's title -> its (classes, classes) counts (:func:`confusion_matrix`).
        classes: the class names, in index order.
    """
    from .figures import new_figure

    fig, axes = new_figure(1, len(panels), figsize=(5 * len(panels), 4.4), squeeze=False)
    for ax, (title, m) in zip(axes[0], panels.items()):
        draw_confusion(ax, np.asarray(m), classes, title)
    fig.tight_layout()
    return fig
