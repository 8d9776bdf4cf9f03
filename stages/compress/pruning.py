"""Global magnitude pruning (``torch.nn.utils.prune``), then fine-tuning.

At sparsity ``s``, the ``round(s · n)`` weights of smallest absolute value among all ``n`` weights of
every conv and linear layer together are set to 0 (``global_unstructured`` with ``L1Unstructured``):
a layer with many small weights loses more than one with few large ones, unlike pruning each layer by
``s``. Biases are kept (few, and they carry the ReLUs' thresholds).

While pruned, a layer's ``weight`` is ``weight_orig * weight_mask`` recomputed before each forward,
so fine-tuning the net (``compress-prune``, plain cross-entropy) trains ``weight_orig`` with the
pruned entries' gradients zero: the mask holds. :func:`make_permanent` then folds the mask into a
plain ``weight`` (zeros included) so the saved state dict has the net's usual keys.
"""
from __future__ import annotations

import copy



def copy_net(net):
    """A deep copy of ``net``, pruned or not. (A pruned layer's ``weight`` is computed by a forward
    pre-hook, a non-leaf tensor that ``deepcopy`` refuses; it is replaced by its detached value, the
    same numbers, which the hook recomputes at the next forward anyway.)"""
    import torch.nn.utils.prune as prune

    for m, name in prunable(net):
        if prune.is_pruned(m) and hasattr(m, f"{name}_mask") and not getattr(m, name).is_leaf:
            setattr(m, name, getattr(m, name).detach())
    return copy.deepcopy(net)


def check_sparsity(sparsity: float) -> float:
    """``sparsity`` as a float, or a ValueError naming it when it is not in [0, 1) (1 would prune every
    weight)."""
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) or not 0 <= sparsity < 1:
        raise ValueError(f"pruning sparsity must be a number in [0, 1): got {sparsity!r}")
    return float(sparsity)


def prunable(net) -> list[tuple]:
    """(module, "weight") for each conv and linear layer of ``net``."""
    import torch.nn as nn

    return [(m, "weight") for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def prune_global(net, sparsity: float):
    """A copy of ``net`` with the ``round(sparsity · n)`` smallest-magnitude weights of all its conv
    and linear layers masked to 0 (module docstring); ``net`` itself is left as it is."""
    import torch.nn.utils.prune as prune

    sparsity = check_sparsity(sparsity)
    out = copy_net(net)
    prune.global_unstructured(prunable(out), pruning_method=prune.L1Unstructured, amount=sparsity)
    return out


def weight_sparsity(net) -> float:
    """Fraction of the conv and linear weights (not biases) of ``net`` that are exactly 0."""
    zeros = total = 0
    for m, name in prunable(net):
        w = getattr(m, name)
        zeros, total = zeros + int((w == 0).sum()), total + w.numel()
    return zeros / total


def make_permanent(net):
    """A copy of a pruned ``net`` with each mask folded into a plain ``weight`` (the usual state-dict
    keys, the zeros kept); a layer that was not pruned is left as it is."""
    import torch.nn.utils.prune as prune

    out = copy_net(net)
    for m, name in prunable(out):
        if prune.is_pruned(m) and hasattr(m, f"{name}_mask"):
            prune.remove(m, name)
    return out
