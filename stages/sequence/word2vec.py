"""Stage `sequence-word2vec`: skip-gram with negative sampling written in PyTorch, beside gensim's.

The corpus is one language of ``sequence-pairs``' training split (``sequence.word2vec.language``;
English by default, Japanese in Janome's tokens). Both models get the same vocabulary (words seen
``min_count`` times), width, window, negatives, frequent-word subsampling and epochs:

- **PyTorch** (:func:`build`, the study notes' skip-gram, Mikolov et al. 2013): an input and an output
  embedding; for a (centre, context) pair the loss is ``−log σ(u_oᵀ v_c) − Σ_k log σ(−u_kᵀ v_c)`` over
  ``negatives`` words drawn from the unigram distribution to the power ¾. The pairs come from a
  window shrunk at random for each centre word (1 to ``window``, as word2vec and gensim do) after
  subsampling frequent words with word2vec's formula; they are drawn once from ``common.seed``, and
  trained under core's trainer (this section is its recipe: optimizer, learning rate, schedule).
- **gensim** ``Word2Vec(sg=1)``: its own SGD with a linearly falling rate from ``gensim_alpha``, one
  worker thread, ``common.seed``.

Outputs: ``neighbours.csv`` (each query word's nearest neighbours by cosine, in both models),
``metrics.json`` (corpus and vocabulary sizes; the Spearman correlation between the two models'
cosine similarities over ``pairs_compared`` random word pairs both know, and over pairs of frequent
words; the overlap of their 10 nearest neighbours; each query's neighbours), ``word2vec.png`` (the two
similarities against each other; both models' vectors of the query words and their neighbours in two
dimensions), ``model.pt`` (the PyTorch model, core's checkpoint) and ``history.csv``.

No analogy or human-judged similarity score is promised: on ~80,000 tokens analogies are near 1%
(gensim's 62k-token ``lee`` corpus scores about that), and no judged word-pair set ships with a licence
that allows vendoring it here. What is measured is whether two independent implementations of the
same objective arrive at the same geometry, and what their neighbours look like.
"""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from stages.core.figures import new_figure
from stages.core.runtime import run_stage
from stages.core.side_by_side import Run, side_by_side_parts
from stages.core.stage import Declared
from stages.core.training import TrainingRun
from stages.sequence import params

log = logging.getLogger(__name__)
KIND = "sequence-word2vec"
FREQUENT = 200  # the most frequent words, whose pairs give the second correlation
OVERLAP_K = 10  # neighbours compared between the two models


def read_corpus(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text(encoding="utf-8").splitlines()]


def vocabulary(corpus: list[list[str]], min_count: int) -> tuple[list[str], np.ndarray]:
    """Words seen ``min_count`` times or more, most frequent first (ties by the word), and their counts."""
    counts = Counter(w for s in corpus for w in s)
    words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return words, np.array([counts[w] for w in words], dtype=np.int64)


def keep_probability(counts: np.ndarray, sample: float) -> np.ndarray:
    """word2vec's subsampling: a word of corpus frequency ``f`` kept with ``(√(f/s) + 1)·s/f`` (capped at 1)."""
    if sample <= 0:
        return np.ones(len(counts))
    f = counts / counts.sum()
    return np.minimum(1.0, (np.sqrt(f / sample) + 1) * sample / f)


def skipgram_pairs(corpus: list[list[str]], words: list[str], counts: np.ndarray, window: int, sample: float,
                   rng: np.random.Generator) -> np.ndarray:
    """(centre, context) id pairs, (N, 2): words outside the vocabulary dropped, frequent words
    subsampled, each centre's window drawn from 1 to ``window``; never across sentences."""
    index = {w: i for i, w in enumerate(words)}
    ids = [np.array([index[w] for w in s if w in index], dtype=np.int64) for s in corpus]
    keep = keep_probability(counts, sample)
    ids = [s[rng.random(len(s)) < keep[s]] for s in ids]
    tokens = np.concatenate(ids)
    sentence = np.repeat(np.arange(len(ids)), [len(s) for s in ids])
    reach = rng.integers(1, window + 1, len(tokens))
    pairs = []
    for offset in range(1, window + 1):
        centre = np.arange(len(tokens) - offset)
        same = sentence[centre] == sentence[centre + offset]
        for c, o in ((centre, centre + offset), (centre + offset, centre)):  # context on the right, then on the left
            ok = same & (reach[c] >= offset)
            pairs.append(np.stack([tokens[c[ok]], tokens[o[ok]]], axis=1))
    return np.concatenate(pairs)


def net_args(vocab: int, dim: int, negatives: int, noise: list[float]) -> dict:
    return {"vocab": vocab, "dim": dim, "negatives": negatives, "noise": noise}


def build(args: dict):
    """The skip-gram network: input vectors ``v`` (uniform in ±0.5/dim, as word2vec) and output vectors
    ``u`` (zeros); ``noise`` is the negative-sampling distribution (unigram^¾)."""
    import torch
    from torch import nn

    class SkipGram(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.centre = nn.Embedding(args["vocab"], args["dim"])
            self.context = nn.Embedding(args["vocab"], args["dim"])
            nn.init.uniform_(self.centre.weight, -0.5 / args["dim"], 0.5 / args["dim"])
            nn.init.zeros_(self.context.weight)
            self.register_buffer("noise", torch.tensor(args["noise"], dtype=torch.float32))

        def forward(self, centre, context):
            """The negative-sampling loss of each pair (B,), ``negatives`` noise words drawn per pair."""
            import torch.nn.functional as F

            v = self.centre(centre)
            negatives = torch.multinomial(self.noise, len(centre) * args["negatives"], replacement=True).view(len(centre), -1)
            positive = F.logsigmoid((self.context(context) * v).sum(-1))
            negative = F.logsigmoid(-torch.bmm(self.context(negatives), v.unsqueeze(-1)).squeeze(-1)).sum(-1)
            return -(positive + negative)

    return SkipGram()


def sgns_loss(net, batch):
    return net(batch[0], batch[1]).mean()


def unit_rows(m: np.ndarray) -> np.ndarray:
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)


def neighbours(vectors: np.ndarray, words: list[str], query: str, k: int) -> list[tuple[str, float]]:
    """The ``k`` words nearest ``query`` by cosine (``vectors`` rows unit length), best first."""
    i = words.index(query)
    sims = vectors @ vectors[i]
    sims[i] = -np.inf
    order = np.argsort(-sims, kind="stable")[:k]
    return [(words[j], round(float(sims[j]), 4)) for j in order]


def pair_similarities(a: np.ndarray, b: np.ndarray, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarities of the word pairs (N, 2) in both models (rows unit length)."""
    return (a[pairs[:, 0]] * a[pairs[:, 1]]).sum(1), (b[pairs[:, 0]] * b[pairs[:, 1]]).sum(1)


def random_pairs(n_words: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` pairs of distinct word ids below ``n_words``."""
    first = rng.integers(0, n_words, n)
    second = (first + rng.integers(1, n_words, n)) % n_words
    return np.stack([first, second], axis=1)


def neighbour_overlap(a: np.ndarray, b: np.ndarray, ids: np.ndarray, k: int) -> float:
    """Mean share of the ``k`` nearest neighbours the two models agree on, over the words ``ids``."""
    shares = []
    for i in ids:
        sa, sb = a @ a[i], b @ b[i]
        sa[i] = sb[i] = -np.inf
        shares.append(len(set(np.argsort(-sa, kind="stable")[:k]) & set(np.argsort(-sb, kind="stable")[:k])) / k)
    return float(np.mean(shares))


def figure(sim_torch: np.ndarray, sim_gensim: np.ndarray, rho: float, tables: dict[str, dict[str, np.ndarray]], words: list[str],
           shown: list[int]):
    fig, axes = new_figure(1, 3, figsize=(16, 5))
    axes[0].scatter(sim_gensim, sim_torch, s=3, alpha=0.3)
    axes[0].set(title=f"cosine similarity of random word pairs (Spearman ρ = {rho:.3f})", xlabel="gensim",
                ylabel="PyTorch skip-gram")
    for ax, (name, vectors) in zip(axes[1:], tables.items()):
        centred = vectors[shown] - vectors[shown].mean(0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        xy = centred @ vt[:2].T
        ax.scatter(xy[:, 0], xy[:, 1], s=8)
        for (x, y), i in zip(xy, shown):
            ax.annotate(words[i], (x, y), fontsize=7)
        ax.set(title=f"{name}: query words and their neighbours (first two principal components)", xticks=[], yticks=[])
        ax.title.set_fontsize(9)
    fig.tight_layout()
    return fig


def main(stage: Declared) -> None:
    import torch
    from gensim.models import Word2Vec
    from scipy.stats import spearmanr

    p = params.load().word2vec
    logging.getLogger("gensim").setLevel(logging.WARNING)  # its per-epoch lines; this stage logs the outcome
    run = TrainingRun(stage, p, kind=KIND)
    torch.set_num_threads(1)
    corpus = read_corpus(stage.dep("pairs") / f"train.{p.language}")
    words, counts = vocabulary(corpus, p.min_count)
    rng = np.random.default_rng(run.seed)
    pairs = torch.from_numpy(skipgram_pairs(corpus, words, counts, p.window, p.sample, rng))
    log.info("%d sentences, %d tokens, %d words seen %d+ times, %d skip-gram pairs", len(corpus), sum(map(len, corpus)),
             len(words), p.min_count, len(pairs))
    noise = (counts ** 0.75 / (counts ** 0.75).sum()).tolist()
    args = net_args(len(words), p.dim, p.negatives, noise)
    runs = {"sgns": Run(net=lambda: build(args), loss=sgns_loss, seed=run.seed, data=(pairs[:, 0], pairs[:, 1]), args=args)}
    trainer = run.fit(**side_by_side_parts(runs, p.batch_size))
    ours = unit_rows(trainer.models["sgns"].centre.weight.detach().cpu().numpy().astype(np.float64))

    model = Word2Vec(corpus, vector_size=p.dim, window=p.window, negative=p.negatives, sample=p.sample, min_count=p.min_count,
                     epochs=p.epochs, alpha=p.gensim_alpha, sg=1, hs=0, seed=run.seed, workers=1)
    theirs = unit_rows(np.stack([model.wv[w] for w in words]).astype(np.float64))

    compared = random_pairs(len(words), p.pairs_compared, np.random.default_rng(run.seed + 1))
    sim_torch, sim_gensim = pair_similarities(ours, theirs, compared)
    rho = float(spearmanr(sim_torch, sim_gensim).statistic)
    top = random_pairs(min(FREQUENT, len(words)), min(p.pairs_compared, 5000), np.random.default_rng(run.seed + 2))
    rho_frequent = float(spearmanr(*pair_similarities(ours, theirs, top)).statistic)
    overlap = neighbour_overlap(ours, theirs, np.arange(min(FREQUENT, len(words))), OVERLAP_K)
    queries = [q for q in p.queries if q in words]
    rows, shown = [], []
    for q in queries:
        for name, vectors in (("pytorch", ours), ("gensim", theirs)):
            for rank, (w, s) in enumerate(neighbours(vectors, words, q, p.neighbours), start=1):
                rows.append({"query": q, "model": name, "rank": rank, "neighbour": w, "cosine": s})
        shown += [words.index(q)] + [words.index(w) for w, _ in neighbours(ours, words, q, 3)]
    table = pd.DataFrame(rows)
    log.info("Spearman rho of the two models' similarities: %.3f (random pairs), %.3f (frequent words); "
             "top-%d neighbour overlap %.3f", rho, rho_frequent, OVERLAP_K, overlap)
    extra = {"language": p.language, "sentences": len(corpus), "tokens": sum(map(len, corpus)), "vocab": len(words),
             "skipgram_pairs": len(pairs), "spearman_random_pairs": round(rho, 4), "spearman_frequent_pairs": round(rho_frequent, 4),
             "neighbour_overlap_top10_frequent": round(overlap, 4), "queries_known": queries,
             "queries_unknown": [q for q in p.queries if q not in words],
             "neighbours": {q: {m: [w for w in table[(table["query"] == q) & (table["model"] == m)]["neighbour"]]
                                for m in ("pytorch", "gensim")} for q in queries}}
    fig = figure(sim_torch, sim_gensim, rho, {"PyTorch": ours, "gensim": theirs}, words, list(dict.fromkeys(shown)))
    run.finish(extra=extra, figures={"word2vec.png": fig}, write=lambda out: out.path(stage.out("neighbours.csv")).write_bytes(table.to_csv(index=False).encode()))


if __name__ == "__main__":
    run_stage(main)
