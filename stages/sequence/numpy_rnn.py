"""The study notes' recurrent network in numpy (day 3): forward, backpropagation through time, clipping.

Notation as in the notes, batched (the first axis holds ``B`` sequences; ``B = 1`` is the notes' loop)::

    u^t = x^t W_in + z^{t-1} W + b        z^t = sigmoid(u^t)
    v^t = z^t W_out + c                  y^t = sigmoid(v^t)
    E   = 1/(2B) sum_t sum (y^t - d^t)^2

BPTT (the notes' ``delta`` recursion)::

    delta_out^t = (y^t - d^t) y^t (1 - y^t) / B
    delta^t     = (delta^{t+1} W^T + delta_out^t W_out^T) * z^t (1 - z^t)

and the gradients are sums over time: ``dW_in = sum x^t^T delta^t``, ``dW = sum z^{t-1}^T delta^t``,
``db = sum delta^t``, ``dW_out = sum z^t^T delta_out^t``, ``dc = sum delta_out^t``.
:func:`gradient_clipping` is the notes' function (rescale when the norm exceeds the threshold).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NAMES = ("W_in", "W", "b", "W_out", "c")


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class NumpyRNN:
    """The notes' network: weights drawn as ``weight_init_std * randn`` (their initialisation)."""

    W_in: np.ndarray  # (inputs, hidden)
    W: np.ndarray  # (hidden, hidden)
    b: np.ndarray  # (hidden,)
    W_out: np.ndarray  # (hidden, outputs)
    c: np.ndarray  # (outputs,)

    @classmethod
    def init(cls, inputs: int, hidden: int, outputs: int, rng: np.random.Generator, weight_init_std: float = 1.0) -> "NumpyRNN":
        def draw(*shape):
            return weight_init_std * rng.standard_normal(shape)

        return cls(W_in=draw(inputs, hidden), W=draw(hidden, hidden), b=draw(hidden), W_out=draw(hidden, outputs), c=draw(outputs))

    def with_singular_values(self, scale: float, rng: np.random.Generator) -> "NumpyRNN":
        """A copy whose recurrent matrix is ``scale`` times a random orthogonal one (every singular value
        ``scale``), and whose bias centres the pre-activation at the sigmoid's steepest point for a state
        of 0.5 (``b = -W^T 0.5``): near that point one step back multiplies the gradient by ``scale/4``
        (sigmoid' = 1/4), so ``scale`` < 4 vanishes and > 4 explodes."""
        q, r = np.linalg.qr(rng.standard_normal(self.W.shape))
        W = scale * q * np.sign(np.diag(r))
        return NumpyRNN(W_in=self.W_in.copy(), W=W, b=-0.5 * W.sum(axis=0), W_out=self.W_out.copy(), c=self.c.copy())

    def params(self) -> dict[str, np.ndarray]:
        return {n: getattr(self, n) for n in NAMES}


@dataclass
class Forward:
    """What BPTT needs from the forward pass: inputs, states (``z[0]`` is the zero initial state),
    pre-activations and outputs, each (B, T, ·) (``z`` has T + 1 steps)."""

    x: np.ndarray
    u: np.ndarray
    z: np.ndarray
    y: np.ndarray


def forward(net: NumpyRNN, x: np.ndarray) -> Forward:
    """Run ``x`` (B, T, inputs) through the network."""
    batch, steps, _ = x.shape
    hidden = net.W.shape[0]
    u = np.empty((batch, steps, hidden))
    z = np.zeros((batch, steps + 1, hidden))
    for t in range(steps):
        u[:, t] = x[:, t] @ net.W_in + z[:, t] @ net.W + net.b
        z[:, t + 1] = sigmoid(u[:, t])
    y = sigmoid(z[:, 1:] @ net.W_out + net.c)
    return Forward(x=x, u=u, z=z, y=y)


def loss(fw: Forward, d: np.ndarray) -> float:
    """``E`` of the module docstring: half the squared error, summed over time and outputs, averaged over sequences."""
    return float(0.5 * np.sum((fw.y - d) ** 2) / len(d))


def bptt(net: NumpyRNN, fw: Forward, d: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Gradients of :func:`loss` by backpropagation through time.

    Returns:
        ``({name: gradient}, delta)`` where ``delta`` (B, T, hidden) is ``dE/du^t`` at every step.
    """
    batch, steps, _ = fw.x.shape
    delta_out = (fw.y - d) * fw.y * (1 - fw.y) / batch
    delta = np.zeros_like(fw.u)
    after = np.zeros((batch, net.W.shape[0]))  # delta^{t+1} W^T
    for t in reversed(range(steps)):
        zt = fw.z[:, t + 1]
        delta[:, t] = (after + delta_out[:, t] @ net.W_out.T) * zt * (1 - zt)
        after = delta[:, t] @ net.W.T
    grads = {"W_in": np.einsum("bti,bth->ih", fw.x, delta), "W": np.einsum("bti,bth->ih", fw.z[:, :-1], delta),
             "b": delta.sum(axis=(0, 1)), "W_out": np.einsum("bth,bto->ho", fw.z[:, 1:], delta_out),
             "c": delta_out.sum(axis=(0, 1))}
    return grads, delta


def autograd_gradients(net: NumpyRNN, x: np.ndarray, d: np.ndarray) -> dict[str, np.ndarray]:
    """The same gradients from ``torch.autograd`` on the same weights, in float64 (the check of :func:`bptt`)."""
    import torch

    params = {n: torch.tensor(v, dtype=torch.float64, requires_grad=True) for n, v in net.params().items()}
    xt, dt = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(d, dtype=torch.float64)
    z = torch.zeros(x.shape[0], net.W.shape[0], dtype=torch.float64)
    ys = []
    for t in range(x.shape[1]):
        z = torch.sigmoid(xt[:, t] @ params["W_in"] + z @ params["W"] + params["b"])
        ys.append(torch.sigmoid(z @ params["W_out"] + params["c"]))
    y = torch.stack(ys, dim=1)
    (0.5 * ((y - dt) ** 2).sum() / len(d)).backward()
    return {n: p.grad.numpy() for n, p in params.items()}


def gradient_clipping(grad: np.ndarray, threshold: float) -> np.ndarray:
    """The notes' clipping: rescale ``grad`` to norm ``threshold`` when its norm is larger."""
    norm = np.linalg.norm(grad)
    rate = threshold / norm if norm > 0 else np.inf
    return grad * rate if rate < 1 else grad


def global_norm(grads: dict[str, np.ndarray]) -> float:
    return float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))


# --- the notes' exercise: adding two binary numbers bit by bit, least significant bit first ---------

def binary_addition_batch(rng: np.random.Generator, batch: int, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """``batch`` random pairs ``a, b < 2^(bits-1)`` as (B, bits, 2) inputs and their sums as (B, bits, 1) targets."""
    high = 2 ** (bits - 1)
    a, b = rng.integers(0, high, batch), rng.integers(0, high, batch)
    return all_bits(np.stack([a, b], axis=1), bits), all_bits((a + b)[:, None], bits)


def all_bits(numbers: np.ndarray, bits: int) -> np.ndarray:
    """(B, k) integers → (B, bits, k) floats of their bits, least significant first."""
    shifts = np.arange(bits)[None, :, None]
    return ((numbers[:, None, :] >> shifts) & 1).astype(np.float64)


def every_pair(bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pair ``a, b < 2^(bits-1)``: the test set of the exercise (inputs, targets)."""
    high = 2 ** (bits - 1)
    a, b = np.divmod(np.arange(high * high), high)
    return all_bits(np.stack([a, b], axis=1), bits), all_bits((a + b)[:, None], bits)


def exact_match(net: NumpyRNN, x: np.ndarray, d: np.ndarray) -> float:
    """Share of sums whose every bit is right (outputs rounded at 0.5)."""
    y = forward(net, x).y
    return float(np.mean(np.all((y > 0.5) == (d > 0.5), axis=(1, 2))))


@dataclass
class AdditionRun:
    net: NumpyRNN
    losses: np.ndarray  # per update
    norms: np.ndarray  # global gradient norm per update, before clipping
    clipped: np.ndarray  # bool per update: clipping changed the gradient


def train_addition(rng: np.random.Generator, *, bits: int, hidden: int, updates: int, batch: int, lr: float,
                   weight_init_std: float, clip: float | None) -> AdditionRun:
    """The notes' training loop: plain gradient descent, each gradient clipped (their function, per
    array) to ``clip`` when given."""
    net = NumpyRNN.init(2, hidden, 1, rng, weight_init_std)
    losses, norms, clipped = np.empty(updates), np.empty(updates), np.zeros(updates, dtype=bool)
    for i in range(updates):
        x, d = binary_addition_batch(rng, batch, bits)
        fw = forward(net, x)
        grads, _ = bptt(net, fw, d)
        losses[i], norms[i] = loss(fw, d), global_norm(grads)
        for name, g in grads.items():
            if clip is not None:
                g2 = gradient_clipping(g, clip)
                clipped[i] |= g2 is not g
                g = g2
            setattr(net, name, getattr(net, name) - lr * g)
    return AdditionRun(net=net, losses=losses, norms=norms, clipped=clipped)


def deltas_from_last(net: NumpyRNN, fw: Forward) -> np.ndarray:
    """``dE/du^t`` (B, T, hidden) at every step for a unit-norm gradient arriving at the last step's
    output only: how much of a late error reaches each earlier step."""
    batch, steps, hidden = fw.u.shape
    after = np.ones((batch, net.W_out.shape[1])) / np.sqrt(net.W_out.shape[1]) @ net.W_out.T  # dE/dv^T W_out^T
    deltas = np.empty((batch, steps, hidden))
    for t in reversed(range(steps)):
        zt = fw.z[:, t + 1]
        deltas[:, t] = after * zt * (1 - zt)
        after = deltas[:, t] @ net.W.T
    return deltas
