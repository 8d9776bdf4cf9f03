"""An encoder–decoder (seq2seq) with and without attention.

- **Encoder**: embedding → bidirectional GRU over the source (padded positions packed away); its two
  final states, concatenated and passed through ``tanh(W ·)``, start the decoder.
- **Decoder**: a GRU cell fed, at each step, the previous target token's embedding.
  - ``attention: true``: and a context ``c_t`` by Bahdanau's additive attention, ``e_tj = vᵀ tanh(W
    s_{t-1} + U h_j)`` over the encoder states ``h_j`` (padding masked), ``α_t = softmax(e_t)``, ``c_t =
    Σ_j α_tj h_j``; the next token's logits come from ``[s_t; c_t; embedding]`` (Bahdanau et al. 2015's
    deep output, one layer).
  - ``attention: false``: the study notes' seq2seq. The encoder's final states (the "thought vector")
    start the decoder, and the decoder sees the source through nothing else; logits from ``[s_t;
    embedding]``.

  Encoder, embeddings, the bridge and the decoder's width are the same in both.

Training uses teacher forcing (the true previous token); :func:`greedy` decodes the model's own.
"""
from __future__ import annotations

from typing import Any


def net_args(src_vocab: int, tgt_vocab: int, emb: int, hidden: int, attention: bool) -> dict[str, Any]:
    return {"src_vocab": src_vocab, "tgt_vocab": tgt_vocab, "emb": emb, "hidden": hidden, "attention": attention}


def build(args: dict[str, Any]):
    """The :class:`Seq2Seq` network of ``args`` (:func:`net_args`)."""
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    class Seq2Seq(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            e, h = args["emb"], args["hidden"]
            self.attention = args["attention"]
            self.src_emb = nn.Embedding(args["src_vocab"], e, padding_idx=0)
            self.tgt_emb = nn.Embedding(args["tgt_vocab"], e, padding_idx=0)
            self.encoder = nn.GRU(e, h, batch_first=True, bidirectional=True)
            self.bridge = nn.Linear(2 * h, h)
            context = 2 * h if self.attention else 0
            self.cell = nn.GRUCell(e + context, h)
            if self.attention:
                self.att_w = nn.Linear(h, h, bias=False)
                self.att_u = nn.Linear(2 * h, h)
                self.att_v = nn.Linear(h, 1, bias=False)
            self.out = nn.Linear(h + context + e, args["tgt_vocab"])

        def encode(self, src, src_len):
            """Encoder states (B, L, 2h), the padding mask (B, L), the decoder's first state (B, h) from
            the two directions' final states, and the attention keys ``U h_j`` (B, L, h; None without)."""
            packed = pack_padded_sequence(self.src_emb(src), src_len.cpu(), batch_first=True, enforce_sorted=False)
            states, last = self.encoder(packed)
            states, _ = pad_packed_sequence(states, batch_first=True, total_length=src.shape[1])
            keys = self.att_u(states) if self.attention else None
            return states, src != 0, torch.tanh(self.bridge(torch.cat([last[0], last[1]], dim=1))), keys

        def step(self, token, s, states, mask, keys):
            """One decoder step: logits (B, V), the new state, the attention weights (B, L) or None."""
            emb = self.tgt_emb(token)
            if not self.attention:
                s = self.cell(emb, s)
                return self.out(torch.cat([s, emb], dim=1)), s, None
            scores = self.att_v(torch.tanh(self.att_w(s).unsqueeze(1) + keys)).squeeze(-1)
            alpha = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)
            context = torch.bmm(alpha.unsqueeze(1), states).squeeze(1)
            s = self.cell(torch.cat([emb, context], dim=1), s)
            return self.out(torch.cat([s, context, emb], dim=1)), s, alpha

        def forward(self, src, src_len, tgt_in):
            """Teacher-forced logits (B, T, V) for decoder inputs ``tgt_in`` (``<bos>`` + target)."""
            states, mask, s, keys = self.encode(src, src_len)
            logits = []
            for t in range(tgt_in.shape[1]):
                step_logits, s, _ = self.step(tgt_in[:, t], s, states, mask, keys)
                logits.append(step_logits)
            return torch.stack(logits, dim=1)

    return Seq2Seq()


def sequence_loss(net, batch):
    """Cross-entropy of the teacher-forced logits on ``(src, src_len, tgt_in, tgt_out)`` batches, padding ignored."""
    import torch.nn.functional as F

    src, src_len, tgt_in, tgt_out = batch
    logits = net(src, src_len, tgt_in)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=0)


def greedy(net, src, src_len, bos: int, steps: int, batch: int = 500):
    """Greedy decoding of ``steps`` tokens: ids (N, steps) and attention weights (N, steps, L) (zeros
    without attention), in eval mode without gradients."""
    import torch

    net.eval()
    ids, weights = [], []
    with torch.no_grad():
        for i in range(0, len(src), batch):
            x, n = src[i:i + batch], src_len[i:i + batch]
            states, mask, s, keys = net.encode(x, n)
            token = torch.full((len(x),), bos, dtype=torch.long, device=x.device)
            out, att = [], []
            for _ in range(steps):
                logits, s, alpha = net.step(token, s, states, mask, keys)
                token = logits.argmax(1)
                out.append(token)
                att.append(alpha if alpha is not None else torch.zeros(x.shape, device=x.device))
            ids.append(torch.stack(out, 1))
            weights.append(torch.stack(att, 1))
    return torch.cat(ids).cpu(), torch.cat(weights).cpu()
