"""Knowledge distillation (Hinton, Vinyals & Dean 2015, "Distilling the knowledge in a neural network").

A student learns from a frozen teacher's logits ``v`` as well as from the labels ``y``::

    loss = α · CE(z, y) + (1 − α) · T² · KL(softmax(v/T) ‖ softmax(z/T))

``z`` are the student's logits, ``T`` the temperature. The soft term's gradients scale as ``1/T²``, so
it is multiplied by ``T²`` to keep the two terms' relative weight when T changes (the paper's §2). The
KL divergence differs from the paper's cross-entropy with soft targets by the teacher's entropy, a
constant: same gradients, and 0 when the student matches the teacher.

The teacher is frozen and the data is not augmented, so its logits are computed once
(:func:`teacher_logits`) and travel with each batch: ``(images, labels, teacher logits)``.

**The omitted class** (the paper's §3): a student trained on a transfer set with no example of one
class ``k`` (:func:`omit_class`) never sees label ``k``; with hard labels alone it never predicts
``k``. With soft targets it learns ``k`` from how much the teacher's outputs for other digits
resemble ``k`` — but its bias for ``k`` is too low, since ``k`` was never the target. The paper raises
that bias by a hand-picked 3.5. The rule here (:func:`prior_bias_shift`) picks it from the training
split only: the shift ``b`` that makes the student predict ``k`` on a fraction of the training images
equal to ``k``'s frequency among the training labels (its prior). For image ``i`` the class ``k``
wins once ``b`` exceeds the margin ``m_i = max_{j≠k} z_ij − z_ik``, so ``b`` is just above the
``round(prior · N)``-th smallest of those margins (never below 0: the correction only raises). It needs the count of ``k`` in the
training labels and the training images, not which images are ``k``; the test split is never used.
"""
from __future__ import annotations


import numpy as np



def distillation_loss(student, teacher, labels, temperature: float, alpha: float):
    """Hinton's distillation loss (module docstring), the batch mean.

    Args:
        student, teacher: (B, classes) logits.
        labels: (B,) int64 class indices.
        temperature: T > 0.
        alpha: weight of the hard-label term, in [0, 1] (1: plain cross-entropy; 0: soft targets only).
    """
    import torch.nn.functional as F

    check_distillation(temperature, alpha)
    if student.shape != teacher.shape:
        raise ValueError(f"student logits {tuple(student.shape)} and teacher logits {tuple(teacher.shape)} differ in shape")
    soft = F.kl_div(F.log_softmax(student / temperature, 1), F.log_softmax(teacher / temperature, 1),
                    reduction="batchmean", log_target=True)
    return alpha * F.cross_entropy(student, labels) + (1 - alpha) * temperature**2 * soft


def check_distillation(temperature: float, alpha: float) -> None:
    """ValueError naming the value when T ≤ 0 or α is outside [0, 1]."""
    if not temperature > 0:
        raise ValueError(f"distillation temperature must be > 0: got {temperature}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"distillation alpha (weight of the hard-label term) must be in [0, 1]: got {alpha}")


def distilled_loss(temperature: float, alpha: float):
    """The loss ``(net, (images, labels, teacher logits)) → scalar`` of a distilled run
    (:class:`stages.core.side_by_side.Run`)."""
    check_distillation(temperature, alpha)

    def loss(net, batch):
        return distillation_loss(net(batch[0]), batch[2], batch[1], temperature, alpha)
    return loss


def teacher_logits(teacher, images, device="cpu", batch_size: int = 512):
    """The frozen teacher's (N, classes) float32 logits of ``images`` (eval mode, no gradients, run on
    ``device``, returned on the CPU)."""
    from stages.core.classify import predict

    return predict(teacher.to(device), images, device, batch_size=batch_size)


def omit_class(images: np.ndarray, labels: np.ndarray, omitted: int) -> tuple[np.ndarray, np.ndarray]:
    """The examples whose label is not ``omitted`` (the transfer set of the omitted-class experiment).

    Raises:
        ValueError: ``omitted`` does not occur in ``labels`` (a typo would otherwise omit nothing),
            or images and labels differ in length.
    """
    labels = np.asarray(labels)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    keep = labels != omitted
    if keep.all():
        raise ValueError(f"class {omitted} to omit does not occur in the labels (classes {sorted(set(labels.tolist()))})")
    return images[keep], labels[keep]


def prior_bias_shift(logits: np.ndarray, omitted: int, prior: float) -> float:
    """The bias increase for class ``omitted`` that makes it the argmax on a fraction ``prior`` of the
    rows of ``logits`` (module docstring): just above the ``round(prior · N)``-th smallest margin
    ``max_{j≠k} z_ij − z_ik`` (at least one row), and at least 0.

    Args:
        logits: (N, classes) of the **training** images (the student's, before any shift).
        omitted: the class k.
        prior: k's frequency among the training labels, in (0, 1).
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or not 0 <= omitted < logits.shape[1]:
        raise ValueError(f"class {omitted} is not a column of logits of shape {logits.shape}")
    if not 0 < prior < 1:
        raise ValueError(f"prior of the omitted class must be in (0, 1): got {prior}")
    others = np.delete(logits, omitted, axis=1).max(axis=1)  # (N,)
    margins = others - logits[:, omitted]  # k wins on row i once the shift exceeds margins[i]
    wins = max(1, round(prior * len(margins)))  # rows on which k should win
    shift = np.sort(margins)[wins - 1] + 1e-6  # just above the wins-th smallest margin
    return float(max(shift, 0.0))


def with_bias_shift(net, omitted: int, shift: float):
    """A copy of ``net`` whose head's bias for class ``omitted`` is raised by ``shift`` (the corrected
    student, to save and evaluate as any other)."""
    import copy

    import torch

    from .nets import head

    out = copy.deepcopy(net)
    with torch.no_grad():
        head(out).bias[omitted] += shift
    return out
