"""The translation stage's three networks, on the same vocabularies, and their decoding.

- ``plain``: the study notes' encoder–decoder. A bidirectional GRU reads the source; its two final
  states, through ``tanh(W ·)``, start a GRU decoder that sees the source through nothing else (the
  "thought vector"). Each output ``ŝ_t = tanh(W_c s_t)``, logits ``W_o ŝ_t``.
- ``attention``: the same, plus Luong et al. (2015)'s global attention with the *general* score: after
  each decoder step ``s_t``, ``α_t = softmax_j(s_tᵀ W_a h_j)`` over the encoder states ``h_j`` (padding
  masked), the context ``c_t = Σ_j α_tj h_j`` and ``ŝ_t = tanh(W_c [c_t; s_t])``. The attention comes
  after the recurrent step (Bahdanau et al.'s comes before it, as ``sequence-dates`` does), so under
  teacher forcing the decoder GRU runs over the whole target at once: training costs what the plain
  model's does.
- ``transformer``: ``torch.nn.Transformer`` (Vaswani et al. 2017; pre-norm layers), sinusoidal
  positions, embeddings scaled by ``√d_model``, the source's padding and the target's future masked.

Each has ``forward(src, src_len, tgt_in)`` → teacher-forced logits (B, T, V), and the decoding
interface :func:`greedy` and :func:`beam_search` use: ``start(src, src_len)`` → a state (a dict of
batch-first tensors) and ``next(state, token)`` → ``(logits (B, V), state, attention (B, L) or None)``.
"""
from __future__ import annotations

import math
import warnings
from typing import Any

MODELS = ("plain", "attention", "transformer")
KIND = "sequence-translate"  # the checkpoint kind of sequence-translate's model.pt


def net_args(model: str, src_vocab: int, tgt_vocab: int, *, emb: int, hidden: int, d_model: int, heads: int,
             layers: int, feedforward: int, dropout: float) -> dict[str, Any]:
    """A network's config (what the checkpoint stores and :func:`build` takes)."""
    base = {"model": model, "src_vocab": src_vocab, "tgt_vocab": tgt_vocab}
    if model == "transformer":
        return {**base, "d_model": d_model, "heads": heads, "layers": layers, "feedforward": feedforward, "dropout": dropout}
    return {**base, "emb": emb, "hidden": hidden, "dropout": dropout}


def build(args: dict[str, Any]):
    """The network of ``args`` (:func:`net_args`)."""
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    class Recurrent(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            e, h = args["emb"], args["hidden"]
            self.attention = args["model"] == "attention"
            self.src_emb = nn.Embedding(args["src_vocab"], e, padding_idx=0)
            self.tgt_emb = nn.Embedding(args["tgt_vocab"], e, padding_idx=0)
            self.encoder = nn.GRU(e, h, batch_first=True, bidirectional=True)
            self.bridge = nn.Linear(2 * h, h)
            self.decoder = nn.GRU(e, h, batch_first=True)
            if self.attention:
                self.att = nn.Linear(2 * h, h, bias=False)  # W_a, applied to the encoder states once
            self.combine = nn.Linear(h + (2 * h if self.attention else 0), h)
            self.drop = nn.Dropout(args["dropout"])
            self.out = nn.Linear(h, args["tgt_vocab"])

        def start(self, src, src_len):
            packed = pack_padded_sequence(self.drop(self.src_emb(src)), src_len.cpu(), batch_first=True, enforce_sorted=False)
            states, last = self.encoder(packed)
            states, _ = pad_packed_sequence(states, batch_first=True, total_length=src.shape[1])
            state = {"s": torch.tanh(self.bridge(torch.cat([last[0], last[1]], dim=1))).unsqueeze(0).transpose(0, 1).contiguous()}
            if self.attention:
                state |= {"states": states, "keys": self.att(states), "mask": src != 0}
            return state

        def _outputs(self, s, state):
            """Logits (B, T, V) and attention (B, T, L) or None for decoder states ``s`` (B, T, h)."""
            if not self.attention:
                return self.out(self.drop(torch.tanh(self.combine(s)))), None
            scores = torch.bmm(s, state["keys"].transpose(1, 2)).masked_fill(~state["mask"].unsqueeze(1), float("-inf"))
            alpha = torch.softmax(scores, dim=-1)
            context = torch.bmm(alpha, state["states"])
            return self.out(self.drop(torch.tanh(self.combine(torch.cat([context, s], dim=-1))))), alpha

        def forward(self, src, src_len, tgt_in):
            state = self.start(src, src_len)
            s, _ = self.decoder(self.drop(self.tgt_emb(tgt_in)), state["s"].transpose(0, 1).contiguous())
            return self._outputs(s, state)[0]

        def next(self, state, token):
            s, h = self.decoder(self.tgt_emb(token).unsqueeze(1), state["s"].transpose(0, 1).contiguous())
            logits, alpha = self._outputs(s, state)
            return logits[:, 0], {**state, "s": h.transpose(0, 1)}, None if alpha is None else alpha[:, 0]

    class Transformer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            d = self.d_model = args["d_model"]
            self.scale = math.sqrt(d)
            self.src_emb = nn.Embedding(args["src_vocab"], d, padding_idx=0)
            self.tgt_emb = nn.Embedding(args["tgt_vocab"], d, padding_idx=0)
            with warnings.catch_warnings():  # "enable_nested_tensor is True, but ... norm_first was True": a fast path
                warnings.simplefilter("ignore", UserWarning)  # for inference that pre-norm layers do not take
                self.net = nn.Transformer(d, args["heads"], args["layers"], args["layers"], args["feedforward"], args["dropout"],
                                          batch_first=True, norm_first=True)
            self.drop = nn.Dropout(args["dropout"])
            self.out = nn.Linear(d, args["tgt_vocab"])

        def _positions(self, length: int, device):
            d = self.d_model
            pos = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
            freq = torch.exp(torch.arange(0, d, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / d))
            pe = torch.zeros(length, d, device=device)
            pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
            return pe

        def _embed(self, emb, ids):
            return self.drop(emb(ids) * self.scale + self._positions(ids.shape[1], ids.device))

        def start(self, src, src_len):  # noqa: ARG002 (the padding mask says the lengths)
            mask = src == 0
            memory = self.net.encoder(self._embed(self.src_emb, src), src_key_padding_mask=mask)
            return {"memory": memory, "mask": mask, "prefix": src.new_zeros((len(src), 0))}

        def _decode(self, state, tgt_in):
            causal = nn.Transformer.generate_square_subsequent_mask(tgt_in.shape[1], device=tgt_in.device, dtype=torch.bool)
            h = self.net.decoder(self._embed(self.tgt_emb, tgt_in), state["memory"], tgt_mask=causal, tgt_is_causal=True,
                                 tgt_key_padding_mask=tgt_in == 0, memory_key_padding_mask=state["mask"])
            return self.out(h)

        def forward(self, src, src_len, tgt_in):
            return self._decode(self.start(src, src_len), tgt_in)

        def next(self, state, token):
            prefix = torch.cat([state["prefix"], token.unsqueeze(1)], dim=1)
            return self._decode({**state, "prefix": prefix}, prefix)[:, -1], {**state, "prefix": prefix}, None

    return Transformer() if args["model"] == "transformer" else Recurrent()


def greedy(net, src, src_len, bos: int, eos: int, steps: int, batch: int = 250):
    """Greedy decoding of at most ``steps`` tokens: ids (N, steps), padded with 0 after ``<eos>``; and
    the attention weights (N, steps, L), zeros where the network has none. Eval mode, no gradients."""
    import torch

    net.eval()
    ids, weights = [], []
    with torch.no_grad():
        for i in range(0, len(src), batch):
            x, n = src[i:i + batch], src_len[i:i + batch]
            state = net.start(x, n)
            token = torch.full((len(x),), bos, dtype=torch.long, device=x.device)
            done = torch.zeros(len(x), dtype=torch.bool, device=x.device)
            out, att = [], []
            for _ in range(steps):
                logits, state, alpha = net.next(state, token)
                token = logits.argmax(1).masked_fill(done, 0)
                done |= token == eos
                out.append(token)
                att.append(alpha if alpha is not None else torch.zeros(x.shape, device=x.device))
                if bool(done.all()):
                    break
            ids.append(torch.nn.functional.pad(torch.stack(out, 1), (0, steps - len(out))))
            weights.append(torch.nn.functional.pad(torch.stack(att, 1), (0, 0, 0, steps - len(att))))
    return torch.cat(ids).cpu(), torch.cat(weights).cpu()


def beam_search(net, src, src_len, bos: int, eos: int, steps: int, width: int, length_penalty: float, batch: int = 100):
    """Beam-search decoding: for each source the hypothesis of the highest ``log p /
    length^length_penalty`` among ``width`` beams (Wu et al. 2016's normalisation with the simple
    ``length^α``; α = 0 ranks by probability alone). A batch stops once every source's likeliest beam
    has ended (OpenNMT's early stop: the others could only overtake it through the length
    normalisation) or after ``steps`` tokens. Ids (N, steps), padded with 0."""
    import torch

    net.eval()
    ids = []
    with torch.no_grad():
        for i in range(0, len(src), batch):
            x, n = src[i:i + batch], src_len[i:i + batch]
            b = len(x)
            state = {k: v.repeat_interleave(width, 0) for k, v in net.start(x, n).items()}
            token = torch.full((b * width,), bos, dtype=torch.long, device=x.device)
            score = torch.full((b, width), float("-inf"), device=x.device)
            score[:, 0] = 0.0  # one live beam at the start: the others would repeat it
            length = torch.zeros(b, width, device=x.device)
            done = torch.zeros(b, width, dtype=torch.bool, device=x.device)
            history = torch.zeros(b, width, 0, dtype=torch.long, device=x.device)
            for _ in range(steps):
                logits, state, _ = net.next(state, token)
                logp = torch.log_softmax(logits.float(), -1).view(b, width, -1)
                vocab = logp.shape[-1]
                # a finished beam extends only by <pad> (id 0), at no cost: it keeps its score and length
                finished = torch.full_like(logp, float("-inf"))
                finished[..., 0] = 0.0
                logp = torch.where(done.unsqueeze(-1), finished, logp)
                top, flat = (score.unsqueeze(-1) + logp).view(b, -1).topk(width, dim=1)
                beam, token = flat // vocab, flat % vocab
                done = done.gather(1, beam)
                length = length.gather(1, beam) + (~done).float()
                done = done | (token == eos)
                score = top
                history = torch.cat([history.gather(1, beam.unsqueeze(-1).expand_as(history)), token.unsqueeze(-1)], dim=2)
                rows = (beam + torch.arange(b, device=x.device).unsqueeze(1) * width).view(-1)
                state = {k: v.index_select(0, rows) for k, v in state.items()}
                token = token.view(-1)
                if bool(done.gather(1, score.argmax(1, keepdim=True)).all()):
                    break  # every source's likeliest beam has ended: longer ones only lose probability
            ranked = score / length.clamp(min=1) ** length_penalty
            best = ranked.argmax(1)
            chosen = history[torch.arange(b, device=x.device), best]
            ids.append(torch.nn.functional.pad(chosen, (0, steps - chosen.shape[1])))
    return torch.cat(ids).cpu()


def translation_loss(net, batch):
    """:func:`stages.sequence.seq2seq.sequence_loss` (cross-entropy over the target's tokens, padding
    ignored) on ``(src, src_len, tgt_in, tgt_out)`` batches trimmed first to their longest source and
    target (with length-grouped batches, :func:`stages.core.side_by_side.length_grouped`, most padding
    goes)."""
    from stages.sequence.seq2seq import sequence_loss

    src, src_len, tgt_in, tgt_out = batch
    width = int((tgt_out != 0).sum(1).max())
    return sequence_loss(net, (src[:, :int(src_len.max())], src_len, tgt_in[:, :width], tgt_out[:, :width]))
