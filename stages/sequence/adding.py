"""The adding problem (Hochreiter & Schmidhuber 1997, in the form of Le et al. 2015) and the recurrent
networks that are asked to solve it.

Each sequence has ``steps`` time steps of two inputs: a number drawn uniformly from [0, 1), and a
marker that is 1 at exactly two steps, one in each half of the sequence. The target is the sum of the
two marked numbers. Predicting the mean sum (1.0) whatever the input scores the variance of the sum
of two uniform numbers, 1/6 (:data:`TRIVIAL_MSE`): a network that cannot carry a number across ``steps``
steps stays there.
"""
from __future__ import annotations

from typing import Any

import numpy as np

TRIVIAL_MSE = 1.0 / 6.0  # Var(U1 + U2) for independent U(0, 1): the score of always answering 1.0
CELLS = ("rnn", "lstm", "gru")


def adding_problem(rng: np.random.Generator, sequences: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """``sequences`` examples: inputs (N, steps, 2) float32 and targets (N,) float32."""
    if steps < 2:
        raise ValueError(f"the adding problem needs at least 2 steps (one marker in each half): got {steps}")
    values = rng.random((sequences, steps))
    half = steps // 2
    first = rng.integers(0, half, sequences)
    second = rng.integers(half, steps, sequences)
    markers = np.zeros((sequences, steps))
    rows = np.arange(sequences)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=2).astype(np.float32)
    y = (values[rows, first] + values[rows, second]).astype(np.float32)
    return x, y


def net_args(cell: str, hidden: int, forget_bias: float) -> dict[str, Any]:
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(CELLS)}: got {cell!r}")
    return {"cell": cell, "inputs": 2, "hidden": hidden, "forget_bias": forget_bias}


def recurrent_net(args: dict[str, Any]):
    """One recurrent layer (``nn.RNN`` with tanh, ``nn.LSTM`` or ``nn.GRU``) and a linear read-out of its
    last hidden state. The LSTM's forget-gate biases start at ``forget_bias`` (PyTorch's gate order is
    input, forget, cell, output; its two bias vectors add, so ``bias_hh``'s forget part is zeroed)."""
    import torch
    from torch import nn

    layers = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

    class MemoryNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = layers[args["cell"]](args["inputs"], args["hidden"], batch_first=True)
            self.out = nn.Linear(args["hidden"], 1)
            if args["cell"] == "lstm":
                h = args["hidden"]
                with torch.no_grad():
                    self.rnn.bias_ih_l0[h:2 * h].fill_(args["forget_bias"])
                    self.rnn.bias_hh_l0[h:2 * h].zero_()

        def forward(self, x):
            states, _ = self.rnn(x)
            return self.out(states[:, -1]).squeeze(-1)

    return MemoryNet()


def mse_loss(net, batch):
    """Mean squared error of the predicted sums on ``(inputs, targets)`` batches."""
    import torch.nn.functional as F

    return F.mse_loss(net(batch[0]), batch[1])


def held_out_mse(net, x, y, batch: int = 1000) -> float:
    """The network's mean squared error on ``(x, y)`` (tensors), in eval mode without gradients."""
    import torch

    net.eval()
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            total += float(((net(x[i:i + batch]) - y[i:i + batch]) ** 2).sum())
    return total / len(y)


def input_gradient_norms(net, x, y) -> np.ndarray:
    """``||dL/dx^t||`` at every step ``t`` (averaged over the sequences) for the loss of the last step's
    prediction: how strongly each step's input still moves the answer, the recurrent path's memory."""
    import torch

    net.eval()
    x = x.clone().requires_grad_(True)
    loss = ((net(x) - y) ** 2).sum()
    (grad,) = torch.autograd.grad(loss, x)
    return grad.norm(dim=2).mean(dim=0).numpy()
